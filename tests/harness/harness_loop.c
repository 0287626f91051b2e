/*
 * The loop behind harness_loop.h: a fixed table of watched descriptors and
 * one timer, polled. Enough for the tests' pools (a few connections).
 */
#include <poll.h>
#include <stdint.h>
#include <time.h>

#include "harness_loop.h"

#define LOOP_FDS 16

static struct pollfd watched[LOOP_FDS];
static int64_t timer_due_ms = -1; /* monotonic ms the timer fires; -1 off */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static short
poll_events(int events)
{
    return (short)(((events & SHARD_WATCH_READ) ? POLLIN : 0) |
                   ((events & SHARD_WATCH_WRITE) ? POLLOUT : 0));
}

static int
watch_events(short revents)
{
    return ((revents & (POLLIN | POLLHUP | POLLERR)) ? SHARD_WATCH_READ : 0) |
           ((revents & (POLLOUT | POLLERR)) ? SHARD_WATCH_WRITE : 0);
}

static void
watch_fd(int fd, int events, void **watch_data, void *userdata)
{
    (void)watch_data;
    (void)userdata;
    for (int i = 0; i < LOOP_FDS; i++) {
        if (watched[i].fd == fd || (watched[i].fd < 0 && events != 0)) {
            watched[i].fd = events ? fd : -1;
            watched[i].events = poll_events(events);
            return;
        }
    }
    /* More descriptors than a test pool has: its requests time out. */
}

static void
set_timer(long timeout_ms, void *userdata)
{
    (void)userdata;
    timer_due_ms = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int
harness_loop_attach(shard_pool *pool)
{
    for (int i = 0; i < LOOP_FDS; i++)
        watched[i].fd = -1;
    timer_due_ms = -1;
    return shard_pool_set_event_hooks(pool, watch_fd, set_timer, NULL);
}

int
harness_loop_run(shard_pool *pool, const int *count, int want, int max_ms)
{
    int64_t end = now_ms() + max_ms;

    while (*count < want && now_ms() < end) {
        if (timer_due_ms >= 0 && now_ms() >= timer_due_ms) {
            timer_due_ms = -1;
            shard_pool_on_timeout(pool);
            continue;
        }
        int wait = 10;
        if (timer_due_ms >= 0 && timer_due_ms - now_ms() < wait)
            wait = (int)(timer_due_ms - now_ms());
        if (poll(watched, LOOP_FDS, wait < 0 ? 0 : wait) <= 0)
            continue;
        for (int i = 0; i < LOOP_FDS; i++) {
            if (watched[i].fd >= 0 && watched[i].revents != 0)
                shard_pool_on_fd(pool, watched[i].fd,
                                 watch_events(watched[i].revents));
        }
    }
    return *count;
}

int
harness_loop_detach(shard_pool *pool)
{
    return shard_pool_set_event_hooks(pool, NULL, NULL, NULL);
}
