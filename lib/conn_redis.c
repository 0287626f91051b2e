/*
 * Redis connections over hiredis async contexts. hiredis connects, keeps
 * the socket's buffers and parses; the connection itself matches replies
 * to what it sent: the login (AUTH, SELECT), then the fragments in order
 * (conn.c's queue), or, on a subscriber, the channel's messages. A reply
 * nobody asked for closes the connection (hiredis 0.14's own callbacks
 * assert, which aborts the application). hiredis' event hooks are pointed
 * at the connection, which records the interest (conn.c passes it on to
 * the application's watch hook); the engine's poll loop reads it directly.
 * Replies are built as shard_reply objects by reply.c's reader functions.
 */
#include <errno.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conn_redis.h"
#include "error.h"
#include "nosigpipe.h"
#include "reply.h"

/* AUTH and SELECT: the most a login sends. */
#define LOGIN_MAX 2

/* The neutral connection first, so that a conn * is a redis_conn *. */
typedef struct redis_conn {
    conn base;                     /* what the engine sees */
    const conn_redis_login *login; /* AUTH and SELECT: the pool's */
    struct redisAsyncContext *ac;  /* NULL while not connected, and while
                                      it closes */
    const char *logins[LOGIN_MAX]; /* the login's commands, in order */
    int nlogins;                   /* ... sent on this connect */
    int logins_answered;           /* ... of them, answered */
    size_t own_unsent;             /* bytes of our own commands (login,
                                      SUBSCRIBE) not yet written */
    const char *channel;           /* a subscriber's channel, or NULL */
    conn_message_fn on_message;    /* ... gets its messages */
    void *message_ctx;             /* ... with this */
} redis_conn;

