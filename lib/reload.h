/*
 * Live reload of a pool's config (shard_pool_reload*), the opt-in watch
 * of its file, and the retirement of the servers a reload removed.
 */
#ifndef SHARD_LIB_RELOAD_H
#define SHARD_LIB_RELOAD_H

#include "pool.h"

/* Closes the connections of retired servers that have drained, and frees
 * the retired servers no connection points at any more. */
void reload_sweep(shard_pool *pool);

/*
 * shard_options.watch_config: at most once a second, reloads the pool's
 * file when it changed (a failure is logged, and the pool kept as it was
 * until the file changes again).
 */
void reload_watch(shard_pool *pool);

#endif
