#!/bin/sh
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan, UBSan,
# libFuzzer) and runs each over its corpus plus SECONDS of new inputs, all
# harnesses at once. tests/run.sh runs it with 30; long runs use the same
# script with a large SECONDS, at low priority:
#
#   tests/fuzz/run.sh 30                   every harness, 30 s each
#   nice -n 19 tests/fuzz/run.sh 3600 command reply     some, for an hour
#   tests/fuzz/run.sh --merge              new corpus entries -> corpus
#
# Each harness reads tests/fuzz/corpus/<name> (committed: seeds, entries
# merged from long runs, and the inputs of every crash found, which stay
# as regression tests) plus, for config, every file of tests/data; it uses
# tests/fuzz/<name>.dict. Inputs that find new coverage are written to
# $build/new-corpus/<name>, kept across runs; --merge adds those that
# still add coverage to the committed corpus (then commit them).
#
# A finding is a crash, a failed check, a sanitizer report, a leak, an
# input using more than 2048 MB (-rss_limit_mb, also the largest single
# allocation) or more than 10 s (-timeout). Its input is saved in
# $build/findings/<name>/ and its report is in $build/logs/<name>.log.
#
# Build dir: $SHARD_FUZZ_BUILD, by default build-fuzz in the repository
# root (set up once, then rebuilt incrementally). Exit status: non-zero
# when a harness did not build or found anything.
set -eu

cd "$(dirname "$0")/../.."
root=$(pwd)
build=${SHARD_FUZZ_BUILD:-$root/build-fuzz}
all="config routing command reply mc line"

usage() {
    echo "usage: tests/fuzz/run.sh SECONDS [HARNESS...] | --merge" >&2
    echo "harnesses: $all" >&2
    exit 2
}

[ $# -ge 1 ] || usage
mode=run
if [ "$1" = "--merge" ]; then
    mode=merge
    seconds=0
else
    seconds=$1
    case $seconds in
    '' | *[!0-9]* | 0) usage ;; # 0 would be libFuzzer's "no limit"
    esac
fi
shift
harnesses=${*:-$all}
for h in $harnesses; do
    case " $all " in
    *" $h "*) ;;
    *) usage ;;
    esac
done

# --- build ------------------------------------------------------------------
# The library is compiled for the fuzzer's coverage (fuzzer-no-link), the
# harnesses link libFuzzer's main. UBSan aborts on the first report, so
# undefined behaviour is a crash like any other.
if [ ! -d "$build/meson-private" ]; then
    rm -rf "$build"
    CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all"
fi
targets=""
for h in $harnesses; do
    targets="$targets tests/fuzz/fuzz_$h"
done
# shellcheck disable=SC2086 # one target per word
meson compile -C "$build" $targets

# --- merge ------------------------------------------------------------------
if [ "$mode" = merge ]; then
    mkdir -p "$build/logs"
    for h in $harnesses; do
        new="$build/new-corpus/$h"
        [ -d "$new" ] || continue
        before=$(find "tests/fuzz/corpus/$h" -type f | wc -l)
        "$build/tests/fuzz/fuzz_$h" -merge=1 "tests/fuzz/corpus/$h" "$new" \
            >"$build/logs/$h-merge.log" 2>&1
        after=$(find "tests/fuzz/corpus/$h" -type f | wc -l)
        echo "$h: $((after - before)) new corpus entries in tests/fuzz/corpus/$h"
    done
    exit 0
fi

# --- run --------------------------------------------------------------------
# LeakSanitizer needs ptrace (it stops the threads to scan them); in a
# container without it every leak check dies, so leaks go unchecked there,
# as in tests/run.sh's sanitizer pass, and the summary says so.
leaks=1
# shellcheck disable=SC2086 # the first harness
set -- $harnesses
if ! "$build/tests/fuzz/fuzz_$1" -runs=1 -detect_leaks=1 >/dev/null 2>&1; then
    leaks=0
fi

# ASan's quarantine of freed memory as ClusterFuzz sets it when fuzzing
# (small, returned to the system): with the default 256 MB, spread over
# the size classes a long run goes through, the reply harness grew past
# 900 MB in 20 minutes without any leak, towards -rss_limit_mb. Freed
# memory stays poisoned until reused; a smaller quarantine reuses it
# sooner, which weakens only the detection of uses long after the free.
ASAN_OPTIONS="quarantine_size_mb=16:allocator_release_to_os_interval_ms=500${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export ASAN_OPTIONS

run_one() { # harness
    h=$1
    findings="$build/findings/$h"
    new="$build/new-corpus/$h"
    rm -rf "$findings"
    mkdir -p "$findings" "$new" "$build/logs"
    corpora="$new tests/fuzz/corpus/$h"
    [ "$h" != config ] || corpora="$corpora tests/data/goodconf tests/data/badconf"
    dict=""
    [ ! -f "tests/fuzz/$h.dict" ] || dict="-dict=tests/fuzz/$h.dict"
    # shellcheck disable=SC2086 # the corpora and the dict are words
    "$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -detect_leaks="$leaks" \
        -print_final_stats=1 -artifact_prefix="$findings/" $dict \
        $corpora >"$build/logs/$h.log" 2>&1
}

# The figures of one run, from its log: executions, coverage, findings.
report() { # harness status
    h=$1
    log="$build/logs/$h.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -E '(DONE|pulse|NEW|REDUCE|INITED) +cov:' "$log" | tail -1 |
        sed -E 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([^ ]+).*/cov \1, ft \2, corpus \3/')
    n=$(find "$build/findings/$h" -type f | wc -l)
    [ "$2" -eq 0 ] || [ "$n" -gt 0 ] || n=1
    printf '  %-8s %s s, %s executions, %s, findings: %s\n' "$h" "$seconds" \
        "${execs:-?}" "${cov:-no coverage line}" "$n"
    [ "$n" -eq 0 ]
}

start=$(date +%s)
for h in $harnesses; do
    (
        rc=0
        run_one "$h" || rc=$?
        echo "$rc" >"$build/logs/$h.rc"
    ) &
done
wait

status=0
echo "fuzz: $seconds s per harness ($(($(date +%s) - start)) s in all)"
for h in $harnesses; do
    report "$h" "$(cat "$build/logs/$h.rc")" || status=1
done
[ "$leaks" -eq 1 ] || echo "  (LeakSanitizer unusable here: leaks not checked)"
if [ "$status" -ne 0 ]; then
    for h in $harnesses; do
        if [ -z "$(ls -A "$build/findings/$h")" ] &&
            [ "$(cat "$build/logs/$h.rc")" -eq 0 ]; then
            continue
        fi
        echo "--- $h: $build/logs/$h.log (end)"
        grep -v '^"' "$build/logs/$h.log" | tail -40
        echo "    inputs: $(ls "$build/findings/$h")"
    done
    echo "fuzz: FAILED; put each finding's input in tests/fuzz/corpus/<harness>/ once fixed"
fi
exit "$status"
