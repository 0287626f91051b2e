/*
 * The engine: every request of a pool, whichever API sent it. Fragments
 * wait on connections; the engine keeps their deadlines (hiredis 0.14 has
 * no async timeouts), joins finished requests (fanout.c) and calls async
 * callbacks from a queue, never from inside hiredis or a submit call.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "error.h"
#include "fanout.h"

int64_t
engine_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
engine_server_failed(engine *e, int index, const char *why)
{
    if (e->health.failed != NULL && !e->closing)
        e->health.failed(e->health.owner, index, why);
}

void
engine_server_ok(engine *e, int index)
{
    if (e->health.ok != NULL)
        e->health.ok(e->health.owner, index);
}

void
engine_init(engine *e, int timeout_ms)
{
    memset(e, 0, sizeof(*e));
    e->timeout_ms = timeout_ms;
    e->timer_ms = -1;
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

request *
request_new(engine *e, request_mode mode, size_t nfrags)
{
    /* Fragments beyond the inline one follow the request: one allocation. */
    size_t extra = nfrags > 1 ? nfrags * sizeof(fragment) : 0;
    request *r;

    if (nfrags > 1 && extra / nfrags != sizeof(fragment))
        return NULL;
    r = calloc(1, sizeof(*r) + extra);
    if (r == NULL)
        return NULL;
    r->engine = e;
    r->mode = mode;
    r->nfrags = nfrags;
    r->pending = nfrags;
    r->frags = nfrags > 1 ? (fragment *)(r + 1) : &r->one;
    for (size_t i = 0; i < nfrags; i++)
        r->frags[i].req = r;
    return r;
}

void
request_free(request *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nfrags; i++) {
        shard_reply_free(r->frags[i].reply);
        free(r->frags[i].errmsg);
    }
    free(r->key_frag);
    shard_reply_free(r->reply);
    free(r->errmsg);
    free(r);
}

static void
request_complete(request *r)
{
    engine *e = r->engine;

    fanout_join(r);
    r->done = true;
    if (r->mode != MODE_ASYNC)
        return;
    r->next = NULL;
    if (e->deliver_tail != NULL)
        e->deliver_tail->next = r;
    else
        e->deliver_head = r;
    e->deliver_tail = r;
}

void
engine_fragment_done(fragment *f, shard_reply *reply, int status,
                     const char *errmsg)
{
    request *r = f->req;

    f->conn = NULL;
    f->reply = reply;
    f->status = status;
    if (errmsg != NULL)
        f->errmsg = strdup(errmsg);
    if (--r->pending == 0)
        request_complete(r);
}

void
engine_finish_local(request *r, shard_reply *reply)
{
    fragment *f = &r->frags[0];

    if (reply == NULL)
        engine_fragment_done(f, NULL, SHARD_ENOMEM, "out of memory");
    else
        engine_fragment_done(f, reply, SHARD_OK, NULL);
}

void
engine_send(engine *e, fragment *f, conn *c, int argc, const char **argv,
            const size_t *argvlen)
{
    char err[ERROR_MAX];
    int rc;

    f->server = c->server_index;
    f->addr = c->server->addr;
    f->deadline_us =
        e->timeout_ms > 0 ? engine_now_us() + e->timeout_ms * 1000LL : 0;
    rc = conn_send(c, f, argc, argv, argvlen, err, sizeof(err));
    if (rc != SHARD_OK)
        engine_fragment_done(f, NULL, rc, err);
}

void
engine_check_deadlines(engine *e)
{
    int64_t now = engine_now_us();
    char msg[ERROR_MAX];

    for (size_t i = 0; i < e->nconns; i++) {
        conn *c = e->conns[i];
        if (c->head == NULL || c->head->deadline_us == 0 ||
            c->head->deadline_us > now)
            continue;
        error_format(msg, sizeof(msg), "server '%s' timed out after %d ms",
                     c->server->addr, e->timeout_ms);
        conn_close(c, SHARD_ETIMEDOUT, msg);
    }
}

long
engine_next_timeout_ms(const engine *e)
{
    int64_t next = 0, now;

    if (e->deliver_head != NULL)
        return 0;
    for (size_t i = 0; i < e->nconns; i++) {
        const fragment *head = e->conns[i]->head;
        if (head != NULL && head->deadline_us != 0 &&
            (next == 0 || head->deadline_us < next))
            next = head->deadline_us;
    }
    if (next == 0)
        return -1;
    now = engine_now_us();
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

    while ((r = e->deliver_head) != NULL) {
        e->deliver_head = r->next;
        if (e->deliver_head == NULL)
            e->deliver_tail = NULL;
        e->delivering++;
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
    for (size_t i = 0; i < e->nconns; i++) {
        if (e->conns[i]->fd == fd && e->conns[i]->ac != NULL) {
            conn_handle(e->conns[i], events);
            return;
        }
    }
}

/* Decimal digits of n. */
static size_t
digits(size_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static char *
put_header(char *p, char kind, size_t n)
{
    char tmp[24];
    size_t d = digits(n);

    *p++ = kind;
    for (size_t i = d; i > 0; i--, n /= 10)
        tmp[i - 1] = (char)('0' + n % 10);
    memcpy(p, tmp, d);
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

size_t
engine_format(engine *e, int argc, const char **argv, const size_t *argvlen)
{
    size_t need = 1 + digits((size_t)argc) + 2;

    for (int i = 0; i < argc; i++)
        need += 1 + digits(argvlen[i]) + 2 + argvlen[i] + 2;
    if (need > e->scratch_cap) {
        char *grown = realloc(e->scratch, need);
        if (grown == NULL)
            return 0;
        e->scratch = grown;
        e->scratch_cap = need;
    }
    char *p = put_header(e->scratch, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_header(p, '$', argvlen[i]);
        memcpy(p, argv[i], argvlen[i]);
        p += argvlen[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    return need;
}

void
engine_shutdown(engine *e)
{
    e->closing = true;
    for (size_t i = 0; i < e->nconns; i++)
        conn_free(e->conns[i]);
    e->nconns = 0;
    engine_deliver(e);
    free(e->conns);
    e->conns = NULL;
    free(e->scratch);
    e->scratch = NULL;
    /* The application's timer must not call into a freed pool. */
    if (e->hooks.timer != NULL && e->timer_ms != -1)
        e->hooks.timer(-1, e->hooks.userdata);
    e->timer_ms = -1;
}
