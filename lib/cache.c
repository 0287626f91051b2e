/*
 * The cache API (<shard/cache.h>): each call becomes one backend command
 * (or, for a multi-set on Redis, one per key), sent through the backend's
 * dispatcher on the pool's engine, and its reply is turned into the same
 * result on both backends. docs/guide.md has the table of commands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shard/cache.h>

#include "async.h"
#include "dispatch.h"
#include "mc_command.h"
#include "mc_dispatch.h"
#include "refstr.h"

/* The calls, for the reply each backend gives to each. */
typedef enum cache_op {
    OP_GET,
    OP_MGET,
    OP_SET,
    OP_MSET,
    OP_ADD,
    OP_DELETE,
    OP_INCR,
    OP_DECR,
    OP_TOUCH
} cache_op;

/*
 * Redis keeps memcached's meaning of counters and touch in one atomic
 * step: counters only for existing keys holding digits, decr stopping at
 * 0; the new value is read back as a string, exact beyond 2^53 (Lua's
 * numbers are doubles).
 */
static const char incr_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return false end "
    "if #v > 20 or not string.match(v, '^%d+$') then return "
    "redis.error_reply('CLIENT_ERROR cannot increment or decrement "
    "non-numeric value') end "
    "redis.call('INCRBY', KEYS[1], ARGV[1]) "
    "return redis.call('GET', KEYS[1])";
static const char decr_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return false end "
    "if #v > 20 or not string.match(v, '^%d+$') then return "
    "redis.error_reply('CLIENT_ERROR cannot increment or decrement "
    "non-numeric value') end "
    "v = string.gsub(v, '^0+(%d)', '%1') "
    "local d = ARGV[1] "
    "if #v > #d or (#v == #d and v >= d) then "
    "redis.call('DECRBY', KEYS[1], d) else "
    "redis.call('SET', KEYS[1], '0', 'KEEPTTL') end "
    "return redis.call('GET', KEYS[1])";
static const char touch_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end "
    "if ARGV[1] == '0' then redis.call('PERSIST', KEYS[1]) "
    "else redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return 1";

/* A command being built: room on the stack for the short ones. */
typedef struct cache_cmd {
    int argc;
    const char **argv;
    size_t *len;
    const char *stack[8];
    size_t stack_len[8];
    char num[2][24]; /* numbers as text */
} cache_cmd;

static void
cmd_push(cache_cmd *c, const char *word, size_t len)
{
    c->argv[c->argc] = word;
    c->len[c->argc++] = len;
}

static void
cmd_push_str(cache_cmd *c, const char *word)
{
    cmd_push(c, word, strlen(word));
}

/* A number as the `slot`th text of the command. */
static void
cmd_push_num(cache_cmd *c, int slot, unsigned long long v)
{
    char *end = c->num[slot] + sizeof(c->num[slot]), *p = end;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    cmd_push(c, p, (size_t)(end - p));
}

static bool
cmd_init(cache_cmd *c, size_t words)
{
    c->argc = 0;
    c->argv = c->stack;
    c->len = c->stack_len;
    if (words <= 8)
        return true;
    c->argv = malloc(words * sizeof(*c->argv));
    c->len = malloc(words * sizeof(*c->len));
    return c->argv != NULL && c->len != NULL;
}

static void
cmd_done(cache_cmd *c)
{
    if (c->argv != c->stack) {
        free(c->argv);
        free(c->len);
    }
}

/* memcached's exptime for a ttl, now. */
static unsigned long long
exptime_of(unsigned ttl)
{
    return (unsigned long long)mc_exptime(ttl, time(NULL));
}

/* --- checks ----------------------------------------------------------------
 */

static int
check_pool(shard_pool *pool)
{
    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    return SHARD_OK;
}

static int
check_bytes(shard_pool *pool, const char *p, size_t len, const char *what)
{
    if (p == NULL && len > 0)
        return pool_fail(pool, SHARD_EINVAL, "%s is NULL", what);
    return SHARD_OK;
}

