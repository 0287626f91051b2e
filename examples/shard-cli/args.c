/* shard-cli's line splitter (args.h). */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

/* One argument being built. */
typedef struct arg_buf {
    char *data;  /* the bytes */
    size_t len;  /* used */
    size_t cap;  /* allocated */
    bool failed; /* out of memory */
} arg_buf;

static void
buf_put(arg_buf *b, char ch)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        char *data = realloc(b->data, cap);
        if (data == NULL) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    b->data[b->len++] = ch;
    b->data[b->len] = '\0';
}

static int
hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char
unescape(char ch)
{
    switch (ch) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return ch;
    }
}

/* Inside "...": returns the position after the closing quote, or NULL. */
static const char *
read_double_quoted(const char *p, arg_buf *b)
{
    for (; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == 'x' && hex_value(p[2]) >= 0 &&
            hex_value(p[3]) >= 0) {
            buf_put(b, (char)(hex_value(p[2]) * 16 + hex_value(p[3])));
            p += 3;
        } else if (p[0] == '\\' && p[1] != '\0') {
            buf_put(b, unescape(*++p));
        } else if (*p == '"') {
            /* The closing quote must end the argument. */
            return p[1] == '\0' || isspace((unsigned char)p[1]) ? p + 1 : NULL;
        } else {
            buf_put(b, *p);
        }
    }
    return NULL;
}

/* Inside '...': returns the position after the closing quote, or NULL. */
static const char *
read_single_quoted(const char *p, arg_buf *b)
{
    for (; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == '\'') {
            buf_put(b, *++p);
        } else if (*p == '\'') {
            return p[1] == '\0' || isspace((unsigned char)p[1]) ? p + 1 : NULL;
        } else {
            buf_put(b, *p);
        }
    }
    return NULL;
}

/* One argument starting at `p`; returns where it ends, or NULL. */
static const char *
read_arg(const char *p, arg_buf *b)
{
    while (*p != '\0' && !isspace((unsigned char)*p)) {
        if (*p == '"')
            p = read_double_quoted(p + 1, b);
        else if (*p == '\'')
            p = read_single_quoted(p + 1, b);
        else
            buf_put(b, *p++);
        if (p == NULL)
            return NULL;
    }
    buf_put(b, '\0'); /* an empty "" is still an argument */
    b->len--;
    return p;
}

void
args_free(line_args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a->lens);
    memset(a, 0, sizeof(*a));
}

static int
args_push(line_args *a, arg_buf *b)
{
    char **argv = realloc(a->argv, ((size_t)a->argc + 2) * sizeof(*argv));
    size_t *lens;

    if (argv == NULL)
        return -1;
    a->argv = argv;
    lens = realloc(a->lens, ((size_t)a->argc + 1) * sizeof(*lens));
    if (lens == NULL)
        return -1;
    a->lens = lens;
    argv[a->argc] = b->data;
    lens[a->argc++] = b->len;
    argv[a->argc] = NULL;
    return 0;
}

int
split_line(const char *line, line_args *a)
{
    const char *p = line;

    memset(a, 0, sizeof(*a));
    for (;;) {
        arg_buf b = {0};
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return 0;
        p = read_arg(p, &b);
        if (p == NULL || b.failed || args_push(a, &b) != 0) {
            free(b.data);
            args_free(a);
            return -1;
        }
    }
}
