/*
 * shard-bench's four modes: one batch of a workload run as hiredis to the
 * lone server ("direct"), libshard over the four, hiredis split over the
 * four by hand ("hand-split"), or hiredis through nutcracker. Replies are
 * checked, and a mode that fails is marked broken (mode_fail()).
 */
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <shard/shard.h>

#include "bench.h"

/* ---- argument vectors ---------------------------------------------- */

/* The argv of command `i` of a GET/SET batch. */
int
single_argv(const bench *b, op_kind op, int key, const char **argv, size_t *len)
{
    argv[0] = op == OP_GET ? "GET" : "SET";
    len[0] = 3;
    argv[1] = b->keys[key];
    len[1] = b->key_len[key];
    if (op == OP_GET)
        return 2;
    argv[2] = b->value;
    len[2] = VALUE_LEN;
    return 3;
}

static int
mget_argv(const bench *b, const int *idx, int n, const char **argv, size_t *len)
{
    argv[0] = "MGET";
    len[0] = 4;
    for (int i = 0; i < n; i++) {
        argv[i + 1] = b->keys[idx[i]];
        len[i + 1] = b->key_len[idx[i]];
    }
    return n + 1;
}

/* ---- reply checks, shared by hiredis and libshard ------------------- */

/* Whether a reply of `type` is right for `op`; counts a nil GET. */
static int
check_type(bench *b, mode m, op_kind op, int type)
{
    if (op == OP_GET && type == REDIS_REPLY_NIL) {
        b->misses[m]++;
        return 0;
    }
    if (op == OP_GET && type == REDIS_REPLY_STRING)
        return 0;
    if (op == OP_SET && type == REDIS_REPLY_STATUS)
        return 0;
    return mode_fail(b, m, op == OP_SET ? "SET" : "GET", "unexpected reply");
}

static int
check_redis(bench *b, mode m, op_kind op, redisReply *r)
{
    if (r == NULL)
        return mode_fail(b, m, "reading a reply", "no reply");
    if (r->type == REDIS_REPLY_ERROR)
        return mode_fail(b, m, "a command", r->str);
    return check_type(b, m, op, r->type);
}

/* Checks MGET elements given in request order. */
static int
check_redis_mget(bench *b, mode m, redisReply *const *elem, int n)
{
    for (int i = 0; i < n; i++) {
        if (elem[i]->type == REDIS_REPLY_NIL)
            b->misses[m]++;
        else if (elem[i]->type != REDIS_REPLY_STRING)
            return mode_fail(b, m, "MGET", "element is not a string");
    }
    return 0;
}

static int
check_shard(bench *b, op_kind op, int n, const shard_reply *r)
{
    int type = shard_reply_type(r);

    if (type == SHARD_REPLY_ERROR)
        return mode_fail(b, MODE_LIBSHARD, "a command",
                         shard_reply_str(r, NULL));
    if (op != OP_MGET)
        return check_type(b, MODE_LIBSHARD, op, type);
    if (type != SHARD_REPLY_ARRAY || shard_reply_len(r) != (size_t)n)
        return mode_fail(b, MODE_LIBSHARD, "MGET", "wrong reply shape");
    for (int i = 0; i < n; i++) {
        int t = shard_reply_type(shard_reply_at(r, (size_t)i));
        if (t == SHARD_REPLY_NIL)
            b->misses[MODE_LIBSHARD]++;
        else if (t != SHARD_REPLY_STRING)
            return mode_fail(b, MODE_LIBSHARD, "MGET", "element not a string");
    }
    return 0;
}

/* ---- hiredis to one address: direct and nutcracker ------------------ */

static int
one_command(bench *b, mode m, redisContext *c, op_kind op, int argc,
            const char **argv, const size_t *len)
{
    redisReply *r = redisCommandArgv(c, argc, argv, len);
    int rc;

    if (r == NULL)
        return mode_fail(b, m, "a command", c->errstr);
    if (op != OP_MGET) {
        rc = check_redis(b, m, op, r);
    } else if (r->type != REDIS_REPLY_ARRAY ||
               r->elements != (size_t)(argc - 1)) {
        rc = mode_fail(b, m, "MGET",
                       r->type == REDIS_REPLY_ERROR ? r->str : "wrong shape");
    } else {
        rc = check_redis_mget(b, m, r->element, argc - 1);
    }
    freeReplyObject(r);
    return rc;
}

