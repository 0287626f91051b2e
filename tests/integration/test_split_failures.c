/*
 * What a split command (MGET, DEL, EXISTS, MSET...) answers when some or
 * all of its servers fail, in the blocking and the async API: per-key
 * errors or an ERROR reply naming the failed servers when some answered;
 * the same negative code as a single-key command, with its message, when
 * none did.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define KEYS 40

static harness_server *servers[2];
static shard_pool *pool;
static char keys[KEYS][24];
static const char *mset[1 + 2 * KEYS], *mget[1 + KEYS], *del[1 + KEYS];

static void
setup(void)
{
    char yaml[1024];

    for (int i = 0; i < 2; i++) {
        servers[i] = harness_redis_start(NULL);
        cr_assert_not_null(servers[i]);
    }
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 1000\n"
             "  servers:\n   - %s:1\n   - %s:1\n",
             harness_free_port(), servers[0]->addr, servers[1]->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    mset[0] = "MSET";
    mget[0] = "MGET";
    del[0] = "DEL";
    int on[2] = {0, 0};
    for (int i = 0; i < KEYS; i++) {
        /* Spread-out names: fnv1a_64 clusters short sequential keys. */
        snprintf(keys[i], sizeof(keys[i]), "%c%d:split", 'a' + i % 26,
                 i * 7919);
        mset[1 + 2 * i] = mset[2 + 2 * i] = mget[1 + i] = del[1 + i] = keys[i];
        on[shard_pool_locate(pool, keys[i], strlen(keys[i]))]++;
    }
    cr_assert(on[0] > 0 && on[1] > 0, "keys on one server only");
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

TestSuite(split_failures, .init = setup, .fini = teardown, .timeout = 30);

static const char *
text(const shard_reply *r)
{
    const char *s = shard_reply_str(r, NULL);
    return s ? s : "(none)";
}

Test(split_failures, partial_mset_names_the_failed_server_and_reads_well)
{
    shard_reply *r = NULL;

    harness_kill(servers[1]);
    cr_assert_eq(shard_command_argv(pool, &r, 1 + 2 * KEYS, mset, NULL),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(text(r), "mset failed on 1 of 2 servers") != NULL, "%s",
              text(r));
    cr_expect(strstr(text(r), servers[1]->addr) != NULL, "%s", text(r));
    size_t len = strlen(text(r));
    cr_expect(len > 9 && strcmp(text(r) + len - 9, "succeeded") == 0,
              "ends oddly: %s", text(r));
    shard_reply_free(r);
}

Test(split_failures, partial_del_gives_the_count_of_the_others)
{
    shard_reply *r = NULL;

    cr_assert_eq(shard_command_argv(pool, &r, 1 + 2 * KEYS, mset, NULL),
                 SHARD_OK);
    shard_reply_free(r);
    harness_kill(servers[0]);
    cr_assert_eq(shard_command_argv(pool, &r, 1 + KEYS, del, NULL), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(text(r), "del failed on 1 of 2 servers") != NULL, "%s",
              text(r));
    cr_expect(strstr(text(r), "the others succeeded with a count of ") != NULL,
              "%s", text(r));
    shard_reply_free(r);
}

Test(split_failures, split_failing_everywhere_fails_like_one_key)
{
    const char *get[] = {"GET", "key:1"};
    shard_reply *r = NULL;

    harness_kill(servers[0]);
    harness_kill(servers[1]);
    int single = shard_command_argv(pool, &r, 2, get, NULL);
    cr_expect_lt(single, 0);
    const char *cmds[][1] = {{"MGET"}, {"DEL"}, {"MSET"}};
    const char **argvs[] = {mget, del, mset};
    int argcs[] = {1 + KEYS, 1 + KEYS, 1 + 2 * KEYS};
    for (int i = 0; i < 3; i++) {
        int rc = shard_command_argv(pool, &r, argcs[i], argvs[i], NULL);
        cr_expect_eq(rc, single, "%s: %d (%s)", cmds[i][0], rc,
                     shard_pool_errmsg(pool));
        cr_expect_null(r);
        cr_expect(strstr(shard_pool_errmsg(pool), "every server") != NULL, "%s",
                  shard_pool_errmsg(pool));
        cr_expect(strstr(shard_pool_errmsg(pool), servers[0]->addr) != NULL,
                  "%s", shard_pool_errmsg(pool));
    }
}

/* --- async ------------------------------------------------------------- */

/* Runs the loop until `*done` or 5 s. */
typedef struct seen {
    int calls;
    int status;
    char errmsg[512];
} seen;

static void
record(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    seen *s = userdata;

    (void)reply;
    s->calls++;
    s->status = status;
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", shard_pool_errmsg(p));
}

Test(split_failures, async_failure_carries_its_reason)
{
    static seen s; /* the callback may run in teardown if a check fails */

    harness_kill(servers[0]);
    harness_kill(servers[1]);
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    cr_assert_eq(shard_command_async(pool, 1 + KEYS, mget, NULL, record, &s),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(s.calls, 0, "called back inside the submit call");
    harness_loop_run(pool, &s.calls, 1, 5000);
    cr_assert_eq(s.calls, 1);
    cr_expect_lt(s.status, 0);
    cr_expect(strstr(s.errmsg, "every server") != NULL, "%s", s.errmsg);
}
