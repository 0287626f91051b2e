/* ketama / modula / random: map a key hash to a server index. */
#ifndef SHARD_LIB_RING_H
#define SHARD_LIB_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* In twemproxy's order (DIST_CODEC). */
typedef enum dist_kind { DIST_KETAMA, DIST_MODULA, DIST_RANDOM } dist_kind;

/* What the ring needs to know of one server. */
typedef struct ring_member {
    const char *identity; /* the string ketama hashes (conf_server.identity) */
    size_t identity_len;  /* its length in bytes */
    uint32_t weight;      /* > 0 */
} ring_member;

/*
 * An immutable lookup table over the live members. Ejection and return
 * build a new ring instead of changing one in use.
 */
typedef struct ring ring;

/*
 * Builds the ring over `members` (in server index order, the sorted order
 * of twemproxy), counting only those with live[i] true (all when `live` is
 * NULL). Returns NULL when out of memory.
 */
ring *ring_build(dist_kind dist, const ring_member *members, size_t count,
                 const bool *live);

void ring_free(ring *r);

/*
 * The server index for `hash`, or -1 when no member is live. For random
 * distribution pass a random number as `hash`: the ring maps it onto the
 * live servers so that the ring itself stays free of state.
 */
int ring_lookup(const ring *r, uint32_t hash);

/* Number of live members the ring was built over. */
size_t ring_live_count(const ring *r);

/* Number of ketama points of member `index` (0 if not live or not ketama). */
size_t ring_point_count(const ring *r, size_t index);

#endif
