/*
 * Per-server commands (shard_command_server and its argv form): the
 * commands that would change the state of a shared connection (SUBSCRIBE,
 * MONITOR, SELECT, MULTI...) and the empty command are refused in both
 * forms with a message, and the pool's own traffic is untouched afterwards:
 * same db, no QUEUED, no abort.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"

static shard_pool *pool;
static harness_server *redis;

static void
setup(void)
{
    harness_server *s = harness_redis_start(NULL);
    char yaml[512];

    cr_assert_not_null(s);
    redis = s;
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  servers:\n   - %s:1\n",
             harness_free_port(), s->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

TestSuite(server_commands, .init = setup, .fini = teardown, .timeout = 30);

/* SET then GET through the pool, and the key is in db 0 of the server. */
static void
expect_pool_still_serves(void)
{
    shard_reply *r = shard_command(pool, "SET %s %s", "k", "v");

    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STATUS, "%s",
                 shard_reply_str(r, NULL));
    shard_reply_free(r);
    r = shard_command(pool, "GET %s", "k");
    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(r, NULL), "v");
    shard_reply_free(r);
    r = shard_command_server(pool, 0, "DBSIZE");
    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_integer(r), 1, "the key went to another db");
    shard_reply_free(r);
}

Test(server_commands, connection_state_commands_are_refused_in_printf_form)
{
    static const char *const refused[] = {
        "SUBSCRIBE ch", "PSUBSCRIBE c*",    "MONITOR", "SELECT 5", "MULTI",
        "WATCH k",      "CLIENT REPLY OFF", "RESET",   "QUIT"};

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        shard_reply *r = shard_command_server(pool, 0, refused[i]);
        const char *msg = shard_pool_errmsg(pool);

        cr_expect_null(r, "'%s' was sent", refused[i]);
        shard_reply_free(r);
        cr_expect(strstr(msg, "state") != NULL || strstr(msg, "refus") != NULL,
                  "'%s': %s", refused[i], msg);
    }
    expect_pool_still_serves();
}

Test(server_commands, connection_state_commands_are_refused_in_argv_form)
{
    const char *sel[] = {"SELECT", "5"}, *multi[] = {"MULTI"};
    shard_reply *r = NULL;

    cr_expect_eq(shard_command_server_argv(pool, 0, &r, 2, sel, NULL),
                 SHARD_EUNSUPPORTED);
    cr_expect_eq(shard_command_server_argv(pool, 0, &r, 1, multi, NULL),
                 SHARD_EUNSUPPORTED);
    cr_expect_null(r);
    expect_pool_still_serves();
}

Test(server_commands, empty_command_is_refused_in_both_forms)
{
    shard_reply *r = NULL;

    cr_expect_null(shard_command_server(pool, 0, ""));
    cr_expect_str_eq(shard_pool_errmsg(pool), "empty command");
    cr_expect_eq(shard_command_server_argv(pool, 0, &r, 0, NULL, NULL),
                 SHARD_EINVAL);
    cr_expect_str_eq(shard_pool_errmsg(pool), "empty command");
    cr_expect_eq(shard_command_server_argv(pool, 0, &r, -1, NULL, NULL),
                 SHARD_EINVAL);
    /* The routed form answers an ERROR reply, as Redis would. */
    r = shard_command(pool, "");
    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    shard_reply_free(r);
    expect_pool_still_serves();
}

Test(server_commands, out_of_range_server_is_refused_in_both_forms)
{
    const char *ping[] = {"PING"};
    shard_reply *r = NULL;

    cr_expect_null(shard_command_server(pool, 7, "PING"));
    cr_expect(strstr(shard_pool_errmsg(pool), "no server 7") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(shard_command_server_argv(pool, 7, &r, 1, ping, NULL),
                 SHARD_EINVAL);
}

Test(server_commands, unknown_commands_read_as_redis_7_says_them)
{
    char long_name[300], long_arg[200];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    memset(long_arg, 'a', sizeof(long_arg) - 1);
    long_arg[sizeof(long_arg) - 1] = '\0';
    const char *cases[][6] = {
        {"FOO", "a", "b"},      {"FOO"},
        {"nosuch", "x\r\ny"},   {long_name, "a"},
        {"FOO", long_arg, "b"}, {"FOO", "1", "2", "3", "4", "5"},
    };
    redisContext *direct = redisConnect("127.0.0.1", redis->port);

    cr_assert(direct != NULL && direct->err == 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int argc = 0;
        while (argc < 6 && cases[i][argc] != NULL)
            argc++;
        redisReply *want = redisCommandArgv(direct, argc, cases[i], NULL);
        shard_reply *got = NULL;
        cr_assert_not_null(want);
        cr_assert_eq(shard_command_argv(pool, &got, argc, cases[i], NULL),
                     SHARD_OK);
        cr_expect_eq(shard_reply_type(got), SHARD_REPLY_ERROR);
        cr_expect_str_eq(shard_reply_str(got, NULL), want->str, "case %zu", i);
        freeReplyObject(want);
        shard_reply_free(got);
    }
    redisFree(direct);
}

Test(server_commands, the_largest_index_is_no_server_either)
{
    const char *ping[] = {"PING"};
    shard_reply *r = NULL;

    /* (size_t)-1 is what a negative shard_pool_locate() code becomes. */
    cr_expect_null(shard_command_server(pool, (size_t)-1, "PING"));
    cr_expect(strstr(shard_pool_errmsg(pool), "no server") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(shard_command_server_argv(pool, (size_t)-1, &r, 1, ping, NULL),
                 SHARD_EINVAL);
    cr_expect_null(r);
}
