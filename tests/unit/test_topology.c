/*
 * topology: immutable snapshots of a pool's servers and ring, checked
 * against ring_build / route_server and twemproxy's modula rule
 * (twemproxy-0.5.md 3.3, 3.5); no servers.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eject.h"
#include "server.h"
#include "topology.h"

#define NSERVERS 4
#define NKEYS 5000
#define SEC 1000000LL

/* Config lines and servers "127.0.0.1:700<i+1>" (already in twemproxy's
 * length-then-bytes order). */
static char names[NSERVERS][32];
static char host[] = "127.0.0.1";
static conf_server lines[NSERVERS];
static struct server servers[NSERVERS];

/* Keys "key:<i>", built once per test. */
static char keys[NKEYS][16];
static size_t key_lens[NKEYS];

static void
setup(void)
{
    for (size_t i = 0; i < NSERVERS; i++) {
        int len =
            snprintf(names[i], sizeof(names[i]), "127.0.0.1:%zu", 7001 + i);
        lines[i] = (conf_server){.identity = names[i],
                                 .identity_len = (size_t)len,
                                 .addr = names[i],
                                 .host = host,
                                 .port = (int)(7001 + i),
                                 .weight = 1};
    }
    for (size_t k = 0; k < NKEYS; k++)
        key_lens[k] = (size_t)snprintf(keys[k], sizeof(keys[k]), "key:%zu", k);
}

/* Servers from `lines` with these weights (NULL: all 1). */
static void
servers_init(const uint32_t *weights)
{
    for (size_t i = 0; i < NSERVERS; i++) {
        if (weights != NULL)
            lines[i].weight = weights[i];
        cr_assert_eq(server_init(&servers[i], i, &lines[i]), SHARD_OK);
    }
}

static void
teardown(void)
{
    for (size_t i = 0; i < NSERVERS; i++)
        server_release(&servers[i]);
}

TestSuite(topology, .init = setup, .fini = teardown);

static route_rules
rules_of(dist_kind dist)
{
    return (route_rules){
        .hash = HASH_FNV1A_64, .dist = dist, .server_count = NSERVERS};
}

static topology *
build(const route_rules *rules)
{
    topology *t = topology_build(rules, servers, NSERVERS);

    cr_assert_not_null(t);
    return t;
}

/* The ring built directly from the servers' config and live flags. */
static ring *
direct_ring(dist_kind dist)
{
    ring_member m[NSERVERS];
    bool live[NSERVERS];

    for (size_t i = 0; i < NSERVERS; i++) {
        m[i] = (ring_member){.identity = lines[i].identity,
                             .identity_len = lines[i].identity_len,
                             .weight = lines[i].weight};
        live[i] = servers[i].live;
    }
    ring *r = ring_build(dist, m, NSERVERS, live);
    cr_assert_not_null(r);
    return r;
}

/* Every key of `t` placed as route_server places it on `r`. */
static void
expect_same_as_route(const topology *t, const route_rules *rules, const ring *r)
{
    for (size_t k = 0; k < NKEYS; k++) {
        int got = topology_locate(t, keys[k], key_lens[k], NULL);
        int want = route_server(rules, r, keys[k], key_lens[k], NULL);
        cr_assert_eq(got, want, "key %s: %d, route_server says %d", keys[k],
                     got, want);
    }
}

Test(topology, snapshot_holds_its_servers_and_rules)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_KETAMA);
    rules.has_tag = true;
    memcpy(rules.tag, "{}", 2);
    topology *t = build(&rules);

    cr_expect_eq(t->servers, servers, "borrowed, not copied");
    cr_expect_eq(t->server_count, NSERVERS);
    cr_expect_eq(t->rules.hash, HASH_FNV1A_64);
    cr_expect_eq(t->rules.dist, DIST_KETAMA);
    cr_expect(t->rules.has_tag && memcmp(t->rules.tag, "{}", 2) == 0);
    cr_expect_eq(ring_live_count(t->ring), NSERVERS);
    for (size_t i = 0; i < NSERVERS; i++)
        cr_expect_eq(ring_point_count(t->ring, i), 160);
    cr_expect_eq(t->next_return_us, 0);
    topology_free(t);
    topology_free(NULL);
}

Test(topology, ketama_places_every_key_on_a_live_server)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_KETAMA);
    topology *t = build(&rules);
    ring *r = direct_ring(DIST_KETAMA);
    size_t per_server[NSERVERS] = {0};

    expect_same_as_route(t, &rules, r);
    for (size_t k = 0; k < NKEYS; k++) {
        int s = topology_locate(t, keys[k], key_lens[k], NULL);
        cr_assert(s >= 0 && s < NSERVERS, "key %s on %d", keys[k], s);
        per_server[s]++;
    }
    for (size_t i = 0; i < NSERVERS; i++)
        cr_expect_gt(per_server[i], NKEYS / 10, "server %zu holds %zu keys", i,
                     per_server[i]);
    ring_free(r);
    topology_free(t);
}

