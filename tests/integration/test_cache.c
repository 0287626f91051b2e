/*
 * The cache API (<shard/cache.h>): the same test code against a Redis pool
 * and a memcached pool, each of real servers, blocking and async; the
 * results must be the same. Where the backends differ on purpose (key
 * rules), a test says so.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define NSERVERS 3

typedef enum backend { REDIS, MEMCACHED } backend;

static harness_server *servers[NSERVERS]; /* by pool index */
static shard_pool *pool;

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(cache, .fini = teardown, .timeout = 60);

/* Opens pool "c" of NSERVERS servers of `b`, with `directives`. */
static void
open_backend(backend b, const char *directives)
{
    char yaml[1024];
    harness_server *started[NSERVERS];
    int used = snprintf(yaml, sizeof(yaml),
                        "c:\n  listen: 127.0.0.1:%d\n  redis: %s\n%s"
                        "  servers:\n",
                        harness_free_port(), b == REDIS ? "true" : "false",
                        directives);

    for (int i = 0; i < NSERVERS; i++) {
        started[i] =
            b == REDIS ? harness_redis_start(NULL) : harness_memcached_start(0);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    for (size_t i = 0; i < NSERVERS; i++)
        for (int j = 0; j < NSERVERS; j++)
            if (strcmp(started[j]->addr, shard_pool_server_addr(pool, i)) == 0)
                servers[i] = started[j];
}

static const char *
key_on(size_t s, const char *prefix)
{
    for (int n = 0;; n++) {
        const char *k = harness_fmt("%s:%d", prefix, n);
        if (shard_pool_locate(pool, k, strlen(k)) == (int)s)
            return k;
    }
}

static int
set_str(const char *key, const char *value, unsigned ttl)
{
    return shard_set(pool, key, strlen(key), value, strlen(value), ttl);
}

/* The value of `key` ("" with *nil set for a miss); asserts success. */
static const char *
get_str(const char *key, bool *nil)
{
    shard_reply *r;

    cr_assert_eq(shard_get(pool, &r, key, strlen(key)), SHARD_OK, "get %s: %s",
                 key, shard_pool_errmsg(pool));
    *nil = shard_reply_type(r) == SHARD_REPLY_NIL;
    const char *v = harness_fmt("%s", *nil ? "" : shard_reply_str(r, NULL));
    cr_assert(*nil || shard_reply_type(r) == SHARD_REPLY_STRING);
    shard_reply_free(r);
    return v;
}

static void
expect_value(const char *key, const char *want)
{
    bool nil;
    const char *v = get_str(key, &nil);

    if (want == NULL)
        cr_expect(nil, "%s: a miss, not '%s'", key, v);
    else
        cr_expect_str_eq(v, want, "%s", key);
}

/* A counter call: its INTEGER, or -1 for NIL. */
static long long
count(int (*fn)(shard_pool *, shard_reply **, const char *, size_t, uint64_t),
      const char *key, uint64_t delta)
{
    shard_reply *r;
    long long v;

    cr_assert_eq(fn(pool, &r, key, strlen(key), delta), SHARD_OK, "%s: %s", key,
                 shard_pool_errmsg(pool));
    v = shard_reply_type(r) == SHARD_REPLY_NIL ? -1 : shard_reply_integer(r);
    cr_assert(shard_reply_type(r) == SHARD_REPLY_NIL ||
              shard_reply_type(r) == SHARD_REPLY_INTEGER);
    shard_reply_free(r);
    return v;
}

/* --- the shared test bodies -------------------------------------------------
 */

static void
values_and_misses(void)
{
    static const char bin[] = "a\0b\r\nc";
    shard_reply *r;
    size_t len;

    expect_value("nothing", NULL);
    cr_assert_eq(set_str("k", "v", 0), SHARD_OK, "%s", shard_pool_errmsg(pool));
    expect_value("k", "v");
    cr_assert_eq(shard_set(pool, "bin", 3, bin, sizeof(bin) - 1, 0), SHARD_OK);
    cr_assert_eq(shard_get(pool, &r, "bin", 3), SHARD_OK);
    cr_expect_eq(memcmp(shard_reply_str(r, &len), bin, sizeof(bin) - 1), 0);
    cr_expect_eq(len, sizeof(bin) - 1);
    shard_reply_free(r);
    cr_assert_eq(set_str("empty", "", 0), SHARD_OK);
    cr_assert_eq(shard_get(pool, &r, "empty", 5), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STRING);
    cr_expect_eq(shard_reply_len(r), 0);
    shard_reply_free(r);
}

static void
add_and_delete(void)
{
    int stored = -1;

    cr_assert_eq(set_str("taken", "first", 0), SHARD_OK);
    cr_assert_eq(shard_add(pool, &stored, "taken", 5, "second", 6, 0),
                 SHARD_OK);
    cr_expect_eq(stored, 0);
    expect_value("taken", "first");
    cr_assert_eq(shard_add(pool, &stored, "free", 4, "mine", 4, 0), SHARD_OK);
    cr_expect_eq(stored, 1);
    expect_value("free", "mine");
    cr_expect_eq(shard_delete(pool, "free", 4), SHARD_OK);
    expect_value("free", NULL);
    cr_expect_eq(shard_delete(pool, "free", 4), SHARD_OK, "missing is fine");
}

static void
counters(void)
{
    shard_reply *r;

    cr_expect_eq(count(shard_incr, "ctr", 1), -1, "no such key");
    expect_value("ctr", NULL); /* and none was made */
    cr_assert_eq(set_str("ctr", "10", 0), SHARD_OK);
    cr_expect_eq(count(shard_incr, "ctr", 5), 15);
    cr_expect_eq(count(shard_decr, "ctr", 3), 12);
    cr_expect_eq(count(shard_decr, "ctr", 100), 0, "decr stops at 0");
    /* Read as a string, memcached's counter that lost digits keeps its
     * length, padded with spaces ("0 "): the one documented difference
     * of counters (docs/guide.md). The counter calls agree. */
    bool nil;
    const char *v = get_str("ctr", &nil);
    cr_expect(strcmp(v, "0") == 0 || strcmp(v, "0 ") == 0, "'%s'", v);
    cr_expect_eq(count(shard_incr, "ctr", 7), 7);
    /* Exact past 2^53, where a double would round. */
    cr_assert_eq(set_str("big", "9007199254740993", 0), SHARD_OK);
    cr_expect_eq(count(shard_incr, "big", 1), 9007199254740994LL);
    cr_assert_eq(set_str("word", "abc", 0), SHARD_OK);
    cr_expect_eq(shard_incr(pool, &r, "word", 4, 1), SHARD_ESERVER);
    cr_expect_null(r);
    cr_expect(strstr(shard_pool_errmsg(pool), "non-numeric") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(shard_incr(pool, &r, "ctr", 3, (uint64_t)1 << 63),
                 SHARD_EINVAL);
}

static void
touch_found(void)
{
    int found = -1;

    cr_assert_eq(set_str("t", "v", 0), SHARD_OK);
    cr_assert_eq(shard_touch(pool, &found, "t", 1, 100), SHARD_OK);
    cr_expect_eq(found, 1);
    cr_assert_eq(shard_touch(pool, &found, "gone", 4, 100), SHARD_OK);
    cr_expect_eq(found, 0);
    expect_value("gone", NULL);
}

static void
many_keys(void)
{
    const char *keys[24], *values[24];
    shard_reply *r;

    for (int i = 0; i < 24; i++) {
        keys[i] = harness_fmt("many:%d", i);
        values[i] = harness_fmt("value %d", i);
    }
    cr_assert_eq(shard_mset(pool, &r, 24, keys, NULL, values, NULL, 0),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_len(r), 24);
    for (size_t i = 0; i < 24; i++)
        cr_expect_str_eq(shard_reply_str(shard_reply_at(r, i), NULL), "OK");
    shard_reply_free(r);
    keys[3] = "no-such";
    cr_assert_eq(shard_mget(pool, &r, 24, keys, NULL), SHARD_OK);
    cr_assert_eq(shard_reply_len(r), 24);
    for (size_t i = 0; i < 24; i++) {
        const shard_reply *e = shard_reply_at(r, i);
        if (i == 3)
            cr_expect_eq(shard_reply_type(e), SHARD_REPLY_NIL);
        else
            cr_expect_str_eq(shard_reply_str(e, NULL), values[i]);
    }
    shard_reply_free(r);
}

/* One key is an array of one too (memcached answers "get k" with the
 * value itself). */
static void
one_key(void)
{
    const char *keys[] = {"one", "none"};
    shard_reply *r;

    cr_assert_eq(set_str("one", "1", 0), SHARD_OK);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(shard_mget(pool, &r, 1, keys + i, NULL), SHARD_OK, "%s",
                     shard_pool_errmsg(pool));
        cr_assert_eq(shard_reply_type(r), SHARD_REPLY_ARRAY);
        cr_assert_eq(shard_reply_len(r), 1);
        if (i == 0)
            cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "1");
        else
            cr_expect_eq(shard_reply_type(shard_reply_at(r, 0)),
                         SHARD_REPLY_NIL);
        shard_reply_free(r);
    }
}

