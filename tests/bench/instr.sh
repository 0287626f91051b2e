#!/bin/sh
# Instructions per operation, reproducibly: runs each workload of
# shard-instr (tests/bench/instr.c) under valgrind's callgrind, counting only
# measured_loop, with N ops and with 2N, and prints
# (Ir of 2N - Ir of N) / N, so whatever is paid once drops out. The figures
# are client instructions (libshard or hiredis, libc, the loop); they do not
# count the servers or the kernel.
#
#   tests/bench/instr.sh [--stock-malloc] [--strace] BUILD_DIR [N]
#
# BUILD_DIR is a configured and built tree (meson setup BUILD_DIR;
# meson compile -C BUILD_DIR); N defaults to 2000.
#
# A count is not quite the same run to run: glibc malloc's path depends on
# the heap's layout, which the setup (servers starting, replies arriving in
# more or fewer pieces) leaves a little different each time, and a poll may
# wake before every reply is in. Both only add instructions, so each count
# is the lowest of INSTR_REPEAT runs (default 3); "spread" is how far the
# runs were apart, per op. And malloc runs without its per-thread cache
# (GLIBC_TUNABLES=glibc.malloc.tcache_count=0), whose contents are what the
# layout changes most: the figures then repeat within about 0.3% (hiredis's
# exactly), for the price of a slightly dearer malloc than a default program
# has. --stock-malloc keeps glibc's defaults: truer to an application, but
# libshard's GET x32 moves by 3-7% between runs. Compare figures of the same
# mode only. The difference of two counts doubles their noise; as the
# warm-up runs outside measured_loop, what is paid once is a few hundred
# instructions in all, and the Ir(2N)/2N column is the steadier one to
# compare two builds with.
#
# --strace also counts the system calls of the measured phase: strace (no
# -f: the servers are forked before it) logs every call, and those between
# the two access(2) marker calls shard-instr makes around measured_loop are
# counted, once for N and once for 2N.
#
# Set INSTR_OUT=DIR to keep the callgrind and strace files there.
set -eu

usage() {
    echo "usage: instr.sh [--stock-malloc] [--strace] BUILD_DIR [N]" >&2
    exit 2
}

strace_too=false
tunables=glibc.malloc.tcache_count=0
while [ $# -gt 0 ]; do
    case $1 in
    --strace) strace_too=true ;;
    --stock-malloc) tunables= ;;
    -*) usage ;;
    *) break ;;
    esac
    shift
done
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    usage
fi
build=$1
n=${2:-2000}
repeat=${INSTR_REPEAT:-3}
case $n$repeat in
*[!0-9]*) usage ;;
esac
if [ "$n" -lt 1 ] || [ "$repeat" -lt 1 ]; then
    usage
fi
exe=$build/tests/bench/shard-instr
if [ ! -x "$exe" ]; then
    echo "instr.sh: no $exe (meson compile -C $build first)" >&2
    exit 1
fi
tools="valgrind awk timeout"
if $strace_too; then
    tools="$tools strace"
fi
for tool in $tools; do
    if ! command -v "$tool" >/dev/null; then
        echo "instr.sh: $tool not found" >&2
        exit 1
    fi
done

if [ -n "${INSTR_OUT:-}" ]; then
    out=$INSTR_OUT
    mkdir -p "$out"
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/shard-instr.XXXXXX")
    trap 'rm -rf "$out"' EXIT INT TERM
fi
rm -f "$out/table"

workloads="get get32 mget100 hiredis-get hiredis-get32 hiredis-mget100
nutcracker-get nutcracker-get32 nutcracker-mget100"
n2=$((2 * n))
limit=900 # seconds one run may take before it counts as hung

# The total Ir of callgrind file $1 ("totals:", else "summary:").
total_ir() {
    awk '/^totals:/ { t = $2 }
         /^summary:/ { s = $2 }
         END {
             if (t == "")
                 t = s
             if (t == "")
                 exit 1
             print t
         }' "$1"
}

# Runs workload $1 with $2 ops under callgrind, run $3; prints the Ir total.
callgrind_run() {
    file=$out/$1.$2.$3.callgrind
    # Through nutcracker: nutcracker runs under callgrind too, in a file of
    # its own, whose total goes to $out/$1.$2.nc.totals.
    wrap=
    case $1 in
    nutcracker-*)
        wrap="valgrind --tool=callgrind --callgrind-out-file=$file.nc"
        ;;
    esac
    if ! env ${tunables:+GLIBC_TUNABLES=$tunables} \
        ${wrap:+SHARD_TEST_NUTCRACKER_WRAPPER="$wrap"} timeout $limit \
        valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=measured_loop --callgrind-out-file="$file" \
        "$exe" "$1" "$2" >"$out/$1.$2.$3.log" 2>&1; then
        echo "instr.sh: shard-instr $1 $2 failed under callgrind:" >&2
        tail -5 "$out/$1.$2.$3.log" >&2
        return 1
    fi
    if [ -n "$wrap" ]; then
        total_ir "$file.nc" >>"$out/$1.$2.nc.totals"
    fi
    total_ir "$file"
}

# Prints "min max" of the numbers in file $1, one a line.
min_max() {
    sort -n "$1" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo, hi }'
}