Test(topology, ejection_moves_only_the_keys_of_the_ejected_server)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_KETAMA);
    topology *before = build(&rules);
    static int placed[NKEYS];

    for (size_t k = 0; k < NKEYS; k++)
        placed[k] = topology_locate(before, keys[k], key_lens[k], NULL);

    servers[2].live = false;
    topology *after = build(&rules);
    ring *r = direct_ring(DIST_KETAMA);
    size_t moved = 0;

    expect_same_as_route(after, &rules, r);
    /* 3 live of weight 1 keep 160 points each: survivors keep their keys. */
    for (size_t k = 0; k < NKEYS; k++) {
        int now = topology_locate(after, keys[k], key_lens[k], NULL);
        if (placed[k] == 2) {
            cr_assert(now >= 0 && now < NSERVERS && now != 2,
                      "key %s stayed on the ejected server (%d)", keys[k], now);
            moved++;
        } else {
            cr_assert_eq(now, placed[k], "key %s moved from %d to %d", keys[k],
                         placed[k], now);
        }
    }
    cr_expect_gt(moved, NKEYS / 10, "server 2 held %zu keys", moved);

    /* The old snapshot is not edited by the servers' new state. */
    for (size_t k = 0; k < NKEYS; k++)
        cr_assert_eq(topology_locate(before, keys[k], key_lens[k], NULL),
                     placed[k], "old snapshot moved key %s", keys[k]);
    cr_expect_eq(ring_live_count(before->ring), NSERVERS);
    cr_expect_eq(ring_live_count(after->ring), NSERVERS - 1);
    cr_expect_eq(ring_point_count(after->ring, 2), 0);
    ring_free(r);
    topology_free(after);
    topology_free(before);
}

Test(topology, return_restores_the_original_placement)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_KETAMA);
    eject_policy p = {.enabled = true, .failure_limit = 1, .retry_us = SEC};
    topology *first = build(&rules);

    cr_assert(eject_on_failure(&servers[1], &p, 10 * SEC, 0));
    topology *ejected = build(&rules);
    cr_assert(eject_return_due(&servers[1], 11 * SEC));
    topology *back = build(&rules);

    size_t differ = 0;
    for (size_t k = 0; k < NKEYS; k++) {
        int a = topology_locate(first, keys[k], key_lens[k], NULL);
        cr_assert_eq(topology_locate(back, keys[k], key_lens[k], NULL), a,
                     "key %s", keys[k]);
        differ += topology_locate(ejected, keys[k], key_lens[k], NULL) != a;
    }
    cr_expect_gt(differ, 0);
    topology_free(back);
    topology_free(ejected);
    topology_free(first);
}

Test(topology, all_servers_ejected_gives_minus_one)
{
    servers_init(NULL);
    dist_kind dists[] = {DIST_KETAMA, DIST_MODULA, DIST_RANDOM};
    uint64_t rng = 42;

    for (size_t i = 0; i < NSERVERS; i++)
        servers[i].live = false;
    for (size_t d = 0; d < 3; d++) {
        route_rules rules = rules_of(dists[d]);
        topology *t = build(&rules);

        cr_expect_eq(ring_live_count(t->ring), 0);
        for (size_t k = 0; k < 100; k++)
            cr_assert_eq(topology_locate(t, keys[k], key_lens[k], &rng), -1,
                         "dist %d key %s", (int)dists[d], keys[k]);
        cr_expect_eq(topology_locate(t, "", 0, &rng), -1);
        topology_free(t);
    }
}

Test(topology, one_server_pool_with_it_ejected_gives_minus_one)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_KETAMA);
    rules.server_count = 1;
    topology *t = topology_build(&rules, servers, 1);

    cr_assert_not_null(t);
    cr_expect_eq(topology_locate(t, "a", 1, NULL), 0);
    topology_free(t);
    servers[0].live = false;
    t = topology_build(&rules, servers, 1);
    cr_assert_not_null(t);
    cr_expect_eq(topology_locate(t, "a", 1, NULL), -1);
    topology_free(t);
}

Test(topology, next_return_is_the_earliest_retry)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_KETAMA);
    eject_policy p = {
        .enabled = true, .failure_limit = 1, .retry_us = 30 * SEC};

    cr_assert(eject_on_failure(&servers[3], &p, 100 * SEC, 0));
    cr_assert(eject_on_failure(&servers[0], &p, 50 * SEC, 0));
    topology *t = build(&rules);

    cr_expect_eq(t->next_return_us, 80 * SEC);
    cr_expect_eq(t->next_return_us, eject_next_retry(servers, NSERVERS));
    cr_expect_eq(ring_live_count(t->ring), 2);

    cr_assert(eject_return_due(&servers[0], 80 * SEC));
    topology *u = build(&rules);
    cr_expect_eq(u->next_return_us, 130 * SEC);
    cr_expect_eq(t->next_return_us, 80 * SEC, "the old snapshot keeps it");
    topology_free(u);
    topology_free(t);
}

/* twemproxy's modula: one slot per unit of weight of the live servers in
 * index order; the key goes to slot[hash % total]. */
