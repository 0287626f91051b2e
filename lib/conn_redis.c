/*
 * Redis connections over hiredis async contexts. hiredis' event hooks are
 * pointed at the connection, which records the interest (conn.c passes it
 * on to the application's watch hook); the engine's poll loop reads it
 * directly. Replies are built as shard_reply objects by reply.c's reader
 * functions and handed to the fragments in order.
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

/* The neutral connection first, so that a conn * is a redis_conn *. */
typedef struct redis_conn {
    conn base;                     /* what the engine sees */
    const conn_redis_login *login; /* AUTH and SELECT: the pool's */
    struct redisAsyncContext *ac;  /* NULL while not connected */
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

/* hiredis frees the context after this: forget it and its fd. */
static void
ev_cleanup(void *data)
{
    redis_conn *rc = data;
    char why[ERROR_MAX];

    if (rc->base.close_status != 0)
        error_format(why, sizeof(why), "%s", rc->base.close_msg);
    else if (rc->ac != NULL && rc->ac->err != 0 && rc->ac->errstr[0] != '\0')
        error_format(why, sizeof(why), "%s", rc->ac->errstr);
    else
        error_format(why, sizeof(why), "connection closed");
    bool eof = rc->ac != NULL && rc->ac->err == REDIS_ERR_EOF;

    rc->ac = NULL;
    conn_gone(&rc->base, why, eof);
    if (rc->on_message != NULL && !rc->base.env->closing)
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

/* Why a fragment got no reply: our own close reason, or hiredis' error. */
static void
fail_reason(conn *c, const redisAsyncContext *ac, const fragment *f,
            int *status, char *msg, size_t len)
{
    if (conn_fail_reason(c, f, status, msg, len))
        return;
    /* Bytes that are not RESP: a server of another kind, or a broken one. */
    *status = ac->err == REDIS_ERR_PROTOCOL ? SHARD_EPROTO : SHARD_ECONN;
    if (ac->err == REDIS_ERR_EOF || ac->err == 0)
        error_format(msg, len, "server '%s' closed the connection",
                     c->target->addr);
    else
        error_format(msg, len, "server '%s' connection failed: %s",
                     c->target->addr, ac->errstr);
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
            conn_server_failed(c, SHARD_OK, r->str);
        else
            conn_server_answered(c);
        if (r->type == SHARD_REPLY_ERROR &&
            strncmp(r->str, "READONLY ", 9) == 0)
            conn_server_not_master(c);
        conn_complete(c, f, r, reply_resp_size(r), SHARD_OK, NULL);
        return;
    }
    fail_reason(c, ac, f, &status, msg, sizeof(msg));
    conn_complete(c, f, NULL, 0, status, msg);
}

/* The server has no password to check (Redis 6+, then older wording). */
static bool
is_needless_auth(const shard_reply *r)
{
    return strstr(r->str, "without any password configured") != NULL ||
           strstr(r->str, "no password is set") != NULL;
}

/*
 * AUTH or SELECT failed: the connection is of no use; fail what waits.
 * Except AUTH to a server without a password: twemproxy serves such a
 * pool, so libshard warns and goes on.
 */
static void
on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    conn *c = ac->data;
    const shard_reply *r = reply;

    if (r == NULL || r->type != SHARD_REPLY_ERROR || c->close_status != 0)
        return;
    if (strcmp(privdata, "AUTH") == 0 && is_needless_auth(r)) {
        conn_server_warn(c, "has no password: redis_auth is ignored for "
                            "it, as twemproxy does");
        return;
    }
    c->close_status = SHARD_ECONN;
    error_format(c->close_msg, sizeof(c->close_msg),
                 "server '%s' refused %s: %s", c->target->addr,
                 (const char *)privdata, r->str);
    redisAsyncFree(ac); /* deferred by hiredis until this callback returns */
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    /* Failures reach every pending callback with ac->err, and the close
     * (ev_cleanup) reports them. */
    if (status == REDIS_OK)
        conn_connected(ac->data);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status;
}

static int
send_handshake(redis_conn *rc)
{
    const conn_redis_login *login = rc->login;
    char db[16];
    int status = REDIS_OK;

    if (login->auth != NULL)
        status = redisAsyncCommand(rc->ac, on_handshake, "AUTH", "AUTH %b",
                                   login->auth, strlen(login->auth));
    if (status == REDIS_OK && login->db > 0) {
        snprintf(db, sizeof(db), "%d", login->db);
        status =
            redisAsyncCommand(rc->ac, on_handshake, "SELECT", "SELECT %s", db);
    }
    return status;
}

/* Every message of a subscriber's channel (and the SUBSCRIBE reply). */
static void
on_subscribed(redisAsyncContext *ac, void *reply, void *privdata)
{
    redis_conn *rc = privdata;

    (void)ac;
    if (reply != NULL)
        rc->on_message(rc->message_ctx, reply);
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
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
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
    if (send_handshake(rc) != REDIS_OK ||
        (rc->channel != NULL &&
         redisAsyncCommand(ac, on_subscribed, rc, "SUBSCRIBE %s",
                           rc->channel) != REDIS_OK)) {
        conn_close(c, SHARD_ECONN, "could not queue AUTH/SELECT");
        error_format(err, errlen, "server '%s': could not queue AUTH/SELECT",
                     t->addr);
        return SHARD_ENOMEM; /* the close above has reported it */
    }
    return SHARD_OK;
}

static int
redis_send(conn *c, fragment *f, int argc, const char **argv,
           const size_t *argvlen, size_t *bytes, char *err, size_t errlen)
{
    conn_env *env = c->env;
    size_t len = resp_format(&env->scratch, argc, argv, argvlen);

    if (len == 0) {
        error_format(err, errlen, "out of memory");
        return SHARD_ENOMEM;
    }
    if (redisAsyncFormattedCommand(redis_of(c)->ac, on_reply, f,
                                   env->scratch.data, len) != REDIS_OK) {
        error_format(err, errlen, "server '%s': connection is closing",
                     c->target->addr);
        return SHARD_ECONN;
    }
    *bytes = len;
    return SHARD_OK;
}

static void
redis_read(conn *c)
{
    redisAsyncHandleRead(redis_of(c)->ac);
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

static void
redis_write(conn *c)
{
    redisAsyncContext *ac = redis_of(c)->ac;
    size_t before = sdslen(ac->c.obuf);

    /* Connecting (hiredis completes it) or a failed send (hiredis closes
     * the context): hiredis' own path, under the SIGPIPE guard. */
    if (!(ac->c.flags & REDIS_CONNECTED) || ac->c.err != 0 ||
        !send_queued(c, ac))
        run_without_sigpipe(handle_write, ac);
    /* The write may have failed and freed the context. */
    if (redis_of(c)->ac == ac && sdslen(ac->c.obuf) < before)
        conn_wrote(c, before - sdslen(ac->c.obuf));
}

static void
redis_close(conn *c)
{
    redisAsyncFree(redis_of(c)->ac); /* runs every pending callback, NULL */
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