# Runs workload $1 with $2 ops under strace; prints the system calls made
# between the markers, and writes their names, counted, to FILE.calls.
strace_run() {
    file=$out/$1.$2.strace
    wrap=
    case $1 in
    nutcracker-*) wrap="strace -qq -o $file.nc" ;;
    esac
    if ! env ${wrap:+SHARD_TEST_NUTCRACKER_WRAPPER="$wrap"} timeout $limit \
        strace -qq -o "$file" "$exe" "$1" "$2" \
        >"$out/$1.$2.strace.log" 2>&1; then
        echo "instr.sh: shard-instr $1 $2 failed under strace" >&2
        return 1
    fi
    # nutcracker's whole run: its start and the warm-up cancel out in the
    # difference of the N and 2N runs.
    if [ -n "$wrap" ]; then
        wc -l <"$file.nc" >"$file.nc.count"
    fi
    awk -v calls="$file.calls" '
        /shard-instr:measure-end/ { on = 0 }
        on { sub(/\(.*/, ""); count[$0]++; total++ }
        /shard-instr:measure-begin/ { on = 1 }
        END {
            for (c in count) print count[c], c > calls
            print total + 0
        }' "$file"
}

start=$(date +%s)
echo "shard-instr under callgrind: N=$n, 2N=$n2, lowest of $repeat runs each"
echo "Ir/op = (Ir(2N) - Ir(N)) / N; per key = Ir/op over 1, 32 or 100 keys;"
echo "spread = (max - min) / ops of the runs, the larger of N's and 2N's;"
echo "Ir(2N)/2N: the same with what is paid once left in (a cross-check)"
echo "binary: $exe"
echo "malloc: ${tunables:-glibc defaults}"
echo
printf '%-16s %10s %8s %7s %10s %12s %12s\n' workload "Ir/op" "per key" \
    "spread" "Ir(2N)/2N" "Ir(N)" "Ir(2N)"
for w in $workloads; do
    for k in $n $n2; do
        rm -f "$out/$w.$k.totals" "$out/$w.$k.nc.totals"
        r=1
        while [ $r -le "$repeat" ]; do
            callgrind_run "$w" "$k" $r >>"$out/$w.$k.totals"
            r=$((r + 1))
        done
    done
    keys=1
    case $w in
    *get32) keys=32 ;;
    *mget100) keys=100 ;;
    esac
    # shellcheck disable=SC2046 # word splitting wanted
    set -- $(min_max "$out/$w.$n.totals") $(min_max "$out/$w.$n2.totals")
    awk -v w="$w" -v a="$1" -v amax="$2" -v b="$3" -v bmax="$4" -v n="$n" \
        -v k="$keys" 'BEGIN {
        op = (b - a) / n
        sa = (amax - a) / n
        sb = (bmax - b) / (2 * n)
        printf "%-16s %10.1f %8.1f %7.1f %10.1f %12d %12d\n", w, op,
               op / k, (sa > sb ? sa : sb), b / (2 * n), a, b
    }' | tee -a "$out/table"
done

# nutcracker's own Ir/op, from the lowest of its runs at N and 2N.
for w in nutcracker-get nutcracker-get32 nutcracker-mget100; do
    # shellcheck disable=SC2046 # word splitting wanted
    set -- $(min_max "$out/$w.$n.nc.totals") $(min_max "$out/$w.$n2.nc.totals")
    awk -v w="$w" -v a="$1" -v b="$3" -v n="$n" 'BEGIN {
        printf "%s-server %.1f\n", w, (b - a) / n
    }' >>"$out/table"
done
printf '%-16s %10s  (nutcracker itself, under callgrind)\n' "" "Ir/op"
grep -- '-server ' "$out/table" | awk '{ printf "%-16s %10.1f\n", $1, $2 }'

echo
echo "libshard / hiredis by hand, and / client + nutcracker, Ir/op:"
awk '{ op[$1] = $2 }
     END {
         split("get get32 mget100", w, " ")
         for (i = 1; i <= 3; i++) {
             h = op["hiredis-" w[i]]
             nc = op["nutcracker-" w[i]] + op["nutcracker-" w[i] "-server"]
             printf "  %-8s %10.1f / %10.1f = %5.2f    / %10.1f = %5.2f\n",
                    w[i], op[w[i]], h, (h > 0 ? op[w[i]] / h : 0), nc,
                    (nc > 0 ? op[w[i]] / nc : 0)
         }
     }' "$out/table"

if $strace_too; then
    echo
    echo "system calls per op in measured_loop, strace (no -f), N and 2N:"
    printf '%-16s %10s %10s %9s  %s\n' workload "calls(N)" "calls(2N)" \
        "calls/op" "calls in the 2N run"
    for w in $workloads; do
        c1=$(strace_run "$w" "$n")
        c2=$(strace_run "$w" "$n2")
        top=$(sort -rn "$out/$w.$n2.strace.calls" |
            awk '{ printf "%s%s %s", sep, $2, $1; sep = ", " }')
        awk -v w="$w" -v a="$c1" -v b="$c2" -v n="$n" -v top="$top" 'BEGIN {
            printf "%-16s %10d %10d %9.2f  %s\n", w, a, b, (b - a) / n, top
        }'
        if [ -f "$out/$w.$n.strace.nc.count" ]; then
            awk -v w="$w-server" -v n="$n" \
                -v a="$(cat "$out/$w.$n.strace.nc.count")" \
                -v b="$(cat "$out/$w.$n2.strace.nc.count")" 'BEGIN {
                printf "%-16s %10d %10d %9.2f  (nutcracker itself)\n", w, a,
                       b, (b - a) / n
            }'
        fi
    done
fi
echo
echo "instr.sh: $(($(date +%s) - start)) s${INSTR_OUT:+; files in $out}"
