/*
 * The memcached calls of a pool (<shard/memcached.h>): blocking and async,
 * both through mc_dispatch.c on the pool's one engine.
 */
#include <shard/memcached.h>

#include "async.h"
#include "mc_dispatch.h"

/* SHARD_OK for an open memcached pool; else the code, pool message set. */
static int
check_mc_pool(shard_pool *pool)
{
    if (pool->conf->redis)
        return pool_fail(pool, SHARD_EUNSUPPORTED,
                         "pool '%s' is a Redis pool (redis: true): use the "
                         "Redis calls or the cache API",
                         pool->conf->name);
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    return SHARD_OK;
}

SHARD_API int
shard_mc_command_argv(shard_pool *pool, shard_reply **out, int argc,
                      const char **argv, const size_t *argvlen)
{
    dispatch_args a;
    request *r;
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((rc = check_mc_pool(pool)) != SHARD_OK ||
        (rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    r = mc_dispatch_submit(pool, MODE_BLOCKING, &a);
    dispatch_args_done(&a);
    rc = r != NULL ? dispatch_wait(pool, r, out) : SHARD_ENOMEM;
    pool_settle(pool);
    return rc;
}

SHARD_API int
shard_mc_command_async(shard_pool *pool, int argc, const char **argv,
                       const size_t *argvlen, shard_reply_fn fn, void *userdata)
{
    dispatch_args a;
    int rc;

    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if ((rc = check_mc_pool(pool)) != SHARD_OK ||
        (rc = async_check(pool, fn)) != SHARD_OK ||
        (rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = mc_dispatch_submit(pool, MODE_ASYNC, &a);
    dispatch_args_done(&a);
    return async_track(pool, r, fn, userdata);
}
