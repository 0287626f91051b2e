/* A small poll() loop that drives one pool's async API, for tests. */
#ifndef SHARD_TEST_HARNESS_LOOP_H
#define SHARD_TEST_HARNESS_LOOP_H

#include <shard/shard.h>

/* Sets `pool`'s event hooks to this loop (one pool at a time); returns
 * shard_pool_set_event_hooks()'s code. */
int harness_loop_attach(shard_pool *pool);

/*
 * Runs the loop until `*count` reaches `want` or `max_ms` have passed:
 * each round fires the pool's timer first when it is due (as a loop whose
 * timer expired while a callback ran would), then polls the watched
 * descriptors for up to 10 ms. Returns `*count`.
 */
int harness_loop_run(shard_pool *pool, const int *count, int want, int max_ms);

/* Clears the pool's hooks (nothing may be pending); returns the code. */
int harness_loop_detach(shard_pool *pool);

#endif
