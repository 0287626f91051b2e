/*
 * The event-loop adapters of include/shard/adapters/ against three real
 * redis-servers. The same async workloads run on libevent, libuv and libev:
 * every callback must run exactly once, never inside the submitting call,
 * with the right reply; with SHARD_ETIMEDOUT when its server hangs; with
 * SHARD_ECLOSED when the pool is freed first. A transaction's connection
 * runs on the same hooks. After detaching, the loop must hold nothing of
 * the adapter's, and a pool detached alive keeps working without a loop.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <shard/shard.h>

/* libev first: libevent #defines EV_READ and EV_WRITE with other values,
 * which would break libev's enum of the same names if it came after. */
#include <shard/adapters/libev.h>
#include <shard/adapters/libevent.h>
#include <shard/adapters/libuv.h>

#include "harness.h"

#define SERVERS 3        /* redis-servers in the pool */
#define KEYS 200         /* keys set and read back */
#define MGET_KEYS 100    /* keys of the split MGET, the last one missing */
#define LATE 10          /* commands submitted just before the pool is freed */
#define TICK_MS 50       /* longest a loop iteration blocks in the tests */
#define RUN_MAX_MS 15000 /* how long a test waits for its callbacks */
#define MISSING_KEY "adapters:never-set" /* the MGET's last key */

/* What a callback is expected to receive. */
typedef enum expect {
    EXPECT_STATUS, /* the status reply `text` ("OK", "QUEUED") */
    EXPECT_GET,    /* the value of key `index` */
    EXPECT_MGET,   /* values of keys 0 .. MGET_KEYS-2, then nil; errors for
                      the keys marked `down` */
    EXPECT_EXEC,   /* [OK, `index`]: EXEC of a SET and an INCR */
} expect;

/* One async command: the userdata of its callback, and what it saw. */
typedef struct slot {
    expect kind;      /* what the reply should be */
    int index;        /* the key (SET, GET); the INCR result (EXEC) */
    const bool *down; /* EXPECT_MGET: MGET_KEYS flags, or NULL for none */
    const char *text; /* EXPECT_STATUS: the status */
    int calls;        /* how many times the callback ran */
    int status;       /* the status it got last */
    bool reply_null;  /* the reply it got last was NULL */
    bool reply_ok;    /* that reply was the expected one */
    char detail[160]; /* why it was not, for the failure message */
} slot;

typedef struct testloop testloop;

/* How a test drives one kind of loop. */
typedef struct loop_ops {
    void (*open)(testloop *t);                    /* loop plus tick */
    int (*attach)(testloop *t, shard_pool *pool); /* the adapter */
    void (*run_once)(testloop *t);                /* one blocking turn */
    void (*run_nowait)(testloop *t);              /* one turn, no wait */
    void (*detach)(testloop *t);                  /* the adapter goes */
    void (*close)(testloop *t);                   /* checks, then frees */
} loop_ops;

/* One loop of any of the three kinds, with its adapter. */
struct testloop {
    const loop_ops *ops;     /* its functions */
    struct event_base *base; /* libevent */
    struct event *tick;      /* libevent: bounds run_once */
    shard_libevent *levent;  /* libevent adapter */
    uv_loop_t uv;            /* libuv */
    uv_timer_t uv_tick;      /* libuv: bounds run_once */
    shard_libuv *luv;        /* libuv adapter */
    struct ev_loop *ev;      /* libev */
    ev_timer ev_tick;        /* libev: bounds run_once */
    shard_libev *lev;        /* libev adapter */
};

static bool submitting;     /* inside shard_command_async */
static int calls_in_submit; /* callbacks run inside it: must stay 0 */

