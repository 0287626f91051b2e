/*
 * memcached connections. The engine sees a `conn` like any other; behind
 * it, libmemcached talks to the server, either inline (a blocking call,
 * while the pool's worker is idle: no thread hop) or on the worker (async
 * calls, probes, retries, and blocking calls that must queue behind
 * them), whose finished jobs come back through the channel's eventfd.
 *
 * Either way fragments are answered in the order they were queued. A
 * command that gets no answer (the server refused, closed, timed out)
 * closes the connection as a Redis connection closes: everything queued
 * on it fails, the failure counts against the server, and the next
 * command connects again.
 */
#include <stdlib.h>
#include <string.h>

#include "conn_mc.h"
#include "error.h"

/* A command run inline, waiting for its fragment's turn. */
typedef struct inline_work {
    fragment *f;    /* the fragment it answers */
    mc_outcome out; /* what came of it */
    bool fetch;     /* a get whose reply is still to be read */
} inline_work;

/* The neutral connection first, so that a conn * is an mc_conn *. */
typedef struct mc_conn {
    conn base;          /* what the engine sees */
    mc_chan *chan;      /* the link and the worker's channel */
    mc_worker *worker;  /* the pool's */
    size_t jobs;        /* submitted to the worker, not yet answered */
    inline_work *work;  /* inline commands not yet answered, in order */
    size_t nwork;       /* in work, from `first` */
    size_t first;       /* the oldest */
    size_t work_cap;    /* allocated */
    mc_cmd fetch;       /* the command of a pending get: its keys... */
    const char **fargv; /* ...copied here */
    size_t *flen;       /* their lengths */
    char *fbytes;       /* their bytes */
    size_t fargv_cap;   /* room in fargv */
    size_t flen_cap;    /* room in flen */
    size_t fbytes_cap;  /* room in fbytes */
} mc_conn;

static mc_conn *
mc_of(conn *c)
{
    return (mc_conn *)c;
}

/* --- answering -------------------------------------------------------------
 */

static void close_now(conn *c, bool eof);

/*
 * Answers `f`, the oldest fragment, with `out`. A failure closes the
 * connection: `f` fails with its own reason, the others as collateral.
 */
static void
answer(mc_conn *mc, fragment *f, mc_outcome *out)
{
    conn *c = &mc->base;

    if (conn_pop(c) != f)
        abort(); /* answered in queue order; anything else is a bug */
    if (out->connected)
        conn_connected(c);
    if (out->status == SHARD_OK) {
        conn_server_answered(c);
        conn_complete(c, f, out->reply, out->reply_bytes, SHARD_OK, NULL);
        out->reply = NULL;
        return;
    }
    c->close_status = out->status;
    error_format(c->close_msg, sizeof(c->close_msg), "%s", out->errmsg);
    c->expired = f;
    conn_complete(c, f, NULL, 0, out->status, out->errmsg);
    close_now(c, out->eof);
}

/* Reads the pending get's reply (only the newest inline command can be
 * one), so that the link is free for another command. */
static void
finish_fetch(mc_conn *mc)
{
    inline_work *w;

    if (mc->nwork == 0)
        return;
    w = &mc->work[mc->first + mc->nwork - 1];
    if (!w->fetch)
        return;
    w->fetch = false;
    mc_link_finish(mc_chan_link(mc->chan), &mc->fetch, &w->out);
}

static void
answer_taken(mc_conn *mc, mc_job *jobs)
{
    mc_job *job = jobs, *next;

    for (; job != NULL; job = next) {
        next = job->next;
        /* After a failure closed the connection, the rest failed too. */
        if (mc->base.fd >= 0) {
            mc->jobs--;
            answer(mc, job->owner, &job->out);
        }
        mc_job_free(job);
    }
}

void
conn_mc_collect(conn *c)
{
    mc_conn *mc = mc_of(c);

    /* The worker's jobs were queued before any inline command. */
    if (mc->jobs > 0)
        answer_taken(mc, mc_chan_take(mc->chan));
    while (mc->nwork > 0 && c->fd >= 0) {
        inline_work *w = &mc->work[mc->first];
        if (w->fetch)
            finish_fetch(mc);
        mc->first++;
        mc->nwork--;
        answer(mc, w->f, &w->out);
    }
    if (mc->nwork == 0)
        mc->first = 0;
}