/* The key, and the value when `value` is given (`vlen` then too). */
static int
check_kv(shard_pool *pool, const char *key, size_t keylen, const char *value,
         size_t vlen)
{
    int rc = check_pool(pool);

    if (rc == SHARD_OK)
        rc = check_bytes(pool, key, keylen, "key");
    if (rc == SHARD_OK)
        rc = check_bytes(pool, value, vlen, "value");
    return rc;
}

static int
check_many(shard_pool *pool, size_t n, const char **keys, const char **values)
{
    int rc = check_pool(pool);

    if (rc != SHARD_OK)
        return rc;
    if (n == 0)
        return pool_fail(pool, SHARD_EINVAL, "no keys (n is 0)");
    if (keys == NULL)
        return pool_fail(pool, SHARD_EINVAL, "keys is NULL");
    for (size_t i = 0; i < n; i++) {
        if (keys[i] == NULL || (values != NULL && values[i] == NULL))
            return pool_fail(pool, SHARD_EINVAL, "%s[%zu] is NULL",
                             keys[i] == NULL ? "keys" : "values", i);
    }
    return SHARD_OK;
}

static size_t
len_of(const size_t *lens, const char **strs, size_t i)
{
    return lens != NULL ? lens[i] : strlen(strs[i]);
}

/* --- the backend command of each call --------------------------------------
 */

static void
build_single(cache_cmd *c, bool redis, cache_op op, const char *key,
             size_t keylen)
{
    static const char *const redis_name[] = {
        [OP_GET] = "GET", [OP_DELETE] = "DEL"};
    static const char *const mc_name[] = {
        [OP_GET] = "get", [OP_DELETE] = "delete"};

    cmd_push_str(c, redis ? redis_name[op] : mc_name[op]);
    cmd_push(c, key, keylen);
}

/* set and add: "SET k v [NX] [EX ttl]" or "set|add k 0 exptime v". */
static void
build_store(cache_cmd *c, bool redis, cache_op op, const char *key,
            size_t keylen, const char *value, size_t vlen, unsigned ttl)
{
    if (!redis) {
        cmd_push_str(c, op == OP_ADD ? "add" : "set");
        cmd_push(c, key, keylen);
        cmd_push_str(c, "0");
        cmd_push_num(c, 0, exptime_of(ttl));
        cmd_push(c, value, vlen);
        return;
    }
    cmd_push_str(c, "SET");
    cmd_push(c, key, keylen);
    cmd_push(c, value, vlen);
    if (op == OP_ADD)
        cmd_push_str(c, "NX");
    if (ttl > 0) {
        cmd_push_str(c, "EX");
        cmd_push_num(c, 0, ttl);
    }
}

/* incr, decr, touch: a script on Redis, the command on memcached. */
static void
build_counter(cache_cmd *c, bool redis, cache_op op, const char *key,
              size_t keylen, unsigned long long number)
{
    if (redis) {
        cmd_push_str(c, "EVAL");
        cmd_push_str(c, op == OP_INCR   ? incr_script
                        : op == OP_DECR ? decr_script
                                        : touch_script);
        cmd_push_str(c, "1");
        cmd_push(c, key, keylen);
    } else {
        cmd_push_str(c, op == OP_INCR   ? "incr"
                        : op == OP_DECR ? "decr"
                                        : "touch");
        cmd_push(c, key, keylen);
    }
    cmd_push_num(c, 0, op == OP_TOUCH && !redis ? exptime_of(number) : number);
}

static void
build_mget(cache_cmd *c, bool redis, size_t n, const char **keys,
           const size_t *keylens)
{
    cmd_push_str(c, redis ? "MGET" : "get");
    for (size_t i = 0; i < n; i++)
        cmd_push(c, keys[i], len_of(keylens, keys, i));
}

