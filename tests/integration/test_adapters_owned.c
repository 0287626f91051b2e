/*
 * Adapters owned by their pool (attach with `out` NULL, hiredis' model):
 * each carries a command through its real loop, then shard_pool_free()
 * releases the adapter through the hooks' cleanup, with no detach. libuv
 * proves it by letting the loop close (it refuses while a handle is
 * open); all three prove it under LeakSanitizer in the sanitizer pass.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

/* libev first: libevent #defines EV_READ and EV_WRITE. */
#include <shard/adapters/libev.h>
#include <shard/adapters/libevent.h>
#include <shard/adapters/libuv.h>

#include "harness.h"

static shard_pool *pool;

static void
setup(void)
{
    harness_server *s = harness_redis_start(NULL);
    char yaml[512];

    cr_assert_not_null(s);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 5000\n"
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

TestSuite(adapters_owned, .init = setup, .fini = teardown, .timeout = 30);

/* What the callback saw, and how it stops the loop under test. */
typedef struct outcome {
    int calls;
    int status;
    void (*stop)(void *loop);
    void *loop;
} outcome;

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    outcome *o = userdata;

    (void)p;
    o->calls++;
    o->status = status;
    cr_expect(reply != NULL && shard_reply_type(reply) == SHARD_REPLY_STATUS);
    o->stop(o->loop);
}

static void
submit_set(outcome *o)
{
    const char *set[] = {"SET", "owned", "1"};

    cr_assert_eq(shard_command_async(pool, 3, set, NULL, on_reply, o), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
}

static void
uv_stop_loop(void *loop)
{
    uv_stop(loop);
}

Test(adapters_owned, libuv_adapter_is_released_by_the_pool)
{
    uv_loop_t loop;
    outcome o = {.stop = uv_stop_loop, .loop = &loop};

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(shard_libuv_attach(pool, NULL, &loop), SHARD_OK);
    submit_set(&o);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(o.calls, 1);
    cr_expect_eq(o.status, SHARD_OK);
    shard_pool_free(pool);
    pool = NULL;
    uv_run(&loop, UV_RUN_NOWAIT); /* the close callbacks */
    cr_expect_eq(uv_loop_close(&loop), 0,
                 "the loop still holds the adapter's handles");
}

static void
event_stop_loop(void *base)
{
    event_base_loopbreak(base);
}

Test(adapters_owned, libevent_adapter_is_released_by_the_pool)
{
    struct event_base *base = event_base_new();
    outcome o = {.stop = event_stop_loop, .loop = base};

    cr_assert_not_null(base);
    cr_assert_eq(shard_libevent_attach(pool, NULL, base), SHARD_OK);
    submit_set(&o);
    event_base_dispatch(base);
    cr_expect_eq(o.calls, 1);
    cr_expect_eq(o.status, SHARD_OK);
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_eq(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED), 0);
    event_base_free(base);
}

static void
ev_stop_loop(void *loop)
{
    ev_break(loop, EVBREAK_ALL);
}

Test(adapters_owned, libev_adapter_is_released_by_the_pool)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    outcome o = {.stop = ev_stop_loop, .loop = loop};

    cr_assert_not_null(loop);
    cr_assert_eq(shard_libev_attach(pool, NULL, loop), SHARD_OK);
    submit_set(&o);
    ev_run(loop, 0);
    cr_expect_eq(o.calls, 1);
    cr_expect_eq(o.status, SHARD_OK);
    shard_pool_free(pool);
    pool = NULL;
    /* ev_run returns whether active watchers remain. */
    cr_expect_eq(ev_run(loop, EVRUN_NOWAIT), 0,
                 "libev still runs the adapter's watchers");
    ev_loop_destroy(loop);
}

Test(adapters_owned, attach_failures_leave_a_message)
{
    cr_expect_eq(shard_libevent_attach(pool, NULL, NULL), SHARD_EINVAL);
    cr_expect(strstr(shard_pool_errmsg(pool), "loop is NULL") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(shard_libuv_attach(NULL, NULL, NULL), SHARD_EINVAL);
    cr_expect_str_eq(shard_last_error(), "pool is NULL");
}

Test(adapters_owned, replacing_an_owned_adapter_releases_it)
{
    uv_loop_t loop;
    struct event_base *base = event_base_new();
    outcome o = {.stop = event_stop_loop, .loop = base};

    cr_assert_eq(uv_loop_init(&loop), 0);
    cr_assert_eq(shard_libuv_attach(pool, NULL, &loop), SHARD_OK);
    /* The libevent adapter takes over: the libuv one goes. */
    cr_assert_eq(shard_libevent_attach(pool, NULL, base), SHARD_OK);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    submit_set(&o);
    event_base_dispatch(base);
    cr_expect_eq(o.calls, 1);
    shard_pool_free(pool);
    pool = NULL;
    event_base_free(base);
}