static void
bad_arguments(void)
{
    shard_reply *r;
    const char *none[] = {"x"};

    cr_expect_eq(shard_get(pool, NULL, "k", 1), SHARD_EINVAL);
    cr_expect_eq(shard_get(pool, &r, NULL, 1), SHARD_EINVAL);
    cr_expect_eq(shard_set(pool, "k", 1, NULL, 3, 0), SHARD_EINVAL);
    cr_expect_eq(shard_mget(pool, &r, 0, none, NULL), SHARD_EINVAL);
    cr_expect_eq(shard_get(NULL, &r, "k", 1), SHARD_EINVAL);
}

/* Keys on a dead server: ERROR elements naming it, the rest answered. */
static void
dead_server(void)
{
    const char *k[NSERVERS], *values[NSERVERS];
    shard_reply *r;

    for (size_t s = 0; s < NSERVERS; s++) {
        k[s] = key_on(s, "d");
        values[s] = harness_fmt("v%zu", s);
        cr_assert_eq(set_str(k[s], values[s], 0), SHARD_OK);
    }
    harness_kill(servers[1]);
    cr_assert_eq(shard_mget(pool, &r, NSERVERS, k, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    for (size_t s = 0; s < NSERVERS; s++) {
        const shard_reply *e = shard_reply_at(r, s);
        if (s != 1) {
            cr_expect_str_eq(shard_reply_str(e, NULL), values[s]);
            continue;
        }
        cr_assert_eq(shard_reply_type(e), SHARD_REPLY_ERROR);
        cr_expect(strstr(shard_reply_str(e, NULL), servers[1]->addr) != NULL,
                  "%s", shard_reply_str(e, NULL));
    }
    shard_reply_free(r);
    cr_assert_eq(shard_mset(pool, &r, NSERVERS, k, NULL, values, NULL, 0),
                 SHARD_OK);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "OK");
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 1)), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(shard_reply_at(r, 1), NULL),
                     servers[1]->addr) != NULL);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "OK");
    shard_reply_free(r);
    cr_expect_eq(shard_get(pool, &r, k[1], strlen(k[1])), SHARD_ECONN);
    cr_expect(strstr(shard_pool_errmsg(pool), servers[1]->addr) != NULL);
}