/* --- sending ---------------------------------------------------------------
 */

static bool
grow(void **p, size_t *cap, size_t want, size_t size)
{
    size_t n = *cap ? *cap : 4;
    void *grown;

    if (want <= *cap)
        return true;
    while (n < want)
        n *= 2;
    grown = realloc(*p, n * size);
    if (grown == NULL)
        return false;
    *p = grown;
    *cap = n;
    return true;
}

/* Keeps the keys of a get whose reply is read later (the argv it came in
 * is gone by then). */
static bool
keep_fetch(mc_conn *mc, const mc_cmd *cmd)
{
    size_t n = (size_t)cmd->first_key + cmd->nkeys, bytes = 0;
    char *p;

    for (size_t i = 0; i < n; i++)
        bytes += cmd->argvlen[i];
    if (!grow((void **)&mc->fargv, &mc->fargv_cap, n, sizeof(char *)) ||
        !grow((void **)&mc->flen, &mc->flen_cap, n, sizeof(size_t)) ||
        !grow((void **)&mc->fbytes, &mc->fbytes_cap, bytes ? bytes : 1, 1))
        return false;
    p = mc->fbytes;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, cmd->argv[i], cmd->argvlen[i]);
        mc->fargv[i] = p;
        mc->flen[i] = cmd->argvlen[i];
        p += cmd->argvlen[i];
    }
    mc->fetch = *cmd;
    mc->fetch.argv = mc->fargv;
    mc->fetch.argvlen = mc->flen;
    return true;
}

/* Runs the command now; its fragment is answered by conn_mc_collect. A
 * get is only sent, unless its request has no other server to ask. */
static int
run_inline(mc_conn *mc, fragment *f, const mc_cmd *cmd)
{
    inline_work *w;

    finish_fetch(mc);
    if (!grow((void **)&mc->work, &mc->work_cap, mc->first + mc->nwork + 1,
              sizeof(*mc->work)))
        return SHARD_ENOMEM;
    w = &mc->work[mc->first + mc->nwork++];
    w->f = f;
    w->fetch = mc_link_start(mc_chan_link(mc->chan), cmd, &w->out);
    if (w->fetch && (f->req->nfrags == 1 || !keep_fetch(mc, cmd))) {
        w->fetch = false;
        mc_link_finish(mc_chan_link(mc->chan), cmd, &w->out);
    }
    return SHARD_OK;
}

static int
submit(mc_conn *mc, fragment *f, const mc_cmd *cmd, int argc, char *err,
       size_t errlen)
{
    mc_job *job;
    int rc;

    finish_fetch(mc);
    job = mc_job_new(mc->chan, cmd, argc);
    if (job == NULL) {
        error_format(err, errlen, "out of memory");
        return SHARD_ENOMEM;
    }
    job->owner = f;
    rc = mc_chan_submit(mc->chan, job, err, errlen);
    if (rc != SHARD_OK) {
        mc_job_free(job);
        return rc;
    }
    mc->jobs++;
    return SHARD_OK;
}

static int
mc_send(conn *c, fragment *f, int argc, const char **argv,
        const size_t *argvlen, size_t *bytes, char *err, size_t errlen)
{
    mc_conn *mc = mc_of(c);
    mc_cmd cmd;
    int rc;

    if (mc_parse(&cmd, argc, argv, argvlen, true, err, errlen) != 0)
        return SHARD_EPROTO; /* the dispatcher checked it: a bug */
    /* One key answers its value, but the part of a split get answers the
     * array its join walks. */
    cmd.bare = mc_is_read(cmd.op) && cmd.nkeys == 1 && f->req->join_fn == NULL;
    *bytes = mc_request_bytes(&cmd);
    /* Inline only while the worker holds no link, and no job of this
     * connection waits to be answered before it. */
    if (f->req->mode == MODE_BLOCKING && !mc_worker_busy(mc->worker)) {
        rc = run_inline(mc, f, &cmd);
        if (rc != SHARD_OK)
            error_format(err, errlen, "out of memory");
        return rc;
    }
    return submit(mc, f, &cmd, argc, err, errlen);
}

/* --- the rest of the table ------------------------------------------------
 */

