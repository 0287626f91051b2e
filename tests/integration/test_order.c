/*
 * A key's commands keep their order in every API, whatever
 * server_connections says (nutcracker's issue #193 reorders them), and a
 * huge server_connections costs nothing before connections are used.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

static harness_server *server;
static shard_pool *pool;

static shard_pool *
open_with(const char *connections)
{
    char yaml[1024];
    shard_pool *p = NULL;

    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  server_connections: %s\n  servers:\n   - %s:1\n",
             harness_free_port(), connections, server->addr);
    cr_assert_eq(shard_pool_open_string(&p, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    return p;
}

static void
setup(void)
{
    server = harness_redis_start(NULL);
    cr_assert_not_null(server);
    pool = open_with("4");
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

TestSuite(order, .init = setup, .fini = teardown, .timeout = 60);

Test(order, pipelined_incrs_answer_in_order)
{
    const char *incr[] = {"INCR", "counter"};

    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 4; i++)
            cr_assert_eq(shard_append_argv(pool, 2, incr, NULL), SHARD_OK);
        for (int i = 0; i < 4; i++) {
            shard_reply *r = NULL;
            cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
            cr_assert_eq(shard_reply_integer(r), round * 4 + i + 1,
                         "round %d: reply %d is %lld", round, i,
                         shard_reply_integer(r));
            shard_reply_free(r);
        }
    }
}

Test(order, two_sets_of_a_key_apply_in_order)
{
    for (int round = 0; round < 500; round++) {
        char first[16], second[16];
        const char *set1[] = {"SET", "k", first},
                   *set2[] = {"SET", "k", second};
        const char *get[] = {"GET", "k"};
        shard_reply *r = NULL;

        snprintf(first, sizeof(first), "a%d", round);
        snprintf(second, sizeof(second), "b%d", round);
        cr_assert_eq(shard_append_argv(pool, 3, set1, NULL), SHARD_OK);
        cr_assert_eq(shard_append_argv(pool, 3, set2, NULL), SHARD_OK);
        cr_assert_eq(shard_append_argv(pool, 2, get, NULL), SHARD_OK);
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
            if (i == 2)
                cr_assert_str_eq(shard_reply_str(r, NULL), second, "round %d",
                                 round);
            shard_reply_free(r);
        }
    }
}

/* --- async ------------------------------------------------------------- */

static long long seen[64];
static int calls;

static void
on_incr(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)p;
    (void)userdata;
    cr_expect_eq(status, SHARD_OK);
    seen[calls++] = shard_reply_integer(reply);
}

Test(order, async_incrs_answer_in_order)
{
    const char *incr[] = {"INCR", "async-counter"};

    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(shard_command_async(pool, 2, incr, NULL, on_incr, NULL),
                     SHARD_OK);
    harness_loop_run(pool, &calls, 64, 5000);
    cr_assert_eq(calls, 64);
    for (int i = 0; i < 64; i++)
        cr_expect_eq(seen[i], i + 1, "callback %d got %lld", i, seen[i]);
    cr_assert_eq(harness_loop_detach(pool), SHARD_OK);
}

/* Resident memory of this process, in bytes. */
static long
rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

Test(order, huge_server_connections_cost_nothing_at_open)
{
    /* nutcracker -t accepts all three; the 52-digit one wraps to
     * 1,431,655,765. */
    static const char *const values[] = {
        "1000000", "4444444",
        "3333333333333333333333333333333333333333333333333333"};

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        long before = rss_bytes();
        shard_pool *p = open_with(values[i]);
        long grown = rss_bytes() - before;
        shard_reply *r = shard_command(p, "SET %s %s", "k", "v");

        cr_expect_lt(grown, 8L << 20, "%s connections: %ld bytes at open",
                     values[i], grown);
        cr_assert_not_null(r, "%s", shard_pool_errmsg(p));
        cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STATUS);
        shard_reply_free(r);
        shard_pool_free(p);
    }
}