static void
stop_servers(void)
{
    harness_stop_all();
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
key_of(char *buf, size_t size, int i)
{
    snprintf(buf, size, "adapters:key:%d", i);
}

static void
value_of(char *buf, size_t size, int i)
{
    snprintf(buf, size, "value-%d-%x", i, (unsigned)i * 2654435761u);
}

/* --- the three loops ---------------------------------------------------- */

static void
levent_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

static void
levent_open(testloop *t)
{
    struct timeval tv = {0, TICK_MS * 1000};

    t->base = event_base_new();
    cr_assert_not_null(t->base);
    t->tick = event_new(t->base, -1, EV_PERSIST, levent_tick, NULL);
    cr_assert_not_null(t->tick);
    event_add(t->tick, &tv);
}

static int
levent_attach(testloop *t, shard_pool *pool)
{
    return shard_libevent_attach(pool, &t->levent, t->base);
}

static void
levent_run_once(testloop *t)
{
    event_base_loop(t->base, EVLOOP_ONCE);
}

static void
levent_run_nowait(testloop *t)
{
    event_base_loop(t->base, EVLOOP_NONBLOCK);
}

static void
levent_detach(testloop *t)
{
    shard_libevent_detach(t->levent);
    t->levent = NULL;
}

static void
levent_close(testloop *t)
{
    event_free(t->tick);
    cr_expect_eq(event_base_get_num_events(t->base, EVENT_BASE_COUNT_ADDED), 0,
                 "the adapter left events in the base");
    event_base_free(t->base);
}

static void
luv_tick(uv_timer_t *timer)
{
    (void)timer;
}

static void
luv_open(testloop *t)
{
    cr_assert_eq(uv_loop_init(&t->uv), 0);
    uv_timer_init(&t->uv, &t->uv_tick);
    uv_timer_start(&t->uv_tick, luv_tick, TICK_MS, TICK_MS);
}

static int
luv_attach(testloop *t, shard_pool *pool)
{
    return shard_libuv_attach(pool, &t->luv, &t->uv);
}

static void
luv_run_once(testloop *t)
{
    uv_run(&t->uv, UV_RUN_ONCE);
}

static void
luv_run_nowait(testloop *t)
{
    uv_run(&t->uv, UV_RUN_NOWAIT);
}

static void
luv_detach(testloop *t)
{
    shard_libuv_detach(t->luv);
    t->luv = NULL;
}

static void
luv_close(testloop *t)
{
    uv_close((uv_handle_t *)&t->uv_tick, NULL);
    /* One turn runs every pending close callback. */
    uv_run(&t->uv, UV_RUN_NOWAIT);
    cr_expect_eq(uv_loop_close(&t->uv), 0,
                 "the adapter left handles open in the loop");
}

static void
libev_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
}

static void
libev_open(testloop *t)
{
    t->ev = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(t->ev);
    ev_timer_init(&t->ev_tick, libev_tick, TICK_MS / 1000.0, TICK_MS / 1000.0);
    ev_timer_start(t->ev, &t->ev_tick);
}

static int
libev_attach(testloop *t, shard_pool *pool)
{
    return shard_libev_attach(pool, &t->lev, t->ev);
}

static void
libev_run_once(testloop *t)
{
    ev_run(t->ev, EVRUN_ONCE);
}

static void
libev_run_nowait(testloop *t)
{
    ev_run(t->ev, EVRUN_NOWAIT);
}

static void
libev_detach(testloop *t)
{
    shard_libev_detach(t->lev);
    t->lev = NULL;
}

static void
libev_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    bool *fired = w->data;

    (void)revents;
    *fired = true;
    ev_break(loop, EVBREAK_ALL);
}

static void
libev_close(testloop *t)
{
    ev_timer guard;
    bool fired = false;

    ev_timer_stop(t->ev, &t->ev_tick);
    /* With no watcher left, ev_run returns at once; the guard, which does
     * not count (unref), stops it when the adapter left one behind. */
    ev_timer_init(&guard, libev_guard, 1.0, 0.0);
    guard.data = &fired;
    ev_timer_start(t->ev, &guard);
    ev_unref(t->ev);
    ev_run(t->ev, 0);
    ev_ref(t->ev);
    ev_timer_stop(t->ev, &guard);
    cr_expect(!fired, "the adapter left watchers active in the loop");
    ev_loop_destroy(t->ev);
}

static const loop_ops libevent_ops = {levent_open,     levent_attach,
                                      levent_run_once, levent_run_nowait,
                                      levent_detach,   levent_close};
static const loop_ops libuv_ops = {luv_open,       luv_attach, luv_run_once,
                                   luv_run_nowait, luv_detach, luv_close};
static const loop_ops libev_ops = {libev_open,     libev_attach,
                                   libev_run_once, libev_run_nowait,
                                   libev_detach,   libev_close};

