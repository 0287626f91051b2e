#!/bin/sh
# Client instructions per memcached operation, under valgrind's callgrind,
# as tests/bench/instr.sh counts them for Redis: each workload of
# shard-mc-bench --instr runs N and 2N operations inside measured_loop,
# and (Ir(2N) - Ir(N)) / N is printed, so whatever is paid once drops out.
# Each count is the lowest of INSTR_REPEAT runs (default 3), with glibc
# malloc's thread cache off (GLIBC_TUNABLES=glibc.malloc.tcache_count=0)
# for repeatable counts; --stock-malloc keeps glibc's defaults.
#
#   tests/bench/mc-instr.sh [--stock-malloc] BUILD_DIR [N]
#
# The figures are the client's: libshard (or libmemcached) and libc; the
# nutcracker rows count the client that talks to nutcracker, not
# nutcracker itself, and no row counts the servers or the kernel.
set -eu

tunables=glibc.malloc.tcache_count=0
if [ "${1:-}" = --stock-malloc ]; then
    tunables=
    shift
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: mc-instr.sh [--stock-malloc] BUILD_DIR [N]" >&2
    exit 2
fi
exe=$1/tests/bench/shard-mc-bench
n=${2:-2000}
repeat=${INSTR_REPEAT:-3}
if [ ! -x "$exe" ]; then
    echo "mc-instr.sh: no $exe (meson compile -C $1 first)" >&2
    exit 1
fi
command -v valgrind >/dev/null || {
    echo "mc-instr.sh: valgrind not found" >&2
    exit 1
}
out=$(mktemp -d "${TMPDIR:-/tmp}/mc-instr.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM

workloads=${MC_INSTR_WORKLOADS:-"libshard-get libmemcached-get hand-split-get
nutcracker-get libshard-set libmemcached-set libshard-mget10
libmemcached-mget10 libshard-mget100 libmemcached-mget100 hand-split-mget100
nutcracker-mget100"}

# The lowest total Ir of `repeat` runs of workload $1 with $2 ops.
lowest_ir() {
    best=
    r=0
    while [ $r -lt "$repeat" ]; do
        file=$out/$1.$2.$r
        if ! env ${tunables:+GLIBC_TUNABLES=$tunables} valgrind \
            --tool=callgrind --collect-atstart=no \
            --toggle-collect=measured_loop --callgrind-out-file="$file" \
            "$exe" --instr "$1" "$2" >"$file.log" 2>&1; then
            echo "mc-instr.sh: $1 $2 failed:" >&2
            tail -3 "$file.log" >&2
            return 1
        fi
        ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$file")
        if [ -z "$best" ] || [ "$ir" -lt "$best" ]; then
            best=$ir
        fi
        r=$((r + 1))
    done
    echo "$best"
}

echo "shard-mc-bench under callgrind: N=$n and 2N, lowest of $repeat runs;"
echo "malloc: ${tunables:-glibc defaults}"
printf '%-22s %10s %9s\n' workload "Ir/op" "per key"
for w in $workloads; do
    a=$(lowest_ir "$w" "$n")
    b=$(lowest_ir "$w" $((2 * n)))
    keys=1
    case $w in
    *mget10) keys=10 ;;
    *mget100) keys=100 ;;
    esac
    awk -v w="$w" -v a="$a" -v b="$b" -v n="$n" -v k="$keys" 'BEGIN {
        op = (b - a) / n
        printf "%-22s %10.0f %9.0f\n", w, op, op / k
    }' | tee -a "$out/table"
done
echo
echo "libshard / libmemcached alone, Ir/op:"
awk '{ ir[$1] = $2 }
     END {
         split("get set mget10 mget100", w, " ")
         for (i = 1; i <= 4; i++) {
             s = ir["libshard-" w[i]]
             m = ir["libmemcached-" w[i]]
             if (s > 0 && m > 0)
                 printf "  %-8s %10.0f / %10.0f = %5.2f\n", w[i], s, m, s / m
         }
     }' "$out/table"
