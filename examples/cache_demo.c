/*
 * cache_demo: the cache API (<shard/cache.h>) on any pool. The same
 * program, unchanged, runs on a Redis pool (`redis: true`) and on a
 * memcached pool (`redis: false`) and prints the same thing: keys stored
 * with and without a time to live, a multi-get split across the servers
 * (with a miss), add, a counter, touch and delete.
 *
 *   cache_demo CONFIG [POOL]
 *
 * examples/cache_demo.sh starts local servers and runs it both ways.
 */
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#define NKEYS 6

static int
fail(shard_pool *pool, const char *what)
{
    fprintf(stderr, "cache_demo: %s: %s\n", what, shard_pool_errmsg(pool));
    return 1;
}

/* A value as text, "(miss)" for a nil, or the error of a failed key. */
static const char *
shown(const shard_reply *r)
{
    switch (shard_reply_type(r)) {
    case SHARD_REPLY_NIL:
        return "(miss)";
    case SHARD_REPLY_INTEGER:
        return "(integer)";
    default:
        return shard_reply_str(r, NULL);
    }
}

static int
store_keys(shard_pool *pool, const char **keys)
{
    const char *values[NKEYS];
    char text[NKEYS][32];
    shard_reply *r;

    for (int i = 0; i < NKEYS; i++) {
        snprintf(text[i], sizeof(text[i]), "value-%d", i);
        values[i] = text[i];
    }
    /* One call stores them all, each on its server, for an hour. */
    if (shard_mset(pool, &r, NKEYS, keys, NULL, values, NULL, 3600) != SHARD_OK)
        return fail(pool, "mset");
    printf("mset of %d keys:", NKEYS);
    for (size_t i = 0; i < shard_reply_len(r); i++)
        printf(" %s", shown(shard_reply_at(r, i)));
    printf("\n");
    shard_reply_free(r);
    return 0;
}

static int
read_keys(shard_pool *pool, const char **keys)
{
    const char *asked[NKEYS + 1];
    shard_reply *r;

    memcpy(asked, keys, NKEYS * sizeof(*keys));
    asked[NKEYS] = "demo:absent";
    if (shard_mget(pool, &r, NKEYS + 1, asked, NULL) != SHARD_OK)
        return fail(pool, "mget");
    printf("mget, split across the servers and joined in order:\n");
    for (size_t i = 0; i < shard_reply_len(r); i++)
        printf("  %-12s = %s\n", asked[i], shown(shard_reply_at(r, i)));
    shard_reply_free(r);
    return 0;
}

static int
counter(shard_pool *pool)
{
    shard_reply *r;

    if (shard_set(pool, "demo:visits", 11, "41", 2, 0) != SHARD_OK ||
        shard_incr(pool, &r, "demo:visits", 11, 1) != SHARD_OK)
        return fail(pool, "incr");
    printf("incr demo:visits     = %lld\n", shard_reply_integer(r));
    shard_reply_free(r);
    if (shard_decr(pool, &r, "demo:visits", 11, 100) != SHARD_OK)
        return fail(pool, "decr");
    printf("decr 100 (stops at 0) = %lld\n", shard_reply_integer(r));
    shard_reply_free(r);
    if (shard_incr(pool, &r, "demo:nothing", 12, 1) != SHARD_OK)
        return fail(pool, "incr");
    printf("incr demo:nothing    = %s\n", shown(r));
    shard_reply_free(r);
    return 0;
}

static int
add_touch_delete(shard_pool *pool)
{
    int stored, found;
    shard_reply *r;

    if (shard_add(pool, &stored, "demo:lock", 9, "me", 2, 30) != SHARD_OK)
        return fail(pool, "add");
    printf("add demo:lock        = %s\n", stored ? "stored" : "taken");
    if (shard_add(pool, &stored, "demo:lock", 9, "you", 3, 30) != SHARD_OK)
        return fail(pool, "add");
    printf("add demo:lock again  = %s\n", stored ? "stored" : "taken");
    if (shard_touch(pool, &found, "demo:lock", 9, 60) != SHARD_OK)
        return fail(pool, "touch");
    printf("touch demo:lock      = %s\n", found ? "found" : "missing");
    if (shard_delete(pool, "demo:lock", 9) != SHARD_OK ||
        shard_get(pool, &r, "demo:lock", 9) != SHARD_OK)
        return fail(pool, "delete");
    printf("after delete         = %s\n", shown(r));
    shard_reply_free(r);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *keys[NKEYS] = {"demo:a", "demo:b", "demo:c",
                               "demo:d", "demo:e", "demo:f"};
    shard_pool *pool;
    int rc;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: cache_demo CONFIG [POOL]\n");
        return 2;
    }
    if (shard_pool_open(&pool, argv[1], argc == 3 ? argv[2] : NULL, NULL) !=
        SHARD_OK) {
        fprintf(stderr, "cache_demo: %s\n", shard_last_error());
        return 1;
    }
    printf("pool '%s', %zu servers\n", shard_pool_name(pool),
           shard_pool_server_count(pool));
    rc = store_keys(pool, keys) || read_keys(pool, keys) || counter(pool) ||
         add_touch_delete(pool);
    shard_pool_free(pool);
    return rc;
}