static void
expiry(void)
{
    int found;

    cr_assert_eq(set_str("short", "v", 1), SHARD_OK);
    cr_assert_eq(set_str("touched", "v", 0), SHARD_OK);
    cr_assert_eq(shard_touch(pool, &found, "touched", 7, 1), SHARD_OK);
    cr_assert_eq(set_str("kept", "v", 1), SHARD_OK);
    cr_assert_eq(shard_touch(pool, &found, "kept", 4, 0), SHARD_OK);
    cr_assert_eq(set_str("long", "v", 40 * 86400), SHARD_OK);
    usleep(2200 * 1000);
    expect_value("short", NULL);
    expect_value("touched", NULL);
    expect_value("kept", "v");
    expect_value("long", "v"); /* over 30 days: not a time in 1970 */
}

/* --- async ------------------------------------------------------------------
 */

typedef struct result {
    int calls;
    int status;
    int type;
    long long integer;
    char str[64];
} result;

static int finished;

static void
on_result(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    result *res = ud;

    (void)p;
    res->calls++;
    res->status = status;
    res->type = shard_reply_type(reply);
    res->integer = shard_reply_integer(reply);
    if (res->type == SHARD_REPLY_ARRAY)
        reply = shard_reply_at(reply, 0); /* mget, mset: the first */
    snprintf(res->str, sizeof(res->str), "%s",
             shard_reply_str(reply, NULL) ? shard_reply_str(reply, NULL) : "");
    finished++;
}

