/* The commands and callbacks of the async examples (async_demo.h). */
#include <stdarg.h>
#include <stdio.h>

#include "async_demo.h"

static const char *const keys[KEY_COUNT] = {"example:apple", "example:banana",
                                            "example:cherry", "example:lime"};
static const char *const values[KEY_COUNT] = {"green", "yellow", "red",
                                              "green"};

static void
print_reply(const shard_reply *r, int depth)
{
    size_t len;
    const char *s = shard_reply_str(r, &len);

    switch (shard_reply_type(r)) {
    case SHARD_REPLY_STRING:
        printf("\"%.*s\"\n", (int)len, s);
        break;
    case SHARD_REPLY_STATUS:
        printf("%s\n", s);
        break;
    case SHARD_REPLY_ERROR:
        printf("(error) %s\n", s);
        break;
    case SHARD_REPLY_INTEGER:
        printf("(integer) %lld\n", shard_reply_integer(r));
        break;
    case SHARD_REPLY_NIL:
        printf("(nil)\n");
        break;
    case SHARD_REPLY_ARRAY:
        printf("%zu elements\n", shard_reply_len(r));
        for (size_t i = 0; i < shard_reply_len(r); i++) {
            printf("%*s%zu) ", 2 * (depth + 1), "", i + 1);
            print_reply(shard_reply_at(r, i), depth + 1);
        }
        break;
    default:
        printf("(unknown reply type %d)\n", shard_reply_type(r));
    }
}

static void on_reply(shard_pool *pool, const shard_reply *reply, int status,
                     void *userdata);

static int
submit(demo *d, call *c, int argc, const char **argv)
{
    int rc = shard_command_async(d->pool, argc, argv, NULL, on_reply, c);

    if (rc != SHARD_OK)
        fprintf(stderr, "%s: not sent: %s (%s)\n", c->what, shard_strerror(rc),
                shard_pool_errmsg(d->pool));
    return rc;
}

static void describe(call *c, demo *d, int is_set, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
describe(call *c, demo *d, int is_set, const char *fmt, ...)
{
    va_list ap;

    c->d = d;
    c->is_set = is_set;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof(c->what), fmt, ap);
    va_end(ap);
}

/* Runs from inside the last SET's callback: submitting there is fine. */
static void
submit_reads(demo *d)
{
    const char *get[] = {"GET", keys[0]};
    const char *mget[] = {"MGET",  keys[0], keys[1],
                          keys[2], keys[3], "example:missing"};

    describe(&d->get, d, 0, "GET example:apple");
    describe(&d->mget, d, 0, "MGET (4 keys and a missing one)");
    d->reads_left = 2;
    if (submit(d, &d->get, 2, get) != SHARD_OK) {
        d->reads_left--;
        d->failed = 1;
    }
    if (submit(d, &d->mget, 6, mget) != SHARD_OK) {
        d->reads_left--;
        d->failed = 1;
    }
}

static void
on_reply(shard_pool *pool, const shard_reply *reply, int status, void *userdata)
{
    call *c = userdata;
    demo *d = c->d;

    (void)pool;
    if (status != SHARD_OK) {
        printf("%s: no answer: %s\n", c->what, shard_strerror(status));
        d->failed = 1;
    } else {
        printf("%s -> ", c->what);
        print_reply(reply, 0);
    }
    if (c->is_set && --d->sets_left == 0 && !d->failed)
        submit_reads(d);
    else if (!c->is_set)
        d->reads_left--;
    if (d->sets_left == 0 && d->reads_left == 0)
        d->stop(d->loop);
}

int
demo_submit_sets(demo *d)
{
    int sent = 0;

    for (int i = 0; i < KEY_COUNT; i++) {
        const char *argv[] = {"SET", keys[i], values[i]};
        call *c = &d->sets[i];

        describe(c, d, 1, "SET %s %s", keys[i], values[i]);
        if (submit(d, c, 3, argv) == SHARD_OK)
            sent++;
    }
    return sent;
}

int
demo_open(demo *d, int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s CONFIG [POOL]\n", argv[0]);
        return 2;
    }
    if (shard_pool_open(&d->pool, argv[1], argc == 3 ? argv[2] : NULL, NULL) !=
        SHARD_OK) {
        fprintf(stderr, "%s: %s\n", argv[0], shard_last_error());
        return 1;
    }
    return 0;
}