/* memcached's: "mset 0 exptime k v [k v]...", split per server. */
static void
build_mc_mset(cache_cmd *c, size_t n, const char **keys, const size_t *klens,
              const char **values, const size_t *vlens, unsigned ttl)
{
    cmd_push_str(c, "mset");
    cmd_push_str(c, "0");
    cmd_push_num(c, 0, exptime_of(ttl));
    for (size_t i = 0; i < n; i++) {
        cmd_push(c, keys[i], len_of(klens, keys, i));
        cmd_push(c, values[i], len_of(vlens, values, i));
    }
}

/* --- results ---------------------------------------------------------------
 */

/* What a call shows: a reply it made, else element `index` of the
 * backend's reply (-1: that reply itself). */
typedef struct cache_view {
    shard_reply *made;
    int index;
    bool quiet; /* the caller wants no reply, only whether it worked */
} cache_view;

static bool
is_status(const shard_reply *r, const char *word)
{
    return r->type == SHARD_REPLY_STATUS && strcmp(r->str, word) == 0;
}

static int
made(cache_view *v, shard_reply *r)
{
    v->made = r;
    return r != NULL ? SHARD_OK : SHARD_ENOMEM;
}

/* A counter's new value: Redis's scripts give its digits. */
static int
counter_value(cache_view *v, const shard_reply *raw)
{
    char *end;
    unsigned long long n;

    if (raw->type == SHARD_REPLY_INTEGER || raw->type == SHARD_REPLY_NIL)
        return SHARD_OK;
    if (raw->type == SHARD_REPLY_STATUS && strcmp(raw->str, "NOT_FOUND") == 0)
        return made(v, reply_new(SHARD_REPLY_NIL));
    if (raw->type != SHARD_REPLY_STRING || raw->len == 0)
        return SHARD_EPROTO;
    n = strtoull(raw->str, &end, 10);
    return *end == '\0' ? made(v, reply_integer((long long)n)) : SHARD_EPROTO;
}

/* memcached's STORED and Redis's OK are one OK; elements in place. */
static int
mset_elements(shard_reply *raw)
{
    for (size_t i = 0; i < raw->elements; i++) {
        shard_reply *e = raw->element[i];
        if (e == NULL || !is_status(e, "STORED"))
            continue;
        shard_reply *ok = reply_string(SHARD_REPLY_STATUS, "OK", 2);
        if (ok == NULL)
            return SHARD_ENOMEM;
        shard_reply_free(e);
        raw->element[i] = ok;
    }
    return SHARD_OK;
}

/* memcached answers a get of one key with its value itself (there is no
 * split to join): a multi-get of one key still gives an array. */
static int
one_element(cache_view *v, const shard_reply *raw)
{
    shard_reply *all = reply_array(1);

    if (all == NULL)
        return SHARD_ENOMEM;
    if ((all->element[0] = reply_copy(raw)) == NULL) {
        shard_reply_free(all);
        return SHARD_ENOMEM;
    }
    return made(v, all);
}

static int
view_of(cache_op op, bool redis, shard_reply *raw, cache_view *v)
{
    switch (op) {
    case OP_GET:
        return raw->type == SHARD_REPLY_STRING || raw->type == SHARD_REPLY_NIL
                   ? SHARD_OK
                   : SHARD_EPROTO;
    case OP_MGET:
        if (raw->type == SHARD_REPLY_ARRAY)
            return SHARD_OK;
        if (!redis &&
            (raw->type == SHARD_REPLY_STRING || raw->type == SHARD_REPLY_NIL))
            return one_element(v, raw);
        return SHARD_EPROTO;
    case OP_MSET:
        return raw->type == SHARD_REPLY_ARRAY ? mset_elements(raw)
                                              : SHARD_EPROTO;
    case OP_SET:
        if (!is_status(raw, "OK") && !is_status(raw, "STORED"))
            return SHARD_EPROTO;
        return v->quiet ? SHARD_OK
                        : made(v, reply_string(SHARD_REPLY_STATUS, "OK", 2));
    case OP_ADD:
        if (is_status(raw, "OK") || is_status(raw, "STORED") ||
            raw->type == SHARD_REPLY_NIL || is_status(raw, "NOT_STORED"))
            return made(v, reply_integer(raw->type != SHARD_REPLY_NIL &&
                                         !is_status(raw, "NOT_STORED")));
        return SHARD_EPROTO;
    case OP_DELETE:
        return v->quiet ? SHARD_OK
                        : made(v, reply_string(SHARD_REPLY_STATUS, "OK", 2));
    case OP_TOUCH:
        if (raw->type == SHARD_REPLY_INTEGER)
            return SHARD_OK;
        if (is_status(raw, "TOUCHED") || is_status(raw, "NOT_FOUND"))
            return made(v, reply_integer(is_status(raw, "TOUCHED")));
        return SHARD_EPROTO;
    default:
        return counter_value(v, raw);
    }
}

