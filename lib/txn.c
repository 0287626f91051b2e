/*
 * Transactions: MULTI/EXEC and WATCH need a connection nobody else writes
 * to, so a transaction opens its own to the server of its key, on the
 * pool's engine. Its connection is never silently reopened: a lost
 * connection means a lost MULTI or WATCH, and the caller must know.
 */
#include <stdlib.h>
#include <string.h>

#include <shard/redis.h>

#include "async.h"
#include "command.h"
#include "dispatch.h"
#include "pool.h"

struct shard_txn {
    pool_child link;       /* pool and own connection; cut on pool free */
    bool connected_once;   /* its connection was opened */
    bool in_multi;         /* MULTI sent, no EXEC or DISCARD since */
    bool refused_in_multi; /* libshard refused a command inside it: EXEC
                              must abort, as Redis does after a queueing
                              error (EXECABORT) */
};

/* Redis' reply to EXEC after a command failed to queue. */
static const char execabort[] =
    "EXECABORT Transaction discarded because of previous errors.";

SHARD_API int
shard_txn_begin(shard_pool *pool, shard_txn **out, const char *key,
                size_t keylen)
{
    int server;

    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if (out == NULL || (key == NULL && keylen > 0))
        return pool_fail(pool, SHARD_EINVAL, "%s is NULL",
                         out == NULL ? "out" : "key");
    *out = NULL;
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    if (!pool->conf->redis)
        return pool_fail(pool, SHARD_EUNSUPPORTED,
                         "pool '%s' is a memcached pool", pool->conf->name);
    if ((server = shard_pool_locate(pool, key ? key : "", keylen)) < 0)
        return server;
    shard_txn *txn = calloc(1, sizeof(*txn));
    if (txn == NULL || (txn->link.conn = pool_conn_new(pool, server)) == NULL) {
        free(txn);
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    }
    pool_child_add(pool, &txn->link);
    *out = txn;
    return SHARD_OK;
}

/* Its server's index now (a reload renumbers servers); -1 when a reload
 * removed it or the pool is gone. */
static int
txn_server_now(const shard_txn *txn)
{
    return txn->link.conn != NULL ? txn->link.conn->server : -1;
}

SHARD_API int
shard_txn_server(const shard_txn *txn)
{
    if (txn == NULL)
        return error_set_last(SHARD_EINVAL, "txn is NULL");
    int server = txn_server_now(txn);
    if (server < 0)
        return error_set_last(SHARD_ENOSERVER,
                              "the transaction's server is gone (pool freed, "
                              "or removed by a reload)");
    return server;
}

/* NULL when the command may run in the transaction, else the refusal. */
static shard_reply *
txn_refusal(shard_txn *txn, const command_info **found, const dispatch_args *a)
{
    char err[ERROR_MAX];
    shard_pool *pool = txn->link.pool;

    *found = NULL;
    if (a->argc == 0)
        return reply_error("ERR empty command");
    const command_info *ci = command_find(a->argc, a->argv, a->argvlen);
    *found = ci;
    if (ci == NULL)
        return dispatch_unknown_command(a);
    int *pos = malloc((size_t)a->argc * sizeof(*pos));
    if (pos == NULL)
        return reply_error("ERR out of memory");
    int nkeys = command_keys(ci, a->argc, a->argv, a->argvlen, pos, a->argc,
                             err, sizeof(err));
    shard_reply *refusal = NULL;
    int server = txn_server_now(txn);
    if (nkeys < 0)
        refusal = reply_error("%s", err);
    else if (server < 0 && nkeys > 0)
        refusal = reply_error("ERR the transaction's server was removed by a "
                              "reload");
    else if (ci->route == ROUTE_REJECT && !(ci->flags & CMD_F_TXN))
        refusal = reply_error("ERR '%s' %s", ci->name, ci->reject_reason);
    else if (ci->route == ROUTE_POOLWIDE)
        refusal = reply_error("ERR '%s' concerns every server of the pool; a "
                              "transaction runs on one",
                              ci->name);
    for (int i = 0;
         refusal == NULL && i < nkeys && pool->topo->rules.dist != DIST_RANDOM;
         i++) {
        int s = shard_pool_locate(pool, a->argv[pos[i]], a->argvlen[pos[i]]);
        if (s != server)
            refusal = reply_error(
                "ERR '%s' key is on server '%s', not on the transaction's "
                "server '%s'",
                ci->name, s >= 0 ? pool->servers[s].target.addr : "(none)",
                txn->link.conn->target->addr);
    }
    free(pos);
    if (refusal == NULL && pool->topo->rules.dist != DIST_RANDOM)
        refusal = dispatch_sort_refusal(pool, ci, a, server);
    return refusal;
}

/* DISCARD's +OK becomes EXEC's EXECABORT: the transaction is gone. The
 * +OK stays with its fragment: the reader still owns it until the
 * callback returns. */
