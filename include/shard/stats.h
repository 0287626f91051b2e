/*
 * libshard: live stats of a pool, as nutcracker's stats port shows them
 * (its field names and document shape) plus libshard's own figures, and
 * the same figures for Prometheus. docs/api.md describes every field.
 */
#ifndef SHARD_STATS_H
#define SHARD_STATS_H

#include <shard/pool.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The stats document of `pool`, JSON in nutcracker 0.5's shape: top-level
 * "service", "source", "version", "uptime" (s), "timestamp" (epoch s),
 * "total_connections", "curr_connections"; an object keyed by the pool's
 * name with the pool's counters; inside it an object per server keyed by
 * its identity. *json is NUL-terminated, *len bytes long, libshard's:
 * free it with shard_free(). SHARD_EINVAL for a NULL argument,
 * SHARD_ENOMEM when out of memory (then *json is NULL).
 */
SHARD_API int shard_pool_stats_json(shard_pool *pool, char **json, size_t *len);

/*
 * The same figures in the Prometheus text exposition format 0.0.4
 * (metrics "shard_*", labels pool and server), for a /metrics endpoint.
 * Ownership and errors as shard_pool_stats_json.
 */
SHARD_API int shard_pool_stats_prometheus(shard_pool *pool, char **text,
                                          size_t *len);

/* Frees memory libshard handed over (a stats document); NULL is fine. */
SHARD_API void shard_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
