/* The event-loop API's checks and bookkeeping, shared by every async call. */
#ifndef SHARD_LIB_ASYNC_H
#define SHARD_LIB_ASYNC_H

#include "pool.h"

/* Checks an async submit: pool open, a callback, event hooks set. */
int async_check(shard_pool *pool, shard_reply_fn fn);

/*
 * Registers an async request: its callback, counted as pending, and the
 * timer told about it. SHARD_ENOMEM (pool message set) when r is NULL.
 */
int async_track(shard_pool *pool, request *r, shard_reply_fn fn,
                void *userdata);

#endif
