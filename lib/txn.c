/*
 * Transactions: MULTI/EXEC and WATCH need a connection nobody else writes
 * to, so a transaction opens its own to the server of its key, on the
 * pool's engine. Its connection is never silently reopened: a lost
 * connection means a lost MULTI or WATCH, and the caller must know.
 */
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "dispatch.h"
#include "pool.h"

struct shard_txn {
    shard_pool *pool;       /* NULL once the pool is freed */
    conn *conn;             /* its own connection; NULL once closed */
    int server;             /* index of the server it runs on */
    bool connected_once;    /* its connection was opened */
    struct shard_txn *next; /* in pool->txns */
};

SHARD_API int
shard_txn_begin(shard_pool *pool, shard_txn **out, const char *key,
                size_t keylen)
{
    const conf_pool *c;
    int server;

    if (pool == NULL || out == NULL || (key == NULL && keylen > 0))
        return SHARD_EINVAL;
    *out = NULL;
    c = pool->conf;
    if (!c->redis)
        return pool_fail(pool, SHARD_EUNSUPPORTED,
                         "pool '%s' is a memcached "
                         "pool",
                         c->name);
    if ((server = shard_pool_locate(pool, key ? key : "", keylen)) < 0)
        return server;
    shard_txn *txn = calloc(1, sizeof(*txn));
    if (txn == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    txn->conn = conn_new(&pool->engine, &c->servers[server], server,
                         c->redis_auth, c->redis_db);
    if (txn->conn == NULL ||
        engine_add_conn(&pool->engine, txn->conn) != SHARD_OK) {
        conn_free(txn->conn);
        free(txn);
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    }
    txn->pool = pool;
    txn->server = server;
    txn->next = pool->txns;
    pool->txns = txn;
    *out = txn;
    return SHARD_OK;
}

SHARD_API int
shard_txn_server(const shard_txn *txn)
{
    return txn != NULL ? txn->server : SHARD_EINVAL;
}

/* NULL when the command may run in the transaction, else the refusal. */
static shard_reply *
txn_refusal(shard_txn *txn, const dispatch_args *a)
{
    char err[ERROR_MAX];
    shard_pool *pool = txn->pool;

    if (a->argc == 0)
        return reply_error("ERR empty command");
    const command_info *ci = command_find(a->argc, a->argv, a->argvlen);
    if (ci == NULL)
        return reply_error("ERR unknown command '%.*s'",
                           (int)(a->argvlen[0] > 64 ? 64 : a->argvlen[0]),
                           a->argv[0]);
    int *pos = malloc((size_t)a->argc * sizeof(*pos));
    if (pos == NULL)
        return reply_error("ERR out of memory");
    int nkeys = command_keys(ci, a->argc, a->argv, a->argvlen, pos, a->argc,
                             err, sizeof(err));
    shard_reply *refusal = NULL;
    if (nkeys < 0)
        refusal = reply_error("%s", err);
    else if (ci->route == ROUTE_REJECT && !(ci->flags & CMD_F_TXN))
        refusal = reply_error("ERR '%s' %s", ci->name, ci->reject_reason);
    for (int i = 0;
         refusal == NULL && i < nkeys && pool->rules.dist != DIST_RANDOM; i++) {
        int s = shard_pool_locate(pool, a->argv[pos[i]], a->argvlen[pos[i]]);
        if (s != txn->server)
            refusal = reply_error(
                "ERR '%s' key is on server '%s', not on the transaction's "
                "server '%s'",
                ci->name, s >= 0 ? pool->conf->servers[s].addr : "(none)",
                pool->conf->servers[txn->server].addr);
    }
    free(pos);
    return refusal;
}

/* The request for one command of the transaction (maybe done at once). */
static request *
txn_submit(shard_txn *txn, request_mode mode, const dispatch_args *a)
{
    shard_reply *refusal = txn_refusal(txn, a);
    conn *c = txn->conn;

    if (refusal != NULL)
        return dispatch_local(txn->pool, mode, refusal);
    if (txn->connected_once && c->ac == NULL) {
        request *r = request_new(&txn->pool->engine, mode, 1);
        if (r != NULL)
            engine_fragment_done(&r->frags[0], NULL, SHARD_ECONN,
                                 "the transaction's connection was lost; "
                                 "begin a new transaction");
        return r;
    }
    request *r = dispatch_direct(txn->pool, mode, c, a);
    txn->connected_once = txn->connected_once || c->ac != NULL;
    return r;
}

static int
txn_check(shard_txn *txn)
{
    if (txn->pool == NULL || txn->conn == NULL)
        return SHARD_ECLOSED;
    return SHARD_OK;
}

SHARD_API int
shard_txn_command_argv(shard_txn *txn, shard_reply **out, int argc,
                       const char **argv, const size_t *argvlen)
{
    dispatch_args a;
    int rc;

    if (txn == NULL || out == NULL)
        return SHARD_EINVAL;
    *out = NULL;
    if ((rc = txn_check(txn)) != SHARD_OK)
        return rc;
    shard_pool *pool = txn->pool;
    if ((rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = txn_submit(txn, MODE_BLOCKING, &a);
    dispatch_args_done(&a);
    if (r == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    rc = engine_wait(&pool->engine, r);
    if (rc == SHARD_OK && r->status != SHARD_OK)
        rc = pool_fail(pool, r->status, "%s", r->errmsg ? r->errmsg : "");
    if (rc == SHARD_OK) {
        *out = r->reply;
        r->reply = NULL;
    }
    request_free(r);
    return rc;
}

SHARD_API int
shard_txn_command_async(shard_txn *txn, int argc, const char **argv,
                        const size_t *argvlen, shard_reply_fn fn,
                        void *userdata)
{
    dispatch_args a;
    int rc;

    if (txn == NULL)
        return SHARD_EINVAL;
    if ((rc = txn_check(txn)) != SHARD_OK)
        return rc;
    if ((rc = pool_check_async(txn->pool, fn)) != SHARD_OK ||
        (rc = dispatch_args_init(txn->pool, &a, argc, argv, argvlen)) !=
            SHARD_OK)
        return rc;
    request *r = txn_submit(txn, MODE_ASYNC, &a);
    dispatch_args_done(&a);
    return pool_track_async(txn->pool, r, fn, userdata);
}

static void
txn_unlink(shard_txn *txn)
{
    shard_txn **p = &txn->pool->txns;

    while (*p != NULL && *p != txn)
        p = &(*p)->next;
    if (*p == txn)
        *p = txn->next;
}

SHARD_API void
shard_txn_free(shard_txn *txn)
{
    if (txn == NULL)
        return;
    if (txn->pool != NULL) {
        txn_unlink(txn);
        engine_remove_conn(&txn->pool->engine, txn->conn);
        /* Closing discards an open MULTI; pending async calls get ECLOSED. */
        conn_free(txn->conn);
        engine_update_timer(&txn->pool->engine);
    }
    free(txn);
}

void
txn_pool_closing(shard_pool *pool)
{
    /* The engine frees the connections; the handles stay until freed. */
    for (shard_txn *t = pool->txns; t != NULL; t = t->next) {
        t->pool = NULL;
        t->conn = NULL;
    }
    pool->txns = NULL;
}