static redis_conn *
redis_of(conn *c)
{
    return (redis_conn *)c;
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

/* Why a fragment got no reply: our own close reason, or hiredis' error. */
static void
fail_reason(conn *c, const redisContext *ctx, const fragment *f, int *status,
            char *msg, size_t len)
{
    if (conn_fail_reason(c, f, status, msg, len))
        return;
    /* Bytes that are not RESP: a server of another kind, or a broken one. */
    *status = ctx->err == REDIS_ERR_PROTOCOL ? SHARD_EPROTO : SHARD_ECONN;
    if (ctx->err == REDIS_ERR_EOF || ctx->err == 0)
        error_format(msg, len, "server '%s' closed the connection",
                     c->target->addr);
    else if (ctx->err == REDIS_ERR_PROTOCOL)
        error_format(msg, len, "server '%s' sent what is not RESP: %s",
                     c->target->addr, ctx->errstr);
    else
        error_format(msg, len, "server '%s' connection failed: %s",
                     c->target->addr, ctx->errstr);
}

/*
 * hiredis frees the context after this. Every fragment still queued fails
 * first (hiredis ran its callbacks with NULL there), while the context
 * still holds the error; a send meanwhile is refused (rc->ac is NULL).
 */
static void
ev_cleanup(void *data)
{
    redis_conn *rc = data;
    conn *c = &rc->base;
    const redisContext *ctx = &rc->ac->c;
    char why[ERROR_MAX];
    fragment *f;

    rc->ac = NULL;
    while ((f = conn_pop(c)) != NULL) {
        int status;
        fail_reason(c, ctx, f, &status, why, sizeof(why));
        conn_complete(c, f, NULL, 0, status, why);
    }
    if (c->close_status != 0)
        error_format(why, sizeof(why), "%s", c->close_msg);
    else if (ctx->err != 0 && ctx->errstr[0] != '\0')
        error_format(why, sizeof(why), "%s", ctx->errstr);
    else
        error_format(why, sizeof(why), "connection closed");
    conn_gone(c, why, ctx->err == REDIS_ERR_EOF);
    if (rc->on_message != NULL && !c->env->closing)
        rc->on_message(rc->message_ctx, NULL);
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

/* Fragment `f`, just popped, gets its reply `r` (taken over). */
static void
answer(conn *c, fragment *f, shard_reply *r)
{
    r->kept = true;
    if (is_transient_error(r))
        conn_server_failed(c, SHARD_OK, r->str);
    else
        conn_server_answered(c);
    if (r->type == SHARD_REPLY_ERROR && strncmp(r->str, "READONLY ", 9) == 0)
        conn_server_not_master(c);
    conn_complete(c, f, r, reply_resp_size(r), SHARD_OK, NULL);
}

/* The server has no password to check (Redis 6+, then older wording). */
static bool
is_needless_auth(const shard_reply *r)
{
    return strstr(r->str, "without any password configured") != NULL ||
           strstr(r->str, "no password is set") != NULL;
}

/*
 * The reply to AUTH or SELECT (`cmd`). Refused, the connection is of no
 * use: it closes and what waits fails. Except AUTH to a server without a
 * password: twemproxy serves such a pool, so libshard warns and goes on.
 */
static void
login_answered(conn *c, const char *cmd, const shard_reply *r)
{
    char msg[ERROR_MAX];

    if (r->type != SHARD_REPLY_ERROR)
        return;
    if (strcmp(cmd, "AUTH") == 0 && is_needless_auth(r)) {
        conn_server_warn(c, "has no password: redis_auth is ignored for "
                            "it, as twemproxy does");
        return;
    }
    error_format(msg, sizeof(msg), "server '%s' refused %s: %s",
                 c->target->addr, cmd, r->str);
    conn_close(c, SHARD_ECONN, msg);
}

/* A subscriber's message (or the SUBSCRIBE reply); an error closes it. */
static void
message_arrived(redis_conn *rc, const shard_reply *r)
{
    char msg[ERROR_MAX];

    if (r->type != SHARD_REPLY_ERROR) {
        rc->on_message(rc->message_ctx, r);
        return;
    }
    error_format(msg, sizeof(msg), "server '%s' refused SUBSCRIBE: %s",
                 rc->base.target->addr, r->str);
    conn_close(&rc->base, SHARD_ECONN, msg);
}

/*
 * A reply (NULL: the start of one) that no command waits for: a broken
 * server or proxy. Taken for the next reply it would answer the wrong
 * request, so the connection closes, and the fault counts against the
 * server as a protocol error does. An error reply says why it came (a
 * server refusing a connection: "-ERR max number of clients reached").
 */
static void
stray_reply(conn *c, const shard_reply *r)
{
    char msg[ERROR_MAX];

    if (r != NULL && r->type == SHARD_REPLY_ERROR)
        error_format(msg, sizeof(msg),
                     "server '%s' sent a reply nobody asked for: %s",
                     c->target->addr, r->str);
    else
        error_format(msg, sizeof(msg),
                     "server '%s' sent a reply nobody asked for",
                     c->target->addr);
    conn_fault(c, SHARD_EPROTO, msg);
}

/*
 * The fragment a reply can answer: the oldest, once its command has
 * wholly left (a server answers a command only after reading all of it).
 * NULL when none can.
 */
static fragment *
answerable(const conn *c)
{
    fragment *f = c->head;

    return f != c->unsent ? f : NULL;
}

/* Someone waits for a reply: the login, a fragment, the subscription. */
static bool
owed(const redis_conn *rc)
{
    return rc->logins_answered < rc->nlogins || rc->on_message != NULL ||
           answerable(&rc->base) != NULL;
}

/* Hands reply `r` (taken over) to whoever waits for it. */
static void
dispatch(redis_conn *rc, shard_reply *r)
{
    conn *c = &rc->base;
    fragment *f;

    if (rc->logins_answered < rc->nlogins) {
        login_answered(c, rc->logins[rc->logins_answered++], r);
    } else if (rc->on_message != NULL) {
        message_arrived(rc, r);
    } else if ((f = answerable(c)) != NULL) {
        conn_pop(c);
        answer(c, f, r);
        return;
    } else {
        stray_reply(c, r);
    }
    shard_reply_free(r);
}

/* The reader holds part of a reply: bytes not parsed, or a reply begun. */
static bool
reader_in_reply(const redisReader *r)
{
#if HIREDIS_MAJOR >= 1
    bool begun = r->ridx >= 0 && r->task[0]->type >= 0;
#else
    bool begun = r->ridx >= 0 && r->rstack[0].type >= 0;
#endif
    return r->pos < r->len || begun;
}

static void redis_write(conn *c);

/*
 * What hiredis' redisAsyncHandleRead does, with the replies matched here:
 * read once, then hand every complete reply on. A read or parse error
 * closes the context (ev_cleanup says why).
 */
static void
redis_read(conn *c)
{
    redis_conn *rc = redis_of(c);
    redisAsyncContext *ac = rc->ac;
    void *reply;

    if (ac == NULL)
        return;
    /* A connect(2) still in progress: hiredis finds out on a write. */
    if (!(ac->c.flags & REDIS_CONNECTED)) {
        redis_write(c);
        if (rc->ac != ac || !(ac->c.flags & REDIS_CONNECTED))
            return;
    }
    if (redisBufferRead(&ac->c) != REDIS_OK) {
        redisAsyncFree(ac);
        return;
    }
    for (;;) {
        if (redisGetReplyFromReader(&ac->c, &reply) != REDIS_OK) {
            redisAsyncFree(ac);
            return;
        }
        if (reply == NULL)
            break;
        dispatch(rc, reply);
        if (rc->ac != ac) /* closed, maybe connected again */
            return;
    }
    /* Bytes of a reply nobody waits for would complete it later. */
    if (!owed(rc) && reader_in_reply(ac->c.reader))
        stray_reply(c, NULL);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    /* A failure closes the context, and ev_cleanup reports it. */
    if (status == REDIS_OK)
        conn_connected(ac->data);
}

/* Appends `len` bytes to the context's output buffer for the next write. */
static bool
queue_bytes(redis_conn *rc, const char *data, size_t len)
{
    sds grown = sdscatlen(rc->ac->c.obuf, data, len);

    if (grown == NULL)
        return false;
    rc->ac->c.obuf = grown;
    ev_add_write(&rc->base);
    return true;
}

/* Queues a command of our own (AUTH, SELECT, SUBSCRIBE): its bytes are no
 * fragment's. */
static bool
queue_own(redis_conn *rc, const char *cmd, const char *arg)
{
    resp_buf *scratch = &rc->base.env->scratch;
    const char *argv[2] = {cmd, arg};
    size_t argvlen[2] = {strlen(cmd), strlen(arg)};
    size_t len = resp_format(scratch, 2, argv, argvlen);

    if (len == 0 || !queue_bytes(rc, scratch->data, len))
        return false;
    rc->own_unsent += len;
    return true;
}

/* AUTH, then SELECT, then a subscriber's SUBSCRIBE, before any fragment. */
static bool
queue_login(redis_conn *rc)
{
    const conn_redis_login *login = rc->login;
    char db[16];

    rc->nlogins = 0;
    rc->logins_answered = 0;
    rc->own_unsent = 0;
    if (login->auth != NULL) {
        if (!queue_own(rc, "AUTH", login->auth))
            return false;
        rc->logins[rc->nlogins++] = "AUTH";
    }
    if (login->db > 0) {
        snprintf(db, sizeof(db), "%d", login->db);
        if (!queue_own(rc, "SELECT", db))
            return false;
        rc->logins[rc->nlogins++] = "SELECT";
    }
    return rc->channel == NULL || queue_own(rc, "SUBSCRIBE", rc->channel);
}

static void
attach_hooks(redis_conn *rc, redisAsyncContext *ac)
{
    ac->data = rc;
    ac->ev.data = rc;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ac->c.reader->fn = reply_reader_functions();
    redisAsyncSetConnectCallback(ac, on_connect);
}

static int
redis_connect(conn *c, char *err, size_t errlen)
{
    redis_conn *rc = redis_of(c);
    const conn_target *t = c->target;
    redisAsyncContext *ac = t->port == 0 ? redisAsyncConnectUnix(t->host)
                                         : redisAsyncConnect(t->host, t->port);

    if (ac == NULL) {
        error_format(err, errlen, "out of memory");
        return SHARD_ENOMEM;
    }
    if (ac->err) {
        error_format(err, errlen, "server '%s' connection failed: %s", t->addr,
                     ac->errstr);
        redisAsyncFree(ac);
        return SHARD_ECONN;
    }
    rc->ac = ac;
    c->fd = ac->c.fd;
    c->events = 0;
    attach_hooks(rc, ac);
    /* hiredis learns that connect(2) finished from a write event. */
    ev_add_write(c);
    if (!queue_login(rc)) {
        conn_close(c, SHARD_ECONN, "could not queue AUTH/SELECT");
        error_format(err, errlen, "server '%s': could not queue AUTH/SELECT",
                     t->addr);
        return SHARD_ENOMEM; /* the close above has reported it */
    }
    return SHARD_OK;
}

/* The command goes to the output buffer; no hiredis callback is kept. */
static int
redis_send(conn *c, fragment *f, int argc, const char **argv,
           const size_t *argvlen, size_t *bytes, char *err, size_t errlen)
{
    redis_conn *rc = redis_of(c);
    resp_buf *scratch = &c->env->scratch;
    size_t len;

    if (rc->ac == NULL) {
        error_format(err, errlen, "server '%s': connection is closing",
                     c->target->addr);
        return SHARD_ECONN;
    }
    len = resp_format(scratch, argc, argv, argvlen);
    if (len == 0 || !queue_bytes(rc, scratch->data, len)) {
        error_format(err, errlen, "out of memory");
        return SHARD_ENOMEM;
    }
    *bytes = len;
    return SHARD_OK;
}

static void
handle_write(void *ac)
{
    redisAsyncHandleWrite(ac);
}

/* An output buffer up to this size is kept for the next commands (hiredis
 * frees it after every write, and grows it again for the next). */
#define OBUF_KEPT 16384

/*
 * What hiredis 0.14's redisAsyncHandleWrite does on a connected context,
 * with send(MSG_NOSIGNAL) in place of its write(2): a peer that went away
 * cannot raise SIGPIPE, and no signal mask is changed per write (four
 * system calls saved). False when the send failed for another reason than
 * a full socket: the caller lets hiredis write again, and fail, itself.
 */
static bool
send_queued(conn *c, redisAsyncContext *ac)
{
    redisContext *rc = &ac->c;
    size_t len = sdslen(rc->obuf);

    if (len > 0) {
        ssize_t n = send(rc->fd, rc->obuf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        if ((size_t)n == len && sdsalloc(rc->obuf) <= OBUF_KEPT) {
            sdsclear(rc->obuf); /* the next command reuses its memory */
        } else if ((size_t)n == len) {
            sdsfree(rc->obuf);
            rc->obuf = sdsempty();
        } else {
            sdsrange(rc->obuf, n, -1);
        }
    }
    if (sdslen(rc->obuf) == 0)
        ev_del_write(c);
    else
        ev_add_write(c);
    ev_add_read(c);
    return true;
}

/* `n` bytes left: our own commands' first, then the fragments'. */
static void
wrote(redis_conn *rc, size_t n)
{
    size_t own = n < rc->own_unsent ? n : rc->own_unsent;

    rc->own_unsent -= own;
    conn_wrote(&rc->base, n - own);
}

static void
redis_write(conn *c)
{
    redisAsyncContext *ac = redis_of(c)->ac;
    size_t before;

    if (ac == NULL)
        return;
    before = sdslen(ac->c.obuf);
    /* Connecting (hiredis completes it) or a failed send (hiredis closes
     * the context): hiredis' own path, under the SIGPIPE guard. */
    if (!(ac->c.flags & REDIS_CONNECTED) || ac->c.err != 0 ||
        !send_queued(c, ac))
        run_without_sigpipe(handle_write, ac);
    /* The write may have failed and freed the context. */
    if (redis_of(c)->ac == ac && sdslen(ac->c.obuf) < before)
        wrote(redis_of(c), before - sdslen(ac->c.obuf));
}

static void
redis_close(conn *c)
{
    redis_conn *rc = redis_of(c);

    /* NULL: already closing (ev_cleanup runs). */
    if (rc->ac != NULL)
        redisAsyncFree(rc->ac); /* ev_cleanup fails what is queued */
}

static bool
redis_connected(const conn *c)
{
    const redis_conn *rc = (const redis_conn *)c;

    return rc->ac != NULL && (rc->ac->c.flags & REDIS_CONNECTED);
}

static void
redis_destroy(conn *c)
{
    free(redis_of(c));
}

static const conn_ops redis_ops = {
    .name = "redis",
    .connect = redis_connect,
    .send = redis_send,
    .read = redis_read,
    .write = redis_write,
    .close = redis_close,
    .connected = redis_connected,
    .destroy = redis_destroy,
};

conn *
conn_redis_new(conn_env *env, const conn_target *target, server_stats *stats,
               int server, const conn_redis_login *login)
{
    redis_conn *rc = calloc(1, sizeof(*rc));

    if (rc == NULL)
        return NULL;
    conn_init(&rc->base, &redis_ops, env, target, stats, server);
    rc->login = login;
    return &rc->base;
}

conn *
conn_redis_subscriber(conn_env *env, const conn_target *target,
                      server_stats *stats, const char *channel,
                      conn_message_fn fn, void *ctx)
{
    static const conn_redis_login none = {NULL, 0};
    conn *c = conn_redis_new(env, target, stats, -1, &none);

    if (c != NULL) {
        redis_conn *rc = redis_of(c);
        rc->channel = channel;
        rc->on_message = fn;
        rc->message_ctx = ctx;
    }
    return c;
}
