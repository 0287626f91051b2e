/* key -> hash tag -> hash -> server index: pure, no I/O. */
#ifndef SHARD_LIB_ROUTE_H
#define SHARD_LIB_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "ring.h"

/* How a pool turns keys into ring positions. */
typedef struct route_rules {
    hash_kind hash;      /* the pool's `hash` */
    dist_kind dist;      /* the pool's `distribution` */
    bool has_tag;        /* `hash_tag` was set */
    char tag[2];         /* its two delimiters */
    size_t server_count; /* servers in the pool, live or not */
} route_rules;

/*
 * The bytes of `key` that are hashed: the content of the first hash tag
 * when it is closed and not empty, else the whole key (twemproxy's rule).
 */
const char *route_tag_span(const route_rules *r, const char *key, size_t len,
                           size_t *span_len);

/* The hash of `key` after the tag rule; 0 for an empty span. */
uint32_t route_hash(const route_rules *r, const char *key, size_t len);

/*
 * The server for `key` on `live_ring`, or -1 when no server is live. A pool of
 * one server is always index 0 without hashing, as in twemproxy. `rng` is
 * the caller's random state, used only by the random distribution.
 */
int route_server(const route_rules *r, const ring *live_ring, const char *key,
                 size_t len, uint64_t *rng);

/* Next value of a xorshift64* generator (state must not be 0). */
uint32_t route_random(uint64_t *rng);

#endif