/* --- callbacks and checks ----------------------------------------------- */

static bool
check_string(slot *s, const shard_reply *r, int i)
{
    char want[64];
    size_t len = 0;
    const char *got = shard_reply_str(r, &len);

    value_of(want, sizeof(want), i);
    if (shard_reply_type(r) == SHARD_REPLY_STRING && got != NULL &&
        len == strlen(want) && memcmp(got, want, len) == 0)
        return true;
    snprintf(s->detail, sizeof(s->detail), "key %d: type %d \"%.*s\"", i,
             shard_reply_type(r), got ? (int)len : 0, got ? got : "");
    return false;
}

static bool
check_mget(slot *s, const shard_reply *r)
{
    if (shard_reply_type(r) != SHARD_REPLY_ARRAY ||
        shard_reply_len(r) != MGET_KEYS) {
        snprintf(s->detail, sizeof(s->detail), "type %d with %zu elements",
                 shard_reply_type(r), shard_reply_len(r));
        return false;
    }
    for (int i = 0; i < MGET_KEYS; i++) {
        const shard_reply *e = shard_reply_at(r, (size_t)i);
        int want = s->down && s->down[i] ? SHARD_REPLY_ERROR
                   : i == MGET_KEYS - 1  ? SHARD_REPLY_NIL
                                         : SHARD_REPLY_STRING;

        if (want == SHARD_REPLY_STRING && !check_string(s, e, i))
            return false;
        if (shard_reply_type(e) != want) {
            snprintf(s->detail, sizeof(s->detail),
                     "element %d: type %d, not %d", i, shard_reply_type(e),
                     want);
            return false;
        }
    }
    return true;
}

static bool
check_status(slot *s, const shard_reply *r, const char *want)
{
    size_t len;
    const char *str = shard_reply_str(r, &len);

    if (shard_reply_type(r) == SHARD_REPLY_STATUS && str != NULL &&
        strcmp(str, want) == 0)
        return true;
    snprintf(s->detail, sizeof(s->detail), "type %d \"%s\", not status %s",
             shard_reply_type(r), str ? str : "", want);
    return false;
}

static bool
check_exec(slot *s, const shard_reply *r)
{
    const shard_reply *incr = shard_reply_at(r, 1);

    if (shard_reply_len(r) != 2) {
        snprintf(s->detail, sizeof(s->detail), "EXEC: type %d, %zu elements",
                 shard_reply_type(r), shard_reply_len(r));
        return false;
    }
    if (!check_status(s, shard_reply_at(r, 0), "OK"))
        return false;
    if (shard_reply_type(incr) == SHARD_REPLY_INTEGER &&
        shard_reply_integer(incr) == s->index)
        return true;
    snprintf(s->detail, sizeof(s->detail), "EXEC: INCR gave type %d %lld",
             shard_reply_type(incr), shard_reply_integer(incr));
    return false;
}

static bool
check_reply(slot *s, const shard_reply *r)
{
    switch (s->kind) {
    case EXPECT_STATUS:
        return check_status(s, r, s->text);
    case EXPECT_EXEC:
        return check_exec(s, r);
    case EXPECT_GET:
        return check_string(s, r, s->index);
    case EXPECT_MGET:
        return check_mget(s, r);
    }
    return false;
}

static void
on_reply(shard_pool *pool, const shard_reply *reply, int status, void *userdata)
{
    slot *s = userdata;

    (void)pool;
    if (submitting)
        calls_in_submit++;
    s->calls++;
    s->status = status;
    s->reply_null = reply == NULL;
    s->reply_ok = status == SHARD_OK && reply != NULL && check_reply(s, reply);
}

/* --- building blocks ---------------------------------------------------- */

