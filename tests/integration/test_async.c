/*
 * The async callback contract on hand-written hooks (no loop library):
 * a failed submit never calls back, a successful one exactly once and never
 * inside the submit call, and freeing the pool from a callback is safe.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"

#define MAX_FDS 32

/* A minimal event loop driven by the watch and timer hooks. */
typedef struct loop {
    int fds[MAX_FDS];    /* watched descriptors */
    int events[MAX_FDS]; /* their SHARD_WATCH_* bits */
    int nfds;            /* in use */
    long timer_ms;       /* last timer request, -1 none */
    int timer_calls;     /* how many times the timer hook ran */
} loop;

static loop lp;
static shard_pool *pool;
static int calls[8];     /* callback runs per userdata slot */
static int in_submit;    /* set while a submit call runs */
static int called_early; /* a callback ran inside a submit */

static void
on_watch(int fd, int events, void **watch_data, void *userdata)
{
    loop *l = userdata;
    int i;

    (void)watch_data;
    for (i = 0; i < l->nfds && l->fds[i] != fd; i++)
        ;
    if (events == SHARD_WATCH_NONE) {
        if (i < l->nfds) {
            l->fds[i] = l->fds[--l->nfds];
            l->events[i] = l->events[l->nfds];
        }
        return;
    }
    cr_assert_lt(i, MAX_FDS);
    if (i == l->nfds)
        l->nfds++;
    l->fds[i] = fd;
    l->events[i] = events;
}

static void
on_timer(long timeout_ms, void *userdata)
{
    loop *l = userdata;

    l->timer_ms = timeout_ms;
    l->timer_calls++;
}

/* One round: poll the watched fds, then tell the pool. */
static void
run_once(void)
{
    struct pollfd pfd[MAX_FDS];
    int n = lp.nfds;

    for (int i = 0; i < n; i++) {
        pfd[i].fd = lp.fds[i];
        pfd[i].events =
            (short)(((lp.events[i] & SHARD_WATCH_READ) ? POLLIN : 0) |
                    ((lp.events[i] & SHARD_WATCH_WRITE) ? POLLOUT : 0));
    }
    int rc = poll(pfd, (nfds_t)n, lp.timer_ms < 0 ? 100 : (int)lp.timer_ms);
    for (int i = 0; rc > 0 && i < n; i++) {
        int ev = 0;
        if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
            ev |= SHARD_WATCH_READ;
        if (pfd[i].revents & POLLOUT)
            ev |= SHARD_WATCH_WRITE;
        if (ev != 0 && pool != NULL)
            shard_pool_on_fd(pool, pfd[i].fd, ev);
    }
    if (pool != NULL && lp.timer_ms >= 0)
        shard_pool_on_timeout(pool);
}

static void
run_until_idle(void)
{
    for (int i = 0; i < 500 && pool != NULL && shard_pool_pending(pool) > 0;
         i++)
        run_once();
}

static void
count_reply(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    (void)p;
    (void)reply;
    (void)status;
    if (in_submit)
        called_early = 1;
    calls[(int)(long)ud]++;
}

static int
submit(int argc, const char **argv, int slot)
{
    in_submit = 1;
    int rc = shard_command_async(pool, argc, argv, NULL, count_reply,
                                 (void *)(long)slot);
    in_submit = 0;
    return rc;
}

static void
setup(void)
{
    char yaml[512];
    harness_server *s = harness_redis_start(NULL);

    cr_assert_not_null(s);
    snprintf(yaml, sizeof(yaml),
             "a:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  servers:\n   - %s:1\n",
             harness_free_port(), s->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK);
    memset(&lp, 0, sizeof(lp));
    memset(calls, 0, sizeof(calls));
    lp.timer_ms = -1;
    called_early = 0;
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(async, .init = setup, .fini = teardown, .timeout = 30);

Test(async, a_failed_submit_never_calls_back)
{
    const char *get[] = {"GET", "k"};

    cr_expect_eq(submit(2, get, 0), SHARD_ESTATE, "no hooks yet");
    cr_assert_eq(shard_pool_set_event_hooks(pool, on_watch, on_timer, &lp),
                 SHARD_OK);
    cr_expect_eq(shard_command_async(pool, 2, get, NULL, NULL, NULL),
                 SHARD_EINVAL);
    cr_expect_eq(submit(-1, NULL, 0), SHARD_EINVAL);
    cr_expect_eq(submit(1, (const char *[]){NULL}, 0), SHARD_EINVAL);
    cr_expect_eq(shard_pool_pending(pool), 0);
    for (int i = 0; i < 5; i++)
        run_once();
    cr_expect_eq(calls[0], 0, "a refused submit was called back");
}

Test(async, local_replies_arrive_after_the_submit_returns)
{
    const char *ping[] = {"PING"}, *bad[] = {"NOSUCH"}, *arity[] = {"GET"};

    cr_assert_eq(shard_pool_set_event_hooks(pool, on_watch, on_timer, &lp),
                 SHARD_OK);
    cr_assert_eq(submit(1, ping, 1), SHARD_OK);
    cr_assert_eq(submit(1, bad, 2), SHARD_OK);
    cr_assert_eq(submit(1, arity, 3), SHARD_OK);
    cr_expect_eq(calls[1] + calls[2] + calls[3], 0, "called inside submit");
    cr_expect_eq(lp.timer_ms, 0, "the timer was not asked to fire at once");
    shard_pool_on_timeout(pool);
    cr_expect(calls[1] == 1 && calls[2] == 1 && calls[3] == 1);
    cr_expect_not(called_early);
}

Test(async, every_submitted_command_is_called_back_exactly_once)
{
    cr_assert_eq(shard_pool_set_event_hooks(pool, on_watch, on_timer, &lp),
                 SHARD_OK);
    for (int i = 0; i < 300; i++) {
        const char *set[] = {"SET", harness_fmt("k%d", i % 7), "v"};
        cr_assert_eq(submit(3, set, i % 8), SHARD_OK);
    }
    run_until_idle();
    int total = 0;
    for (int i = 0; i < 8; i++)
        total += calls[i];
    cr_expect_eq(total, 300);
    cr_expect_eq(shard_pool_pending(pool), 0);
    cr_expect_not(called_early);
}

static void
free_pool_in_callback(shard_pool *p, const shard_reply *reply, int status,
                      void *ud)
{
    count_reply(p, reply, status, ud);
    shard_pool_free(p); /* deferred until the callback returns */
    pool = NULL;
}

Test(async, freeing_the_pool_inside_a_callback_is_safe)
{
    const char *get[] = {"GET", "k"};

    cr_assert_eq(shard_pool_set_event_hooks(pool, on_watch, on_timer, &lp),
                 SHARD_OK);
    cr_assert_eq(shard_command_async(pool, 2, get, NULL, free_pool_in_callback,
                                     (void *)0L),
                 SHARD_OK);
    for (int i = 1; i < 6; i++)
        cr_assert_eq(submit(2, get, i), SHARD_OK);
    for (int i = 0; i < 100 && pool != NULL; i++)
        run_once();
    cr_expect_null(pool, "the first callback never ran");
    /* Everything else was called back once: with a reply or ECLOSED. */
    for (int i = 0; i < 6; i++)
        cr_expect_eq(calls[i], 1, "slot %d called %d times", i, calls[i]);
    cr_expect_eq(lp.nfds, 0, "descriptors still watched after the free");
    cr_expect_eq(lp.timer_ms, -1, "timer still armed after the free");
}
