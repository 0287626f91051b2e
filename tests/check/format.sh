#!/bin/sh
# Checks that the C sources follow .clang-format (run by tests/run.sh).
#
#   tests/check/format.sh          list the files clang-format would change
#   CLANG_FORMAT=clang-format-14 tests/check/format.sh
#
# Fix a listed file with `clang-format -i FILE`. Nothing is rewritten here.
# The style is pinned to Debian 12's clang-format 14: other versions format
# some constructs differently, so another version may list files that 14
# accepts (it is warned about below).
# Exit status: 0 all formatted, 1 some not, 2 clang-format missing.
set -eu

cd "$(dirname "$0")/../.."

# clang-format-14 first: on a machine with several versions, plain
# clang-format may be another one.
if [ -z "${CLANG_FORMAT:-}" ]; then
    CLANG_FORMAT=clang-format
    command -v clang-format-14 >/dev/null 2>&1 && CLANG_FORMAT=clang-format-14
fi
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
    echo "format: $CLANG_FORMAT not found (Debian package clang-format)" >&2
    exit 2
fi
version=$("$CLANG_FORMAT" --version)
case $version in
*" version 14."*) ;;
*) echo "format: warning: the style is for clang-format 14, this is $version" ;;
esac

# The files: lib/, the public headers, examples/ and everything C under
# tests/ (tests/**/*.c and .h; find, since POSIX sh has no **). Sorted, so
# the list reads the same on every run.
files=$(
    {
        ls lib/*.c lib/*.h include/shard/*.h include/shard/adapters/*.h \
            examples/*.c examples/*.h examples/*/*.c examples/*/*.h \
            2>/dev/null || true
        find tests -type f \( -name '*.c' -o -name '*.h' \)
    } | LC_ALL=C sort -u
)

# One clang-format per file, to name each one that fails; its diagnostics
# (every line it would change) go to a temp file, counted per file.
out=$(mktemp "${TMPDIR:-/tmp}/format.XXXXXX")
trap 'rm -f "$out"' EXIT
total=0
bad=""
nbad=0
for f in $files; do
    total=$((total + 1))
    if ! "$CLANG_FORMAT" --style=file --dry-run -Werror "$f" 2>"$out"; then
        n=$(grep -c ': error: ' "$out" || true)
        echo "not formatted: $f ($n place(s))"
        # No place named: clang-format itself failed (bad .clang-format...).
        [ "$n" -ne 0 ] || cat "$out"
        bad="$bad $f"
        nbad=$((nbad + 1))
    fi
done

if [ "$nbad" -ne 0 ]; then
    echo "format: FAILED, $nbad of $total files not formatted; see with:"
    echo "  $CLANG_FORMAT --dry-run$bad"
    echo "fix with:"
    echo "  $CLANG_FORMAT -i$bad"
    exit 1
fi
echo "format: OK, $total files formatted"
