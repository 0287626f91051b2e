/*
 * The Redis calls of a pool: blocking, printf-style, per server,
 * pipelined and async. All of them submit to the one engine; blocking
 * calls then run its private poll loop until their request is done.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <shard/redis.h>

#include "async.h"
#include "command.h"
#include "dispatch.h"
#include "pool.h"

/* Common checks of every Redis call. */
static int
check_redis_pool(shard_pool *pool)
{
    if (!pool->conf->redis)
        return pool_fail(pool, SHARD_EUNSUPPORTED,
                         "pool '%s' is a memcached pool (redis: false): "
                         "Redis commands do not apply to memcached pools; "
                         "use the cache API or shard_mc_command_argv()",
                         pool->conf->name);
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    return SHARD_OK;
}

static int
run_blocking(shard_pool *pool, shard_reply **out, int argc, const char **argv,
             const size_t *argvlen, conn *direct)
{
    dispatch_args a;
    int rc;

    if ((rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = direct ? dispatch_direct(pool, MODE_BLOCKING, direct, &a)
                        : dispatch_submit(pool, MODE_BLOCKING, &a);
    dispatch_args_done(&a);
    if (r == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    return dispatch_wait(pool, r, out);
}

SHARD_API int
shard_command_argv(shard_pool *pool, shard_reply **out, int argc,
                   const char **argv, const size_t *argvlen)
{
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((rc = check_redis_pool(pool)) == SHARD_OK)
        rc = run_blocking(pool, out, argc, argv, argvlen, NULL);
    pool_settle(pool);
    return rc;
}

/* Splits hiredis' RESP rendering of a format back into argv (in place). */
static int
resp_to_argv(char *cmd, size_t len, int *argc, const char ***argv,
             size_t **argvlen)
{
    char *p = cmd, *end = cmd + len;
    long n = strtol(p + 1, &p, 10);

    *argv = malloc((size_t)(n > 0 ? n : 1) * sizeof(**argv));
    *argvlen = malloc((size_t)(n > 0 ? n : 1) * sizeof(**argvlen));
    if (*argv == NULL || *argvlen == NULL)
        return SHARD_ENOMEM;
    for (long i = 0; i < n && p + 3 < end; i++) {
        long arglen = strtol(p + 3, &p, 10); /* skip "\r\n$" */
        (*argv)[i] = p + 2;
        (*argvlen)[i] = (size_t)arglen;
        p += 2 + arglen; /* to the "\r\n$" of the next one */
    }
    *argc = (int)n;
    return SHARD_OK;
}

static int
check_server_command(shard_pool *pool, size_t index, int argc,
                     const char **argv, const size_t *argvlen)
{
    int rc = check_redis_pool(pool);

    if (rc != SHARD_OK)
        return rc;
    if (index >= pool->conf->server_count)
        return pool_fail(pool, SHARD_EINVAL, "no server %zu (the pool has %zu)",
                         index, pool->conf->server_count);
    if (argc == 0)
        return pool_fail(pool, SHARD_EINVAL, "empty command");
    if (argv != NULL && argv[0] != NULL) {
        const command_info *ci = command_find(argc, argv, argvlen);
        if (ci != NULL && (ci->flags & CMD_F_CONN_STATE))
            return pool_fail(pool, SHARD_EUNSUPPORTED,
                             "'%s' would change the state of a shared "
                             "connection",
                             ci->name);
    }
    return SHARD_OK;
}

/* Where a command goes: routed by its keys, or to one server. */
typedef struct command_target {
    bool routed;  /* by its keys (index unused) */
    size_t index; /* else this server, as the caller gave it */
} command_target;

static const command_target routed = {true, 0};

/* The checks both forms share (argv and printf), then the call. */
static int
run_command(shard_pool *pool, shard_reply **out, command_target to, int argc,
            const char **argv, const size_t *argvlen)
{
    int rc = to.routed
                 ? check_redis_pool(pool)
                 : check_server_command(pool, to.index, argc, argv, argvlen);

    if (rc != SHARD_OK)
        return rc;
    return run_blocking(pool, out, argc, argv, argvlen,
                        to.routed ? NULL : dispatch_pick(pool, (int)to.index));
}

static shard_reply *
command_va(shard_pool *pool, command_target to, const char *fmt, va_list ap)
{
    shard_reply *reply = NULL;
    const char **argv = NULL;
    size_t *argvlen = NULL;
    char *cmd = NULL;
    int argc = 0, len;

    len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0) {
        pool_fail(pool, SHARD_EINVAL, "bad format string \"%s\"", fmt);
    } else if (resp_to_argv(cmd, (size_t)len, &argc, &argv, &argvlen) !=
               SHARD_OK) {
        pool_fail(pool, SHARD_ENOMEM, "out of memory");
    } else {
        run_command(pool, &reply, to, argc, argv, argvlen);
    }
    free(argv);
    free(argvlen);
    free(cmd);
    return reply;
}

SHARD_API shard_reply *
shard_command(shard_pool *pool, const char *fmt, ...)
{
    shard_reply *reply;
    va_list ap;

    if (pool_check_arg(pool, fmt, "fmt") != SHARD_OK)
        return NULL;
    va_start(ap, fmt);
    reply = command_va(pool, routed, fmt, ap);
    va_end(ap);
    pool_settle(pool);
    return reply;
}

SHARD_API int
shard_command_server_argv(shard_pool *pool, size_t index, shard_reply **out,
                          int argc, const char **argv, const size_t *argvlen)
{
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if (argc < 0 || (argc > 0 && argv == NULL))
        rc = pool_fail(pool, SHARD_EINVAL, "argc is %d and argv is %s", argc,
                       argv ? "set" : "NULL");
    else
        rc = run_command(pool, out, (command_target){false, index}, argc, argv,
                         argvlen);
    pool_settle(pool);
    return rc;
}

SHARD_API shard_reply *
shard_command_server(shard_pool *pool, size_t index, const char *fmt, ...)
{
    shard_reply *reply = NULL;
    va_list ap;

    if (pool_check_arg(pool, fmt, "fmt") != SHARD_OK)
        return NULL;
    va_start(ap, fmt);
    reply = command_va(pool, (command_target){false, index}, fmt, ap);
    va_end(ap);
    pool_settle(pool);
    return reply;
}

/* --- pipelining ----------------------------------------------------------- */

SHARD_API int
shard_append_argv(shard_pool *pool, int argc, const char **argv,
                  const size_t *argvlen)
{
    dispatch_args a;
    int rc;

    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if ((rc = check_redis_pool(pool)) != SHARD_OK ||
        (rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = dispatch_submit(pool, MODE_PIPELINED, &a);
    dispatch_args_done(&a);
    if (r == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory");
    if (pool->pipe_tail != NULL)
        pool->pipe_tail->next = r;
    else
        pool->pipe_head = r;
    pool->pipe_tail = r;
    return SHARD_OK;
}

SHARD_API int
shard_get_reply(shard_pool *pool, shard_reply **out)
{
    request *r;
    int rc;

    if ((rc = pool_check_arg(pool, out, "out")) != SHARD_OK)
        return rc;
    *out = NULL;
    if ((r = pool->pipe_head) == NULL)
        return pool_fail(pool, SHARD_ESTATE,
                         "no appended command is waiting "
                         "for its reply");
    pool->pipe_head = r->next;
    if (pool->pipe_head == NULL)
        pool->pipe_tail = NULL;
    rc = dispatch_wait(pool, r, out);
    pool_settle(pool);
    return rc;
}

/* --- async ---------------------------------------------------------------- */

SHARD_API int
shard_command_async(shard_pool *pool, int argc, const char **argv,
                    const size_t *argvlen, shard_reply_fn fn, void *userdata)
{
    dispatch_args a;
    int rc;

    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if ((rc = async_check(pool, fn)) != SHARD_OK ||
        (rc = dispatch_args_init(pool, &a, argc, argv, argvlen)) != SHARD_OK)
        return rc;
    request *r = dispatch_submit(pool, MODE_ASYNC, &a);
    dispatch_args_done(&a);
    return async_track(pool, r, fn, userdata);
}
