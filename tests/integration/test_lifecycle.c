/*
 * A pool's lifecycle through the public API: a pool freed from a callback
 * while a blocking call waits is released once that call returns (every
 * kind of blocking call), the event hooks' cleanup runs exactly once when
 * the pool lets go of them, options versions are checked, and failing
 * calls leave their message where the docs say.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"

static harness_server *server;
static shard_pool *pool;

static void
open_pool(void)
{
    char yaml[512];

    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  servers:\n   - %s:1\n",
             harness_free_port(), server->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
}

static void
setup(void)
{
    server = harness_redis_start(NULL);
    cr_assert_not_null(server);
    open_pool();
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

TestSuite(lifecycle, .init = setup, .fini = teardown, .timeout = 30);

/* Clients connected to the server, this check's own one included. */
static long long
connected_clients(void)
{
    redisContext *c = redisConnect("127.0.0.1", server->port);
    long long n = -1;

    cr_assert(c != NULL && c->err == 0);
    redisReply *r = redisCommand(c, "INFO clients");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
    const char *at = strstr(r->str, "connected_clients:");
    cr_assert_not_null(at);
    n = strtoll(at + strlen("connected_clients:"), NULL, 10);
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Waits up to 2 s for the server to see only this check's client. */
static bool
pool_connections_closed(void)
{
    for (int i = 0; i < 200; i++) {
        if (connected_clients() == 1)
            return true;
        usleep(10000);
    }
    return false;
}

static void
noop_watch(int fd, int events, void **watch_data, void *userdata)
{
    (void)fd;
    (void)events;
    (void)watch_data;
    (void)userdata;
}

static void
noop_timer(long timeout_ms, void *userdata)
{
    (void)timeout_ms;
    (void)userdata;
}

static int freed_in_callback;

static void
free_pool_cb(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    (void)reply;
    (void)status;
    (void)ud;
    freed_in_callback++;
    shard_pool_free(p);
}

/* Queues an async PING whose callback frees the pool: it runs inside the
 * next blocking call's wait. */
static void
arm_free_in_callback(void)
{
    const char *ping[] = {"PING"};

    freed_in_callback = 0;
    cr_assert_eq(shard_pool_set_event_hooks(pool, noop_watch, noop_timer, NULL),
                 SHARD_OK);
    cr_assert_eq(shard_command_async(pool, 1, ping, NULL, free_pool_cb, NULL),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
}

Test(lifecycle, pool_freed_in_a_callback_during_a_txn_call_is_released)
{
    const char *set[] = {"SET", "k", "v"};
    shard_reply *r = NULL;
    shard_txn *txn;

    cr_assert_eq(shard_txn_begin(pool, &txn, "k", 1), SHARD_OK);
    arm_free_in_callback();
    cr_assert_eq(shard_txn_command_argv(txn, &r, 3, set, NULL), SHARD_OK);
    shard_reply_free(r);
    pool = NULL; /* freed by the callback */
    cr_assert_eq(freed_in_callback, 1);
    cr_expect(pool_connections_closed(),
              "the pool freed in a callback still holds its connections");
    /* The transaction outlives its pool and says so. */
    cr_expect_eq(shard_txn_command_argv(txn, &r, 3, set, NULL), SHARD_ECLOSED);
    cr_expect(strstr(shard_last_error(), "freed") != NULL, "%s",
              shard_last_error());
    shard_txn_free(txn);
}

Test(lifecycle, pool_freed_in_a_callback_during_a_command_is_released)
{
    const char *get[] = {"GET", "k"};
    shard_reply *r = NULL;

    arm_free_in_callback();
    cr_assert_eq(shard_command_argv(pool, &r, 2, get, NULL), SHARD_OK);
    shard_reply_free(r);
    pool = NULL;
    cr_assert_eq(freed_in_callback, 1);
    cr_expect(pool_connections_closed());
}

Test(lifecycle, pool_freed_in_a_callback_during_get_reply_is_released)
{
    const char *get[] = {"GET", "k"};
    shard_reply *r = NULL;

    cr_assert_eq(shard_append_argv(pool, 2, get, NULL), SHARD_OK);
    arm_free_in_callback();
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
    shard_reply_free(r);
    pool = NULL;
    cr_assert_eq(freed_in_callback, 1);
    cr_expect(pool_connections_closed());
}

static int cleanups;

static void
count_cleanup(void *userdata)
{
    cr_expect_eq(userdata, &cleanups);
    cleanups++;
}

Test(lifecycle, cleanup_runs_once_when_the_pool_is_freed)
{
    cleanups = 0;
    cr_assert_eq(
        shard_pool_set_event_hooks(pool, noop_watch, noop_timer, &cleanups),
        SHARD_OK);
    cr_assert_eq(shard_pool_set_event_cleanup(pool, count_cleanup), SHARD_OK);
    cr_expect_eq(cleanups, 0);
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_eq(cleanups, 1);
}

Test(lifecycle, cleanup_runs_when_the_hooks_are_replaced_or_cleared)
{
    cleanups = 0;
    cr_assert_eq(
        shard_pool_set_event_hooks(pool, noop_watch, noop_timer, &cleanups),
        SHARD_OK);
    cr_assert_eq(shard_pool_set_event_cleanup(pool, count_cleanup), SHARD_OK);
    cr_assert_eq(shard_pool_set_event_hooks(pool, NULL, NULL, NULL), SHARD_OK);
    cr_expect_eq(cleanups, 1);
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_eq(cleanups, 1, "cleanup ran again after the hooks were gone");
}

Test(lifecycle, cleanup_needs_hooks)
{
    cr_expect_eq(shard_pool_set_event_cleanup(pool, count_cleanup),
                 SHARD_EINVAL);
    cr_expect(strstr(shard_pool_errmsg(pool), "hooks") != NULL, "%s",
              shard_pool_errmsg(pool));
}

Test(lifecycle, options_init_gives_the_macro_defaults)
{
    shard_options macro = SHARD_OPTIONS_INIT, fn;

    memset(&fn, 0xff, sizeof(fn));
    cr_assert_eq(shard_options_init(&fn, SHARD_OPTIONS_VERSION), SHARD_OK);
    cr_expect_eq(fn.version, macro.version);
    cr_expect_eq(fn.log_fn, macro.log_fn);
    cr_expect_eq(fn.log_userdata, macro.log_userdata);
    cr_expect_eq(fn.log_level, macro.log_level);
    cr_expect_eq(shard_options_init(NULL, SHARD_OPTIONS_VERSION), SHARD_EINVAL);
    cr_expect_eq(shard_options_init(&fn, SHARD_OPTIONS_VERSION + 1),
                 SHARD_EINVAL);
    cr_expect(strstr(shard_last_error(), "unknown") != NULL, "%s",
              shard_last_error());
}

Test(lifecycle, unknown_options_version_is_refused_at_open)
{
    shard_options opts = SHARD_OPTIONS_INIT;
    shard_pool *p = NULL;
    const char *yaml = "t:\n  listen: 127.0.0.1:1\n  servers:\n   - "
                       "127.0.0.1:2:1\n";

    const int bad[] = {0, -1, SHARD_OPTIONS_VERSION + 1};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int v = bad[i];
        opts.version = v;
        cr_expect_eq(
            shard_pool_open_string(&p, yaml, strlen(yaml), NULL, &opts),
            SHARD_EINVAL, "version %d", v);
        cr_expect_null(p);
        cr_expect(strstr(shard_last_error(), "version") != NULL, "%s",
                  shard_last_error());
    }
}

Test(lifecycle, failing_calls_leave_their_message)
{
    const char *get[] = {"GET", "k"};
    shard_reply *r;

    /* No pool: the thread's last error. */
    cr_expect_eq(shard_command_argv(NULL, &r, 2, get, NULL), SHARD_EINVAL);
    cr_expect_str_eq(shard_last_error(), "pool is NULL");
    cr_expect_eq(shard_append_argv(NULL, 2, get, NULL), SHARD_EINVAL);
    cr_expect_str_eq(shard_last_error(), "pool is NULL");
    cr_expect_eq(shard_pool_set_event_hooks(NULL, NULL, NULL, NULL),
                 SHARD_EINVAL);
    cr_expect_eq(shard_txn_command_argv(NULL, &r, 2, get, NULL), SHARD_EINVAL);
    cr_expect_str_eq(shard_last_error(), "txn is NULL");
    /* A pool: its message. */
    cr_expect_eq(shard_command_argv(pool, NULL, 2, get, NULL), SHARD_EINVAL);
    cr_expect_str_eq(shard_pool_errmsg(pool), "out is NULL");
    cr_expect_eq(shard_get_reply(pool, NULL), SHARD_EINVAL);
    cr_expect_str_eq(shard_pool_errmsg(pool), "out is NULL");
    cr_expect_eq(shard_pool_set_event_hooks(pool, noop_watch, NULL, NULL),
                 SHARD_EINVAL);
    cr_expect(strstr(shard_pool_errmsg(pool), "together") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_null(shard_command(pool, NULL));
    cr_expect_str_eq(shard_pool_errmsg(pool), "fmt is NULL");
}

static int eclosed_calls;

/* Runs with SHARD_ECLOSED while the pool is freed: calls that need a live
 * pool must refuse, not touch its freed parts. */
static void
begin_txn_while_closing(shard_pool *p, const shard_reply *reply, int status,
                        void *ud)
{
    shard_txn *txn = NULL;

    (void)reply;
    (void)ud;
    eclosed_calls++;
    cr_expect_eq(status, SHARD_ECLOSED);
    cr_expect_eq(shard_txn_begin(p, &txn, "k", 1), SHARD_ECLOSED);
    cr_expect_null(txn);
    cr_expect_eq(shard_pool_set_event_hooks(p, noop_watch, noop_timer, NULL),
                 SHARD_ECLOSED);
}

Test(lifecycle, calls_from_eclosed_callbacks_refuse_cleanly)
{
    const char *get[] = {"GET", "k"};

    eclosed_calls = 0;
    cr_assert_eq(shard_pool_set_event_hooks(pool, noop_watch, noop_timer, NULL),
                 SHARD_OK);
    cr_assert_eq(
        shard_command_async(pool, 2, get, NULL, begin_txn_while_closing, NULL),
        SHARD_OK);
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_eq(eclosed_calls, 1);
}