static int
plain_pipeline(bench *b, mode m, redisContext *c, const workload *w,
               const int *idx)
{
    const char *argv[3];
    size_t len[3];
    void *r;
    int rc = 0;

    for (int i = 0; i < w->depth; i++) {
        int argc = single_argv(b, w->op, idx[i], argv, len);
        if (redisAppendCommandArgv(c, argc, argv, len) != REDIS_OK)
            return mode_fail(b, m, "appending", c->errstr);
    }
    for (int i = 0; i < w->depth; i++) {
        if (redisGetReply(c, &r) != REDIS_OK)
            return mode_fail(b, m, "reading a reply", c->errstr);
        rc |= check_redis(b, m, w->op, r);
        freeReplyObject(r);
    }
    return rc;
}

static int
plain_batch(bench *b, mode m, redisContext *c, const workload *w,
            const int *idx)
{
    const char *argv[MGET_MAX + 1];
    size_t len[MGET_MAX + 1];
    int argc;

    if (w->op == OP_MGET) {
        argc = mget_argv(b, idx, w->keys, argv, len);
        return one_command(b, m, c, OP_MGET, argc, argv, len);
    }
    if (w->depth > 1)
        return plain_pipeline(b, m, c, w, idx);
    argc = single_argv(b, w->op, idx[0], argv, len);
    return one_command(b, m, c, w->op, argc, argv, len);
}

/* ---- libshard ------------------------------------------------------- */

static int
shard_one(bench *b, op_kind op, int n, int argc, const char **argv,
          const size_t *len)
{
    shard_reply *r;
    int rc = shard_command_argv(b->pool, &r, argc, argv, len);

    if (rc != SHARD_OK)
        return mode_fail(b, MODE_LIBSHARD, "shard_command_argv",
                         shard_pool_errmsg(b->pool));
    rc = check_shard(b, op, n, r);
    shard_reply_free(r);
    return rc;
}

static int
shard_pipeline(bench *b, const workload *w, const int *idx)
{
    const char *argv[3];
    size_t len[3];
    shard_reply *r;
    int rc = 0;

    for (int i = 0; i < w->depth; i++) {
        int argc = single_argv(b, w->op, idx[i], argv, len);
        if (shard_append_argv(b->pool, argc, argv, len) != SHARD_OK)
            return mode_fail(b, MODE_LIBSHARD, "shard_append_argv",
                             shard_pool_errmsg(b->pool));
    }
    for (int i = 0; i < w->depth; i++) {
        if (shard_get_reply(b->pool, &r) != SHARD_OK)
            return mode_fail(b, MODE_LIBSHARD, "shard_get_reply",
                             shard_pool_errmsg(b->pool));
        rc |= check_shard(b, w->op, 1, r);
        shard_reply_free(r);
    }
    return rc;
}

static int
shard_batch(bench *b, const workload *w, const int *idx)
{
    const char *argv[MGET_MAX + 1];
    size_t len[MGET_MAX + 1];
    int argc;

    if (w->op == OP_MGET) {
        argc = mget_argv(b, idx, w->keys, argv, len);
        return shard_one(b, OP_MGET, w->keys, argc, argv, len);
    }
    if (w->depth > 1)
        return shard_pipeline(b, w, idx);
    argc = single_argv(b, w->op, idx[0], argv, len);
    return shard_one(b, w->op, 1, argc, argv, len);
}

/* ---- hiredis split by hand over the four servers -------------------- */

static int
split_locate(bench *b, int key)
{
    int s = shard_pool_locate(b->pool, b->keys[key], b->key_len[key]);

    if (s < 0 || s >= POOL_SERVERS)
        return mode_fail(b, MODE_SPLIT, "shard_pool_locate",
                         shard_pool_errmsg(b->pool));
    return s;
}

/*
 * Writes out every server's pending commands before any reply is read:
 * hiredis' blocking redisGetReply would otherwise send to one server, wait
 * for it, then send to the next, one round trip after another.
 */
static int
split_flush(bench *b)
{
    for (int s = 0; s < POOL_SERVERS; s++) {
        int done = 0;
        while (!done) {
            if (redisBufferWrite(b->split[s], &done) != REDIS_OK)
                return mode_fail(b, MODE_SPLIT, "writing", b->split[s]->errstr);
        }
    }
    return 0;
}