static int
mc_connect(conn *c, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* libmemcached connects when the first command runs: this opens the
     * connection's life, and the eventfd is watched from now on. */
    c->fd = mc_chan_fd(mc_of(c)->chan);
    c->events = 0;
    conn_set_events(c, SHARD_WATCH_READ);
    return SHARD_OK;
}

static void
mc_read(conn *c)
{
    mc_conn *mc = mc_of(c);

    /* Taken even when none is expected: it resets the eventfd. */
    answer_taken(mc, mc_chan_take(mc->chan));
    conn_mc_collect(c);
}

static void
mc_write(conn *c)
{
    (void)c;
}

/* Fails what is queued, forgets the worker's jobs and inline results;
 * `eof`: the server closed the connection. */
static void
close_now(conn *c, bool eof)
{
    mc_conn *mc = mc_of(c);
    char msg[ERROR_MAX];
    fragment *f;
    int status;

    mc_chan_cancel(mc->chan);
    mc->jobs = 0;
    finish_fetch(mc); /* the link must be left without a reply unread */
    for (size_t i = 0; i < mc->nwork; i++)
        mc_outcome_clear(&mc->work[mc->first + i].out);
    mc->nwork = mc->first = 0;
    while ((f = conn_pop(c)) != NULL) {
        if (!conn_fail_reason(c, f, &status, msg, sizeof(msg))) {
            status = SHARD_ECONN;
            error_format(msg, sizeof(msg), "server '%s' connection closed",
                         c->target->addr);
        }
        conn_complete(c, f, NULL, 0, status, msg);
    }
    conn_gone(c, c->close_msg, eof);
}

static void
mc_close(conn *c)
{
    close_now(c, false);
}

static bool
mc_connected(const conn *c)
{
    (void)c;
    return false; /* no socket of ours: no idle check, no write event */
}

static void
mc_destroy(conn *c)
{
    mc_conn *mc = mc_of(c);

    mc_chan_release(mc->chan);
    free(mc->work);
    free(mc->fargv);
    free(mc->flen);
    free(mc->fbytes);
    free(mc);
}

static const conn_ops mc_ops = {
    .name = "memcached",
    .own_timeouts = true,
    .connect = mc_connect,
    .send = mc_send,
    .read = mc_read,
    .write = mc_write,
    .close = mc_close,
    .connected = mc_connected,
    .destroy = mc_destroy,
};

conn *
conn_mc_new(conn_env *env, const conn_target *target, server_stats *stats,
            int server, mc_worker *worker, int timeout_ms)
{
    mc_conn *mc = calloc(1, sizeof(*mc));
    mc_link *link;

    if (mc == NULL)
        return NULL;
    link = mc_link_new(target, timeout_ms);
    mc->chan = link != NULL ? mc_chan_new(worker, link) : NULL;
    if (mc->chan == NULL) {
        free(mc);
        return NULL;
    }
    mc->worker = worker;
    conn_init(&mc->base, &mc_ops, env, target, stats, server);
    return &mc->base;
}

void
conn_mc_set_timeout(conn *c, int timeout_ms)
{
    mc_link_set_timeout(mc_chan_link(mc_of(c)->chan), timeout_ms);
}

void
conn_mc_warm(conn *c)
{
    static const char *const argv[] = {"PING"};
    static const size_t len[] = {4};
    mc_conn *mc = mc_of(c);
    mc_outcome out;
    mc_cmd cmd;
    char err[ERROR_MAX];

    conn_preconnect(c);
    if (c->fd < 0 || c->head != NULL || mc_worker_busy(mc->worker) ||
        mc_parse(&cmd, 1, (const char **)argv, len, true, err, sizeof(err)))
        return;
    mc_link_start(mc_chan_link(mc->chan), &cmd, &out);
    if (out.connected)
        conn_connected(c);
    if (out.status != SHARD_OK) {
        c->close_status = out.status;
        error_format(c->close_msg, sizeof(c->close_msg), "%s", out.errmsg);
        close_now(c, out.eof);
    }
    mc_outcome_clear(&out);
}

size_t
conn_mc_value_max(const conn *c, size_t keylen, uint32_t flags)
{
    return mc_link_value_max(mc_chan_link(mc_of((conn *)c)->chan), keylen,
                             flags);
}