/*
 * Turns the backend's reply into the call's result in `v`. An ERROR reply
 * is a failure: libshard's refusal of a memcached argument (SHARD_EINVAL;
 * the memcached backend's own start "ERR "), or the server's error.
 */
static int
cache_result(cache_op op, bool redis, const char *addr, shard_reply *raw,
             cache_view *v, char *err, size_t errlen)
{
    int rc;

    v->made = NULL;
    v->index = -1;
    if (raw->type == SHARD_REPLY_ERROR) {
        bool refusal = !redis && strncmp(raw->str, "ERR ", 4) == 0;
        /* An error inside a counter's script: Redis' words without where
         * in the script ("... script: <sha>, on @user_script:1."). */
        const char *in_script = redis ? strstr(raw->str, " script: ") : NULL;
        int len = in_script != NULL ? (int)(in_script - raw->str)
                                    : (int)strlen(raw->str);
        if (refusal)
            error_format(err, errlen, "%s", raw->str + 4);
        else if (addr != NULL)
            error_format(err, errlen, "server '%s' answered: %.*s", addr, len,
                         raw->str);
        else
            error_format(err, errlen, "the server answered: %.*s", len,
                         raw->str);
        return refusal ? SHARD_EINVAL : SHARD_ESERVER;
    }
    rc = view_of(op, redis, raw, v);
    if (rc == SHARD_EPROTO && addr != NULL)
        error_format(err, errlen,
                     "server '%s' gave an unexpected reply of type %d to a "
                     "cache call",
                     addr, raw->type);
    else if (rc == SHARD_EPROTO)
        error_format(err, errlen, "unexpected reply of type %d to a cache call",
                     raw->type);
    else if (rc == SHARD_ENOMEM)
        error_format(err, errlen, "out of memory");
    return rc;
}

/* --- sending and waiting ---------------------------------------------------
 */

static request *
submit(shard_pool *pool, request_mode mode, const cache_cmd *c)
{
    dispatch_args a = {.argc = c->argc,
                       .argv = c->argv,
                       .argvlen = c->len,
                       .retries = pool->conf->read_retries};
    request *r = pool->conf->redis ? dispatch_submit(pool, mode, &a)
                                   : mc_dispatch_submit(pool, mode, &a);

    if (r == NULL)
        pool_fail(pool, SHARD_ENOMEM, "out of memory");
    return r;
}

/* Waits for `r` and puts the call's result in *out (NULL: only whether
 * it worked is wanted). */
