/*
 * Server connections over hiredis async contexts. hiredis' event hooks are
 * pointed at the connection, which records the interest and passes it on to
 * the application's watch hook; the engine's poll loop reads it directly.
 *
 * hiredis answers callbacks in request order, so the fragments of a
 * connection form a FIFO and the head has the earliest deadline. A timed
 * out connection is closed, never reused, so a late reply can never reach
 * a later request.
 */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_redis.h"
#include "engine.h"
#include "error.h"
#include "nosigpipe.h"
#include "reply.h"

static void
conn_set_events(conn *c, int events)
{
    engine *e = c->engine;

    if (events == c->events && c->watched == (events != 0))
        return;
    c->events = events;
    if (e->hooks.watch == NULL)
        return;
    e->hooks.watch(c->fd, events, &c->watch_data, e->hooks.userdata);
    c->watched = events != 0;
    if (!c->watched)
        c->watch_data = NULL;
}

static void
ev_add_read(void *data)
{
    conn *c = data;

    conn_set_events(c, c->events | SHARD_WATCH_READ);
}

static void
ev_del_read(void *data)
{
    conn *c = data;

    conn_set_events(c, c->events & ~SHARD_WATCH_READ);
}

static void
ev_add_write(void *data)
{
    conn *c = data;

    conn_set_events(c, c->events | SHARD_WATCH_WRITE);
}

static void
ev_del_write(void *data)
{
    conn *c = data;

    conn_set_events(c, c->events & ~SHARD_WATCH_WRITE);
}

/* hiredis frees the context after this: forget it and its fd. */
static void
ev_cleanup(void *data)
{
    conn *c = data;
    char why[ERROR_MAX];

    if (c->close_status != 0)
        error_format(why, sizeof(why), "%s", c->close_msg);
    else if (c->ac != NULL && c->ac->err != 0 && c->ac->errstr[0] != '\0')
        error_format(why, sizeof(why), "%s", c->ac->errstr);
    else
        error_format(why, sizeof(why), "connection closed");
    conn_set_events(c, SHARD_WATCH_NONE);
    c->ac = NULL;
    c->fd = -1;
    /* Every close but our own shutdown counts against the server. */
    if (c->close_status != SHARD_ECLOSED)
        engine_server_failed(c->engine, c->server_index, why);
}

/* -OOM, -BUSY and -LOADING mean the server cannot serve for now: twemproxy
 * counts them as failures; the caller still sees the reply itself. */
static bool
is_transient_error(const shard_reply *r)
{
    static const char *const prefixes[] = {"OOM", "BUSY", "LOADING"};

    if (r->type != SHARD_REPLY_ERROR)
        return false;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t n = strlen(prefixes[i]);
        if (r->len >= n && memcmp(r->str, prefixes[i], n) == 0 &&
            (r->len == n || r->str[n] == ' '))
            return true;
    }
    return false;
}

static struct fragment *
conn_pop(conn *c)
{
    struct fragment *f = c->head;

    if (f != NULL) {
        c->head = f->next;
        if (c->head == NULL)
            c->tail = NULL;
        f->next = NULL;
    }
    return f;
}

/* Why a fragment got no reply: our own close reason, or hiredis' error. */
static void
fail_reason(conn *c, const redisAsyncContext *ac, const fragment *f,
            int *status, char *msg, size_t len)
{
    if (c->close_status != 0) {
        *status = c->close_status;
        error_format(msg, len, "%s", c->close_msg);
        if (*status == SHARD_ETIMEDOUT && f->deadline_us > engine_now_us()) {
            *status = SHARD_ECONN;
            error_format(msg, len, "%s (closed with a timed out request)",
                         c->close_msg);
        }
        return;
    }
    *status = SHARD_ECONN;
    if (ac->err == REDIS_ERR_EOF || ac->err == 0)
        error_format(msg, len, "server '%s' closed the connection",
                     c->server->addr);
    else
        error_format(msg, len, "server '%s' connection failed: %s",
                     c->server->addr, ac->errstr);
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    conn *c = ac->data;
    fragment *f = privdata;
    char msg[ERROR_MAX];
    int status;

    if (conn_pop(c) != f)
        abort(); /* hiredis answers in order; anything else is a bug */
    if (reply != NULL) {
        shard_reply *r = reply;
        r->kept = true;
        if (is_transient_error(r))
            engine_server_failed(c->engine, c->server_index, r->str);
        else
            engine_server_ok(c->engine, c->server_index);
        engine_fragment_done(f, r, SHARD_OK, NULL);
        return;
    }
    fail_reason(c, ac, f, &status, msg, sizeof(msg));
    engine_fragment_done(f, NULL, status, msg);
}

