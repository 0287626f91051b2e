/*
 * The engine: every request of a pool, whichever API sent it. Fragments
 * wait on connections; the engine keeps their deadlines (hiredis 0.14 has
 * no async timeouts) and calls async callbacks from a queue, never from
 * inside a backend or a submit call.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "error.h"

void
engine_init(engine *e, int timeout_ms)
{
    memset(e, 0, sizeof(*e));
    e->timeout_ms = timeout_ms;
    e->env.timed = timeout_ms > 0;
    e->env.timeout_us = (int64_t)timeout_ms * 1000;
    e->timer_ms = -1;
}

bool
engine_closing(const engine *e)
{
    return e->env.closing;
}

int
engine_add_conn(engine *e, conn *c)
{
    if (e->nconns == e->conns_cap) {
        size_t cap = e->conns_cap ? e->conns_cap * 2 : 8;
        conn **grown = realloc(e->conns, cap * sizeof(*grown));
        if (grown == NULL)
            return SHARD_ENOMEM;
        e->conns = grown;
        e->conns_cap = cap;
    }
    e->conns[e->nconns++] = c;
    return SHARD_OK;
}

void
engine_remove_conn(engine *e, conn *c)
{
    for (size_t i = 0; i < e->nconns; i++) {
        if (e->conns[i] == c) {
            e->conns[i] = e->conns[--e->nconns];
            return;
        }
    }
}

/* The old loop forgets the descriptors, the new one learns them. */
static void
rewatch(engine *e, shard_watch_fn old, void *old_userdata)
{
    for (size_t i = 0; i < e->nconns && old != NULL; i++) {
        conn *c = e->conns[i];
        if (c->watched)
            old(c->fd, SHARD_WATCH_NONE, &c->watch_data, old_userdata);
        c->watched = false;
        c->watch_data = NULL;
    }
    for (size_t i = 0; i < e->nconns && e->env.watch != NULL; i++) {
        conn *c = e->conns[i];
        if (c->fd >= 0 && c->events != 0) {
            e->env.watch(c->fd, c->events, &c->watch_data,
                         e->env.watch_userdata);
            c->watched = true;
        }
    }
}

void
engine_set_hooks(engine *e, const engine_hooks *hooks)
{
    engine_hooks old = e->hooks;

    if (old.timer != NULL && e->timer_ms != -1)
        old.timer(-1, old.userdata);
    e->timer_ms = -1;
    e->hooks = *hooks;
    e->env.watch = hooks->watch;
    e->env.watch_userdata = hooks->userdata;
    rewatch(e, old.watch, old.userdata);
    if (old.cleanup != NULL)
        old.cleanup(old.userdata);
}

