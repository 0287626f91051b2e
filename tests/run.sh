#!/bin/sh
# The project's test command. On a fresh Debian 12 machine, as root, it
# installs the Debian packages that are missing, runs the checks in
# tests/check (include layering, clang-format, cppcheck), builds libshard
# with warnings as errors, runs every test (unit and integration: real
# redis-server, memcached, redis-sentinel and nutcracker started on free
# loopback ports), then builds and runs it all again under AddressSanitizer
# and UndefinedBehaviorSanitizer, and last runs every libFuzzer harness of
# tests/fuzz for 30 s (tests/fuzz/run.sh 30).
#
#   tests/run.sh                     everything (what CI runs)
#   SHARD_SKIP_ASAN=1 tests/run.sh   skip the sanitizer pass (quick local run)
#   SHARD_SKIP_FUZZ=1 tests/run.sh   skip the fuzzing (quick local run)
#
# Build dirs: build-ci, build-ci-asan and build-ci-fuzz in the repository
# root, set up from scratch on every run. Exit status is non-zero when
# anything failed.
set -eu

cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

# The Debian packages and their installation, shared with examples/demo.sh.
. "$root/tests/deps.sh"

say() {
    printf '\n=== %s\n' "$*"
}

# --- checks -----------------------------------------------------------------
# Habits that keep the code the way it is, each a script that also runs on
# its own: no include cycle between lib/ modules and no hiredis/libmemcached
# header above the connection backends (includes.py), the .clang-format
# style (format.sh), no cppcheck finding in lib/ (analyze.sh). They take
# seconds and need no build, so they come first; a failing one fails the
# run, but the builds and tests still run so that one run reports it all.
run_check() { # name command...
    name=$1
    shift
    say "checks: $name"
    if "$@"; then
        checks_list="$checks_list${checks_list:+, }$name: ok"
        return 0
    fi
    checks_list="$checks_list${checks_list:+, }$name: FAIL"
    return 1
}

# Runs every check. Sets checks_result to a summary line.
checks() {
    t0=$(date +%s)
    checks_list=""
    checks_status=0
    c=$root/tests/check
    run_check includes python3 "$c/includes.py" || checks_status=1
    run_check format sh "$c/format.sh" || checks_status=1
    run_check analyze sh "$c/analyze.sh" || checks_status=1
    verdict=PASS
    [ "$checks_status" -eq 0 ] || verdict=FAIL
    checks_result="checks: $verdict  $checks_list  ($(($(date +%s) - t0)) s)"
    return "$checks_status"
}

# --- build and test ---------------------------------------------------------
setup_build() { # dir, meson options...
    dir=$1
    shift
    if [ -d "$dir/meson-private" ]; then
        meson setup --wipe "$dir" "$@"
    else
        rm -rf "$dir"
        meson setup "$dir" "$@"
    fi
}

# Runs `meson test` in $1; leaves its summary in $results and returns its
# status (through a file, since the pipe into tee would hide it).
run_tests() { # dir
    log="$1/meson-logs/run-sh-test.log"
    rc_file="$1/meson-logs/run-sh-test.rc"
    {
        rc=0
        meson test -C "$1" --print-errorlogs --num-processes 2 || rc=$?
        echo "$rc" >"$rc_file"
    } 2>&1 | tee "$log"
    # "Ok: 9, Fail: 2": meson's closing counts, zeros left out.
    results=$(grep -E '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout): ' \
        "$log" | awk -F: '$2 + 0 > 0 { printf "%s%s:%d", n++ ? ", " : "", $1, $2 }')
    return "$(cat "$rc_file")"
}

# One pass: set up, compile, test. Sets pass_result to a summary line.
pass() { # label dir meson-options...
    label=$1
    dir=$2
    shift 2
    t0=$(date +%s)
    results=""
    say "$label: meson setup $dir $*"
    if ! setup_build "$dir" "$@"; then
        pass_result="$label: FAIL (meson setup)"
        return 1
    fi
    say "$label: compile"
    if ! meson compile -C "$dir"; then
        pass_result="$label: FAIL (compile)"
        return 1
    fi
    say "$label: test"
    if run_tests "$dir"; then
        pass_result="$label: PASS  $results  ($(($(date +%s) - t0)) s)"
        return 0
    fi
    pass_result="$label: FAIL  $results  ($(($(date +%s) - t0)) s)"
    return 1
}

# LeakSanitizer stops the process's threads with ptrace; containers without
# CAP_SYS_PTRACE (or with ptrace_scope 3) make it die with "LeakSanitizer has
# encountered a fatal error" in every process. Probe once; where it cannot
# work, leaks go unchecked (said in the summary) but ASan and UBSan still run.
lsan_works() {
    probe="$scratch/lsan-probe"
    printf 'int main(void) { return 0; }\n' >"$probe.c"
    cc -fsanitize=address "$probe.c" -o "$probe" 2>/dev/null || return 1
    ASAN_OPTIONS=detect_leaks=1 "$probe" >/dev/null 2>&1
}

