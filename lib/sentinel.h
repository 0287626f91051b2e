/*
 * Redis Sentinel for a pool with `sentinels:`: each server's name is its
 * master's name in Sentinel. At open the sentinels say where each master
 * is; then one subscription to +switch-master follows failovers, and a
 * master whose connection drops or that answers -READONLY is asked about
 * again. A switch changes the server's address and nothing else: its
 * identity, and so every key's placement, stays.
 */
#ifndef SHARD_LIB_SENTINEL_H
#define SHARD_LIB_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn_redis.h"
#include "engine.h"
#include "health.h"

typedef struct sentinel_ask sentinel_ask;

typedef struct sentinel {
    conn_target *addrs;          /* the sentinels, in config order; owned */
    size_t count;                /* in addrs */
    size_t current;              /* the one subscribed to and asked */
    conn *sub;                   /* the +switch-master subscription */
    conn *query;                 /* asks SENTINEL get-master-addr-by-name */
    bool resubscribe;            /* the subscription was lost */
    int64_t next_resubscribe_us; /* not before (all may be down) */
    server_stats stats;          /* counters of its connections (unshown) */
    health *health;              /* the pool's: servers, events */
    engine *engine;              /* the pool's: connections, requests */
    uint64_t *switches;          /* the pool's sentinel_switches counter */
    int timeout_ms;              /* for the lookups at open */
    int64_t *asked_us;           /* per server: when last asked; 0: never */
    size_t asked_len;            /* in asked_us */
} sentinel;

/*
 * Sets up `st` for the `conf` pool's sentinels and asks them, blocking up
 * to `timeout_ms` per sentinel, where each master is; a master no
 * sentinel knows keeps the address of its server line. Then subscribes.
 * SHARD_ENOMEM with the reason in `err`.
 */
int sentinel_init(sentinel *st, const conf_pool *conf, health *h, engine *e,
                  uint64_t *switches, char *err, size_t errlen);

/* Before a command: a lost subscription moves to the next sentinel. */
void sentinel_tick(sentinel *st);

/* After a reload: every master is asked about again. */
void sentinel_ask_all(sentinel *st);

/* The `conf` pool's sentinels, in config order (owned by the caller);
 * NULL when out of memory. */
conn_target *sentinel_targets_new(const conf_pool *conf);

/* Frees `count` targets of sentinel_targets_new. */
void sentinel_targets_free(conn_target *targets, size_t count);

/*
 * A reload's sentinels, `count` of them (taken over): when they are not
 * the ones `st` has, in the same order, the subscription and the
 * questions move to the first of them. The caller asks every master
 * again (sentinel_ask_all).
 */
void sentinel_retarget(sentinel *st, conn_target *targets, size_t count);

/* Frees what `st` owns (its connections are the engine's). */
void sentinel_release(sentinel *st);

#endif
