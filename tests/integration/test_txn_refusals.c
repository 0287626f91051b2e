/*
 * A transaction in which libshard refuses a command (a key on another
 * server, wrong arity, an unknown command) behaves as Redis does after a
 * queueing error: EXEC answers EXECABORT and nothing runs. Replies, and
 * async callbacks, come back in submission order, refusals included.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

static shard_pool *pool;
static char here[32], there[32]; /* keys on the txn's server, on the other */

static void
setup(void)
{
    harness_server *a = harness_redis_start(NULL);
    harness_server *b = harness_redis_start(NULL);
    char yaml[1024];

    cr_assert(a != NULL && b != NULL);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  hash_tag: \"{}\"\n  servers:\n   - %s:1\n   - %s:1\n",
             harness_free_port(), a->addr, b->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    snprintf(here, sizeof(here), "{user:1}:balance");
    int home = shard_pool_locate(pool, here, strlen(here));
    for (int i = 0; i < 1000; i++) {
        snprintf(there, sizeof(there), "{user:%d}:balance", i);
        if (shard_pool_locate(pool, there, strlen(there)) != home)
            break;
    }
    cr_assert_neq(shard_pool_locate(pool, there, strlen(there)), home);
    shard_reply_free(shard_command(pool, "SET %s 100", here));
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

TestSuite(txn_refusals, .init = setup, .fini = teardown, .timeout = 30);

static shard_reply *
run(shard_txn *t, int argc, const char **argv)
{
    shard_reply *r = NULL;

    cr_assert_eq(shard_txn_command_argv(t, &r, argc, argv, NULL), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    return r;
}

static void
expect_type(shard_reply *r, int type, const char *text)
{
    const char *s = shard_reply_str(r, NULL);

    cr_expect_eq(shard_reply_type(r), type, "type %d: %s", shard_reply_type(r),
                 s ? s : "");
    if (text != NULL)
        cr_expect(s != NULL && strstr(s, text) != NULL, "'%s' lacks '%s'", s,
                  text);
    shard_reply_free(r);
}

static long long
balance(void)
{
    shard_reply *r = shard_command(pool, "GET %s", here);
    cr_assert_not_null(r);
    long long v = strtoll(shard_reply_str(r, NULL), NULL, 10);
    shard_reply_free(r);
    return v;
}

/* MULTI, INCRBY, `bad` (refused by libshard), EXEC: EXECABORT. */
static void
expect_exec_aborts(int badc, const char **bad)
{
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    const char *incr[] = {"INCRBY", here, "1"};
    shard_txn *t;

    cr_assert_eq(shard_txn_begin(pool, &t, here, strlen(here)), SHARD_OK);
    expect_type(run(t, 1, multi), SHARD_REPLY_STATUS, "OK");
    expect_type(run(t, 3, incr), SHARD_REPLY_STATUS, "QUEUED");
    expect_type(run(t, badc, bad), SHARD_REPLY_ERROR, NULL);
    expect_type(run(t, 1, exec), SHARD_REPLY_ERROR, "EXECABORT");
    cr_expect_eq(balance(), 100, "the transaction ran");
    /* The transaction's connection is usable again. */
    expect_type(run(t, 1, multi), SHARD_REPLY_STATUS, "OK");
    expect_type(run(t, 3, incr), SHARD_REPLY_STATUS, "QUEUED");
    shard_reply *r = run(t, 1, exec);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r, 0)), 101);
    shard_reply_free(r);
    shard_txn_free(t);
}

Test(txn_refusals, key_of_another_server_aborts_exec)
{
    const char *get[] = {"GET", there};
    expect_exec_aborts(2, get);
}

Test(txn_refusals, wrong_arity_aborts_exec)
{
    const char *get[] = {"GET"};
    expect_exec_aborts(1, get);
}

Test(txn_refusals, unknown_command_aborts_exec)
{
    const char *what[] = {"NOSUCHCOMMAND", here};
    expect_exec_aborts(2, what);
}

Test(txn_refusals, a_refusal_outside_multi_changes_nothing)
{
    const char *get[] = {"GET", there}, *multi[] = {"MULTI"};
    const char *exec[] = {"EXEC"}, *incr[] = {"INCRBY", here, "1"};
    shard_txn *t;

    cr_assert_eq(shard_txn_begin(pool, &t, here, strlen(here)), SHARD_OK);
    expect_type(run(t, 2, get), SHARD_REPLY_ERROR, "not on the transaction");
    expect_type(run(t, 1, multi), SHARD_REPLY_STATUS, "OK");
    expect_type(run(t, 3, incr), SHARD_REPLY_STATUS, "QUEUED");
    shard_reply *r = run(t, 1, exec);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY);
    shard_reply_free(r);
    cr_expect_eq(balance(), 101);
    shard_txn_free(t);
}

/* --- async: callbacks in submission order ----------------------------------
 */

static int order[8], calls;
static int types[8];

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)p;
    cr_expect_eq(status, SHARD_OK);
    types[calls] = shard_reply_type(reply);
    order[calls++] = (int)(long)userdata;
}

Test(txn_refusals, async_callbacks_keep_submission_order)
{
    const char *multi[] = {"MULTI"}, *set[] = {"SET", here, "7"};
    const char *get[] = {"GET", there}, *exec[] = {"EXEC"};
    const char **cmds[] = {multi, set, get, exec};
    int argcs[] = {1, 3, 2, 1};
    shard_txn *t;

    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    cr_assert_eq(shard_txn_begin(pool, &t, here, strlen(here)), SHARD_OK);
    for (long i = 0; i < 4; i++)
        cr_assert_eq(shard_txn_command_async(t, argcs[i], cmds[i], NULL,
                                             on_reply, (void *)(i + 1)),
                     SHARD_OK, "%s", shard_pool_errmsg(pool));
    harness_loop_run(pool, &calls, 4, 5000);
    cr_assert_eq(calls, 4);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(order[i], i + 1, "callback %d was command %d", i + 1,
                     order[i]);
    cr_expect_eq(types[2], SHARD_REPLY_ERROR);
    cr_expect_eq(types[3], SHARD_REPLY_ERROR, "EXEC did not abort");
    shard_txn_free(t);
    cr_assert_eq(harness_loop_detach(pool), SHARD_OK);
    cr_expect_eq(balance(), 100);
}

static int freed_calls, freed_status;
static char freed_msg[256];

static void
on_freed(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)reply;
    (void)userdata;
    freed_calls++;
    freed_status = status;
    snprintf(freed_msg, sizeof(freed_msg), "%s", shard_pool_errmsg(p));
}

Test(txn_refusals, freeing_a_transaction_says_so_to_its_pending_commands)
{
    const char *get[] = {"GET", here};
    shard_txn *t;

    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    cr_assert_eq(shard_txn_begin(pool, &t, here, strlen(here)), SHARD_OK);
    cr_assert_eq(shard_txn_command_async(t, 2, get, NULL, on_freed, NULL),
                 SHARD_OK);
    shard_txn_free(t);
    cr_assert_eq(harness_loop_run(pool, &freed_calls, 1, 5000), 1);
    cr_expect_eq(freed_status, SHARD_ECLOSED);
    cr_expect(strstr(freed_msg, "transaction was freed") != NULL, "%s",
              freed_msg);
    cr_assert_eq(harness_loop_detach(pool), SHARD_OK);
}
