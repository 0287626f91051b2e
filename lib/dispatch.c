/*
 * Dispatch: the command table decides what a command is, the ring where
 * its keys live. Commands that cannot be served become ERROR replies that
 * say why (twemproxy closes the connection instead), and the pool stays
 * usable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "command.h"
#include "dispatch.h"
#include "fanout.h"
#include "log.h"
#include "poolwide.h"
#include "reload.h"

/* Twemproxy routes keyless commands by this key; so do we. */
static const char placeholder_key[] = "placeholder";

int
dispatch_args_init(shard_pool *pool, dispatch_args *a, int argc,
                   const char **argv, const size_t *argvlen)
{
    memset(a, 0, sizeof(*a));
    if (argc < 0 || (argc > 0 && argv == NULL))
        return pool_fail(pool, SHARD_EINVAL, "argc is %d and argv is %s", argc,
                         argv ? "set" : "NULL");
    a->argc = argc;
    a->argv = argv;
    a->argvlen = argvlen;
    a->retries = pool->conf->read_retries;
    for (int i = 0; i < argc; i++) {
        if (argv[i] == NULL)
            return pool_fail(pool, SHARD_EINVAL, "argv[%d] is NULL", i);
    }
    if (argvlen != NULL || argc == 0)
        return SHARD_OK;
    size_t *len = a->stack_len;
    if ((size_t)argc > sizeof(a->stack_len) / sizeof(a->stack_len[0]))
        len = a->owned_len = malloc((size_t)argc * sizeof(*len));
    if (len == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    a->argvlen = len;
    return SHARD_OK;
}

void
dispatch_args_done(dispatch_args *a)
{
    free(a->owned_len);
    a->owned_len = NULL;
}

conn *
dispatch_pick(void *ctx, int index)
{
    shard_pool *pool = ctx;

    return pool_server_conn(pool, index);
}

request *
dispatch_local(shard_pool *pool, request_mode mode, shard_reply *reply)
{
    request *r = request_new(&pool->engine, mode, 1);

    if (reply != NULL && reply->type == SHARD_REPLY_ERROR)
        STAT_ADD(pool->engine.stats.client_err, 1);
    if (r == NULL) {
        shard_reply_free(reply);
        return NULL;
    }
    request_finish_local(r, reply);
    return r;
}

static request *
fail_now(shard_pool *pool, request_mode mode, int status, const char *msg)
{
    request *r = request_new(&pool->engine, mode, 1);

    if (r != NULL)
        fragment_done(&r->frags[0], NULL, status, msg);
    return r;
}

static void resend(fragment *f);

/* A routed command to `server`, each fragment retried up to `retries`
 * times when its connection is lost or it times out. */
static request *
send_to(shard_pool *pool, request_mode mode, int server, const dispatch_args *a,
        int retries)
{
    if (server < 0)
        return fail_now(pool, mode, SHARD_ENOSERVER,
                        "every server of the pool is ejected");
    request *r = request_new(&pool->engine, mode, 1);
    if (r == NULL)
        return NULL;
    if (retries > 0) {
        r->retries = retries;
        r->resend_fn = resend;
        r->pool = pool;
    }
    engine_send(&pool->engine, &r->frags[0], dispatch_pick(pool, server),
                a->argc, a->argv, a->argvlen);
    return r;
}

/* A retry is over (run deferred): its outcome is the failed fragment's. */
static void
retry_done(request *retry)
{
    fragment *f = retry->userdata;
    shard_reply *reply = retry->reply;

    retry->reply = NULL;
    fragment_drop_args(f); /* the retry had the remaining ones */
    if (retry->nfrags == 1 && retry->frags[0].addr != NULL) {
        f->server = retry->frags[0].server;
        fragment_set_addr(f, retry->frags[0].addr);
    }
    fragment_done(f, reply, retry->status, retry->errmsg);
    request_free(retry);
}

/* A fragment that cannot be sent again fails as it did. */
static void
fail_as_before(fragment *f)
{
    char *msg = f->errmsg;

    f->errmsg = NULL;
    fragment_drop_args(f);
    fragment_done(f, NULL, f->status, msg);
    free(msg);
}

/*
 * Sends a failed fragment's command again as a request of its own,
 * routed afresh: its keys go where they live now (an ejection may have
 * moved them), with one retry less.
 */
static void
resend(fragment *f)
{
    shard_pool *pool = f->req->pool;
    const fragment_args *fa = f->resend;
    dispatch_args a = {.argc = fa->argc,
                       .argv = fa->argv,
                       .argvlen = fa->argvlen,
                       .retries = f->req->retries - 1};

    LOG(&pool->opts, SHARD_LOG_DEBUG, "retrying '%.*s' after: %s",
        (int)(fa->argvlen[0] > 32 ? 32 : fa->argvlen[0]), fa->argv[0],
        f->errmsg ? f->errmsg : shard_strerror(f->status));
    request *retry = dispatch_submit(pool, MODE_INTERNAL, &a);
    if (retry == NULL) {
        fail_as_before(f);
        return;
    }
    retry->userdata = f;
    retry->internal_fn = retry_done;
}

/*
 * A pool-wide command's fragment is about its server, not about a key
 * (SCAN's carries that server's cursor): it goes again to the same
 * server, with one retry less.
 */
static void
resend_to_server(fragment *f)
{
    shard_pool *pool = f->req->pool;
    const fragment_args *fa = f->resend;
    /* A reload that removed the server leaves nothing to ask again. */
    request *retry =
        f->server >= 0 ? request_new(&pool->engine, MODE_INTERNAL, 1) : NULL;

    if (retry == NULL) {
        fail_as_before(f);
        return;
    }
    retry->retries = f->req->retries - 1;
    if (retry->retries > 0) {
        retry->resend_fn = resend_to_server;
        retry->pool = pool;
    }
    retry->name = f->req->name;
    retry->userdata = f;
    retry->internal_fn = retry_done;
    retry->frags[0].server = f->server;
    engine_send(&pool->engine, &retry->frags[0], dispatch_pick(pool, f->server),
                fa->argc, fa->argv, fa->argvlen);
}

request *
dispatch_direct(shard_pool *pool, request_mode mode, conn *c,
                const dispatch_args *a)
{
    request *r = request_new(&pool->engine, mode, 1);

    if (r != NULL)
        engine_send(&pool->engine, &r->frags[0], c, a->argc, a->argv,
                    a->argvlen);
    return r;
}

static int
key_server(shard_pool *pool, const dispatch_args *a, int pos)
{
    return pool_locate(pool, a->argv[pos], a->argvlen[pos]);
}

static shard_reply *
ping_reply(const dispatch_args *a)
{
    if (a->argc == 1)
        return reply_string(SHARD_REPLY_STATUS, "PONG", 4);
    if (a->argc == 2)
        return reply_string(SHARD_REPLY_STRING, a->argv[1], a->argvlen[1]);
    return reply_error("ERR wrong number of arguments for 'ping' command");
}

/* A keyed command whose keys are on several servers cannot run. */
static shard_reply *
spread_error(shard_pool *pool, const char *name, const int *servers, size_t n)
{
    char list[ERROR_MAX] = "";
    size_t used = 0;

    for (size_t s = 0; s < pool->conf->server_count && used < sizeof(list);
         s++) {
        bool involved = false;
        for (size_t i = 0; i < n && !involved; i++)
            involved = servers[i] == (int)s;
        if (!involved)
            continue;
        int w = snprintf(list + used, sizeof(list) - used, "%s'%s'",
                         used ? ", " : "", pool->servers[s].target.addr);
        used += w > 0 ? (size_t)w : 0;
    }
    return reply_error("ERR '%s' has keys on several servers (%s); give them "
                       "a common hash tag to keep them together",
                       name, list);
}

/*
 * NULL when SORT pattern `p` reads only keys of server `server`, else why
 * not. Redis reads the key named by the pattern with each element in
 * place of its first '*' ("#" and a pattern without '*' read nothing), so
 * the keys stay on one server only when a hash tag before the '*' pins
 * them (an element could hold a tag of its own after it).
 */
static shard_reply *
sort_pattern_refusal(shard_pool *pool, const char *name, const char *p,
                     size_t len, int server)
{
    const char *star = memchr(p, '*', len);
    int shown = len > 64 ? 64 : (int)len;
    size_t span_len;

    if (star == NULL || pool->conf->server_count == 1 ||
        pool->topo->rules.dist == DIST_RANDOM)
        return NULL;
    size_t prefix = (size_t)(star - p);
    const char *span = route_tag_span(&pool->topo->rules, p, prefix, &span_len);
    if (span == p)
        return reply_error("ERR '%s' pattern '%.*s' reads keys on every "
                           "server; put the sorted key's hash tag before its "
                           "'*' to keep them on its server",
                           name, shown, p);
    int at = pool_locate(pool, p, prefix);
    if (at != server)
        return reply_error("ERR '%s' pattern '%.*s' reads keys on server "
                           "'%s', not on the sorted key's server '%s'",
                           name, shown, p,
                           at >= 0 ? pool->servers[at].target.addr : "(none)",
                           pool->servers[server].target.addr);
    return NULL;
}

shard_reply *
dispatch_sort_refusal(shard_pool *pool, const command_info *ci,
                      const dispatch_args *a, int server)
{
    int stack[16], *pat = stack;
    int n = command_sort_patterns(ci, a->argc, a->argv, a->argvlen, pat, 16);
    shard_reply *refusal = NULL;

    if (n > 16) {
        if ((pat = malloc((size_t)n * sizeof(*pat))) == NULL)
            return reply_error("ERR out of memory");
        command_sort_patterns(ci, a->argc, a->argv, a->argvlen, pat, n);
    }
    for (int i = 0; i < n && refusal == NULL && server >= 0; i++)
        refusal = sort_pattern_refusal(pool, ci->name, a->argv[pat[i]],
                                       a->argvlen[pat[i]], server);
    if (pat != stack)
        free(pat);
    return refusal;
}

static request *
submit_keyed(shard_pool *pool, request_mode mode, const dispatch_args *a,
             const command_info *ci, const int *pos, int nkeys, int *servers,
             int retries)
{
    bool same = true;

    for (int i = 0; i < nkeys; i++) {
        servers[i] = key_server(pool, a, pos[i]);
        same = same && servers[i] == servers[0];
    }
    /* With random distribution keys have no home: any one server will do. */
    if (!same && pool->topo->rules.dist != DIST_RANDOM)
        return dispatch_local(
            pool, mode, spread_error(pool, ci->name, servers, (size_t)nkeys));
    shard_reply *refusal = dispatch_sort_refusal(pool, ci, a, servers[0]);
    if (refusal != NULL)
        return dispatch_local(pool, mode, refusal);
    return send_to(pool, mode, servers[0], a, retries);
}

static request *
submit_split(shard_pool *pool, request_mode mode, const dispatch_args *a,
             const command_info *ci, const int *pos, int nkeys, int *servers,
             int retries)
{
    command_route route = command_route_of(ci, nkeys);
    fanout_plan plan = {.name = ci->name,
                        .argc = a->argc,
                        .argv = a->argv,
                        .argvlen = a->argvlen,
                        .positions = pos,
                        .nkeys = (size_t)nkeys,
                        .server_count = pool->conf->server_count,
                        .retries = retries,
                        .resend_fn = resend,
                        .pool = pool};
    plan.key_server = servers;
    plan.join = route == ROUTE_SPLIT_MGET  ? JOIN_MGET
                : route == ROUTE_SPLIT_SUM ? JOIN_SUM
                                           : JOIN_MSET;
    for (int i = 0; i < nkeys; i++) {
        servers[i] = key_server(pool, a, pos[i]);
        if (servers[i] < 0)
            return send_to(pool, mode, -1, a, 0);
    }
    return fanout_send(&pool->engine, mode, &plan, dispatch_pick, pool);
}

/* SCAN DBSIZE KEYS FLUSHDB SCRIPT LOAD ...: poolwide.c sends and joins. */
static request *
submit_poolwide(shard_pool *pool, request_mode mode, const dispatch_args *a,
                const command_info *ci)
{
    poolwide_plan plan = {.name = ci->name,
                          .argc = a->argc,
                          .argv = a->argv,
                          .argvlen = a->argvlen,
                          .conf = pool->conf,
                          .servers = pool->servers,
                          .random = route_random(&pool->rng),
                          .retries = a->retries,
                          .resend_fn = resend_to_server,
                          .pool = pool};

    return poolwide_send(&pool->engine, mode, &plan, dispatch_pick, pool);
}

/* `servers` has room for the server of each of the `nkeys` keys. Only
 * read-only commands may be retried: a write could be done twice. */
static request *
submit_routed(shard_pool *pool, request_mode mode, const dispatch_args *a,
              const command_info *ci, const int *pos, int nkeys, int *servers)
{
    int retries = (ci->flags & (CMD_F_WRITE | CMD_F_BLOCKING | CMD_F_TXN))
                      ? 0
                      : a->retries;

    switch (command_route_of(ci, nkeys)) {
    case ROUTE_LOCAL_PING:
        return dispatch_local(pool, mode, ping_reply(a));
    case ROUTE_REJECT:
        return dispatch_local(
            pool, mode,
            reply_error("ERR '%s' %s", ci->name, ci->reject_reason));
    case ROUTE_ANY_SERVER:
        return send_to(
            pool, mode,
            pool_locate(pool, placeholder_key, sizeof(placeholder_key) - 1), a,
            retries);
    case ROUTE_POOLWIDE:
        return submit_poolwide(pool, mode, a, ci);
    case ROUTE_KEYED:
        return submit_keyed(pool, mode, a, ci, pos, nkeys, servers, retries);
    default:
        if (nkeys == 1) /* forwarded unchanged, as twemproxy does */
            return send_to(pool, mode, key_server(pool, a, pos[0]), a, retries);
        return submit_split(pool, mode, a, ci, pos, nkeys, servers, retries);
    }
}

/* Up to `max` bytes of `s` as Redis prints them in an error: to the
 * first NUL, with CR and LF turned to spaces (an error is one line). */
static size_t
put_shown(char *out, const char *s, size_t len, size_t max)
{
    size_t n = 0;

    for (; n < len && n < max && s[n] != '\0'; n++)
        out[n] = (s[n] == '\r' || s[n] == '\n') ? ' ' : s[n];
    return n;
}

shard_reply *
dispatch_unknown_command(const dispatch_args *a)
{
    /* Redis 7.0's words: the name (128 bytes at most), then quoted
     * arguments until 128 bytes of them are shown. */
    char text[512];
    size_t used = (size_t)snprintf(text, sizeof(text), "ERR unknown command '");

    used += put_shown(text + used, a->argv[0], a->argvlen[0], 128);
    used += (size_t)snprintf(text + used, sizeof(text) - used,
                             "', with args beginning with: ");
    size_t args_start = used;
    for (int i = 1; i < a->argc && used - args_start < 128; i++) {
        size_t room = 128 - (used - args_start);
        text[used++] = '\'';
        used += put_shown(text + used, a->argv[i], a->argvlen[i], room);
        text[used++] = '\'';
        text[used++] = ' ';
    }
    return reply_string(SHARD_REPLY_ERROR, text, used);
}

request *
dispatch_submit(shard_pool *pool, request_mode mode, const dispatch_args *a)
{
    /* Key positions, then the server of each key: one array for both. */
    int stack[2 * 128], *pos = stack, nkeys;
    char err[ERROR_MAX];
    request *r;

    if (a->argc == 0)
        return dispatch_local(pool, mode, reply_error("ERR empty command"));
    /* Not for a retry: it is sent from inside the engine's own work. */
    if (mode != MODE_INTERNAL && pool->watch_path != NULL)
        reload_watch(pool);
    if (mode != MODE_INTERNAL && pool->retired != NULL)
        reload_sweep(pool);
    if (mode != MODE_INTERNAL && pool->sentinel != NULL)
        sentinel_tick(pool->sentinel);
    health_readmit(&pool->health);
    const command_info *ci =
        command_find_cached(&pool->commands, a->argc, a->argv, a->argvlen);
    if (ci == NULL)
        return dispatch_local(pool, mode, dispatch_unknown_command(a));
    if (2 * (size_t)a->argc > sizeof(stack) / sizeof(stack[0]) &&
        (pos = malloc(2 * (size_t)a->argc * sizeof(*pos))) == NULL)
        return NULL;
    nkeys = command_keys(ci, a->argc, a->argv, a->argvlen, pos, a->argc, err,
                         sizeof(err));
    if (nkeys < 0)
        r = dispatch_local(pool, mode, reply_error("%s", err));
    else
        r = submit_routed(pool, mode, a, ci, pos, nkeys, pos + a->argc);
    if (r != NULL)
        r->name = ci->name;
    if (pos != stack)
        free(pos);
    return r;
}

int
dispatch_wait(shard_pool *pool, request *r, shard_reply **out)
{
    int rc = engine_wait(&pool->engine, r);

    if (rc == SHARD_OK && !r->done)
        rc = SHARD_EIO;
    if (rc != SHARD_OK)
        pool_fail(pool, rc, "the event loop failed while waiting");
    else if (r->status != SHARD_OK)
        rc = pool_fail(pool, r->status, "%s",
                       r->errmsg ? r->errmsg : shard_strerror(r->status));
    else {
        *out = r->reply;
        r->reply = NULL;
    }
    request_free(r);
    return rc;
}