static void
queue_push(request **head, request **tail, request *r)
{
    r->next = NULL;
    if (*tail != NULL)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

static request *
queue_pop(request **head, request **tail)
{
    request *r = *head;

    if (r != NULL) {
        *head = r->next;
        if (*head == NULL)
            *tail = NULL;
    }
    return r;
}

/* The request's reply is final: async ones queue for their callback,
 * internal ones for their submitter. */
static void
request_completed(request *r)
{
    engine *e = r->engine;

    if (r->status != SHARD_OK && r->mode != MODE_INTERNAL)
        STAT_ADD(e->stats.forward_error, 1);
    if (r->mode == MODE_ASYNC)
        queue_push(&e->deliver_head, &e->deliver_tail, r);
    else if (r->mode == MODE_INTERNAL)
        queue_push(&e->internal_head, &e->internal_tail, r);
}

/* Queued, not sent at once: the connection it failed on is inside
 * hiredis now, in the middle of closing. */
static void
retry_later(fragment *f)
{
    engine *e = f->req->engine;

    if (e->nretry == e->retry_cap) {
        size_t cap = e->retry_cap ? e->retry_cap * 2 : 8;
        fragment **grown = realloc(e->retry, cap * sizeof(*grown));
        if (grown == NULL) {
            char *msg = f->errmsg; /* it fails with what it has */
            f->errmsg = NULL;
            fragment_drop_args(f);
            fragment_done(f, NULL, f->status, msg);
            free(msg);
            return;
        }
        e->retry = grown;
        e->retry_cap = cap;
    }
    e->retry[e->nretry++] = f;
}

request *
request_new(engine *e, request_mode mode, size_t nfrags)
{
    request *r = request_alloc(nfrags);

    if (r != NULL) {
        r->engine = e;
        r->mode = mode;
        r->complete_fn = request_completed;
        r->retry_fn = retry_later;
    }
    return r;
}

/* Sends the queued retries; false when out of memory (next time). */
static bool
run_retries(engine *e)
{
    /* A resend may fail at once and queue again: take the batch first. */
    size_t n = e->nretry;
    fragment *batch[16];
    fragment **taken = n <= 16 ? batch : malloc(n * sizeof(*taken));

    if (taken == NULL)
        return false;
    memcpy(taken, e->retry, n * sizeof(*taken));
    e->nretry = 0;
    for (size_t i = 0; i < n; i++) {
        STAT_ADD(e->stats.retries, 1);
        taken[i]->req->resend_fn(taken[i]);
    }
    if (taken != batch)
        free(taken);
    return true;
}

static void
finish_internal(engine *e)
{
    request *r;

    while ((r = queue_pop(&e->internal_head, &e->internal_tail)) != NULL)
        r->internal_fn(r);
}

void
engine_run_deferred_work(engine *e)
{
    /* Each round may make more: a retry done at once, a finished retry
     * failing its parent's last fragment. Bounded by the retry budgets. */
    while (e->internal_head != NULL || e->nretry > 0) {
        finish_internal(e);
        if (e->nretry > 0 && !run_retries(e))
            return;
    }
}

/* At free: what waits for a retry fails with the pool's closing. */
static void
retries_cancel(engine *e)
{
    while (e->nretry > 0) {
        fragment *f = e->retry[--e->nretry];
        fragment_drop_args(f);
        fragment_done(f, NULL, SHARD_ECLOSED, "pool closed before a retry");
    }
    free(e->retry);
    e->retry = NULL;
    e->retry_cap = 0;
}

void
engine_send(engine *e, fragment *f, conn *c, int argc, const char **argv,
            const size_t *argvlen)
{
    char err[ERROR_MAX];
    int rc;

    if (c == NULL) {
        fragment_done(f, NULL, SHARD_ENOMEM, "out of memory for a connection");
        return;
    }
    f->server = c->server;
    fragment_set_addr(f, c->target->addr);
    if (f->req->retries > 0 && f->resend == NULL)
        (void)fragment_keep_args(f, argc, argv, argvlen);
    rc = conn_send(c, f, argc, argv, argvlen, err, sizeof(err));
    if (rc != SHARD_OK)
        fragment_done(f, NULL, rc, err);
}

void
engine_check_deadlines(engine *e)
{
    int64_t limit = (int64_t)e->timeout_ms * 1000;
    char msg[ERROR_MAX];

    if (e->timeout_ms <= 0)
        return;
    for (size_t i = 0; i < e->nconns; i++) {
        conn *c = e->conns[i];
        if (!conn_expired(c, clock_monotonic_us(), limit))
            continue;
        /* What arrived while the application kept the engine away is
         * not the server's silence. */
        conn_catch_up(c);
        if (!conn_expired(c, clock_monotonic_us(), limit))
            continue;
        error_format(msg, sizeof(msg), "server '%s' timed out after %d ms",
                     c->target->addr, e->timeout_ms);
        c->expired = c->head;
        conn_close(c, SHARD_ETIMEDOUT, msg);
    }
}

long
engine_next_timeout_ms(const engine *e)
{
    int64_t next = 0, now;

    if (e->deliver_head != NULL || e->internal_head != NULL || e->nretry > 0)
        return 0;
    for (size_t i = 0; e->timeout_ms > 0 && i < e->nconns; i++) {
        const conn *c = e->conns[i];
        if (c->head == NULL || c->since_us == 0)
            continue;
        int64_t due = c->since_us + (int64_t)e->timeout_ms * 1000;
        if (next == 0 || due < next)
            next = due;
    }
    if (next == 0)
        return -1;
    now = clock_monotonic_us();
    /* Round up: waking early would only spin until the deadline. */
    return next <= now ? 0 : (long)((next - now + 999) / 1000);
}

void
engine_update_timer(engine *e)
{
    long ms;

    if (e->hooks.timer == NULL)
        return;
    ms = engine_next_timeout_ms(e);
    /* A pending deadline is re-armed every time: its distance changes. */
    if (ms == -1 && e->timer_ms == -1)
        return;
    e->timer_ms = ms;
    e->hooks.timer(ms, e->hooks.userdata);
}

void
engine_deliver(engine *e)
{
    request *r;

    while ((r = queue_pop(&e->deliver_head, &e->deliver_tail)) != NULL) {
        e->delivering++;
        if (r->status != SHARD_OK && e->note != NULL)
            e->note(e->note_owner, r->status,
                    r->errmsg ? r->errmsg : shard_strerror(r->status));
        r->fn(r->pool, r->status == SHARD_OK ? r->reply : NULL, r->status,
              r->userdata);
        e->delivering--;
        e->async_pending--;
        request_free(r);
    }
}

void
engine_on_fd(engine *e, int fd, int events)
{
    if (fd < 0)
        return;
    for (size_t i = 0; i < e->nconns; i++) {
        if (e->conns[i]->fd == fd) {
            conn_handle(e->conns[i], events);
            return;
        }
    }
}

void
engine_shutdown(engine *e)
{
    static const engine_hooks none = {0};

    e->env.closing = true;
    for (size_t i = 0; i < e->nconns; i++)
        conn_free(e->conns[i]);
    e->nconns = 0;
    retries_cancel(e);
    finish_internal(e); /* probes let go, retries fail their parents */
    engine_deliver(e);
    free(e->conns);
    e->conns = NULL;
    resp_buf_free(&e->env.scratch);
    /* The application's timer must not call into a freed pool; then its
     * loop may release what it kept for the pool. */
    engine_set_hooks(e, &none);
}