static void
async_calls(void)
{
    result set = {0}, get = {0}, add = {0}, add2 = {0}, del = {0}, inc = {0},
           miss = {0}, touch = {0}, mget = {0}, mset = {0}, bad = {0};
    const char *keys[] = {"ak", "nope"}, *values[] = {"x", "y"};

    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    finished = 0;
    cr_assert_eq(shard_set_async(pool, "ak", 2, "7", 1, 0, on_result, &set),
                 SHARD_OK);
    cr_assert_eq(shard_get_async(pool, "ak", 2, on_result, &get), SHARD_OK);
    cr_assert_eq(shard_add_async(pool, "ak", 2, "x", 1, 0, on_result, &add),
                 SHARD_OK);
    cr_assert_eq(shard_add_async(pool, "ak2", 3, "1", 1, 0, on_result, &add2),
                 SHARD_OK);
    cr_assert_eq(shard_incr_async(pool, "ak", 2, 3, on_result, &inc), SHARD_OK);
    cr_assert_eq(shard_decr_async(pool, "none", 4, 3, on_result, &miss),
                 SHARD_OK);
    cr_assert_eq(shard_touch_async(pool, "ak", 2, 50, on_result, &touch),
                 SHARD_OK);
    cr_assert_eq(shard_mget_async(pool, 2, keys, NULL, on_result, &mget),
                 SHARD_OK);
    cr_assert_eq(shard_delete_async(pool, "ak2", 3, on_result, &del), SHARD_OK);
    cr_assert_eq(shard_mset_async(pool, 2, keys, NULL, values, NULL, 0,
                                  on_result, &mset),
                 SHARD_OK);
    cr_assert_eq(shard_incr_async(pool, "nope", 4, 1, on_result, &bad),
                 SHARD_OK);
    cr_expect_eq(finished, 0, "never inside a submit");
    cr_expect_eq(harness_loop_run(pool, &finished, 11, 3000), 11);
    cr_expect_str_eq(set.str, "OK");
    cr_expect_str_eq(get.str, "7");
    cr_expect_eq(add.type, SHARD_REPLY_INTEGER);
    cr_expect_eq(add.integer, 0);
    cr_expect_eq(add2.integer, 1);
    cr_expect_eq(inc.integer, 10);
    cr_expect_eq(miss.type, SHARD_REPLY_NIL);
    cr_expect_eq(touch.integer, 1);
    cr_expect_eq(mget.type, SHARD_REPLY_ARRAY);
    cr_expect_str_eq(mget.str, "10");
    cr_expect_str_eq(del.str, "OK");
    cr_expect_eq(mset.type, SHARD_REPLY_ARRAY);
    cr_expect_str_eq(mset.str, "OK");
    /* mset stored "y" in "nope": not a number */
    cr_expect_eq(bad.status, SHARD_ESERVER, "%d", bad.status);
    cr_expect_eq(bad.type, 0, "no reply with a failure");
    cr_expect(strstr(shard_pool_errmsg(pool), "non-numeric") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(set.calls + get.calls + mset.calls + bad.calls, 4);
    cr_expect_eq(shard_get_async(pool, "k", 1, NULL, NULL), SHARD_EINVAL);
    harness_loop_detach(pool);
}

/* --- the tests: each body against both backends ----------------------------
 */

#define BOTH(name, directives)                                                 \
    Test(cache, name##_on_redis)                                               \
    {                                                                          \
        open_backend(REDIS, directives);                                       \
        name();                                                                \
    }                                                                          \
    Test(cache, name##_on_memcached)                                           \
    {                                                                          \
        open_backend(MEMCACHED, directives);                                   \
        name();                                                                \
    }

BOTH(values_and_misses, "")
BOTH(add_and_delete, "")
BOTH(counters, "")
BOTH(touch_found, "")
BOTH(many_keys, "")
BOTH(one_key, "")
BOTH(bad_arguments, "")
BOTH(dead_server, "  timeout: 1000\n")
BOTH(expiry, "")
BOTH(async_calls, "  timeout: 1000\n")

/* The one difference on purpose: memcached's key rules hold on memcached
 * pools only (Redis takes any bytes). */
Test(cache, memcached_key_rules_apply_to_memcached_pools_only)
{
    char key[251];
    shard_reply *r;

    memset(key, 'k', sizeof(key));
    open_backend(MEMCACHED, "");
    cr_expect_eq(shard_get(pool, &r, key, sizeof(key)), SHARD_EINVAL);
    cr_expect(strstr(shard_pool_errmsg(pool), "251 bytes") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(shard_set(pool, "a b", 3, "v", 1, 0), SHARD_EINVAL);
    shard_pool_free(pool);
    harness_stop_all();
    open_backend(REDIS, "");
    cr_expect_eq(shard_set(pool, key, sizeof(key), "v", 1, 0), SHARD_OK);
    cr_expect_eq(shard_set(pool, "a b", 3, "v", 1, 0), SHARD_OK);
}

/* Counters past 2^63 - 1 differ as the servers do (cache.h): memcached
 * counts in unsigned 64 bits, Redis answers an error, in its own words
 * without the script's digest. */
Test(cache, counters_past_the_signed_range_differ_as_documented)
{
    shard_reply *r = NULL;
    const char *max = "9223372036854775807";

    open_backend(MEMCACHED, "");
    cr_assert_eq(shard_set(pool, "n", 1, max, strlen(max), 0), SHARD_OK);
    cr_assert_eq(shard_incr(pool, &r, "n", 1, 1), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_eq((uint64_t)shard_reply_integer(r), 9223372036854775808ULL);
    shard_reply_free(r);
    shard_pool_free(pool);
    harness_stop_all();
    open_backend(REDIS, "");
    cr_assert_eq(shard_set(pool, "n", 1, max, strlen(max), 0), SHARD_OK);
    cr_expect_eq(shard_incr(pool, &r, "n", 1, 1), SHARD_ESERVER);
    cr_expect(strstr(shard_pool_errmsg(pool), "overflow") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect(strstr(shard_pool_errmsg(pool), "script") == NULL, "%s",
              shard_pool_errmsg(pool));
}