static shard_pool *
open_pool(harness_server **srv, int timeout_ms)
{
    shard_pool *pool = NULL;
    const char *yaml, *path;

    for (int i = 0; i < SERVERS; i++) {
        srv[i] = harness_redis_start(NULL);
        cr_assert_not_null(srv[i], "redis-server %d did not start", i);
    }
    yaml = harness_fmt("alpha:\n"
                       "  listen: 127.0.0.1:%d\n"
                       "  redis: true\n"
                       "  hash: md5\n"
                       "  distribution: ketama\n"
                       "  timeout: %d\n"
                       "  servers:\n"
                       "   - %s:1\n"
                       "   - %s:1\n"
                       "   - %s:1\n",
                       harness_free_port(), timeout_ms, srv[0]->addr,
                       srv[1]->addr, srv[2]->addr);
    path = harness_write_file("adapters.yml", yaml);
    cr_assert_not_null(path);
    cr_assert_eq(shard_pool_open(&pool, path, NULL, NULL), SHARD_OK,
                 "shard_pool_open: %s", shard_last_error());
    return pool;
}

static void
start_loop(testloop *t, const loop_ops *ops, shard_pool *pool)
{
    int rc;

    memset(t, 0, sizeof(*t));
    t->ops = ops;
    ops->open(t);
    rc = ops->attach(t, pool);
    cr_assert_eq(rc, SHARD_OK, "attach: %s (%s)", shard_strerror(rc),
                 shard_pool_errmsg(pool));
}

/* Frees the pool, detaches, and checks nothing runs afterwards. */
static void
finish(testloop *t, shard_pool *pool)
{
    shard_pool_free(pool);
    t->ops->detach(t);
    t->ops->run_nowait(t);
    t->ops->close(t);
}

/* Runs the loop until at most `left` commands are pending; returns them. */
static size_t
run_until(testloop *t, shard_pool *pool, size_t left)
{
    long start = now_ms();

    while (shard_pool_pending(pool) > left && now_ms() - start < RUN_MAX_MS)
        t->ops->run_once(t);
    return shard_pool_pending(pool);
}

static void
submit(shard_pool *pool, slot *s, int argc, const char **argv)
{
    int rc;

    submitting = true;
    rc = shard_command_async(pool, argc, argv, NULL, on_reply, s);
    submitting = false;
    cr_assert_eq(rc, SHARD_OK, "shard_command_async %s: %s (%s)", argv[0],
                 shard_strerror(rc), shard_pool_errmsg(pool));
}

static void
submit_set(shard_pool *pool, slot *s, int i)
{
    char key[64], value[64];
    const char *argv[] = {"SET", key, value};

    key_of(key, sizeof(key), i);
    value_of(value, sizeof(value), i);
    *s = (slot){.kind = EXPECT_STATUS, .index = i, .text = "OK"};
    submit(pool, s, 3, argv);
}

static void
submit_get(shard_pool *pool, slot *s, int i)
{
    char key[64];
    const char *argv[] = {"GET", key};

    key_of(key, sizeof(key), i);
    *s = (slot){.kind = EXPECT_GET, .index = i};
    submit(pool, s, 2, argv);
}

/* MGET of keys 0 .. MGET_KEYS-2 and one that was never set. */
static void
submit_mget(shard_pool *pool, slot *s, const bool *down)
{
    static char keys[MGET_KEYS][64];
    const char *argv[MGET_KEYS + 1] = {"MGET"};

    for (int i = 0; i < MGET_KEYS - 1; i++) {
        key_of(keys[i], sizeof(keys[i]), i);
        argv[i + 1] = keys[i];
    }
    argv[MGET_KEYS] = MISSING_KEY;
    *s = (slot){.kind = EXPECT_MGET, .down = down};
    submit(pool, s, MGET_KEYS + 1, argv);
}

static void
expect_answered(const slot *s, const char *what)
{
    cr_assert_eq(s->calls, 1, "%s %d: callback ran %d times", what, s->index,
                 s->calls);
    cr_assert_eq(s->status, SHARD_OK, "%s %d: status %d (%s)", what, s->index,
                 s->status, shard_strerror(s->status));
    cr_assert(s->reply_ok, "%s %d: wrong reply: %s", what, s->index, s->detail);
}

static void
expect_failed(const slot *s, int status, const char *what)
{
    cr_assert_eq(s->calls, 1, "%s %d: callback ran %d times", what, s->index,
                 s->calls);
    cr_assert_eq(s->status, status, "%s %d: status %d (%s), not %s", what,
                 s->index, s->status, shard_strerror(s->status),
                 shard_strerror(status));
    cr_assert(s->reply_null, "%s %d: a reply came with status %d", what,
              s->index, s->status);
}