static void
join_execabort(request *r)
{
    const fragment *f = &r->frags[0];

    if (f->status != SHARD_OK || f->reply == NULL) {
        request_join_single(r);
        return;
    }
    r->reply = reply_error("%s", execabort);
    if (r->reply == NULL) {
        r->status = SHARD_ENOMEM;
        r->errmsg = strdup("out of memory");
    }
}

/* A refusal, answered in its place among the transaction's replies. */
static request *
txn_refuse(shard_txn *txn, request_mode mode, shard_reply *refusal)
{
    request *r = request_new(&txn->link.pool->engine, mode, 1);

    if (r == NULL) {
        shard_reply_free(refusal);
        return NULL;
    }
    txn->refused_in_multi = txn->refused_in_multi || txn->in_multi;
    conn_answer_local(txn->link.conn, &r->frags[0], refusal);
    return r;
}

/* Tracks MULTI ... EXEC/DISCARD, and turns the EXEC of a transaction with
 * a refused command into DISCARD (its reply into EXECABORT). */
static void
txn_track(shard_txn *txn, const command_info *ci, dispatch_args *a,
          request_fn *join)
{
    static const char *discard[] = {"DISCARD"};
    static const size_t discard_len[] = {7};

    *join = NULL;
    if (strcmp(ci->name, "multi") == 0) {
        txn->in_multi = true;
        txn->refused_in_multi = false;
        return;
    }
    if (strcmp(ci->name, "exec") != 0 && strcmp(ci->name, "discard") != 0)
        return;
    if (strcmp(ci->name, "exec") == 0 && txn->refused_in_multi) {
        a->argc = 1;
        a->argv = discard;
        a->argvlen = discard_len;
        *join = join_execabort;
    }
    txn->in_multi = false;
    txn->refused_in_multi = false;
}

/* The request for one command of the transaction (maybe done at once). */
static request *
txn_submit(shard_txn *txn, request_mode mode, const dispatch_args *args)
{
    shard_pool *pool = txn->link.pool;
    const command_info *ci;
    conn *c = txn->link.conn;
    dispatch_args a = *args;
    request_fn join;

    /* A lost connection first: the key checks would then compare with a
     * ring that may have moved on (an ejection). */
    if (txn->connected_once && c->fd < 0) {
        request *r = request_new(&pool->engine, mode, 1);
        if (r != NULL)
            fragment_done(&r->frags[0], NULL, SHARD_ECONN,
                          "the transaction's connection was lost; "
                          "begin a new transaction");
        return r;
    }
    shard_reply *refusal = txn_refusal(txn, &ci, args);
    if (refusal != NULL)
        return txn_refuse(txn, mode, refusal);
    txn_track(txn, ci, &a, &join);
    request *r = request_new(&pool->engine, mode, 1);
    if (r != NULL) {
        r->join_fn = join;
        engine_send(&pool->engine, &r->frags[0], c, a.argc, a.argv, a.argvlen);
    }
    txn->connected_once = txn->connected_once || c->fd >= 0;
    return r;
}

/* The transaction is usable: SHARD_ECLOSED (last error set) once its pool
 * is freed. */
static int
txn_check(const shard_txn *txn)
{
    if (txn->link.pool == NULL || txn->link.conn == NULL)
        return error_set_last(SHARD_ECLOSED,
                              "the transaction's pool was freed");
    return SHARD_OK;
}

SHARD_API int
shard_txn_command_argv(shard_txn *txn, shard_reply **out, int argc,
                       const char **argv, const size_t *argvlen)
{
    dispatch_args a;
    int rc;

    if (txn == NULL)
        return error_set_last(SHARD_EINVAL, "txn is NULL");
    if ((rc = txn_check(txn)) != SHARD_OK)
        return rc;
    shard_pool *pool = txn->link.pool;
    if (out == NULL)
        return pool_fail(pool, SHARD_EINVAL, "out is NULL");
    *out = NULL;
    if ((rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = txn_submit(txn, MODE_BLOCKING, &a);
    dispatch_args_done(&a);
    if (r == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    rc = dispatch_wait(pool, r, out);
    /* A callback run while waiting may have freed the pool. */
    pool_settle(pool);
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
        return error_set_last(SHARD_EINVAL, "txn is NULL");
    if ((rc = txn_check(txn)) != SHARD_OK)
        return rc;
    shard_pool *pool = txn->link.pool;
    if ((rc = async_check(pool, fn)) != SHARD_OK ||
        (rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = txn_submit(txn, MODE_ASYNC, &a);
    dispatch_args_done(&a);
    return async_track(pool, r, fn, userdata);
}

SHARD_API void
shard_txn_free(shard_txn *txn)
{
    if (txn == NULL)
        return;
    shard_pool *pool = txn->link.pool;
    if (pool != NULL) {
        pool_child_remove(pool, &txn->link);
        engine_remove_conn(&pool->engine, txn->link.conn);
        conn_close(txn->link.conn, SHARD_ECLOSED,
                   "the transaction was freed before its server replied");
        /* Closing discards an open MULTI; pending async calls get ECLOSED. */
        conn_free(txn->link.conn);
        engine_update_timer(&pool->engine);
    }
    free(txn);
}
