#!/bin/sh
# Every symbol libshard.so exports is public API: its name starts with
# shard_, every SHARD_API function of include/shard/*.h is there, and the
# soname carries the major version (libshard.so.0).
#
#   test_exports.sh path/to/libshard.so
set -eu

lib=${1:?usage: test_exports.sh path/to/libshard.so}
headers="$(dirname "$0")/../../include/shard"
status=0

fail() {
    echo "test_exports: FAIL: $*" >&2
    status=1
}

[ -f "$lib" ] || {
    echo "test_exports: FAIL: no such file: $lib" >&2
    exit 1
}
syms=$(nm -D --defined-only "$lib") || {
    echo "test_exports: FAIL: nm -D cannot read $lib" >&2
    exit 1
}

# Code, data, bss, read-only, weak and indirect symbols; versions (@...)
# stripped. The linker's own markers are not ours to name.
exported=$(printf '%s\n' "$syms" |
    awk 'NF >= 3 && $2 ~ /^[TDBRWVi]$/ { sub(/@.*/, "", $3); print $3 }' |
    sort -u)
foreign=$(printf '%s\n' "$exported" | grep -v '^shard_' |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' || true)
if [ -n "$foreign" ]; then
    fail "exported symbols outside shard_* (mark internals static or leave
them hidden; only SHARD_API is exported):
$foreign"
fi

# Every function the public headers promise is exported.
if [ -d "$headers" ]; then
    promised=$(grep -h 'SHARD_API' "$headers"/*.h |
        grep -o 'shard_[a-z0-9_]*[[:space:]]*(' | tr -d ' (' | sort -u)
    for f in $promised; do
        printf '%s\n' "$exported" | grep -qx "$f" ||
            fail "$f is declared SHARD_API in include/shard but not exported"
    done
else
    echo "test_exports: $headers not found, header check skipped"
fi
for f in shard_version shard_strerror shard_pool_open shard_pool_locate; do
    printf '%s\n' "$exported" | grep -qx "$f" || fail "$f is not exported"
done

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
[ "$soname" = "libshard.so.0" ] ||
    fail "SONAME is '${soname:-none}', expected libshard.so.0"

if [ "$status" -eq 0 ]; then
    count=$(printf '%s\n' "$exported" | grep -c '^shard_')
    echo "test_exports: $count symbols, all shard_*; SONAME $soname"
fi
exit "$status"
