#!/bin/sh
# CMake users find the installed libshard: install the build into a
# scratch DESTDIR, then configure, build and run an out-of-tree CMake
# project that says find_package(libshard 0.1 REQUIRED) and links
# libshard::libshard. Also checks that the version file refuses another
# major version.
#
#   test_cmake.sh BUILD_ROOT
set -eu

build=${1:?usage: test_cmake.sh BUILD_ROOT}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libshard-cmake.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
    echo "test_cmake: FAIL: $*" >&2
    exit 1
}

command -v cmake >/dev/null 2>&1 || fail "cmake not found (Debian package cmake)"

if ! meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" \
    >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    fail "meson install --destdir failed"
fi
config=$(find "$tmp/root" -name libshardConfig.cmake | head -n 1)
[ -n "$config" ] || fail "no libshardConfig.cmake installed"
[ -f "$(dirname "$config")/libshardConfigVersion.cmake" ] ||
    fail "no libshardConfigVersion.cmake beside $config"
# <prefix>/<libdir>/cmake/libshard/libshardConfig.cmake: the prefix is
# where CMAKE_PREFIX_PATH points, as a user's would.
prefix=$(sed -n "s/^prefix=//p" "$(find "$tmp/root" -name libshard.pc)")
[ -d "$tmp/root$prefix" ] || fail "no $prefix under the DESTDIR"
so=$(find "$tmp/root" -name 'libshard.so.0' | head -n 1)

# A sanitizer build of the library needs its runtime in the program too.
san=""
undef=$(nm -D --undefined-only "$so" 2>/dev/null || true)
case "$undef" in *__asan_*) san="$san -fsanitize=address" ;; esac
case "$undef" in *__ubsan_*) san="$san -fsanitize=undefined" ;; esac

mkdir -p "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.13)
project(uses_libshard C)
find_package(libshard 0.1 REQUIRED)
message(STATUS "libshard ${libshard_VERSION} from ${libshard_DIR}")
add_executable(prog prog.c)
target_link_libraries(prog PRIVATE libshard::libshard)
CMAKE
cat >"$tmp/proj/prog.c" <<'C'
/* Uses the installed libshard found by CMake: version and placement. */
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
main(void)
{
    shard_pool *pool;

    if (strcmp(shard_version(), SHARD_VERSION_STRING) != 0)
        return 1;
    if (shard_pool_open_string(&pool, yaml, sizeof(yaml) - 1, NULL, NULL) !=
        SHARD_OK)
        return 1;
    printf("%s %s\n", SHARD_VERSION_STRING,
           shard_pool_server_addr(pool, (size_t)shard_pool_locate(pool, "foo",
                                                                  3)));
    shard_pool_free(pool);
    return 0;
}
C

if ! cmake -S "$tmp/proj" -B "$tmp/proj/build" \
    -DCMAKE_PREFIX_PATH="$tmp/root$prefix" -DCMAKE_C_FLAGS="$san" \
    >"$tmp/cmake.log" 2>&1; then
    cat "$tmp/cmake.log" >&2
    fail "cmake could not configure a project with find_package(libshard)"
fi
grep -q "libshard [0-9.]* from $tmp/root" "$tmp/cmake.log" ||
    fail "find_package(libshard) did not find the installed one: $(cat "$tmp/cmake.log")"
if ! cmake --build "$tmp/proj/build" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    fail "building against libshard::libshard failed"
fi
version=$(sed -n 's/^Version: //p' "$(find "$tmp/root" -name libshard.pc)")
out=$(LD_LIBRARY_PATH="$(dirname "$so")" "$tmp/proj/build/prog") ||
    fail "the program exited non-zero"
# foo goes to the second server under ketama/fnv1a_64 (test_pkgconfig.sh).
[ "$out" = "$version 127.0.0.1:6380" ] || fail "the program printed '$out'"
echo "test_cmake: find_package(libshard) $version builds and runs"

# The version file: another major version is refused.
sed -i 's/find_package(libshard 0.1 REQUIRED)/find_package(libshard 99 REQUIRED)/' \
    "$tmp/proj/CMakeLists.txt"
if cmake -S "$tmp/proj" -B "$tmp/proj/build99" \
    -DCMAKE_PREFIX_PATH="$tmp/root$prefix" >"$tmp/cmake99.log" 2>&1; then
    fail "find_package(libshard 99) accepted version $version"
fi
grep -q "compatible with requested version" "$tmp/cmake99.log" ||
    fail "find_package(libshard 99) failed, but not on the version: $(cat "$tmp/cmake99.log")"
echo "test_cmake: find_package(libshard 99) refused, as it should"