static int
finish(shard_pool *pool, request *r, cache_op op, shard_reply **out)
{
    char err[ERROR_MAX];
    shard_reply *raw = NULL;
    const char *addr;
    cache_view v = {.quiet = out == NULL};
    int rc;

    if (r == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    /* The server's, held: a reload during the wait may remove it. */
    addr = refstr_hold(r->nfrags == 1 ? r->frags[0].addr : NULL);
    if ((rc = dispatch_wait(pool, r, &raw)) != SHARD_OK) {
        refstr_drop(addr);
        return rc;
    }
    rc = cache_result(op, pool->conf->redis, addr, raw, &v, err, sizeof(err));
    refstr_drop(addr);
    if (rc != SHARD_OK) {
        shard_reply_free(raw);
        shard_reply_free(v.made);
        return pool_fail(pool, rc, "%s", err);
    }
    if (out == NULL) {
        shard_reply_free(raw);
        shard_reply_free(v.made);
    } else if (v.made != NULL) {
        shard_reply_free(raw);
        *out = v.made;
    } else if (v.index >= 0) {
        *out = raw->element[v.index];
        raw->element[v.index] = NULL;
        shard_reply_free(raw);
    } else {
        *out = raw;
    }
    return SHARD_OK;
}

/* Runs a blocking call to its result (NULL `out`: none wanted). */
static int
run(shard_pool *pool, const cache_cmd *c, cache_op op, shard_reply **out)
{
    int rc = finish(pool, submit(pool, MODE_BLOCKING, c), op, out);

    pool_settle(pool);
    return rc;
}

/* The callback of an async call, and what it asked. */
typedef struct cache_cb {
    shard_reply_fn fn;
    void *userdata;
    cache_op op;
    bool redis;
    const char *addr; /* the server of a one-server call: a refstr held */
} cache_cb;

static void
deliver(shard_pool *pool, const shard_reply *reply, int status, void *ud)
{
    cache_cb cb = *(cache_cb *)ud;
    char err[ERROR_MAX];
    cache_view v = {NULL, -1, false};

    free(ud);
    /* The reply is the engine's to free; elements may change in place. */
    if (status == SHARD_OK)
        status = cache_result(cb.op, cb.redis, cb.addr, (shard_reply *)reply,
                              &v, err, sizeof(err));
    refstr_drop(cb.addr);
    if (status != SHARD_OK) {
        if (reply != NULL)
            pool_fail(pool, status, "%s", err);
        shard_reply_free(v.made);
        cb.fn(pool, NULL, status, cb.userdata);
        return;
    }
    cb.fn(pool,
          v.made != NULL ? v.made
          : v.index >= 0 ? reply->element[v.index]
                         : reply,
          SHARD_OK, cb.userdata);
    shard_reply_free(v.made);
}

/* Submits an async call; its result reaches `fn` through deliver. */
static int
run_async(shard_pool *pool, request *(*send)(shard_pool *, const void *),
          const void *arg, cache_op op, shard_reply_fn fn, void *userdata)
{
    cache_cb *cb;
    request *r;
    int rc;

    if ((rc = async_check(pool, fn)) != SHARD_OK)
        return rc;
    if ((cb = malloc(sizeof(*cb))) == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    *cb = (cache_cb){fn, userdata, op, pool->conf->redis, NULL};
    r = send(pool, arg);
    if (r == NULL) {
        free(cb);
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    }
    cb->addr = refstr_hold(r->nfrags == 1 ? r->frags[0].addr : NULL);
    return async_track(pool, r, deliver, cb);
}

static request *
send_async_cmd(shard_pool *pool, const void *c)
{
    return submit(pool, MODE_ASYNC, c);
}

/* --- multi-set on Redis: one SET per key, joined ---------------------------
 */

/* A key's SET is over (run deferred): its outcome is its fragment's. */
static void
set_done(request *child)
{
    fragment *f = child->userdata;
    shard_reply *reply = child->reply;

    child->reply = NULL;
    if (child->nfrags == 1 && child->frags[0].addr != NULL) {
        f->server = child->frags[0].server;
        fragment_set_addr(f, child->frags[0].addr);
    }
    fragment_done(f, reply, child->status, child->errmsg);
    request_free(child);
}

/* Each key's result; the whole fails only when every key did. */
static void
join_sets(request *r)
{
    size_t failed = 0;

    for (size_t i = 0; i < r->nfrags; i++)
        failed += r->frags[i].status != SHARD_OK;
    if (failed == r->nfrags) {
        request_join_single(r); /* the first key's failure */
        return;
    }
    if ((r->reply = reply_array(r->nfrags)) == NULL) {
        r->status = SHARD_ENOMEM;
        r->errmsg = strdup("out of memory joining the replies");
        return;
    }
    for (size_t i = 0; i < r->nfrags; i++) {
        fragment *f = &r->frags[i];
        shard_reply *e = f->reply;
        f->reply = NULL;
        if (f->status != SHARD_OK || e == NULL)
            e = reply_error("ERR %s", f->errmsg ? f->errmsg : "failed");
        r->reply->element[i] = e;
    }
    STAT_ADD(r->engine->stats.split_key_errors, failed);
}

/* The keys and values of a multi-set. */
typedef struct mset_args {
    size_t n;
    const char **keys;
    const size_t *klens;
    const char **values;
    const size_t *vlens;
    unsigned ttl;
    request_mode mode;
} mset_args;

static void
send_set(shard_pool *pool, fragment *f, const mset_args *m, size_t i)
{
    cache_cmd c;
    request *child;

    cmd_init(&c, 5);
    build_store(&c, true, OP_SET, m->keys[i], len_of(m->klens, m->keys, i),
                m->values[i], len_of(m->vlens, m->values, i), m->ttl);
    child = submit(pool, MODE_INTERNAL, &c);
    if (child == NULL) {
        fragment_done(f, NULL, SHARD_ENOMEM, "out of memory");
        return;
    }
    child->userdata = f;
    child->internal_fn = set_done;
}

static request *
send_mset(shard_pool *pool, const void *arg)
{
    const mset_args *m = arg;
    request *r;
    cache_cmd c;

    if (!pool->conf->redis) {
        if (!cmd_init(&c, 3 + 2 * m->n)) {
            cmd_done(&c);
            return NULL;
        }
        build_mc_mset(&c, m->n, m->keys, m->klens, m->values, m->vlens, m->ttl);
        r = submit(pool, m->mode, &c);
        cmd_done(&c);
        return r;
    }
    r = request_new(&pool->engine, m->mode, m->n);
    if (r == NULL)
        return NULL;
    r->join_fn = join_sets;
    r->name = "mset";
    for (size_t i = 0; i < m->n; i++)
        send_set(pool, &r->frags[i], m, i);
    return r;
}

/* --- the calls -------------------------------------------------------------
 */

SHARD_API int
shard_get(shard_pool *pool, shard_reply **out, const char *key, size_t keylen)
{
    cache_cmd c;
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    cmd_init(&c, 2);
    build_single(&c, pool->conf->redis, OP_GET, key, keylen);
    return run(pool, &c, OP_GET, out);
}

SHARD_API int
shard_mget(shard_pool *pool, shard_reply **out, size_t nkeys, const char **keys,
           const size_t *keylens)
{
    cache_cmd c;
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((rc = check_many(pool, nkeys, keys, NULL)) != SHARD_OK)
        return rc;
    if (!cmd_init(&c, nkeys + 1)) {
        cmd_done(&c);
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    }
    build_mget(&c, pool->conf->redis, nkeys, keys, keylens);
    rc = run(pool, &c, OP_MGET, out);
    cmd_done(&c);
    return rc;
}

SHARD_API int
shard_set(shard_pool *pool, const char *key, size_t keylen, const char *value,
          size_t valuelen, unsigned ttl_seconds)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, value, valuelen)) != SHARD_OK)
        return rc;
    cmd_init(&c, 5);
    build_store(&c, pool->conf->redis, OP_SET, key, keylen, value, valuelen,
                ttl_seconds);
    return run(pool, &c, OP_SET, NULL);
}

