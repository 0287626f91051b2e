/*
 * The event-loop API: the application's hooks (and their cleanup), the
 * entry points its loop calls, and what every async submit shares. Which
 * commands are submitted is the business of redis_api.c and txn.c.
 */
#include "async.h"

SHARD_API int
shard_pool_set_event_hooks(shard_pool *pool, shard_watch_fn watch,
                           shard_timer_fn timer, void *userdata)
{
    engine_hooks hooks = {watch, timer, NULL, userdata};

    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if ((watch == NULL) != (timer == NULL))
        return pool_fail(pool, SHARD_EINVAL,
                         "watch and timer hooks go together: set both, or "
                         "neither to leave the loop");
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    if (pool->engine.async_pending > 0)
        return pool_fail(pool, SHARD_ESTATE,
                         "%zu async commands are pending: hooks change only "
                         "while none is",
                         pool->engine.async_pending);
    engine_set_hooks(&pool->engine, &hooks);
    return SHARD_OK;
}

SHARD_API int
shard_pool_set_event_cleanup(shard_pool *pool, shard_cleanup_fn cleanup)
{
    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if (pool->engine.hooks.watch == NULL)
        return pool_fail(pool, SHARD_EINVAL,
                         "no event hooks to clean up: call "
                         "shard_pool_set_event_hooks() first");
    pool->engine.hooks.cleanup = cleanup;
    return SHARD_OK;
}

SHARD_API int
shard_pool_set_error(shard_pool *pool, int code, const char *message)
{
    if (message == NULL)
        message = shard_strerror(code);
    if (pool == NULL)
        return error_set_last(code, "%s", message);
    return pool_fail(pool, code, "%s", message);
}

SHARD_API void
shard_pool_on_fd(shard_pool *pool, int fd, int events)
{
    if (pool == NULL)
        return;
    engine_on_fd(&pool->engine, fd, events);
    engine_run_deferred(&pool->engine);
    engine_deliver(&pool->engine);
    engine_update_timer(&pool->engine);
    pool_settle(pool);
}

SHARD_API void
shard_pool_on_timeout(shard_pool *pool)
{
    if (pool == NULL)
        return;
    engine_check_deadlines(&pool->engine);
    engine_run_deferred(&pool->engine);
    engine_deliver(&pool->engine);
    engine_update_timer(&pool->engine);
    pool_settle(pool);
}

SHARD_API size_t
shard_pool_pending(const shard_pool *pool)
{
    return pool != NULL ? pool->engine.async_pending : 0;
}

int
async_check(shard_pool *pool, shard_reply_fn fn)
{
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    if (fn == NULL)
        return pool_fail(pool, SHARD_EINVAL, "callback is NULL");
    if (pool->engine.hooks.watch == NULL)
        return pool_fail(pool, SHARD_ESTATE,
                         "no event loop: call shard_pool_set_event_hooks() "
                         "(or an adapter) first");
    return SHARD_OK;
}

int
async_track(shard_pool *pool, request *r, shard_reply_fn fn, void *userdata)
{
    if (r == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    r->fn = fn;
    r->userdata = userdata;
    r->pool = pool;
    pool->engine.async_pending++;
    engine_update_timer(&pool->engine);
    return SHARD_OK;
}
