/*
 * Replies. hiredis' reader builds shard_reply objects directly through
 * our object functions, so a reply reaches the application without a
 * copy, and a split MGET is joined by moving elements between arrays.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

/* hiredis reads our objects as redisReply: a hiredis whose reply has
 * another layout must fail to build, not misread replies. */
#define SAME_FIELD(f)                                                          \
    _Static_assert(offsetof(shard_reply, f) == offsetof(redisReply, f) &&      \
                       sizeof(((shard_reply *)0)->f) ==                        \
                           sizeof(((redisReply *)0)->f),                       \
                   "shard_reply." #f " differs from redisReply." #f)
SAME_FIELD(type);
SAME_FIELD(integer);
SAME_FIELD(len);
SAME_FIELD(str);
SAME_FIELD(elements);
SAME_FIELD(element);
_Static_assert(SHARD_REPLY_STRING == REDIS_REPLY_STRING &&
                   SHARD_REPLY_ARRAY == REDIS_REPLY_ARRAY &&
                   SHARD_REPLY_INTEGER == REDIS_REPLY_INTEGER &&
                   SHARD_REPLY_NIL == REDIS_REPLY_NIL &&
                   SHARD_REPLY_STATUS == REDIS_REPLY_STATUS &&
                   SHARD_REPLY_ERROR == REDIS_REPLY_ERROR,
               "reply types are numbered as hiredis numbers them");

shard_reply *
reply_new(int type)
{
    shard_reply *r = calloc(1, sizeof(*r));

    if (r != NULL)
        r->type = type;
    return r;
}

/* The text of a string reply lives right after it: one allocation. */
static char *
inline_text(shard_reply *r)
{
    return (char *)(r + 1);
}

shard_reply *
reply_string(int type, const char *s, size_t len)
{
    shard_reply *r;

    if (len > SIZE_MAX - sizeof(*r) - 1)
        return NULL;
    r = malloc(sizeof(*r) + len + 1);
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof(*r));
    r->type = type;
    r->str = inline_text(r);
    if (len > 0)
        memcpy(r->str, s, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

shard_reply *
reply_integer(long long value)
{
    shard_reply *r = reply_new(SHARD_REPLY_INTEGER);

    if (r != NULL)
        r->integer = value;
    return r;
}

/* The elements of an array live right after it, as a string's text. */
static shard_reply **
inline_elements(shard_reply *r)
{
    return (shard_reply **)(r + 1);
}

shard_reply *
reply_array(size_t elements)
{
    shard_reply *r;

    if (elements > (SIZE_MAX - sizeof(*r)) / sizeof(*r->element))
        return NULL;
    r = calloc(1, sizeof(*r) + elements * sizeof(*r->element));
    if (r == NULL)
        return NULL;
    r->type = SHARD_REPLY_ARRAY;
    r->element = elements > 0 ? inline_elements(r) : NULL;
    r->elements = elements;
    r->room = elements;
    return r;
}

shard_reply *
reply_error(const char *fmt, ...)
{
    char text[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(text))
        n = sizeof(text) - 1;
    return reply_string(SHARD_REPLY_ERROR, text, (size_t)n);
}

shard_reply *
reply_copy(const shard_reply *r)
{
    shard_reply *c;

    if (r->type != SHARD_REPLY_ARRAY) {
        c = r->str != NULL ? reply_string(r->type, r->str, r->len)
                           : reply_new(r->type);
        if (c != NULL)
            c->integer = r->integer;
        return c;
    }
    c = reply_array(r->elements);
    for (size_t i = 0; c != NULL && i < r->room; i++) {
        if (r->element[i] == NULL)
            continue;
        c->element[i] = reply_copy(r->element[i]);
        if (c->element[i] == NULL) {
            shard_reply_free(c);
            c = NULL;
        }
    }
    return c;
}

SHARD_API void
shard_reply_free(shard_reply *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->room; i++)
        shard_reply_free(r->element[i]);
    if (r->element != inline_elements(r))
        free(r->element);
    if (r->str != inline_text(r))
        free(r->str);
    free(r);
}

SHARD_API int
shard_reply_type(const shard_reply *r)
{
    return r != NULL ? r->type : 0;
}

SHARD_API const char *
shard_reply_str(const shard_reply *r, size_t *len)
{
    bool has_text = r != NULL && r->str != NULL;

    if (len != NULL)
        *len = has_text ? r->len : 0;
    return has_text ? r->str : NULL;
}

SHARD_API long long
shard_reply_integer(const shard_reply *r)
{
    return r != NULL && r->type == SHARD_REPLY_INTEGER ? r->integer : 0;
}

SHARD_API size_t
shard_reply_len(const shard_reply *r)
{
    return r != NULL && r->type == SHARD_REPLY_ARRAY ? r->elements : 0;
}

SHARD_API const shard_reply *
shard_reply_at(const shard_reply *r, size_t i)
{
    if (r == NULL || r->type != SHARD_REPLY_ARRAY || i >= r->room)
        return NULL;
    return r->element[i];
}

/* --- hiredis reader object functions ------------------------------------ */

/*
 * Room in `a` for item `idx`. The reader's arrays start empty and grow as
 * items arrive (doubling, up to the announced length): a reply that only
 * announces a billion items costs nothing until they come, where one
 * calloc of that length took gigabytes (or a failed connection) at once.
 */
static bool
make_room(shard_reply *a, size_t idx)
{
    size_t room = a->room ? 2 * a->room : 8;
    shard_reply **grown;

    if (idx < a->room)
        return true;
    if (room < idx + 1)
        room = idx + 1;
    if (room > a->elements)
        room = a->elements;
    grown = realloc(a->element, room * sizeof(*grown));
    if (grown == NULL)
        return false;
    memset(grown + a->room, 0, (room - a->room) * sizeof(*grown));
    a->element = grown;
    a->room = room;
    return true;
}

/* Links a new object into its parent array, as hiredis' own reader does. */
static void *
reader_link(const redisReadTask *task, shard_reply *r)
{
    if (r != NULL && task->parent != NULL) {
        shard_reply *parent = task->parent->obj;
        if (!make_room(parent, (size_t)task->idx)) {
            shard_reply_free(r);
            return NULL; /* hiredis fails the reader: out of memory */
        }
        parent->element[task->idx] = r;
    }
    return r;
}

static void *
reader_string(const redisReadTask *task, char *s, size_t len)
{
    return reader_link(task, reply_string(task->type, s, len));
}

#if HIREDIS_MAJOR >= 1
static void *
reader_array(const redisReadTask *task, size_t elements)
#else
static void *
reader_array(const redisReadTask *task, int elements)
#endif
{
    shard_reply *r = reply_new(SHARD_REPLY_ARRAY);

    if (r != NULL)
        r->elements = (size_t)elements; /* room comes as items do */
    return reader_link(task, r);
}

static void *
reader_integer(const redisReadTask *task, long long value)
{
    return reader_link(task, reply_integer(value));
}

static void *
reader_nil(const redisReadTask *task)
{
    return reader_link(task, reply_new(SHARD_REPLY_NIL));
}

/* hiredis frees every reply after its callback unless the engine kept it. */
static void
reader_free(void *obj)
{
    shard_reply *r = obj;

    if (r != NULL && !r->kept)
        shard_reply_free(r);
}

static redisReplyObjectFunctions reader_functions = {
    .createString = reader_string,
    .createArray = reader_array,
    .createInteger = reader_integer,
    .createNil = reader_nil,
    .freeObject = reader_free,
};

void *
reply_reader_functions(void)
{
    return &reader_functions;
}

/* Decimal digits of `n`, a minus sign included. */
static size_t
digits(long long n)
{
    size_t d = n < 0 ? 2 : 1;
    unsigned long long u =
        n < 0 ? 0ull - (unsigned long long)n : (unsigned long long)n;

    /* Four digits at a time: lengths are mostly short. */
    while (u >= 10000) {
        u /= 10000;
        d += 4;
    }
    return d + (u >= 10) + (u >= 100) + (u >= 1000);
}

size_t
reply_resp_size(const shard_reply *r)
{
    size_t n;

    switch (r->type) {
    case SHARD_REPLY_STRING: /* $<len>\r\n<bytes>\r\n */
        return 1 + digits((long long)r->len) + 2 + r->len + 2;
    case SHARD_REPLY_STATUS: /* +<text>\r\n, -<text>\r\n */
    case SHARD_REPLY_ERROR:
        return 1 + r->len + 2;
    case SHARD_REPLY_INTEGER: /* :<n>\r\n */
        return 1 + digits(r->integer) + 2;
    case SHARD_REPLY_NIL: /* $-1\r\n */
        return 5;
    case SHARD_REPLY_ARRAY: /* *<n>\r\n then the elements */
        n = 1 + digits((long long)r->elements) + 2;
        for (size_t i = 0; i < r->elements; i++)
            n += r->element[i] != NULL ? reply_resp_size(r->element[i]) : 5;
        return n;
    default:
        return 0;
    }
}
