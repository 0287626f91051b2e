/* Transactions and WATCH on one server, through shard_txn. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"

static shard_pool *pool;

static void
setup(void)
{
    char yaml[1024];
    harness_server *a = harness_redis_start(NULL);
    harness_server *b = harness_redis_start(NULL);

    cr_assert(a != NULL && b != NULL);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 1000\n"
             "  hash_tag: \"{}\"\n  servers:\n   - %s:1\n   - %s:1\n",
             harness_free_port(), a->addr, b->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

static shard_reply *
txn_run(shard_txn *t, int argc, const char **argv)
{
    shard_reply *r = NULL;
    cr_assert_eq(shard_txn_command_argv(t, &r, argc, argv, NULL), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    return r;
}

static void
expect_text(shard_reply *r, int type, const char *text)
{
    const char *s = shard_reply_str(r, NULL);
    cr_expect_eq(shard_reply_type(r), type, "type %d: %s", shard_reply_type(r),
                 s ? s : "");
    if (text)
        cr_expect(s && strstr(s, text), "\"%s\" lacks \"%s\"", s, text);
    shard_reply_free(r);
}

TestSuite(txn, .init = setup, .fini = teardown, .timeout = 30);

Test(txn, multi_exec_runs_on_the_key_server)
{
    shard_txn *t;
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    const char *set1[] = {"SET", "{acct}a", "1"};
    const char *incr[] = {"INCRBY", "{acct}b", "5"};

    cr_assert_eq(shard_txn_begin(pool, &t, "{acct}", 6), SHARD_OK);
    cr_expect_eq(shard_txn_server(t), shard_pool_locate(pool, "acct", 4));
    expect_text(txn_run(t, 1, multi), SHARD_REPLY_STATUS, "OK");
    expect_text(txn_run(t, 3, set1), SHARD_REPLY_STATUS, "QUEUED");
    expect_text(txn_run(t, 3, incr), SHARD_REPLY_STATUS, "QUEUED");
    shard_reply *r = txn_run(t, 1, exec);
    cr_assert_eq(shard_reply_len(r), 2);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r, 1)), 5);
    shard_reply_free(r);
    shard_txn_free(t);
    r = shard_command(pool, "GET {acct}b");
    expect_text(r, SHARD_REPLY_STRING, "5");
}

Test(txn, watch_detects_a_concurrent_write)
{
    shard_txn *t;
    const char *watch[] = {"WATCH", "{w}k"}, *multi[] = {"MULTI"};
    const char *set[] = {"SET", "{w}k", "mine"}, *exec[] = {"EXEC"};

    cr_assert_eq(shard_txn_begin(pool, &t, "{w}k", 4), SHARD_OK);
    expect_text(txn_run(t, 2, watch), SHARD_REPLY_STATUS, "OK");
    /* Another client (the pool's shared connection) writes meanwhile. */
    expect_text(shard_command(pool, "SET {w}k theirs"), SHARD_REPLY_STATUS,
                "OK");
    expect_text(txn_run(t, 1, multi), SHARD_REPLY_STATUS, "OK");
    expect_text(txn_run(t, 3, set), SHARD_REPLY_STATUS, "QUEUED");
    shard_reply *r = txn_run(t, 1, exec);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL, "EXEC should abort");
    shard_reply_free(r);
    shard_txn_free(t);
    expect_text(shard_command(pool, "GET {w}k"), SHARD_REPLY_STRING, "theirs");
}

Test(txn, keys_of_another_server_are_refused)
{
    shard_txn *t;
    char other[32];
    int mine;

    cr_assert_eq(shard_txn_begin(pool, &t, "k0", 2), SHARD_OK);
    mine = shard_txn_server(t);
    for (int i = 1;; i++) {
        snprintf(other, sizeof(other), "k%d", i);
        if (shard_pool_locate(pool, other, strlen(other)) != mine)
            break;
    }
    const char *get[] = {"GET", other};
    expect_text(txn_run(t, 2, get), SHARD_REPLY_ERROR,
                "not on the transaction");
    const char *sel[] = {"SELECT", "3"};
    expect_text(txn_run(t, 2, sel), SHARD_REPLY_ERROR, "'select'");
    shard_txn_free(t);
}

Test(txn, freeing_the_transaction_discards_an_open_multi)
{
    shard_txn *t;
    const char *multi[] = {"MULTI"}, *set[] = {"SET", "{d}k", "x"};

    cr_assert_eq(shard_txn_begin(pool, &t, "{d}k", 4), SHARD_OK);
    expect_text(txn_run(t, 1, multi), SHARD_REPLY_STATUS, "OK");
    expect_text(txn_run(t, 3, set), SHARD_REPLY_STATUS, "QUEUED");
    shard_txn_free(t);
    shard_reply *r = shard_command(pool, "EXISTS {d}k");
    cr_expect_eq(shard_reply_integer(r), 0);
    shard_reply_free(r);
}

Test(txn, a_transaction_outliving_its_pool_is_closed)
{
    shard_txn *t;
    shard_reply *r;
    const char *ping[] = {"PING"};

    cr_assert_eq(shard_txn_begin(pool, &t, "x", 1), SHARD_OK);
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_eq(shard_txn_command_argv(t, &r, 1, ping, NULL), SHARD_ECLOSED);
    shard_txn_free(t);
}
