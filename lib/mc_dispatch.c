/*
 * memcached dispatch. Keys go where nutcracker 0.5 puts them (the pool's
 * topology); a get or gets of several keys is split per server, each
 * server gets one sub-get with its keys in request order, and all of them
 * are sent before any reply is read; the join (fanout.c's, as for MGET)
 * gives each key its value, a nil, or an ERROR naming its failed server.
 * libshard's multi-set (mset) is split the same way.
 */
#include <stdlib.h>
#include <string.h>

#include "conn_mc.h"
#include "fanout.h"
#include "log.h"
#include "mc_command.h"
#include "mc_dispatch.h"

/* Twemproxy sends keyless commands (version) by this key; so do we. */
static const char placeholder_key[] = "placeholder";

static request *submit_cmd(shard_pool *pool, request_mode mode,
                           const dispatch_args *a, int retries);

static request *
fail_now(shard_pool *pool, request_mode mode, int status, const char *msg)
{
    request *r = request_new(&pool->engine, mode, 1);

    if (r != NULL)
        fragment_done(&r->frags[0], NULL, status, msg);
    return r;
}

/* --- retries (read_retries) -------------------------------------------------
 */

/* A retry is over (run deferred): its outcome is the failed fragment's. */
static void
retry_done(request *retry)
{
    fragment *f = retry->userdata;
    shard_reply *reply = retry->reply;

    retry->reply = NULL;
    /* A get of one key that went to one server answered its value itself
     * (a gets [value, flags, cas], an array too): a split's part is an
     * array of its keys' entries. */
    if (reply != NULL && f->req->join_fn == fanout_join &&
        retry->join_fn != fanout_join && f->resend->argc == 2) {
        shard_reply *one = reply_array(1);
        if (one != NULL)
            one->element[0] = reply;
        else
            shard_reply_free(reply);
        reply = one;
        if (reply == NULL && retry->status == SHARD_OK) {
            retry->status = SHARD_ENOMEM;
            retry->errmsg = strdup("out of memory");
        }
    }
    fragment_drop_args(f);
    if (retry->nfrags == 1 && retry->frags[0].addr != NULL) {
        f->server = retry->frags[0].server;
        fragment_set_addr(f, retry->frags[0].addr);
    }
    fragment_done(f, reply, retry->status, retry->errmsg);
    request_free(retry);
}

/* Sends a get that lost its connection or timed out again, routed afresh
 * (an ejection may have moved its keys), on the worker. */
static void
resend(fragment *f)
{
    shard_pool *pool = f->req->pool;
    const fragment_args *fa = f->resend;
    dispatch_args a = {
        .argc = fa->argc, .argv = fa->argv, .argvlen = fa->argvlen};
    request *retry;

    LOG(&pool->opts, SHARD_LOG_DEBUG, "retrying memcached '%.*s' after: %s",
        (int)(fa->argvlen[0] > 16 ? 16 : fa->argvlen[0]), fa->argv[0],
        f->errmsg ? f->errmsg : shard_strerror(f->status));
    retry = submit_cmd(pool, MODE_INTERNAL, &a, f->req->retries - 1);
    if (retry == NULL) {
        char *msg = f->errmsg; /* it fails as it did */
        f->errmsg = NULL;
        fragment_drop_args(f);
        fragment_done(f, NULL, f->status, msg);
        free(msg);
        return;
    }
    retry->userdata = f;
    retry->internal_fn = retry_done;
}

static void
allow_retries(request *r, shard_pool *pool, int retries)
{
    if (retries > 0) {
        r->retries = retries;
        r->resend_fn = resend;
        r->pool = pool;
    }
}

/* --- routing ---------------------------------------------------------------
 */

static request *
send_one(shard_pool *pool, request_mode mode, int server,
         const dispatch_args *a, const char *name, int retries)
{
    request *r;

    if (server < 0)
        return fail_now(pool, mode, SHARD_ENOSERVER,
                        "every server of the pool is ejected");
    r = request_new(&pool->engine, mode, 1);
    if (r == NULL)
        return NULL;
    r->name = name;
    allow_retries(r, pool, retries);
    engine_send(&pool->engine, &r->frags[0], pool_server_conn(pool, server),
                a->argc, a->argv, a->argvlen);
    return r;
}

