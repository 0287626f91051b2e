#!/bin/sh
# The installed library works from outside the source tree: install the
# build into a scratch DESTDIR, find it there with pkg-config, and build and
# run a small program against it, as strict C99 and (when a C++ compiler is
# present) as C++, so the public headers are proven clean for both.
#
#   test_pkgconfig.sh BUILD_ROOT
set -eu

build=${1:?usage: test_pkgconfig.sh BUILD_ROOT}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libshard-pkgconfig.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
    echo "test_pkgconfig: FAIL: $*" >&2
    exit 1
}

# --- install into $tmp ------------------------------------------------------
if ! meson install -C "$build" --no-rebuild --quiet --destdir "$tmp" \
    >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "meson install --destdir into $tmp failed"
fi
pc=$(find "$tmp" -name libshard.pc | head -n 1)
[ -n "$pc" ] || fail "meson install put no libshard.pc under $tmp"
so=$(find "$tmp" -name 'libshard.so.0' | head -n 1)
[ -n "$so" ] || fail "meson install put no libshard.so.0 under $tmp"
[ -n "$(find "$tmp" -path '*/include/shard/shard.h')" ] ||
    fail "meson install put no include/shard/shard.h under $tmp"

# --- pkg-config resolves inside $tmp ----------------------------------------
# The .pc file names the configured prefix (/usr/local, say); the sysroot
# maps its -I and -L into $tmp.
PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
PKG_CONFIG_SYSROOT_DIR=$tmp
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
cflags=$(pkg-config --cflags libshard) || fail "pkg-config --cflags libshard"
libs=$(pkg-config --libs libshard) || fail "pkg-config --libs libshard"
version=$(pkg-config --modversion libshard) || fail "pkg-config --modversion"
case " $cflags " in
*" -I$tmp/"*) ;;
*) fail "pkg-config --cflags gives '$cflags', not an include dir in $tmp" ;;
esac
case " $libs " in
*" -L$tmp/"*" -lshard "*) ;;
*) fail "pkg-config --libs gives '$libs', not -L$tmp/... -lshard" ;;
esac

# A sanitizer build of the library needs its runtime in the program too.
san=""
undef=$(nm -D --undefined-only "$so" 2>/dev/null || true)
case "$undef" in *__asan_*) san="$san -fsanitize=address" ;; esac
case "$undef" in *__ubsan_*) san="$san -fsanitize=undefined" ;; esac

# --- a program outside the tree ---------------------------------------------
cat >"$tmp/prog.c" <<'EOF'
/* Uses the installed libshard: version, open a pool from YAML, locate. */
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

static const char yaml[] = "alpha:\n"
                           "  listen: 127.0.0.1:22121\n"
                           "  redis: true\n"
                           "  servers:\n"
                           "   - 127.0.0.1:6379:1\n"
                           "   - 127.0.0.1:6380:1\n";

int
main(int argc, char **argv)
{
    shard_pool *pool = NULL;
    int rc;
    int i;

    printf("version %s %s\n", shard_version(), SHARD_VERSION_STRING);
    rc = shard_pool_open_string(&pool, yaml, sizeof(yaml) - 1, "alpha", NULL);
    if (rc != SHARD_OK) {
        fprintf(stderr, "open: %s: %s\n", shard_strerror(rc),
                shard_last_error());
        return 1;
    }
    printf("servers %lu\n", (unsigned long)shard_pool_server_count(pool));
    for (i = 1; i < argc; i++) {
        int idx = shard_pool_locate(pool, argv[i], strlen(argv[i]));

        if (idx < 0) {
            fprintf(stderr, "locate %s: %s\n", argv[i], shard_strerror(idx));
            shard_pool_free(pool);
            return 1;
        }
        printf("%s %s\n", argv[i], shard_pool_server_addr(pool, (size_t)idx));
    }
    shard_pool_free(pool);
    return 0;
}
EOF

libdir=$(dirname "$so")
# What twemproxy 0.5 does with this pool (ketama, fnv1a_64): checked against
# a model of twemproxy-0.5.md section 3 and the integration placement test.
expected="version $version $version
servers 2
foo 127.0.0.1:6380
bar 127.0.0.1:6379
user:1000 127.0.0.1:6380
a 127.0.0.1:6379"

run_prog() { # name
    out=$(LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        "$tmp/$1" foo bar user:1000 a) || fail "$1 exited non-zero: $out"
    [ "$out" = "$expected" ] ||
        fail "$1 printed:
$out
expected:
$expected"
    echo "test_pkgconfig: $1 ok"
}

cc=${CC:-cc}
# shellcheck disable=SC2086 # flag lists are meant to split
$cc $san "$tmp/prog.c" -o "$tmp/prog" $cflags $libs ||
    fail "cc prog.c \$(pkg-config --cflags --libs libshard) failed"
run_prog prog

# shellcheck disable=SC2086
$cc $san -std=c99 -pedantic -Wall -Wextra -Werror "$tmp/prog.c" \
    -o "$tmp/prog_c99" $cflags $libs ||
    fail "the public headers are not clean C99 (-std=c99 -pedantic -Werror)"
run_prog prog_c99

cxx=${CXX:-c++}
if command -v "$cxx" >/dev/null 2>&1 && command -v g++ >/dev/null 2>&1; then
    # The same program compiled as C++: the headers must work there too.
    cp "$tmp/prog.c" "$tmp/prog_cxx.cpp"
    # shellcheck disable=SC2086
    $cxx $san -std=c++11 -pedantic -Wall -Wextra -Werror \
        "$tmp/prog_cxx.cpp" -o "$tmp/prog_cxx" $cflags $libs ||
        fail "the public headers do not compile as C++ (-std=c++11 -pedantic)"
    run_prog prog_cxx
else
    echo "test_pkgconfig: no C++ compiler, C++ check skipped"
fi
echo "test_pkgconfig: installed libshard $version is usable through pkg-config"
