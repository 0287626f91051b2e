/*
 * The neutral half of a server connection: its place in the application's
 * loop, its queue of fragments and its health reports. The backend does
 * the protocol through c->ops.
 *
 * Replies come back in request order, so the fragments of a connection
 * form a FIFO and the head has the earliest deadline. A connection closed
 * on a timeout is never reused, so a late reply can never reach a later
 * request.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "conn.h"
#include "error.h"

void
conn_init(conn *c, const conn_ops *ops, conn_env *env,
          const conn_target *target, server_stats *stats, int server)
{
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->env = env;
    c->target = target;
    c->stats = stats;
    c->server = server;
    c->fd = -1;
}

void
conn_set_events(conn *c, int events)
{
    conn_env *env = c->env;

    if (events == c->events && c->watched == (events != 0))
        return;
    c->events = events;
    if (env->watch == NULL)
        return;
    env->watch(c->fd, events, &c->watch_data, env->watch_userdata);
    c->watched = events != 0;
    if (!c->watched)
        c->watch_data = NULL;
}

/* The engine keeps the deadlines of the connection's fragments. */
static bool
timed(const conn *c)
{
    return c->env->timed && !c->ops->own_timeouts;
}

/* The server showed life: its silence, if it still owes us, starts over. */
static void
note_progress_at(conn *c, int64_t now)
{
    if (timed(c) && c->head != NULL)
        c->since_us = now;
}

static void
note_progress(conn *c)
{
    if (timed(c) && c->head != NULL)
        c->since_us = clock_monotonic_us();
}

/*
 * Bytes were read. They show the server alive only when they waited for
 * the engine, which was away for `timeout` or more (the application was
 * busy): else a server that sends a reply without end, never pausing,
 * would never time out while the reply grew without bound. A reply
 * arriving as the engine runs is progress once it is whole.
 */
static void
note_read(conn *c)
{
    if (!timed(c))
        return;
    int64_t now = clock_monotonic_us();
    if (c->read_us == 0 || now - c->read_us >= c->env->timeout_us)
        note_progress_at(c, now);
    c->read_us = now;
}

/* Fragment `f`'s bytes have all left (or never will): out of in_queue. */
static void
mark_written(conn *c, fragment *f)
{
    c->unsent = f->next;
    if (!f->local)
        STAT_ADD(c->stats->frags_written, 1);
}

void
conn_wrote(conn *c, size_t n)
{
    c->written_bytes += n;
    STAT_ADD(c->stats->bytes_written, n);
    while (c->unsent != NULL && c->unsent->end <= c->written_bytes)
        mark_written(c, c->unsent);
    note_progress(c);
}

bool
conn_expired(const conn *c, int64_t now_us, int64_t limit_us)
{
    return c->head != NULL && c->since_us != 0 &&
           now_us - c->since_us >= limit_us;
}

void
conn_catch_up(conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};

    if (c->fd < 0)
        return;
    if (c->events & SHARD_WATCH_WRITE)
        p.events |= POLLOUT;
    if (poll(&p, 1, 0) <= 0)
        return;
    conn_handle(
        c, ((p.revents & (POLLIN | POLLHUP | POLLERR)) ? SHARD_WATCH_READ : 0) |
               ((p.revents & (POLLOUT | POLLERR)) ? SHARD_WATCH_WRITE : 0));
}

void
conn_push(conn *c, fragment *f)
{
    /* The wait for the server starts when it is first owed something;
     * a connection without deadlines keeps none while it is owed. */
    if (c->head == NULL)
        c->since_us = timed(c) ? f->sent_us : 0;
    f->next = NULL;
    f->end = c->queued_bytes;
    if (c->tail != NULL)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    f->conn = c;
    if (c->unsent == NULL && c->written_bytes < f->end)
        c->unsent = f;
}

fragment *
conn_pop(conn *c)
{
    fragment *f = c->head;

    if (f == NULL)
        return NULL;
    /* Answered or failed before all its bytes left (a close): its bytes
     * leave the in-queue here, counted once either way. */
    if (f == c->unsent) {
        STAT_ADD(c->stats->bytes_written, f->end - c->written_bytes);
        c->written_bytes = f->end;
        mark_written(c, f);
    }
    c->head = f->next;
    if (c->head == NULL)
        c->tail = NULL;
    f->next = NULL;
    if (!f->local) {
        STAT_ADD(c->stats->frags_answered, 1);
        STAT_ADD(c->stats->bytes_answered, f->bytes);
    }
    return f;
}

/*
 * An idle connection is checked before reuse once it has rested this long
 * (libcurl checks before reusing a connection): a server that closed it
 * meanwhile (its `timeout`, a restart) must not cost a request, nor a
 * reply it sent unasked be taken for the request's. Requests
 * closer together than 10 ms skip the check and its system call: a server
 * closes idle links after seconds, and restarts take longer than that.
 */