/* NULL when every value fits its server's item size, else the refusal. */
static shard_reply *
value_refusal(shard_pool *pool, const mc_cmd *cmd, const int *servers)
{
    for (size_t i = 0; i < cmd->nkeys; i++) {
        size_t klen, vlen, max;
        conn *c = pool_server_conn(pool, servers[i]);
        mc_key(cmd, i, &klen);
        mc_value(cmd, i, &vlen);
        if (c == NULL)
            return NULL; /* out of memory: the send says so */
        max = conn_mc_value_max(c, klen, cmd->flags);
        if (vlen > max)
            return reply_error("ERR value %s%zu bytes is over the %zu bytes "
                               "that server '%s' stores under its key "
                               "(memcached's item size)",
                               cmd->nkeys > 1 ? "of a key: " : "of ", vlen, max,
                               c->target->addr);
    }
    return NULL;
}

/* The per-server sub-commands of a split, in one allocation. */
typedef struct split_args {
    const char **argv; /* every fragment's words, back to back */
    size_t *len;       /* their lengths */
    size_t *start;     /* first word of fragment j */
    size_t *count;     /* words of fragment j */
} split_args;

static bool
split_alloc(split_args *s, size_t words, size_t nfrags)
{
    size_t bytes =
        words * (sizeof(char *) + sizeof(size_t)) + 2 * nfrags * sizeof(size_t);
    char *block = calloc(1, bytes);

    if (block == NULL)
        return false;
    s->len = (size_t *)block;
    s->start = s->len + words;
    s->count = s->start + nfrags;
    s->argv = (const char **)(s->count + nfrags);
    return true;
}

static void
split_push(split_args *s, size_t frag, const char *word, size_t len)
{
    size_t at = s->start[frag] + s->count[frag]++;

    s->argv[at] = word;
    s->len[at] = len;
}

/* "name [flags exptime]" then each key (and value) of the fragment, in
 * request order. */
static bool
split_build(split_args *s, const request *r, const mc_cmd *cmd)
{
    size_t head = (size_t)cmd->first_key, per_key = (size_t)cmd->stride;
    size_t offset = 0;

    if (!split_alloc(s, r->nfrags * head + r->nkeys * per_key, r->nfrags))
        return false;
    for (size_t i = 0; i < r->nkeys; i++)
        s->count[r->key_frag[i]] += per_key;
    for (size_t j = 0; j < r->nfrags; j++) {
        s->start[j] = offset;
        offset += s->count[j] + head;
        s->count[j] = 0;
        for (size_t w = 0; w < head; w++)
            split_push(s, j, cmd->argv[w], cmd->argvlen[w]);
    }
    for (size_t i = 0; i < r->nkeys; i++) {
        int at = cmd->first_key + (int)i * cmd->stride;
        for (size_t k = 0; k < per_key; k++)
            split_push(s, (size_t)r->key_frag[i], cmd->argv[at + (int)k],
                       cmd->argvlen[at + (int)k]);
    }
    return true;
}

/* One fragment per involved server, in server order; its keys' indexes. */
static request *
split_request(shard_pool *pool, request_mode mode, const mc_cmd *cmd,
              const int *servers)
{
    size_t count = pool->conf->server_count, nfrags = 0;
    int stack[64], *frag_of = stack;
    request *r;

    if (count > 64 && (frag_of = malloc(count * sizeof(int))) == NULL)
        return NULL;
    for (size_t s = 0; s < count; s++)
        frag_of[s] = -1;
    for (size_t i = 0; i < cmd->nkeys; i++)
        frag_of[servers[i]] = 0;
    for (size_t s = 0; s < count; s++)
        if (frag_of[s] == 0)
            frag_of[s] = (int)nfrags++;
    r = request_new(&pool->engine, mode, nfrags);
    if (r != NULL && (r->key_frag = malloc(cmd->nkeys * sizeof(int))) == NULL) {
        request_free(r);
        r = NULL;
    }
    for (size_t i = 0; r != NULL && i < cmd->nkeys; i++) {
        r->key_frag[i] = frag_of[servers[i]];
        r->frags[r->key_frag[i]].server = servers[i];
    }
    if (frag_of != stack)
        free(frag_of);
    return r;
}