static int
split_pipeline(bench *b, const workload *w, const int *idx)
{
    const char *argv[3];
    size_t len[3];
    int server[DEPTH], rc = 0;
    void *r;

    for (int i = 0; i < w->depth; i++) {
        int argc = single_argv(b, w->op, idx[i], argv, len);
        if ((server[i] = split_locate(b, idx[i])) < 0)
            return -1;
        if (redisAppendCommandArgv(b->split[server[i]], argc, argv, len) !=
            REDIS_OK)
            return mode_fail(b, MODE_SPLIT, "appending", "out of memory");
    }
    if (split_flush(b) != 0)
        return -1;
    for (int i = 0; i < w->depth; i++) {
        redisContext *c = b->split[server[i]];
        if (redisGetReply(c, &r) != REDIS_OK)
            return mode_fail(b, MODE_SPLIT, "reading a reply", c->errstr);
        rc |= check_redis(b, MODE_SPLIT, w->op, r);
        freeReplyObject(r);
    }
    return rc;
}

/* Where each key of a split MGET went: its server and its place there. */
typedef struct split_plan {
    int server[MGET_MAX];    /* server of key i */
    int pos[MGET_MAX];       /* its index in the sub-MGET */
    int count[POOL_SERVERS]; /* keys per server */
    const char *argv[POOL_SERVERS][MGET_MAX + 1]; /* sub-MGETs */
    size_t len[POOL_SERVERS][MGET_MAX + 1];       /* their lengths */
    redisReply *reply[POOL_SERVERS];              /* sub-MGET replies */
} split_plan;

static int
split_mget_send(bench *b, split_plan *p, const int *idx, int n)
{
    memset(p->count, 0, sizeof(p->count));
    for (int i = 0; i < n; i++) {
        int s = split_locate(b, idx[i]);
        if (s < 0)
            return -1;
        p->server[i] = s;
        p->pos[i] = p->count[s]++;
        p->argv[s][p->count[s]] = b->keys[idx[i]];
        p->len[s][p->count[s]] = b->key_len[idx[i]];
    }
    for (int s = 0; s < POOL_SERVERS; s++) {
        if (p->count[s] == 0)
            continue;
        p->argv[s][0] = "MGET";
        p->len[s][0] = 4;
        if (redisAppendCommandArgv(b->split[s], p->count[s] + 1, p->argv[s],
                                   p->len[s]) != REDIS_OK)
            return mode_fail(b, MODE_SPLIT, "appending", "out of memory");
    }
    return split_flush(b);
}

static int
split_mget_read(bench *b, split_plan *p)
{
    for (int s = 0; s < POOL_SERVERS; s++) {
        void *r = NULL;
        if (p->count[s] == 0)
            continue;
        if (redisGetReply(b->split[s], &r) != REDIS_OK)
            return mode_fail(b, MODE_SPLIT, "reading", b->split[s]->errstr);
        p->reply[s] = r;
        if (p->reply[s]->type != REDIS_REPLY_ARRAY ||
            p->reply[s]->elements != (size_t)p->count[s])
            return mode_fail(b, MODE_SPLIT, "MGET", "wrong reply shape");
    }
    return 0;
}

static int
split_mget(bench *b, const int *idx, int n)
{
    split_plan p;
    redisReply *joined[MGET_MAX];
    int rc;

    memset(p.reply, 0, sizeof(p.reply));
    rc = split_mget_send(b, &p, idx, n);
    if (rc == 0)
        rc = split_mget_read(b, &p);
    if (rc == 0) {
        for (int i = 0; i < n; i++)
            joined[i] = p.reply[p.server[i]]->element[p.pos[i]];
        rc = check_redis_mget(b, MODE_SPLIT, joined, n);
    }
    for (int s = 0; s < POOL_SERVERS; s++)
        freeReplyObject(p.reply[s]);
    return rc;
}

static int
split_batch(bench *b, const workload *w, const int *idx)
{
    const char *argv[3];
    size_t len[3];
    int argc, s;

    if (w->op == OP_MGET)
        return split_mget(b, idx, w->keys);
    if (w->depth > 1)
        return split_pipeline(b, w, idx);
    if ((s = split_locate(b, idx[0])) < 0)
        return -1;
    argc = single_argv(b, w->op, idx[0], argv, len);
    return one_command(b, MODE_SPLIT, b->split[s], w->op, argc, argv, len);
}

/* ---- one batch, any mode -------------------------------------------- */

int
run_batch(bench *b, mode m, const workload *w, const int *idx)
{
    switch (m) {
    case MODE_DIRECT:
        return plain_batch(b, m, b->direct, w, idx);
    case MODE_NUTCRACKER:
        return plain_batch(b, m, b->proxy, w, idx);
    case MODE_LIBSHARD:
        return shard_batch(b, w, idx);
    case MODE_SPLIT:
        return split_batch(b, w, idx);
    default:
        return -1;
    }
}