SHARD_API int
shard_mset(shard_pool *pool, shard_reply **out, size_t n, const char **keys,
           const size_t *keylens, const char **values, const size_t *valuelens,
           unsigned ttl_seconds)
{
    mset_args m = {n,         keys,        keylens,      values,
                   valuelens, ttl_seconds, MODE_BLOCKING};
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((rc = check_pool(pool)) != SHARD_OK)
        return rc;
    if (values == NULL)
        return pool_fail(pool, SHARD_EINVAL, "values is NULL");
    if ((rc = check_many(pool, n, keys, values)) != SHARD_OK)
        return rc;
    rc = finish(pool, send_mset(pool, &m), OP_MSET, out);
    pool_settle(pool);
    return rc;
}

SHARD_API int
shard_add(shard_pool *pool, int *stored, const char *key, size_t keylen,
          const char *value, size_t valuelen, unsigned ttl_seconds)
{
    shard_reply *r = NULL;
    cache_cmd c;
    int rc;

    if ((rc = pool_check_arg(pool, stored, "stored")) != SHARD_OK)
        return rc;
    *stored = 0;
    if ((rc = check_kv(pool, key, keylen, value, valuelen)) != SHARD_OK)
        return rc;
    cmd_init(&c, 6);
    build_store(&c, pool->conf->redis, OP_ADD, key, keylen, value, valuelen,
                ttl_seconds);
    if ((rc = run(pool, &c, OP_ADD, &r)) == SHARD_OK)
        *stored = (int)shard_reply_integer(r);
    shard_reply_free(r);
    return rc;
}

