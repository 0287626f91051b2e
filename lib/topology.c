/* Topology snapshots: built whole from the servers' state, never edited. */
#include <stdlib.h>
#include <string.h>

#include "eject.h"
#include "topology.h"

static ring *
build_ring(const route_rules *rules, const struct server *servers, size_t n)
{
    ring_member *members = calloc(n, sizeof(*members));
    bool *live = calloc(n, sizeof(*live));
    ring *r = NULL;

    if (members != NULL && live != NULL) {
        for (size_t i = 0; i < n; i++) {
            members[i].identity = servers[i].identity;
            members[i].identity_len = servers[i].identity_len;
            members[i].weight = servers[i].weight;
            live[i] = servers[i].live;
        }
        r = ring_build(rules->dist, members, n, live);
    }
    free(members);
    free(live);
    return r;
}

topology *
topology_build(const route_rules *rules, struct server *servers, size_t n)
{
    topology *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->rules = *rules;
    t->servers = servers;
    t->server_count = n;
    t->next_return_us = eject_next_retry(servers, n);
    t->ring = build_ring(rules, servers, n);
    if (t->ring == NULL) {
        free(t);
        return NULL;
    }
    return t;
}

void
topology_free(topology *t)
{
    if (t == NULL)
        return;
    ring_free(t->ring);
    free(t);
}

int
topology_locate(const topology *t, const char *key, size_t len, uint64_t *rng)
{
    return route_server(&t->rules, t->ring, key, len, rng);
}

route_rules
topology_rules_of(const conf_pool *c)
{
    route_rules rules = {.hash = c->hash,
                         .dist = c->distribution,
                         .has_tag = c->has_hash_tag,
                         .server_count = c->server_count};

    memcpy(rules.tag, c->hash_tag, sizeof(rules.tag));
    return rules;
}
