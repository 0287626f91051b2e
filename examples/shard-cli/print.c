/*
 * Reply printing, after redis-cli's cliFormatReplyTTY and
 * cliFormatReplyRaw (print.h). Output is compared byte for byte with
 * redis-cli's in tests/cli.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "print.h"

void
print_quoted(FILE *out, const char *s, size_t len)
{
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\\':
        case '"':
            fprintf(out, "\\%c", c);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\a':
            fputs("\\a", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        default:
            if (isprint(c))
                fputc(c, out);
            else
                fprintf(out, "\\x%02x", c);
        }
    }
    fputc('"', out);
}

/* How a reply is shown beyond tty or raw. */
typedef struct print_opts {
    bool unsigned_ints; /* INTEGER replies as uint64_t: memcached's incr and
                           decr give unsigned 64-bit numbers, Redis signed */
} print_opts;

static int print_tty(FILE *out, const shard_reply *r, const char *prefix,
                     const print_opts *o);

static void
print_integer(FILE *out, const shard_reply *r, const print_opts *o)
{
    if (o->unsigned_ints)
        fprintf(out, "%llu", (unsigned long long)shard_reply_integer(r));
    else
        fprintf(out, "%lld", shard_reply_integer(r));
}

/* "1) ...", "2) ...", indices right-aligned, nested elements indented
 * under their parent's number. */
static int
print_tty_array(FILE *out, const shard_reply *r, const char *prefix,
                const print_opts *o)
{
    size_t n = shard_reply_len(r), plen = strlen(prefix);
    int width = 0;
    char *inner;

    if (n == 0) {
        fputs("(empty array)\n", out);
        return 0;
    }
    for (size_t i = n; i > 0; i /= 10)
        width++;
    if ((inner = malloc(plen + (size_t)width + 3)) == NULL)
        return -1;
    memcpy(inner, prefix, plen);
    memset(inner + plen, ' ', (size_t)width + 2);
    inner[plen + (size_t)width + 2] = '\0';
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%s%*zu) ", i == 0 ? "" : prefix, width, i + 1);
        if (print_tty(out, shard_reply_at(r, i), inner, o) != 0) {
            free(inner);
            return -1;
        }
    }
    free(inner);
    return 0;
}

static int
print_tty(FILE *out, const shard_reply *r, const char *prefix,
          const print_opts *o)
{
    size_t len = 0;
    const char *s = shard_reply_str(r, &len);

    switch (shard_reply_type(r)) {
    case SHARD_REPLY_ERROR:
        fprintf(out, "(error) %s\n", s);
        return 0;
    case SHARD_REPLY_STATUS:
        fwrite(s, 1, len, out);
        fputc('\n', out);
        return 0;
    case SHARD_REPLY_INTEGER:
        fputs("(integer) ", out);
        print_integer(out, r, o);
        fputc('\n', out);
        return 0;
    case SHARD_REPLY_STRING:
        print_quoted(out, s, len);
        fputc('\n', out);
        return 0;
    case SHARD_REPLY_NIL:
        fputs("(nil)\n", out);
        return 0;
    case SHARD_REPLY_ARRAY:
        return print_tty_array(out, r, prefix, o);
    default:
        fprintf(out, "(unknown reply type %d)\n", shard_reply_type(r));
        return 0;
    }
}

/* Raw: strings as they are, arrays one element a line, nil as nothing. */
static void
print_raw(FILE *out, const shard_reply *r, const print_opts *o)
{
    size_t len = 0;
    const char *s = shard_reply_str(r, &len);

    switch (shard_reply_type(r)) {
    case SHARD_REPLY_ERROR:
        fwrite(s, 1, len, out);
        fputc('\n', out);
        break;
    case SHARD_REPLY_STATUS:
    case SHARD_REPLY_STRING:
        fwrite(s, 1, len, out);
        break;
    case SHARD_REPLY_INTEGER:
        print_integer(out, r, o);
        break;
    case SHARD_REPLY_ARRAY:
        for (size_t i = 0; i < shard_reply_len(r); i++) {
            if (i > 0)
                fputc('\n', out);
            print_raw(out, shard_reply_at(r, i), o);
        }
        break;
    default:
        break;
    }
}

int
print_reply(FILE *out, const shard_reply *r, bool tty, bool unsigned_ints)
{
    print_opts o = {unsigned_ints};

    if (tty)
        return print_tty(out, r, "", &o);
    print_raw(out, r, &o);
    fputc('\n', out);
    return 0;
}
