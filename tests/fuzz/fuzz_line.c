/*
 * shard-cli's line splitter (examples/shard-cli/args.c): what a user types
 * at the prompt or pipes in. Two properties, one per mode byte:
 *
 *   0: any line splits or is refused, never more; what it splits into,
 *      quoted back, splits into the same arguments;
 *   1: any arguments (binary, empty), quoted as the splitter documents,
 *      split back into exactly themselves.
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "fuzz.h"

/* One argument in double quotes, every byte that is not plain printable
 * ASCII as \xHH. */
static size_t
quote(char *out, const char *arg, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    out[n++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)arg[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\') {
            out[n++] = (char)ch;
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    out[n++] = '"';
    return n;
}

/* The line that quotes `argc` arguments, separated by one blank. */
static char *
quote_line(int argc, char *const *argv, const size_t *lens)
{
    size_t cap = 1;

    for (int i = 0; i < argc; i++)
        cap += lens[i] * 4 + 3;
    char *line = malloc(cap);
    size_t n = 0;

    FUZZ_CHECK(line != NULL, "out of memory");
    for (int i = 0; i < argc; i++) {
        if (i > 0)
            line[n++] = ' ';
        n += quote(line + n, argv[i], lens[i]);
    }
    line[n] = '\0';
    return line;
}

/* `line` splits into exactly `argc` arguments argv/lens. */
static void
check_splits_into(const char *line, int argc, char *const *argv,
                  const size_t *lens)
{
    line_args back;

    FUZZ_CHECK(split_line(line, &back) == 0, "a quoted line refused: %s", line);
    FUZZ_CHECK(back.argc == argc, "%d arguments back, not %d", back.argc, argc);
    for (int i = 0; i < argc; i++) {
        FUZZ_CHECK(back.lens[i] == lens[i] &&
                       memcmp(back.argv[i], argv[i], lens[i]) == 0,
                   "argument %d differs", i);
        FUZZ_CHECK(back.argv[i][lens[i]] == '\0', "argument %d unterminated",
                   i);
    }
    FUZZ_CHECK(argc == 0 || back.argv[argc] == NULL,
               "argv not NULL-terminated");
    args_free(&back);
}

static void
split_any_line(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    line_args a;

    FUZZ_CHECK(line != NULL, "out of memory");
    if (size > 0) /* libFuzzer's empty input may have no data at all */
        memcpy(line, data, size);
    line[size] = '\0'; /* a typed line ends at its first NUL */
    if (split_line(line, &a) == 0) {
        char *again = quote_line(a.argc, a.argv, a.lens);
        check_splits_into(again, a.argc, a.argv, a.lens);
        free(again);
        args_free(&a);
    } else {
        FUZZ_CHECK(a.argc == 0 && a.argv == NULL, "a refusal left arguments");
    }
    free(line);
}

/* Arguments out of the input: a count, then each one's length and bytes. */
static void
quote_any_args(fuzz_bytes *in)
{
    int argc = fuzz_byte(in) % 16;
    char *argv[17];
    size_t lens[16];

    for (int i = 0; i < argc; i++) {
        size_t len = fuzz_byte(in);
        if (len > in->len)
            len = in->len;
        argv[i] = malloc(len + 1);
        FUZZ_CHECK(argv[i] != NULL, "out of memory");
        if (len > 0) {
            memcpy(argv[i], in->data, len);
            in->data += len;
            in->len -= len;
        }
        argv[i][len] = '\0';
        lens[i] = len;
    }
    argv[argc] = NULL;
    char *line = quote_line(argc, argv, lens);
    check_splits_into(line, argc, argv, lens);
    free(line);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in = {data, size};

    if (fuzz_byte(&in) % 2 == 0)
        split_any_line(in.data, in.len);
    else
        quote_any_args(&in);
    return 0;
}
