/* libshard: client-side sharding over Redis and memcached, as twemproxy. */
#ifndef SHARD_SHARD_H
#define SHARD_SHARD_H

#include <shard/async.h>
#include <shard/cache.h>
#include <shard/common.h>
#include <shard/memcached.h>
#include <shard/pool.h>
#include <shard/redis.h>
#include <shard/reply.h>
#include <shard/stats.h>
#include <shard/version.h>

#endif
