#!/bin/sh
# `meson install` into a fresh prefix gives everything a user needs: the
# library, the headers, pkg-config and CMake files, shard-cli with its man
# page, and the Python package, importable from that prefix and loading
# the library installed beside it. Builds the source tree anew with
# --prefix in a scratch directory (a prefix is fixed at setup), installs
# it, and checks each piece from there. --buildtype=plain: no optimiser,
# the quickest build, since only the installation is checked.
#
#   test_install.sh SOURCE_ROOT
set -eu

src=${1:?usage: test_install.sh SOURCE_ROOT}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libshard-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
prefix=$tmp/prefix

fail() {
    echo "test_install: FAIL: $*" >&2
    exit 1
}

ok() {
    echo "test_install: $*"
}

run_logged() { # log command...
    log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        fail "$* failed"
    fi
}

run_logged "$tmp/setup.log" meson setup "$tmp/build" "$src" \
    --prefix "$prefix" -Dtests=false --buildtype=plain
run_logged "$tmp/compile.log" meson compile -C "$tmp/build"
run_logged "$tmp/install.log" meson install -C "$tmp/build"
version=$(sed -n "s/^  version : '\([^']*\)',/\1/p" "$src/meson.build")
[ -n "$version" ] || fail "no version in $src/meson.build"

# --- the library, headers, pkg-config and CMake files ---------------------
so=$(find "$prefix" -name libshard.so.0 | head -n 1)
[ -n "$so" ] || fail "no libshard.so.0 under $prefix"
libdir=$(dirname "$so")
[ -e "$libdir/libshard.so" ] || fail "no libshard.so (for -lshard) in $libdir"
for h in shard.h common.h pool.h reply.h redis.h async.h stats.h version.h \
    adapters/libevent.h adapters/libuv.h adapters/libev.h; do
    [ -f "$prefix/include/shard/$h" ] || fail "no include/shard/$h"
done
ok "library $so and headers in $prefix/include/shard"
pc=$libdir/pkgconfig/libshard.pc
[ -f "$pc" ] || fail "no $pc"
[ "$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --modversion libshard)" = \
    "$version" ] || fail "pkg-config --modversion libshard is not $version"
PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags libshard |
    grep -q -- "-I$prefix/include" || fail "pkg-config --cflags: not $prefix"
ok "pkg-config: $pc"
for f in libshardConfig.cmake libshardConfigVersion.cmake; do
    [ -f "$libdir/cmake/libshard/$f" ] || fail "no $libdir/cmake/libshard/$f"
done
ok "CMake: $libdir/cmake/libshard"

# --- shard-cli and its man page ------------------------------------------
cli=$prefix/bin/shard-cli
[ -x "$cli" ] || fail "no $cli"
# No LD_LIBRARY_PATH: it finds the library beside it (its rpath).
out=$(env -u LD_LIBRARY_PATH "$cli" --version) || fail "$cli --version"
case $out in
"shard-cli $version (libshard $version)") ;;
*) fail "$cli --version printed '$out'" ;;
esac
loaded=$(ldd "$cli" | sed -n 's/.*libshard.so.0 => \([^ ]*\) .*/\1/p')
[ -n "$loaded" ] && [ "$(readlink -f "$loaded")" = "$(readlink -f "$so")" ] ||
    fail "$cli does not load $so: $(ldd "$cli")"
cat >"$tmp/pool.yml" <<'YML'
alpha:
  listen: 127.0.0.1:22121
  redis: true
  servers:
   - 127.0.0.1:6379:1
   - 127.0.0.1:6380:1
YML
"$cli" check "$tmp/pool.yml" | grep -q "syntax is ok" ||
    fail "$cli check rejects a valid file"
man1=$prefix/share/man/man1/shard-cli.1
[ -f "$man1" ] || fail "no $man1"
head -n 1 "$man1" | grep -q '^\.TH SHARD-CLI 1' || fail "$man1 is not a man page"
if command -v man >/dev/null 2>&1; then
    MANPATH=$prefix/share/man man shard-cli 2>/dev/null | grep -q "diff OLD.yml" ||
        fail "man shard-cli (MANPATH=$prefix/share/man) shows no manual"
fi
ok "shard-cli $cli and its man page $man1"

# --- the Python package ------------------------------------------------------
init=$(find "$prefix" -path '*/libshard/__init__.py' | head -n 1)
[ -n "$init" ] || fail "no Python package libshard under $prefix"
site=$(dirname "$(dirname "$init")")
out=$(cd "$tmp" && env -u SHARD_LIB -u LD_LIBRARY_PATH PYTHONPATH="$site" \
    python3 -c '
import libshard, libshard._native as n
print(libshard.__file__)
print(libshard.library_version())
print(n.lib()._name)
') || fail "python3 cannot import libshard from $site"
[ "$out" = "$init
$version
$so" ] || fail "the package from $site says:
$out
expected $init, $version, $so"
ok "Python package $site/libshard, loading $so"
echo "test_install: meson install into a fresh prefix gives every piece"
