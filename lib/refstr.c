/*
 * Reference-counted strings. The count is a plain integer: a pool's
 * addresses and fragments are only touched on the pool's thread (the
 * memcached worker keeps its own copy, the stats thread reads none).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "refstr.h"

typedef struct refstr {
    unsigned refs;
    char text[];
} refstr;

static refstr *
head_of(const char *s)
{
    return (refstr *)(void *)(s - offsetof(refstr, text));
}

char *
refstr_new(const char *s)
{
    size_t len = strlen(s);
    refstr *r = malloc(sizeof(*r) + len + 1);

    if (r == NULL)
        return NULL;
    r->refs = 1;
    memcpy(r->text, s, len + 1);
    /* The text is how its owner holds it: refstr_drop finds the head. */
    // cppcheck-suppress memleak
    return r->text;
}

const char *
refstr_hold(const char *s)
{
    if (s != NULL)
        head_of(s)->refs++;
    return s;
}

void
refstr_drop(const char *s)
{
    if (s == NULL)
        return;
    refstr *r = head_of(s);
    if (--r->refs == 0)
        free(r);
}