#define IDLE_CHECK_US 10000

void
conn_complete(conn *c, fragment *f, shard_reply *reply, size_t reply_bytes,
              int status, const char *errmsg)
{
    /* One clock reading: the latency, and the idle or progress time. */
    int64_t now = clock_monotonic_us();

    if (status != SHARD_OK) {
        c->lost_work = true;
    } else {
        server_stats *st = c->stats;
        STAT_ADD(st->responses, 1);
        STAT_ADD(st->response_bytes, reply_bytes);
        latency_record(&st->latency, (uint64_t)(now - f->sent_us), now);
    }
    fragment_done(f, reply, status, errmsg);
    while (c->head != NULL && c->head->local) {
        fragment *local = conn_pop(c);
        bool made = local->reply != NULL;
        fragment_done(local, local->reply, made ? SHARD_OK : SHARD_ENOMEM,
                      made ? NULL : "out of memory");
    }
    if (c->head == NULL || timed(c))
        c->since_us = now;
}

void
conn_answer_local(conn *c, fragment *f, shard_reply *reply)
{
    f->server = c->server;
    fragment_set_addr(f, c->target->addr);
    if (c->head == NULL) {
        request_finish_local(f->req, reply);
        return;
    }
    f->local = true;
    f->reply = reply;
    f->bytes = 0;
    f->sent_us = clock_monotonic_us();
    conn_push(c, f);
}

/* The health reports, or NULL while the pool is being freed: its
 * connections closing then say nothing about the servers. */
static const conn_health *
health_of(const conn *c)
{
    return c->env->closing ? NULL : c->env->health;
}

void
conn_server_failed(conn *c, int status, const char *why)
{
    const conn_health *h = health_of(c);

    if (h != NULL && h->failed != NULL)
        h->failed(c->env->health_owner, c->server, status, why);
}

void
conn_server_answered(conn *c)
{
    const conn_health *h = c->env->health;

    if (h != NULL && h->answered != NULL)
        h->answered(c->env->health_owner, c->server);
}

void
conn_server_warn(conn *c, const char *what)
{
    const conn_health *h = c->env->health;

    if (h != NULL && h->warn != NULL)
        h->warn(c->env->health_owner, c->server, what);
}

void
conn_server_not_master(conn *c)
{
    const conn_health *h = health_of(c);

    if (h != NULL && h->not_master != NULL)
        h->not_master(c->env->health_owner, c->server);
}

void
conn_connected(conn *c)
{
    const conn_health *h = health_of(c);

    c->up = true;
    if (h != NULL && h->connected != NULL)
        h->connected(c->env->health_owner, c->server);
}

/* A connection that was up closed, or one that never came up failed. */
static void
report_closed(conn *c, const char *why)
{
    const conn_health *h = health_of(c);
    bool was_up = c->up;

    c->up = false;
    if (h == NULL)
        return;
    if (was_up && h->disconnected != NULL)
        h->disconnected(c->env->health_owner, c->server, why);
    else if (!was_up && h->connect_failed != NULL)
        h->connect_failed(c->env->health_owner, c->server, why);
}

/* twemproxy's three ways a server connection ends. */
static void
count_close(conn *c, bool eof)
{
    server_stats *st = c->stats;

    STAT_ADD(st->connections, (uint64_t)-1);
    if (c->close_status == SHARD_ETIMEDOUT)
        STAT_ADD(st->server_timedout, 1);
    else if (eof || (c->close_status == SHARD_ECLOSED && !c->env->closing))
        STAT_ADD(st->server_eof, 1); /* also a close found while idle */
    else if (c->close_status != SHARD_ECLOSED)
        STAT_ADD(st->server_err, 1);
}

void
conn_gone(conn *c, const char *why, bool eof)
{
    conn_set_events(c, SHARD_WATCH_NONE);
    c->fd = -1;
    c->since_us = 0;
    c->read_us = 0;
    c->written_bytes = c->queued_bytes; /* the rest will never leave */
    c->unsent = NULL;
    count_close(c, eof);
    report_closed(c, why);
    /* A close that cost requests counts against the server; the server
     * closing an idle connection, or the pool closing its own, does not. */
    if (c->close_status != SHARD_ECLOSED && c->lost_work)
        conn_server_failed(c, c->close_status ? c->close_status : SHARD_ECONN,
                           why);
}

/* What an idle socket holds: nothing (still open), bytes nobody asked
 * for, or the peer's close (or an error). */
enum idle_state { IDLE_OPEN, IDLE_BYTES, IDLE_CLOSED };