/* AUTH or SELECT failed: the connection is of no use; fail what waits. */
static void
on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    conn *c = ac->data;
    const shard_reply *r = reply;

    if (r == NULL || r->type != SHARD_REPLY_ERROR || c->close_status != 0)
        return;
    c->close_status = SHARD_ECONN;
    error_format(c->close_msg, sizeof(c->close_msg),
                 "server '%s' refused %s: %s", c->server->addr,
                 (const char *)privdata, r->str);
    redisAsyncFree(ac); /* deferred by hiredis until this callback returns */
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status; /* failures reach every pending callback with ac->err */
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status;
}

static int
send_handshake(conn *c)
{
    char db[16];
    int rc = REDIS_OK;

    if (c->auth != NULL)
        rc = redisAsyncCommand(c->ac, on_handshake, "AUTH", "AUTH %b", c->auth,
                               strlen(c->auth));
    if (rc == REDIS_OK && c->db > 0) {
        snprintf(db, sizeof(db), "%d", c->db);
        rc = redisAsyncCommand(c->ac, on_handshake, "SELECT", "SELECT %s", db);
    }
    return rc;
}

static void
attach_hooks(conn *c, redisAsyncContext *ac)
{
    ac->data = c;
    ac->ev.data = c;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ac->c.reader->fn = reply_reader_functions();
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
}

static int
conn_connect(conn *c, char *err, size_t errlen)
{
    const conf_server *s = c->server;
    redisAsyncContext *ac = s->port == 0 ? redisAsyncConnectUnix(s->host)
                                         : redisAsyncConnect(s->host, s->port);

    if (ac == NULL) {
        error_format(err, errlen, "out of memory");
        return SHARD_ENOMEM;
    }
    if (ac->err) {
        error_format(err, errlen, "server '%s' connection failed: %s", s->addr,
                     ac->errstr);
        redisAsyncFree(ac);
        engine_server_failed(c->engine, c->server_index, err);
        return SHARD_ECONN;
    }
    c->ac = ac;
    c->fd = ac->c.fd;
    c->close_status = 0;
    c->events = 0;
    attach_hooks(c, ac);
    /* hiredis learns that connect(2) finished from a write event. */
    ev_add_write(c);
    if (send_handshake(c) != REDIS_OK) {
        conn_close(c, SHARD_ECONN, "could not queue AUTH/SELECT");
        error_format(err, errlen, "server '%s': could not queue AUTH/SELECT",
                     s->addr);
        return SHARD_ECONN;
    }
    return SHARD_OK;
}

conn *
conn_new(struct engine *e, const conf_server *server, int index,
         const char *auth, int db)
{
    conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->engine = e;
    c->server = server;
    c->server_index = index;
    c->auth = auth;
    c->db = db;
    c->fd = -1;
    return c;
}

int
conn_send(conn *c, struct fragment *f, int argc, const char **argv,
          const size_t *argvlen, char *err, size_t errlen)
{
    int rc;

    if (c->ac == NULL && (rc = conn_connect(c, err, errlen)) != SHARD_OK)
        return rc;
    /* Our own encoding: hiredis' sds formatting costs more than the rest. */
    size_t len = engine_format(c->engine, argc, argv, argvlen);
    if (len == 0) {
        error_format(err, errlen, "out of memory");
        return SHARD_ENOMEM;
    }
    if (redisAsyncFormattedCommand(c->ac, on_reply, f, c->engine->scratch,
                                   len) != REDIS_OK) {
        error_format(err, errlen, "server '%s': connection is closing",
                     c->server->addr);
        return SHARD_ECONN;
    }
    f->next = NULL;
    if (c->tail != NULL)
        c->tail->next = f;
    else
        c->head = f;
    c->tail = f;
    f->conn = c;
    return SHARD_OK;
}

void
conn_close(conn *c, int status, const char *msg)
{
    if (c->ac == NULL)
        return;
    c->close_status = status;
    error_format(c->close_msg, sizeof(c->close_msg), "%s", msg);
    redisAsyncFree(c->ac); /* runs every pending callback with NULL */
}

static void
handle_write(void *ac)
{
    redisAsyncHandleWrite(ac);
}

void
conn_handle(conn *c, int events)
{
    redisAsyncContext *ac = c->ac;

    /* Reading first also learns of a reset before writing into it. */
    if (ac != NULL && (events & SHARD_WATCH_READ))
        redisAsyncHandleRead(ac);
    /* The read may have closed and freed the context. */
    if (c->ac == ac && ac != NULL && (events & SHARD_WATCH_WRITE))
        run_without_sigpipe(handle_write, ac);
}

bool
conn_is_connected(const conn *c)
{
    return c->ac != NULL && (c->ac->c.flags & REDIS_CONNECTED);
}

void
conn_preconnect(conn *c)
{
    char err[ERROR_MAX];

    if (c->ac == NULL)
        (void)conn_connect(c, err, sizeof(err));
}

void
conn_free(conn *c)
{
    if (c == NULL)
        return;
    char msg[ERROR_MAX];
    error_format(msg, sizeof(msg), "pool closed before server '%s' replied",
                 c->server->addr);
    conn_close(c, SHARD_ECLOSED, msg);
    free(c);
}