/* The pool index of harness server `s`. */
static int
pool_index_of(shard_pool *pool, const harness_server *s)
{
    for (size_t i = 0; i < shard_pool_server_count(pool); i++)
        if (strcmp(shard_pool_server_addr(pool, i), s->addr) == 0)
            return (int)i;
    cr_assert_fail("server %s is not in the pool", s->addr);
    return -1;
}

static int
locate_key(shard_pool *pool, int i)
{
    char key[64];

    key_of(key, sizeof(key), i);
    return shard_pool_locate(pool, key, strlen(key));
}

/* SETs keys 0 .. n-1 through the loop and checks every answer. */
static void
set_keys(testloop *t, shard_pool *pool, slot *sets, int n)
{
    for (int i = 0; i < n; i++)
        submit_set(pool, &sets[i], i);
    cr_assert_eq(shard_pool_pending(pool), (size_t)n);
    cr_assert_eq(run_until(t, pool, 0), 0u, "SETs still pending after %d ms",
                 RUN_MAX_MS);
    for (int i = 0; i < n; i++)
        expect_answered(&sets[i], "SET");
}

/* --- the behaviours ------------------------------------------------------ */

static void
runs_commands_to_completion(const loop_ops *ops)
{
    static slot sets[KEYS], gets[KEYS], mget;
    harness_server *srv[SERVERS];
    shard_pool *pool = open_pool(srv, 2000);
    unsigned used = 0;
    testloop t;

    for (int i = 0; i < MGET_KEYS - 1; i++) {
        int where = locate_key(pool, i);
        cr_assert(where >= 0 && where < SERVERS, "key %d: %d", i, where);
        used |= 1u << where;
    }
    cr_assert(used != 1u && used != 2u && used != 4u,
              "the MGET keys should span several servers");

    start_loop(&t, ops, pool);
    set_keys(&t, pool, sets, KEYS);

    for (int i = 0; i < KEYS; i++)
        submit_get(pool, &gets[i], i);
    submit_mget(pool, &mget, NULL);
    cr_assert_eq(shard_pool_pending(pool), (size_t)KEYS + 1);
    cr_assert_eq(run_until(&t, pool, 0), 0u, "reads still pending");
    for (int i = 0; i < KEYS; i++)
        expect_answered(&gets[i], "GET");
    expect_answered(&mget, "MGET");
    cr_assert_eq(calls_in_submit, 0, "a callback ran inside its submit");

    finish(&t, pool);
    for (int i = 0; i < KEYS; i++)
        cr_assert_eq(sets[i].calls + gets[i].calls, 2,
                     "key %d: a callback ran again after the pool was freed",
                     i);
    cr_assert_eq(mget.calls, 1);
}

static void
times_out_a_paused_server(const loop_ops *ops)
{
    static slot sets[KEYS], slow, fast;
    harness_server *srv[SERVERS];
    shard_pool *pool = open_pool(srv, 300);
    int paused = pool_index_of(pool, srv[0]);
    int slow_key = -1, fast_key = -1;
    testloop t;

    for (int i = 0; i < KEYS && (slow_key < 0 || fast_key < 0); i++) {
        if (locate_key(pool, i) == paused)
            slow_key = slow_key < 0 ? i : slow_key;
        else
            fast_key = fast_key < 0 ? i : fast_key;
    }
    cr_assert(slow_key >= 0 && fast_key >= 0);

    start_loop(&t, ops, pool);
    /* Connections are up and the keys exist before the server hangs. */
    set_keys(&t, pool, sets, KEYS);
    harness_pause(srv[0]);
    submit_get(pool, &slow, slow_key);
    submit_get(pool, &fast, fast_key);
    cr_assert_eq(run_until(&t, pool, 0), 0u,
                 "a GET on a paused server never timed out");
    harness_resume(srv[0]);

    expect_failed(&slow, SHARD_ETIMEDOUT, "GET on the paused server");
    cr_assert_lt(slow.status, 0);
    expect_answered(&fast, "GET on a healthy server");
    cr_assert_eq(calls_in_submit, 0, "a callback ran inside its submit");
    finish(&t, pool);
    cr_assert_eq(slow.calls, 1, "called again after the pool was freed");
}