SHARD_API int
shard_delete(shard_pool *pool, const char *key, size_t keylen)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    cmd_init(&c, 2);
    build_single(&c, pool->conf->redis, OP_DELETE, key, keylen);
    return run(pool, &c, OP_DELETE, NULL);
}

static int
counter(shard_pool *pool, shard_reply **out, cache_op op, const char *key,
        size_t keylen, uint64_t delta)
{
    cache_cmd c;
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    if (delta > (uint64_t)INT64_MAX)
        return pool_fail(pool, SHARD_EINVAL,
                         "delta %llu is over 2^63 - 1 (Redis's largest)",
                         (unsigned long long)delta);
    cmd_init(&c, 5);
    build_counter(&c, pool->conf->redis, op, key, keylen, delta);
    return run(pool, &c, op, out);
}

SHARD_API int
shard_incr(shard_pool *pool, shard_reply **out, const char *key, size_t keylen,
           uint64_t delta)
{
    return counter(pool, out, OP_INCR, key, keylen, delta);
}

SHARD_API int
shard_decr(shard_pool *pool, shard_reply **out, const char *key, size_t keylen,
           uint64_t delta)
{
    return counter(pool, out, OP_DECR, key, keylen, delta);
}

SHARD_API int
shard_touch(shard_pool *pool, int *found, const char *key, size_t keylen,
            unsigned ttl_seconds)
{
    shard_reply *r = NULL;
    cache_cmd c;
    int rc;

    if ((rc = pool_check_arg(pool, found, "found")) != SHARD_OK)
        return rc;
    *found = 0;
    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    cmd_init(&c, 5);
    build_counter(&c, pool->conf->redis, OP_TOUCH, key, keylen, ttl_seconds);
    if ((rc = run(pool, &c, OP_TOUCH, &r)) == SHARD_OK)
        *found = (int)shard_reply_integer(r);
    shard_reply_free(r);
    return rc;
}

/* --- async -----------------------------------------------------------------
 */

/* An async call of one backend command. */
static int
cmd_async(shard_pool *pool, cache_cmd *c, cache_op op, shard_reply_fn fn,
          void *userdata)
{
    int rc = run_async(pool, send_async_cmd, c, op, fn, userdata);

    cmd_done(c);
    return rc;
}

SHARD_API int
shard_get_async(shard_pool *pool, const char *key, size_t keylen,
                shard_reply_fn fn, void *userdata)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    cmd_init(&c, 2);
    build_single(&c, pool->conf->redis, OP_GET, key, keylen);
    return cmd_async(pool, &c, OP_GET, fn, userdata);
}

