/* The stats API: the pool's documents for the application. */
#include <stdlib.h>

#include <shard/stats.h>

#include "pool.h"

typedef char *(*render_fn)(const stats_view *v, size_t *len);

static int
render(shard_pool *pool, char **out, size_t *len, render_fn fn)
{
    size_t n = 0;
    int rc;

    if ((rc = pool_check_arg(pool, out, "the output pointer")) != SHARD_OK)
        return rc;
    *out = NULL;
    if (len == NULL)
        return pool_fail(pool, SHARD_EINVAL, "len is NULL");
    stats_view v = pool_stats_view(pool);
    *out = fn(&v, &n);
    if (*out == NULL)
        return pool_fail(pool, SHARD_ENOMEM,
                         "out of memory for the stats document");
    *len = n;
    return SHARD_OK;
}

SHARD_API int
shard_pool_stats_json(shard_pool *pool, char **json, size_t *len)
{
    return render(pool, json, len, stats_json);
}

SHARD_API int
shard_pool_stats_prometheus(shard_pool *pool, char **text, size_t *len)
{
    return render(pool, text, len, stats_prometheus);
}

SHARD_API void
shard_free(void *p)
{
    free(p);
}
