/*
 * A connection to a memcached server through libmemcached: the backend of
 * `redis: false` pools. Its descriptor is an eventfd that the pool's
 * worker thread signals; blocking calls run inline on the caller's thread
 * whenever the worker is idle.
 */
#ifndef SHARD_LIB_CONN_MC_H
#define SHARD_LIB_CONN_MC_H

#include <stdint.h>

#include "conn.h"
#include "mc_worker.h"

/*
 * A closed connection to `target` for server index `server`, counting into
 * `stats` (both borrowed: they must outlive the connection), run by
 * `worker` when not inline, with the pool's `timeout_ms`. NULL when out of
 * memory or descriptors. Free it with conn_free().
 */
conn *conn_mc_new(conn_env *env, const conn_target *target, server_stats *stats,
                  int server, mc_worker *worker, int timeout_ms);

/* A reload's `timeout_ms`, taken at the connection's next command. */
void conn_mc_set_timeout(conn *c, int timeout_ms);

/*
 * Answers the fragments whose work is done: the inline commands of a
 * blocking call (reading the replies of its gets, sent to every server
 * first), and what the worker has finished.
 */
void conn_mc_collect(conn *c);

/* preconnect: connects now, on the caller's thread, learning the server's
 * item size; failures are reported as a connect's are, and ignored. */
void conn_mc_warm(conn *c);

/*
 * The largest value the server stores under a key of `keylen` bytes with
 * `flags` (memcached's default item size until it told its own).
 */
size_t conn_mc_value_max(const conn *c, size_t keylen, uint32_t flags);

#endif