static request *
send_split(shard_pool *pool, request_mode mode, const mc_cmd *cmd,
           const int *servers, int retries)
{
    request *r = split_request(pool, mode, cmd, servers);
    split_args s;

    if (r == NULL)
        return NULL;
    r->nkeys = cmd->nkeys;
    r->join = JOIN_MGET;
    r->join_fn = fanout_join;
    r->name = cmd->name;
    allow_retries(r, pool, retries);
    STAT_ADD(pool->engine.stats.fragments, r->nfrags);
    if (!split_build(&s, r, cmd)) {
        request_free(r);
        return NULL;
    }
    /* What goes to the worker goes as one batch: every get out first. */
    mc_worker_hold(pool->mc_worker);
    for (size_t j = 0; j < r->nfrags; j++) {
        fragment *f = &r->frags[j];
        engine_send(&pool->engine, f, pool_server_conn(pool, f->server),
                    (int)s.count[j], s.argv + s.start[j], s.len + s.start[j]);
    }
    mc_worker_go(pool->mc_worker);
    free(s.len); /* the block */
    return r;
}

/* A command with keys: to their server, split when they are on several. */
static request *
send_keyed(shard_pool *pool, request_mode mode, const mc_cmd *cmd,
           const dispatch_args *a, int retries)
{
    int stack[128], *servers = stack;
    bool same = true, placed = true;
    shard_reply *refusal;
    request *r = NULL;

    if (cmd->nkeys > 128 &&
        (servers = malloc(cmd->nkeys * sizeof(int))) == NULL)
        return NULL;
    for (size_t i = 0; i < cmd->nkeys && placed; i++) {
        size_t len;
        const char *key = mc_key(cmd, i, &len);
        servers[i] = pool_locate(pool, key, len);
        same = same && servers[i] == servers[0];
        placed = servers[i] >= 0;
    }
    if (!placed)
        r = send_one(pool, mode, -1, a, cmd->name, 0);
    else if (mc_is_store(cmd->op) &&
             (refusal = value_refusal(pool, cmd, servers)) != NULL)
        r = dispatch_local(pool, mode, refusal);
    else if (same)
        r = send_one(pool, mode, servers[0], a, cmd->name, retries);
    else
        r = send_split(pool, mode, cmd, servers, retries);
    if (servers != stack)
        free(servers);
    return r;
}

static request *
submit_cmd(shard_pool *pool, request_mode mode, const dispatch_args *a,
           int retries)
{
    char err[ERROR_MAX];
    mc_cmd cmd;

    health_readmit(&pool->health);
    if (mc_parse(&cmd, a->argc, a->argv, a->argvlen, false, err, sizeof(err)) !=
            0 ||
        cmd.op == MC_PROBE) {
        if (cmd.op == MC_PROBE)
            error_format(err, sizeof(err),
                         "ERR unknown memcached command 'PING'");
        return dispatch_local(pool, mode, reply_error("%s", err));
    }
    if (!mc_is_read(cmd.op))
        retries = 0; /* a write could be done twice */
    if (cmd.op == MC_VERSION)
        return send_one(
            pool, mode,
            pool_locate(pool, placeholder_key, sizeof(placeholder_key) - 1), a,
            cmd.name, 0);
    return send_keyed(pool, mode, &cmd, a, retries);
}

request *
mc_dispatch_submit(shard_pool *pool, request_mode mode, const dispatch_args *a)
{
    request *r = submit_cmd(pool, mode, a, a->retries);

    if (r == NULL) {
        pool_fail(pool, SHARD_ENOMEM, "out of memory");
        return NULL;
    }
    /* What ran inline is answered now; the rest comes from the worker. */
    for (size_t j = 0; mode == MODE_BLOCKING && j < r->nfrags; j++) {
        conn *c = r->frags[j].conn;
        if (c != NULL)
            conn_mc_collect(c);
    }
    return r;
}
