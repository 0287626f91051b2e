/*
 * A pool's topology: its servers in twemproxy order and the ring over the
 * live ones, as one immutable snapshot. Ejection and return (and later
 * Sentinel switches and reload) build a new one and swap it in whole;
 * requests already routed finish on the connections they were sent to.
 * What is frozen is the ring (who is live when it was built); the servers
 * are the pool's shared objects, whose state goes on changing.
 */
#ifndef SHARD_LIB_TOPOLOGY_H
#define SHARD_LIB_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#include "conf_pool.h"
#include "ring.h"
#include "route.h"
#include "server.h"

typedef struct topology {
    route_rules rules;      /* hash, tag and distribution */
    struct server *servers; /* in twemproxy order; borrowed from the pool */
    size_t server_count;    /* in servers */
    ring *ring;             /* over the servers live when it was built */
    int64_t next_return_us; /* earliest retry of an ejected one; 0: none */
} topology;

/* The placement rules of pool config `c`: hash, tag, distribution. */
route_rules topology_rules_of(const conf_pool *c);

/*
 * A snapshot of `n` servers (which must outlive it) with `rules`, its ring
 * over those marked live. NULL when out of memory.
 */
topology *topology_build(const route_rules *rules, struct server *servers,
                         size_t n);

void topology_free(topology *t);

/*
 * The server for `key` (`len` bytes), or -1 when none is live; `rng` is
 * the caller's state for the random distribution.
 */
int topology_locate(const topology *t, const char *key, size_t len,
                    uint64_t *rng);

#endif
