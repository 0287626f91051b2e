/*
 * Placement of one key, as twemproxy's server_pool_idx: hash tag, then
 * hash (0 for an empty input), then the ring of live servers.
 */
#include <string.h>

#include "route.h"

const char *
route_tag_span(const route_rules *r, const char *key, size_t len,
               size_t *span_len)
{
    *span_len = len;
    if (!r->has_tag || len == 0)
        return key;
    const char *open = memchr(key, r->tag[0], len);
    if (open == NULL)
        return key;
    /* The closing byte is searched after the opening one, so "$$" works. */
    size_t after = (size_t)(open - key) + 1;
    const char *close = memchr(open + 1, r->tag[1], len - after);
    if (close == NULL || close - open <= 1)
        return key;
    *span_len = (size_t)(close - open) - 1;
    return open + 1;
}

uint32_t
route_hash(const route_rules *r, const char *key, size_t len)
{
    size_t span_len;
    const char *span = route_tag_span(r, key, len, &span_len);

    return span_len == 0 ? 0 : hash_key(r->hash, span, span_len);
}

uint32_t
route_random(uint64_t *rng)
{
    uint64_t x = *rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *rng = x;
    return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

int
route_server(const route_rules *r, const ring *live_ring, const char *key,
             size_t len, uint64_t *rng)
{
    if (ring_live_count(live_ring) == 0)
        return -1;
    if (r->server_count == 1)
        return 0;
    if (r->dist == DIST_RANDOM)
        return ring_lookup(live_ring, route_random(rng));
    return ring_lookup(live_ring, route_hash(r, key, len));
}