asan_pass() {
    leaks=1
    lsan_works || leaks=0
    asan_note=""
    [ "$leaks" -eq 1 ] || asan_note=" (LeakSanitizer unusable here: leaks not checked)"
    reports="$scratch/sanitizer-reports"
    mkdir -p "$reports"
    # halt_on_error: the first report ends the process. detect_leaks checks
    # every process at exit: criterion's runner and each forked test worker
    # (the servers are exec'd, uninstrumented binaries). Criterion itself
    # is leak-free here, so no suppressions are needed.
    # The catch is that criterion ignores how a worker exits once its test
    # has reported: LeakSanitizer's exit status 23 (or abort_on_error) in a
    # worker still shows the test as passed. So every report is also written
    # to a file (log_path, named after the executable and pid), and any file
    # there fails the pass below. ASan errors during a test do crash the
    # worker, which criterion reports as a failure anyway.
    ASAN_OPTIONS="halt_on_error=1:print_stacktrace=1:detect_leaks=$leaks"
    ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$reports/asan:log_exe_name=1"
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$reports/ubsan:log_exe_name=1"
    export ASAN_OPTIONS UBSAN_OPTIONS
    # b_lundef=false: libshard.so leaves the sanitizer runtime undefined;
    # the executables bring it.
    status=0
    pass "sanitizers" build-ci-asan -Dwerror=true \
        -Db_sanitize=address,undefined -Db_lundef=false || status=1
    unset ASAN_OPTIONS UBSAN_OPTIONS
    if [ -n "$(ls -A "$reports")" ]; then
        say "sanitizer reports"
        for f in "$reports"/*; do
            printf -- '--- %s\n' "$(basename "$f")"
            cat "$f"
        done
        n=$(find "$reports" -type f | wc -l)
        pass_result="sanitizers: FAIL  $n sanitizer report(s), printed above; meson: $results"
        status=1
    fi
    pass_result="$pass_result$asan_note"
    return "$status"
}

# --- fuzzing ----------------------------------------------------------------
# Every harness over its corpus (seeds, and the input of every crash found
# so far) plus 30 s of new inputs, all four at once: about 40 s besides the
# build. Long runs are tests/fuzz/run.sh with a large SECONDS.
fuzz_pass() {
    t0=$(date +%s)
    say "fuzz: tests/fuzz/run.sh 30 (build-ci-fuzz)"
    rm -rf build-ci-fuzz
    log="$scratch/fuzz.log"
    rc_file="$scratch/fuzz.rc"
    {
        rc=0
        SHARD_FUZZ_BUILD="$root/build-ci-fuzz" sh tests/fuzz/run.sh 30 || rc=$?
        echo "$rc" >"$rc_file"
    } 2>&1 | tee "$log"
    # The per-harness lines: executions, coverage, findings.
    figures=$(grep -E '^  [a-z]+ +[0-9]+ s, ' "$log" |
        sed -E 's/^ +([a-z]+) .* s, ([0-9?]+) executions, cov ([0-9]+).*findings: ([0-9]+)/\1 \2 execs cov \3 findings \4/' |
        paste -sd ',' - | sed 's/,/, /g')
    verdict=PASS
    [ "$(cat "$rc_file")" -eq 0 ] || verdict=FAIL
    fuzz_result="fuzz: $verdict  $figures  ($(($(date +%s) - t0)) s)"
    [ "$verdict" = PASS ]
}

# The servers' temp dirs go under a scratch dir of this run, removed at the
# end even when a test crashed before its own cleanup.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/libshard-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
TMPDIR=$scratch
export TMPDIR

say "packages"
install_packages
say "node modules"
install_node_modules "$root" || echo "npm ci failed: the node/libshard test will say koffi is missing"

failed=0
checks || failed=1
summary_checks=$checks_result
# -Dwerror=true in both passes: in CI a new compiler warning fails the run
# instead of scrolling past in the log. It is set here, not as a default in
# meson.build, so that a developer's build with another compiler still
# builds.
pass "plain" build-ci -Dwerror=true || failed=1
summary_plain=$pass_result
summary_asan="sanitizers: skipped (SHARD_SKIP_ASAN=1)"
if [ "${SHARD_SKIP_ASAN:-0}" != "1" ]; then
    asan_pass || failed=1
    summary_asan=$pass_result
fi

summary_fuzz="fuzz: skipped (SHARD_SKIP_FUZZ=1)"
if [ "${SHARD_SKIP_FUZZ:-0}" != "1" ]; then
    fuzz_pass || failed=1
    summary_fuzz=$fuzz_result
fi

say "summary ($(($(date +%s) - start)) s, $root)"
echo "  $summary_checks"
echo "  $summary_plain"
echo "  $summary_asan"
echo "  $summary_fuzz"
if [ "$failed" -ne 0 ]; then
    echo "tests/run.sh: FAILED (checks: output above;" \
        "logs: build-ci*/meson-logs/testlog.txt, build-ci-fuzz/logs)"
    exit 1
fi
echo "tests/run.sh: all passed"