static void
closes_pending_on_free(const loop_ops *ops)
{
    static slot sets[KEYS], gets[KEYS], late[LATE], mget;
    static bool hangs[KEYS];          /* the key is on the paused server */
    static bool mget_down[MGET_KEYS]; /* the same, for the MGET's keys */
    harness_server *srv[SERVERS];
    shard_pool *pool = open_pool(srv, 5000);
    int paused = pool_index_of(pool, srv[0]);
    size_t on_paused = 0;
    testloop t;

    for (int i = 0; i < KEYS; i++) {
        hangs[i] = locate_key(pool, i) == paused;
        on_paused += hangs[i];
    }
    cr_assert(on_paused > 0 && on_paused < KEYS);
    memcpy(mget_down, hangs, (MGET_KEYS - 1) * sizeof(bool));
    mget_down[MGET_KEYS - 1] =
        shard_pool_locate(pool, MISSING_KEY, strlen(MISSING_KEY)) == paused;
    start_loop(&t, ops, pool);
    set_keys(&t, pool, sets, KEYS);
    harness_pause(srv[0]);
    /* In flight: sent to a server that does not answer. */
    for (int i = 0; i < KEYS; i++)
        submit_get(pool, &gets[i], i);
    submit_mget(pool, &mget, mget_down);
    cr_assert_eq(run_until(&t, pool, on_paused + 1), on_paused + 1,
                 "the GETs on healthy servers did not all complete");
    /* Queued: submitted, the loop never ran since. */
    for (int i = 0; i < LATE; i++)
        submit_get(pool, &late[i], i);

    shard_pool_free(pool);
    for (int i = 0; i < KEYS; i++) {
        if (hangs[i])
            expect_failed(&gets[i], SHARD_ECLOSED, "GET in flight at free");
        else
            expect_answered(&gets[i], "GET on a healthy server");
    }
    /* A split MGET answers per key: errors for the keys it lost. */
    if (mget.status == SHARD_OK)
        expect_answered(&mget, "MGET in flight at free");
    else
        expect_failed(&mget, SHARD_ECLOSED, "MGET in flight at free");
    for (int i = 0; i < LATE; i++)
        expect_failed(&late[i], SHARD_ECLOSED, "GET queued at free");
    cr_assert_eq(calls_in_submit, 0, "a callback ran inside its submit");

    t.ops->detach(&t);
    t.ops->run_nowait(&t);
    t.ops->close(&t);
    harness_resume(srv[0]);
    for (int i = 0; i < KEYS; i++)
        cr_assert_eq(gets[i].calls, 1, "GET %d called again after free", i);
}

