/*
 * The stats document of one pool: nutcracker's JSON (its field names and
 * shape, so that collectors written for its stats port read it) and the
 * Prometheus text exposition of the same figures. Safe to build on any
 * thread while the pool's thread runs: it reads only counters (atomics)
 * and what never changes after open.
 */
#ifndef SHARD_LIB_STATS_DOC_H
#define SHARD_LIB_STATS_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "stats.h"

/* What a document is made of; everything is borrowed. */
typedef struct stats_view {
    const char *pool_name;
    const struct server *servers; /* in twemproxy order */
    size_t server_count;
    const pool_stats *pool;
    int64_t opened_us; /* monotonic time the pool was opened */
} stats_view;

/* The JSON document, NUL-terminated, malloc'd; *len its length. NULL when
 * out of memory. */
char *stats_json(const stats_view *v, size_t *len);

/* The Prometheus text exposition (format 0.0.4), malloc'd; NULL when out
 * of memory. */
char *stats_prometheus(const stats_view *v, size_t *len);

#endif