SHARD_API int
shard_mget_async(shard_pool *pool, size_t nkeys, const char **keys,
                 const size_t *keylens, shard_reply_fn fn, void *userdata)
{
    cache_cmd c;
    int rc;

    if ((rc = check_many(pool, nkeys, keys, NULL)) != SHARD_OK)
        return rc;
    if (!cmd_init(&c, nkeys + 1)) {
        cmd_done(&c);
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    }
    build_mget(&c, pool->conf->redis, nkeys, keys, keylens);
    return cmd_async(pool, &c, OP_MGET, fn, userdata);
}

SHARD_API int
shard_set_async(shard_pool *pool, const char *key, size_t keylen,
                const char *value, size_t valuelen, unsigned ttl_seconds,
                shard_reply_fn fn, void *userdata)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, value, valuelen)) != SHARD_OK)
        return rc;
    cmd_init(&c, 5);
    build_store(&c, pool->conf->redis, OP_SET, key, keylen, value, valuelen,
                ttl_seconds);
    return cmd_async(pool, &c, OP_SET, fn, userdata);
}

SHARD_API int
shard_mset_async(shard_pool *pool, size_t n, const char **keys,
                 const size_t *keylens, const char **values,
                 const size_t *valuelens, unsigned ttl_seconds,
                 shard_reply_fn fn, void *userdata)
{
    mset_args m = {n,         keys,        keylens,   values,
                   valuelens, ttl_seconds, MODE_ASYNC};
    int rc;

    if ((rc = check_pool(pool)) != SHARD_OK)
        return rc;
    if (values == NULL)
        return pool_fail(pool, SHARD_EINVAL, "values is NULL");
    if ((rc = check_many(pool, n, keys, values)) != SHARD_OK)
        return rc;
    return run_async(pool, send_mset, &m, OP_MSET, fn, userdata);
}

SHARD_API int
shard_add_async(shard_pool *pool, const char *key, size_t keylen,
                const char *value, size_t valuelen, unsigned ttl_seconds,
                shard_reply_fn fn, void *userdata)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, value, valuelen)) != SHARD_OK)
        return rc;
    cmd_init(&c, 6);
    build_store(&c, pool->conf->redis, OP_ADD, key, keylen, value, valuelen,
                ttl_seconds);
    return cmd_async(pool, &c, OP_ADD, fn, userdata);
}

SHARD_API int
shard_delete_async(shard_pool *pool, const char *key, size_t keylen,
                   shard_reply_fn fn, void *userdata)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    cmd_init(&c, 2);
    build_single(&c, pool->conf->redis, OP_DELETE, key, keylen);
    return cmd_async(pool, &c, OP_DELETE, fn, userdata);
}

static int
counter_async(shard_pool *pool, cache_op op, const char *key, size_t keylen,
              uint64_t number, shard_reply_fn fn, void *userdata)
{
    cache_cmd c;
    int rc;

    if ((rc = check_kv(pool, key, keylen, NULL, 0)) != SHARD_OK)
        return rc;
    if (op != OP_TOUCH && number > (uint64_t)INT64_MAX)
        return pool_fail(pool, SHARD_EINVAL,
                         "delta %llu is over 2^63 - 1 (Redis's largest)",
                         (unsigned long long)number);
    cmd_init(&c, 5);
    build_counter(&c, pool->conf->redis, op, key, keylen, number);
    return cmd_async(pool, &c, op, fn, userdata);
}

SHARD_API int
shard_incr_async(shard_pool *pool, const char *key, size_t keylen,
                 uint64_t delta, shard_reply_fn fn, void *userdata)
{
    return counter_async(pool, OP_INCR, key, keylen, delta, fn, userdata);
}

SHARD_API int
shard_decr_async(shard_pool *pool, const char *key, size_t keylen,
                 uint64_t delta, shard_reply_fn fn, void *userdata)
{
    return counter_async(pool, OP_DECR, key, keylen, delta, fn, userdata);
}

SHARD_API int
shard_touch_async(shard_pool *pool, const char *key, size_t keylen,
                  unsigned ttl_seconds, shard_reply_fn fn, void *userdata)
{
    return counter_async(pool, OP_TOUCH, key, keylen, ttl_seconds, fn,
                         userdata);
}
