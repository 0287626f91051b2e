/*
 * The private poll() loop behind every blocking call: it runs the same
 * engine the application's loop runs for async calls, until one request is
 * done. Async callbacks that come due meanwhile are delivered too.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "engine.h"

/* Room for the fds of one poll; pools rarely have more connections. */
#define LOOP_STACK_FDS 64

static short
poll_events(int watch)
{
    return (short)(((watch & SHARD_WATCH_READ) ? POLLIN : 0) |
                   ((watch & SHARD_WATCH_WRITE) ? POLLOUT : 0));
}

static int
watch_events(short revents)
{
    int events = 0;

    /* Errors and hang-ups surface through the backend's read or write. */
    if (revents & (POLLIN | POLLHUP | POLLERR))
        events |= SHARD_WATCH_READ;
    if (revents & (POLLOUT | POLLERR))
        events |= SHARD_WATCH_WRITE;
    return events;
}

/* One poll over every connection that waits for its socket. */
static int
loop_once(engine *e, struct pollfd *pfd, conn **who, size_t cap)
{
    size_t n = 0;

    for (size_t i = 0; i < e->nconns && n < cap; i++) {
        conn *c = e->conns[i];
        if (c->fd < 0 || c->events == 0)
            continue;
        pfd[n].fd = c->fd;
        pfd[n].events = poll_events(c->events);
        pfd[n].revents = 0;
        who[n++] = c;
    }
    long timeout = engine_next_timeout_ms(e);
    if (n == 0 && timeout < 0)
        return -1; /* nothing could ever finish the request */
    if (poll(pfd, (nfds_t)n, timeout > INT32_MAX ? INT32_MAX : (int)timeout) <
            0 &&
        errno != EINTR)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* An earlier handler may have closed this connection. */
        if (pfd[i].revents != 0 && who[i]->fd == pfd[i].fd)
            conn_handle(who[i], watch_events(pfd[i].revents));
    }
    engine_check_deadlines(e);
    engine_run_deferred(e);
    engine_deliver(e);
    return 0;
}

/*
 * Writes what is queued on connected sockets now: the socket is almost
 * always writable, and asking poll() first would cost a round of syscalls
 * per request.
 */
static void
flush_queued(engine *e)
{
    for (size_t i = 0; i < e->nconns; i++) {
        conn *c = e->conns[i];
        if ((c->events & SHARD_WATCH_WRITE) && conn_is_connected(c))
            conn_handle(c, SHARD_WATCH_WRITE);
    }
}

int
engine_wait(engine *e, request *r)
{
    struct pollfd stack_pfd[LOOP_STACK_FDS], *pfd = stack_pfd;
    conn *stack_who[LOOP_STACK_FDS], **who = stack_who;
    size_t cap = LOOP_STACK_FDS;
    int rc = SHARD_OK;

    if (e->nconns > cap) {
        cap = e->nconns;
        pfd = malloc(cap * sizeof(*pfd));
        who = malloc(cap * sizeof(*who));
        if (pfd == NULL || who == NULL)
            rc = SHARD_ENOMEM;
    }
    if (!r->done)
        flush_queued(e);
    while (rc == SHARD_OK && !r->done) {
        /* Deferred work first: it may finish the request, or need the
         * poll (a retry sent). */
        engine_run_deferred(e);
        if (!r->done && loop_once(e, pfd, who, cap) < 0)
            rc = SHARD_EIO;
    }
    if (pfd != stack_pfd) {
        free(pfd);
        free(who);
    }
    engine_update_timer(e);
    return rc;
}
