/* Ejection and return of failing servers, as twemproxy 0.5 does it. */
#ifndef SHARD_LIB_EJECT_H
#define SHARD_LIB_EJECT_H

#include <stdint.h>

struct shard_pool;

/* What the pool knows of one server's health. */
typedef struct server_health {
    int failures;          /* consecutive failures since the last answer */
    int64_t next_retry_us; /* monotonic time it may return; 0: live */
    int64_t ejected_at_us; /* wall clock of the last ejection, 0: never */
    uint64_t ejections;    /* how many times it was ejected */
} server_health;

/* Hooks the pool's health tracking into its engine. */
int eject_init(struct shard_pool *pool);

/*
 * Rebuilds the ring with the ejected servers whose retry time has come
 * (twemproxy's lazy return: no probe, the next request finds out). Called
 * before every placement.
 */
void eject_readmit(struct shard_pool *pool);

#endif
