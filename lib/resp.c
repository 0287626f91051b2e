/*
 * RESP encoding, written here rather than through hiredis' formatter: its
 * sds building costs more than the rest of a request's path, and this is
 * one pass of memcpy into a buffer reused by every command.
 */
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* Decimal digits of n. */
static size_t
digits(size_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* "<kind><n>\r\n" at p; returns the end. */
static char *
put_header(char *p, char kind, size_t n)
{
    size_t d = digits(n);

    *p++ = kind;
    /* Digits from the last: n's lowest digit goes at p[d - 1]. */
    for (size_t i = d; i > 0; i--, n /= 10)
        p[i - 1] = (char)('0' + n % 10);
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* The encoded length, or 0 when it would not fit a size_t. */
static size_t
encoded_length(int argc, const size_t *argvlen)
{
    size_t need = 1 + digits((size_t)argc) + 2;

    for (int i = 0; i < argc; i++) {
        size_t part = 1 + digits(argvlen[i]) + 2 + 2;
        if (argvlen[i] > (size_t)-1 - part - need)
            return 0;
        need += part + argvlen[i];
    }
    return need;
}

size_t
resp_format(resp_buf *b, int argc, const char **argv, const size_t *argvlen)
{
    size_t need = encoded_length(argc, argvlen);

    if (need == 0)
        return 0;
    if (need > b->cap) {
        char *grown = realloc(b->data, need);
        if (grown == NULL)
            return 0;
        b->data = grown;
        b->cap = need;
    }
    char *p = put_header(b->data, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_header(p, '$', argvlen[i]);
        memcpy(p, argv[i], argvlen[i]);
        p += argvlen[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    return need;
}

void
resp_buf_free(resp_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->cap = 0;
}
