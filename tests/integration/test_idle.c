/*
 * A connection the server dropped while the application was idle (the
 * server's `timeout`, a restart) costs no request: it is found dead before
 * it is reused, in the blocking and the async API, and with ejection on it
 * does not count against the server.
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
static int ejections;

static void
on_log(int level, const char *message, void *userdata)
{
    (void)userdata;
    if (level == SHARD_LOG_WARN && strstr(message, "ejected") != NULL)
        ejections++;
}

static void
open_pool(const char *server_conf)
{
    char yaml[1024];
    shard_options opts = SHARD_OPTIONS_INIT;

    server = harness_redis_start(server_conf);
    cr_assert_not_null(server);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
             "  server_retry_timeout: 30000\n  servers:\n   - %s:1\n",
             harness_free_port(), server->addr);
    opts.log_fn = on_log;
    ejections = 0;
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(idle, .fini = teardown, .timeout = 60);

static void
expect_get(const char *want)
{
    shard_reply *r = shard_command(pool, "GET %s", "k");

    cr_assert_not_null(r, "GET failed: %s", shard_pool_errmsg(pool));
    if (want == NULL)
        cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL);
    else
        cr_expect_str_eq(shard_reply_str(r, NULL), want);
    shard_reply_free(r);
}

Test(idle, connection_closed_by_the_server_timeout_costs_nothing)
{
    open_pool("timeout 1\n");
    shard_reply_free(shard_command(pool, "SET %s %s", "k", "v"));
    usleep(2500000); /* redis-server closes connections idle for 1 s */
    expect_get("v");
    cr_expect_eq(ejections, 0, "the idle close ejected the server");
}

Test(idle, server_restart_while_idle_costs_nothing)
{
    open_pool(NULL);
    int port = server->port;
    shard_reply_free(shard_command(pool, "SET %s %s", "k", "v"));
    harness_stop(server);
    server = harness_redis_start_port(port, NULL);
    cr_assert_not_null(server);
    expect_get(NULL); /* a new, empty server: and no failure first */
    cr_expect_eq(ejections, 0);
}

/* --- async ------------------------------------------------------------- */

static int calls, last_status;

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)p;
    (void)reply;
    (void)userdata;
    calls++;
    last_status = status;
}

Test(idle, async_connection_closed_while_the_loop_was_away_costs_nothing)
{
    const char *set[] = {"SET", "k", "v"}, *get[] = {"GET", "k"};

    open_pool("timeout 1\n");
    calls = 0;
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    cr_assert_eq(shard_command_async(pool, 3, set, NULL, on_reply, NULL),
                 SHARD_OK);
    cr_assert_eq(harness_loop_run(pool, &calls, 1, 5000), 1);
    usleep(2500000); /* the loop does not run; the server drops the link */
    cr_assert_eq(shard_command_async(pool, 2, get, NULL, on_reply, NULL),
                 SHARD_OK);
    cr_assert_eq(harness_loop_run(pool, &calls, 2, 5000), 2);
    cr_expect_eq(last_status, SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(ejections, 0);
}