static void
detaches_while_the_pool_lives(const loop_ops *ops)
{
    static slot sets[KEYS];
    harness_server *srv[SERVERS];
    shard_pool *pool = open_pool(srv, 2000);
    shard_reply *reply = NULL;
    const char *get[] = {"GET", "adapters:key:7"};
    char want[64];
    size_t len;
    testloop t;

    start_loop(&t, ops, pool);
    set_keys(&t, pool, sets, KEYS);
    /* Nothing pending: the pool lets go of the loop, then the adapter goes
     * and the loop must hold nothing of it. */
    cr_assert_eq(shard_pool_set_event_hooks(pool, NULL, NULL, NULL), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    t.ops->detach(&t);
    t.ops->run_nowait(&t);
    t.ops->close(&t);

    /* The pool goes on without a loop. */
    cr_assert_eq(shard_command_argv(pool, &reply, 2, get, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    value_of(want, sizeof(want), 7);
    cr_assert_str_eq(shard_reply_str(reply, &len), want);
    shard_reply_free(reply);
    shard_pool_free(pool);
}

static void
submit_txn(shard_txn *txn, slot *s, int argc, const char **argv)
{
    int rc;

    submitting = true;
    rc = shard_txn_command_async(txn, argc, argv, NULL, on_reply, s);
    submitting = false;
    cr_assert_eq(rc, SHARD_OK, "shard_txn_command_async %s: %s", argv[0],
                 shard_strerror(rc));
}

static void
runs_a_transaction(const loop_ops *ops)
{
    static slot multi, set, incr, exec, orphan;
    harness_server *srv[SERVERS];
    shard_pool *pool = open_pool(srv, 2000);
    const char *key = "adapters:txn";
    const char *argv_multi[] = {"MULTI"}, *argv_exec[] = {"EXEC"};
    const char *argv_set[] = {"SET", key, "41"};
    const char *argv_incr[] = {"INCR", key};
    shard_txn *txn = NULL;
    testloop t;

    start_loop(&t, ops, pool);
    cr_assert_eq(shard_txn_begin(pool, &txn, key, strlen(key)), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    multi = (slot){.kind = EXPECT_STATUS, .text = "OK"};
    set = (slot){.kind = EXPECT_STATUS, .text = "QUEUED"};
    incr = (slot){.kind = EXPECT_STATUS, .text = "QUEUED"};
    exec = (slot){.kind = EXPECT_EXEC, .index = 42};
    submit_txn(txn, &multi, 1, argv_multi);
    submit_txn(txn, &set, 3, argv_set);
    submit_txn(txn, &incr, 2, argv_incr);
    submit_txn(txn, &exec, 1, argv_exec);
    cr_assert_eq(shard_pool_pending(pool), 4u);
    cr_assert_eq(run_until(&t, pool, 0), 0u, "the transaction never ended");
    expect_answered(&multi, "MULTI");
    expect_answered(&set, "SET in MULTI");
    expect_answered(&incr, "INCR in MULTI");
    expect_answered(&exec, "EXEC");

    /* Freeing the transaction closes its connection: what it still had
     * pending is called back through the loop, with SHARD_ECLOSED. */
    orphan = (slot){.kind = EXPECT_STATUS, .text = "QUEUED"};
    submit_txn(txn, &orphan, 1, argv_multi);
    shard_txn_free(txn);
    cr_assert_eq(orphan.calls, 0, "called back inside shard_txn_free");
    cr_assert_eq(run_until(&t, pool, 0), 0u, "the orphan was never called");
    expect_failed(&orphan, SHARD_ECLOSED, "command of a freed transaction");
    cr_assert_eq(calls_in_submit, 0, "a callback ran inside its submit");
    finish(&t, pool);
}

/* --- one test per loop and behaviour ------------------------------------ */

TestSuite(adapters, .fini = stop_servers, .timeout = 120);

Test(adapters, libevent_runs_commands_to_completion)
{
    runs_commands_to_completion(&libevent_ops);
}

Test(adapters, libuv_runs_commands_to_completion)
{
    runs_commands_to_completion(&libuv_ops);
}

Test(adapters, libev_runs_commands_to_completion)
{
    runs_commands_to_completion(&libev_ops);
}

Test(adapters, libevent_reports_a_timeout_on_a_paused_server)
{
    times_out_a_paused_server(&libevent_ops);
}

Test(adapters, libuv_reports_a_timeout_on_a_paused_server)
{
    times_out_a_paused_server(&libuv_ops);
}

Test(adapters, libev_reports_a_timeout_on_a_paused_server)
{
    times_out_a_paused_server(&libev_ops);
}

Test(adapters, libevent_closes_pending_commands_on_pool_free)
{
    closes_pending_on_free(&libevent_ops);
}

Test(adapters, libuv_closes_pending_commands_on_pool_free)
{
    closes_pending_on_free(&libuv_ops);
}

Test(adapters, libev_closes_pending_commands_on_pool_free)
{
    closes_pending_on_free(&libev_ops);
}

Test(adapters, libevent_detaches_while_the_pool_lives)
{
    detaches_while_the_pool_lives(&libevent_ops);
}

Test(adapters, libuv_detaches_while_the_pool_lives)
{
    detaches_while_the_pool_lives(&libuv_ops);
}

Test(adapters, libev_detaches_while_the_pool_lives)
{
    detaches_while_the_pool_lives(&libev_ops);
}

Test(adapters, libevent_runs_a_transaction)
{
    runs_a_transaction(&libevent_ops);
}

Test(adapters, libuv_runs_a_transaction)
{
    runs_a_transaction(&libuv_ops);
}

Test(adapters, libev_runs_a_transaction)
{
    runs_a_transaction(&libev_ops);
}