static int
modula_model(const route_rules *rules, const char *key, size_t len)
{
    int slots[64];
    size_t n = 0;

    for (size_t i = 0; i < NSERVERS; i++)
        for (uint32_t w = 0; servers[i].live && w < servers[i].weight; w++)
            slots[n++] = (int)i;
    if (n == 0)
        return -1;
    return slots[hash_key(rules->hash, key, len) % n];
}

Test(topology, modula_places_keys_by_weight_slots_of_live_servers)
{
    static const uint32_t weights[NSERVERS] = {1, 3, 2, 1};
    servers_init(weights);
    route_rules rules = rules_of(DIST_MODULA);
    topology *t = build(&rules);

    for (size_t k = 0; k < NKEYS; k++)
        cr_assert_eq(topology_locate(t, keys[k], key_lens[k], NULL),
                     modula_model(&rules, keys[k], key_lens[k]), "key %s",
                     keys[k]);
    ring *r = direct_ring(DIST_MODULA);
    expect_same_as_route(t, &rules, r);
    ring_free(r);

    servers[1].live = false;
    topology *u = build(&rules);
    for (size_t k = 0; k < NKEYS; k++) {
        int s = topology_locate(u, keys[k], key_lens[k], NULL);
        cr_assert_neq(s, 1, "key %s on the ejected server", keys[k]);
        cr_assert_eq(s, modula_model(&rules, keys[k], key_lens[k]), "key %s",
                     keys[k]);
    }
    topology_free(u);
    topology_free(t);
}

Test(topology, random_places_keys_only_on_live_servers)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_RANDOM);
    servers[1].live = false;
    servers[3].live = false;
    topology *t = build(&rules);
    ring *r = direct_ring(DIST_RANDOM);
    uint64_t rng = 0x9e3779b97f4a7c15ULL, twin = rng;
    size_t seen[NSERVERS] = {0};

    for (size_t k = 0; k < NKEYS; k++) {
        int s = topology_locate(t, keys[0], key_lens[0], &rng);
        cr_assert(s == 0 || s == 2, "draw %zu on %d", k, s);
        seen[s]++;
        /* The same generator state gives the same choice as route_server. */
        cr_assert_eq(route_server(&rules, r, keys[0], key_lens[0], &twin), s);
    }
    cr_expect_gt(seen[0], NKEYS / 4, "server 0 drawn %zu times", seen[0]);
    cr_expect_gt(seen[2], NKEYS / 4, "server 2 drawn %zu times", seen[2]);
    ring_free(r);
    topology_free(t);
}

Test(topology, keys_with_the_same_hash_tag_land_together)
{
    servers_init(NULL);
    route_rules tagged = rules_of(DIST_KETAMA), plain = rules_of(DIST_KETAMA);
    tagged.has_tag = true;
    memcpy(tagged.tag, "{}", 2);
    topology *t = build(&tagged), *u = build(&plain);
    size_t split_without_tag = 0;

    for (int i = 0; i < 200; i++) {
        char a[64], b[64], c[64], tag[32];
        int la = snprintf(a, sizeof(a), "{user%d}.following", i);
        int lb = snprintf(b, sizeof(b), "profile:{user%d}", i);
        int lc = snprintf(c, sizeof(c), "x{user%d}y{other}", i);
        int lt = snprintf(tag, sizeof(tag), "user%d", i);
        int s = topology_locate(t, tag, (size_t)lt, NULL);

        cr_assert_eq(topology_locate(t, a, (size_t)la, NULL), s, "%s", a);
        cr_assert_eq(topology_locate(t, b, (size_t)lb, NULL), s, "%s", b);
        cr_assert_eq(topology_locate(t, c, (size_t)lc, NULL), s, "%s", c);
        int pa = topology_locate(u, a, (size_t)la, NULL);
        int pb = topology_locate(u, b, (size_t)lb, NULL);
        int pc = topology_locate(u, c, (size_t)lc, NULL);
        split_without_tag += pa != pb || pb != pc;
    }
    /* Without the rule these keys spread: the tag is what kept them. */
    cr_expect_gt(split_without_tag, 100);
    topology_free(u);
    topology_free(t);
}

Test(topology, hash_tag_applies_to_modula_too)
{
    servers_init(NULL);
    route_rules rules = rules_of(DIST_MODULA);
    rules.has_tag = true;
    memcpy(rules.tag, "$$", 2);
    topology *t = build(&rules);

    for (int i = 0; i < 200; i++) {
        char a[64], b[64], tag[32];
        int la = snprintf(a, sizeof(a), "a$t%d$", i);
        int lb = snprintf(b, sizeof(b), "$t%d$:b:%d", i, i * 7);
        int lt = snprintf(tag, sizeof(tag), "t%d", i);
        int s = modula_model(&rules, tag, (size_t)lt);

        cr_assert_eq(topology_locate(t, a, (size_t)la, NULL), s, "%s", a);
        cr_assert_eq(topology_locate(t, b, (size_t)lb, NULL), s, "%s", b);
    }
    topology_free(t);
}
