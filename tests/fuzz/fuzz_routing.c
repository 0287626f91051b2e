/*
 * Routing: arbitrary keys placed on a fixed set of pools, one for every
 * hash, distribution and hash tag (none, "{}", "$$"), plus pools of one
 * and two servers, with any of their servers ejected. A key must always
 * land on a live server (-1 only when none is), the same key on the same
 * server, and a key with a hash tag on the server of the tag's content.
 *
 * Input: one byte choosing the pool, one whose low bits are the servers
 * to eject (through eject.c's accounting), then the key.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "eject.h"
#include "error.h"
#include "fuzz.h"

#define MAX_SERVERS 5
#define MAX_POOLS 128

static conf_file *pools_conf;
static fuzz_topo pools[MAX_POOLS];
/* The snapshot of each pool with each set of servers ejected. */
static topology *snapshots[MAX_POOLS][1 << MAX_SERVERS];

/* Servers of unequal weight, some with a name (ketama hashes the name). */
static const char five_servers[] = "  servers:\n"
                                   "   - 127.0.0.1:7001:1\n"
                                   "   - 127.0.0.1:7002:2 beta\n"
                                   "   - 127.0.0.1:7003:1\n"
                                   "   - 10.0.0.4:7004:3 delta\n"
                                   "   - /tmp/redis.sock:1\n";

/* Appends one pool to the YAML at `used`; returns the new length. */
static size_t
add_pool(char *yaml, size_t size, size_t used, size_t index, const char *hash,
         const char *dist, const char *tag, const char *servers)
{
    int n =
        snprintf(yaml + used, size - used,
                 "p%03zu:\n  listen: 127.0.0.1:%zu\n  hash: %s\n"
                 "  distribution: %s\n%s%s%s  auto_eject_hosts: true\n"
                 "  server_failure_limit: %zu\n%s",
                 index, 20000 + index, hash, dist, tag ? "  hash_tag: \"" : "",
                 tag ? tag : "", tag ? "\"\n" : "", index % 3, servers);

    FUZZ_CHECK(n > 0 && (size_t)n < size - used, "YAML buffer");
    return used + (size_t)n;
}

static void
pools_init(void)
{
    static const char *const dists[] = {"ketama", "modula", "random"};
    static const char *const tags[] = {NULL, "{}", "$$"};
    static char yaml[64 * 1024];
    size_t used = 0, n = 0;
    char err[ERROR_MAX];

    for (int h = 0; h < HASH_KIND_COUNT; h++)
        for (int d = 0; d < 3; d++)
            for (int t = 0; t < 3; t++)
                used = add_pool(yaml, sizeof(yaml), used, n++,
                                hash_kind_name((hash_kind)h), dists[d], tags[t],
                                five_servers);
    for (int d = 0; d < 3; d++) {
        used = add_pool(yaml, sizeof(yaml), used, n++, "murmur", dists[d], "{}",
                        "  servers:\n   - 127.0.0.1:7001:1\n");
        used = add_pool(yaml, sizeof(yaml), used, n++, "md5", dists[d], "{}",
                        "  servers:\n   - 127.0.0.1:7001:1\n"
                        "   - 127.0.0.1:7002:1\n");
    }
    pools_conf =
        conf_parse_flags(yaml, used, "routing", CONF_NO_DNS, err, sizeof(err));
    FUZZ_CHECK(pools_conf != NULL, "%s", err);
    FUZZ_CHECK(pools_conf->pool_count == n && n <= MAX_POOLS, "%zu pools",
               pools_conf->pool_count);
    for (size_t i = 0; i < n; i++) {
        fuzz_topo_open(&pools[i], &pools_conf->pools[i]);
        snapshots[i][0] = pools[i].topo; /* every server live */
    }
}

/* Pool `p` with the servers of `mask` ejected, the others live. */
static const fuzz_topo *
pool_with_ejected(size_t p, unsigned mask)
{
    fuzz_topo *t = &pools[p];
    eject_policy policy = eject_policy_of(t->conf);

    mask &= (1u << t->conf->server_count) - 1;
    for (size_t i = 0; i < t->conf->server_count; i++) {
        struct server *s = &t->servers[i];
        bool out = mask & (1u << i);
        while (out && s->live)
            (void)eject_on_failure(s, &policy, 1, 1);
        if (!out && !s->live)
            eject_return(s);
    }
    t->topo = snapshots[p][mask];
    if (t->topo == NULL) {
        fuzz_topo_rebuild(t);
        snapshots[p][mask] = t->topo;
    }
    return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in = {data, size};
    uint64_t rng = 0x9e3779b97f4a7c15ull;

    if (pools_conf == NULL)
        pools_init();
    size_t p = fuzz_byte(&in) % pools_conf->pool_count;
    const fuzz_topo *t = pool_with_ejected(p, fuzz_byte(&in));
    const char *key = (const char *)in.data;
    int s = fuzz_topo_locate(t, key, in.len, &rng);
    if (t->topo->rules.dist == DIST_RANDOM || s < 0)
        return 0;
    FUZZ_CHECK(fuzz_topo_locate(t, key, in.len, &rng) == s,
               "same key, another server");
    size_t span_len;
    const char *span = route_tag_span(&t->topo->rules, key, in.len, &span_len);
    FUZZ_CHECK(span >= key && span + span_len <= key + in.len,
               "tag outside the key");
    if (span_len < in.len) {
        int tag_server = fuzz_topo_locate(t, span, span_len, &rng);
        FUZZ_CHECK(tag_server == s, "key on %d, its tag '%.*s' on %d", s,
                   (int)span_len, span, tag_server);
    }
    return 0;
}