static enum idle_state
idle_state(int fd)
{
    char byte;
    ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n > 0)
        return IDLE_BYTES;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return IDLE_OPEN;
    return IDLE_CLOSED;
}

/*
 * Before reusing an idle connection: closes it if the server has dropped
 * it, and has the backend read what the server sent meanwhile, which
 * nobody asked for (the backend closes it for that), rather than take it
 * for the next request's reply.
 */
static void
drop_if_dead(conn *c, int64_t now_us)
{
    if (c->head != NULL || c->since_us == 0 ||
        now_us - c->since_us < IDLE_CHECK_US || !c->ops->connected(c))
        return;
    switch (idle_state(c->fd)) {
    case IDLE_OPEN:
        return;
    case IDLE_BYTES:
        c->ops->read(c);
        return;
    case IDLE_CLOSED:
        conn_close(c, SHARD_ECLOSED, "the server closed the idle connection");
        return;
    }
}

bool
conn_fail_reason(const conn *c, const fragment *f, int *status, char *msg,
                 size_t len)
{
    if (c->close_status == 0)
        return false;
    *status = c->close_status;
    error_format(msg, len, "%s", c->close_msg);
    if (*status == SHARD_ETIMEDOUT && f != c->expired) {
        *status = SHARD_ECONN;
        error_format(msg, len, "%s (closed with a timed out request)",
                     c->close_msg);
    }
    return true;
}

/*
 * Connects a closed connection: a new life, with nothing lost yet. A
 * server whose connects are being spaced out fails at once, and the
 * failure counts against it as the connect would have.
 */
static int
conn_open(conn *c, char *err, size_t errlen)
{
    const conn_health *h = health_of(c);
    int rc;

    if (h != NULL && h->may_connect != NULL &&
        (rc = h->may_connect(c->env->health_owner, c->server, err, errlen)) !=
            SHARD_OK) {
        conn_server_failed(c, rc, err);
        return rc;
    }
    c->close_status = 0;
    c->lost_work = false;
    c->up = false;
    rc = c->ops->connect(c, err, errlen);
    if (rc == SHARD_OK) {
        STAT_ADD(c->stats->connections, 1);
        STAT_ADD(c->stats->opened, 1);
    } else if (rc != SHARD_ENOMEM) {
        STAT_ADD(c->stats->server_err, 1);
        report_closed(c, err);
        conn_server_failed(c, rc, err);
    }
    return rc;
}

int
conn_send(conn *c, fragment *f, int argc, const char **argv,
          const size_t *argvlen, char *err, size_t errlen)
{
    int64_t now = clock_monotonic_us(); /* the idle check's and the send's */
    size_t bytes = 0;
    int rc;

    if (c->fd >= 0)
        drop_if_dead(c, now);
    if (c->fd < 0 && (rc = conn_open(c, err, errlen)) != SHARD_OK)
        return rc;
    rc = c->ops->send(c, f, argc, argv, argvlen, &bytes, err, errlen);
    if (rc != SHARD_OK)
        return rc;
    f->sent_us = now;
    f->bytes = bytes;
    c->queued_bytes += bytes;
    STAT_ADD(c->stats->requests, 1);
    STAT_ADD(c->stats->request_bytes, bytes);
    conn_push(c, f);
    return SHARD_OK;
}

void
conn_close(conn *c, int status, const char *msg)
{
    if (c->fd < 0)
        return;
    c->close_status = status;
    error_format(c->close_msg, sizeof(c->close_msg), "%s", msg);
    c->ops->close(c);
}

void
conn_fault(conn *c, int status, const char *msg)
{
    /* Its close counts against the server even with nothing waiting. */
    c->lost_work = true;
    conn_close(c, status, msg);
}

void
conn_handle(conn *c, int events)
{
    int fd = c->fd;

    /* Reading first also learns of a reset before writing into it. */
    if (fd >= 0 && (events & SHARD_WATCH_READ)) {
        c->ops->read(c);
        if (c->fd == fd)
            note_read(c);
    }
    /* The read may have closed the connection. */
    if (fd >= 0 && c->fd == fd && (events & SHARD_WATCH_WRITE))
        c->ops->write(c);
}

bool
conn_is_connected(const conn *c)
{
    return c->fd >= 0 && c->ops->connected(c);
}

void
conn_preconnect(conn *c)
{
    char err[ERROR_MAX];

    if (c->fd < 0)
        (void)conn_open(c, err, sizeof(err));
}

void
conn_free(conn *c)
{
    char msg[ERROR_MAX];

    if (c == NULL)
        return;
    error_format(msg, sizeof(msg), "pool closed before server '%s' replied",
                 c->target->addr);
    conn_close(c, SHARD_ECLOSED, msg);
    c->ops->destroy(c);
}
