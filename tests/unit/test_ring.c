/*
 * ketama, modula and random rings against twemproxy 0.5's rules
 * (twemproxy-0.5.md 3.2-3.5). The ketama points are rebuilt here
 * independently from MD5 digests, to check every lookup boundary.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "hash.h"
#include "ring.h"

#define MAX_MEMBERS 64

/* Members named like "10.0.0.<i>:6379", all of weight 1. */
typedef struct members {
    ring_member m[MAX_MEMBERS];  /* what ring_build gets */
    char names[MAX_MEMBERS][32]; /* storage of the identities */
} members;

static void
members_init(members *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int len =
            snprintf(ms->names[i], sizeof(ms->names[i]), "10.0.0.%zu:6379", i);

        ms->m[i].identity = ms->names[i];
        ms->m[i].identity_len = (size_t)len;
        ms->m[i].weight = 1;
    }
}

/* A test-side ketama point: position, owner, insertion order. */
typedef struct model_point {
    uint32_t value;
    int server;
    size_t seq;
} model_point;

static int
model_compare(const void *a, const void *b)
{
    const model_point *pa = a, *pb = b;

    if (pa->value != pb->value)
        return pa->value < pb->value ? -1 : 1;
    return pa->seq < pb->seq ? -1 : pa->seq > pb->seq;
}

/* Adds the points of "<identity>-<i>", i < count / 4, cut to 272 bytes. */
static size_t
model_add(model_point *pts, size_t at, const ring_member *m, int server,
          size_t count)
{
    for (size_t i = 0; i < count / 4; i++) {
        char name[1024];
        int len = snprintf(name, sizeof(name), "%.*s-%zu", (int)m->identity_len,
                           m->identity, i);
        unsigned char d[16];

        hash_md5_digest(name, len > 272 ? 272 : (size_t)len, d);
        for (int a = 0; a < 4; a++, at++) {
            pts[at].value = (uint32_t)d[4 * a] | (uint32_t)d[4 * a + 1] << 8 |
                            (uint32_t)d[4 * a + 2] << 16 |
                            (uint32_t)d[4 * a + 3] << 24;
            pts[at].server = server;
            pts[at].seq = at;
        }
    }
    return at;
}

/* The whole ring, sorted stably, using the ring's own point counts. */
static model_point *
model_build(const ring *r, const ring_member *m, size_t n, size_t *count)
{
    size_t total = 0, at = 0;

    for (size_t i = 0; i < n; i++)
        total += ring_point_count(r, i);
    model_point *pts = calloc(total + 1, sizeof(*pts));
    cr_assert_not_null(pts);
    for (size_t i = 0; i < n; i++)
        at = model_add(pts, at, &m[i], (int)i, ring_point_count(r, i));
    qsort(pts, at, sizeof(*pts), model_compare);
    *count = at;
    return pts;
}

Test(ring, equal_weights_get_160_points_but_156_at_25_47_50_55_61)
{
    members ms;

    members_init(&ms, MAX_MEMBERS);
    for (size_t n = 1; n <= MAX_MEMBERS; n++) {
        ring *r = ring_build(DIST_KETAMA, ms.m, n, NULL);
        bool short_ring = n == 25 || n == 47 || n == 50 || n == 55 || n == 61;

        cr_assert_not_null(r);
        for (size_t i = 0; i < n; i++)
            cr_expect_eq(ring_point_count(r, i), short_ring ? 156 : 160,
                         "n=%zu server %zu has %zu points", n, i,
                         ring_point_count(r, i));
        ring_free(r);
    }
}

static void
expect_points(const uint32_t *weights, const size_t *want, size_t n)
{
    members ms;

    members_init(&ms, n);
    for (size_t i = 0; i < n; i++)
        ms.m[i].weight = weights[i];
    ring *r = ring_build(DIST_KETAMA, ms.m, n, NULL);
    cr_assert_not_null(r);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(ring_point_count(r, i), want[i],
                     "weight %u: %zu points, want %zu", weights[i],
                     ring_point_count(r, i), want[i]);
    ring_free(r);
}

Test(ring, weights_scale_points_in_single_precision)
{
    expect_points((uint32_t[]){1, 2}, (size_t[]){104, 212}, 2);
    expect_points((uint32_t[]){1, 2, 3}, (size_t[]){80, 160, 240}, 3);
    expect_points((uint32_t[]){3, 7}, (size_t[]){96, 224}, 2);
}

/* The MD5 of "127.0.0.1:6379-0" as four little-endian words (hashlib). */
Test(ring, first_points_are_md5_words_of_identity_dash_0)
{
    ring_member m[2] = {
        {"127.0.0.1:6379", 14, 1},
        {"127.0.0.1:6380", 14, 1},
    };
    static const uint32_t first[4] = {0x8bb75706, 0x081066aa, 0x6c98c6fe,
                                      0x28ff9e77};
    ring *r = ring_build(DIST_KETAMA, m, 2, NULL);
    model_point pts[4];

    cr_assert_not_null(r);
    model_add(pts, 0, &m[0], 0, 4);
    for (int a = 0; a < 4; a++) {
        cr_expect_eq(pts[a].value, first[a]);
        /* A hash equal to a point lands on that point's server. */
        cr_expect_eq(ring_lookup(r, first[a]), 0);
    }
    ring_free(r);
}

/*
 * A hash equal to a point goes to the first point of that value; one
 * more goes to the next value's first point, or wraps to point 0.
 */
static void
expect_ring_like_model(const ring *r, const ring_member *m, size_t n)
{
    size_t count;
    model_point *pts = model_build(r, m, n, &count);

    cr_assert_gt(count, 0);
    for (size_t i = 0; i < count; i++) {
        uint32_t v = pts[i].value;

        if (i == 0 || pts[i - 1].value != v)
            cr_expect_eq(ring_lookup(r, v), pts[i].server, "point %zu", i);
        if (i + 1 < count && pts[i + 1].value != v)
            cr_expect_eq(ring_lookup(r, v + 1), pts[i + 1].server);
    }
    cr_expect_eq(ring_lookup(r, 0), pts[0].server);
    if (pts[count - 1].value != UINT32_MAX) {
        cr_expect_eq(ring_lookup(r, pts[count - 1].value + 1), pts[0].server);
        cr_expect_eq(ring_lookup(r, UINT32_MAX), pts[0].server);
    }
    free(pts);
}

Test(ring, ketama_lookup_is_lower_bound_with_wrap_around)
{
    members ms;

    members_init(&ms, 25);
    for (size_t i = 0; i < 25; i++)
        ms.m[i].weight = (uint32_t)(i % 4 + 1);
    ring *r = ring_build(DIST_KETAMA, ms.m, 25, NULL);
    cr_assert_not_null(r);
    expect_ring_like_model(r, ms.m, 25);
    ring_free(r);
}

/*
 * Identities longer than 272 bytes that share their first 272 give every
 * point of both servers the same value: the tie goes to the lower index,
 * as glibc's stable sort leaves it in twemproxy. (Seen with nutcracker
 * 0.5.0: two 281-byte names, 300 keys, all on the first server.)
 */
Test(ring, long_identities_are_cut_at_272_and_ties_keep_index_order)
{
    char a[300], b[300];
    ring_member m[2] = {{a, sizeof(a), 1}, {b, sizeof(b), 1}};

    memset(a, 'x', sizeof(a));
    memset(b, 'x', sizeof(b));
    b[299] = 'y';
    ring *r = ring_build(DIST_KETAMA, m, 2, NULL);
    cr_assert_not_null(r);
    for (uint32_t h = 0; h < 64; h++)
        cr_expect_eq(ring_lookup(r, h * 0x04000000u), 0);
    expect_ring_like_model(r, m, 2);
    ring_free(r);

    bool live[2] = {false, true};
    r = ring_build(DIST_KETAMA, m, 2, live);
    cr_assert_not_null(r);
    cr_expect_eq(ring_lookup(r, 12345), 1);
    ring_free(r);
}

/* Near 272 bytes the suffix is cut: "<270 bytes>-10" hashes as "...-1". */
Test(ring, point_names_are_cut_at_272_bytes)
{
    static char ids[3][272];
    ring_member m[3];

    for (size_t i = 0; i < 3; i++) {
        memset(ids[i], 'a' + (int)i, sizeof(ids[i]));
        m[i] = (ring_member){ids[i], 269 + i, 1};
    }
    ring *r = ring_build(DIST_KETAMA, m, 3, NULL);
    cr_assert_not_null(r);
    expect_ring_like_model(r, m, 3);
    ring_free(r);
}

Test(ring, ejected_members_get_no_points_and_keys_move)
{
    members ms;
    bool live[26];
    size_t moved_between_survivors = 0;

    members_init(&ms, 26);
    for (size_t i = 0; i < 26; i++)
        live[i] = i != 7;
    ring *all = ring_build(DIST_KETAMA, ms.m, 26, NULL);
    ring *some = ring_build(DIST_KETAMA, ms.m, 26, live);
    cr_assert(all != NULL && some != NULL);
    cr_expect_eq(ring_live_count(some), 25);
    cr_expect_eq(ring_point_count(some, 7), 0);
    cr_expect_eq(ring_point_count(some, 0), 156);
    cr_expect_eq(ring_point_count(all, 0), 160);
    for (uint32_t k = 0; k < 20000; k++) {
        uint32_t h = k * 214013u + 2531011u;
        int before = ring_lookup(all, h), after = ring_lookup(some, h);

        cr_assert_neq(after, 7);
        moved_between_survivors += before != 7 && before != after;
    }
    /* 26 -> 25 live shrinks every survivor from 160 to 156 points. */
    cr_expect_gt(moved_between_survivors, 0);
    expect_ring_like_model(some, ms.m, 26);
    ring_free(all);
    ring_free(some);
}

/*
 * twemproxy-0.5.md 3.3: zeta:2, alpha:1, b:3 sort by length first to
 * b, zeta, alpha, and the slots are b,b,b,zeta,zeta,alpha.
 */
Test(ring, modula_has_one_slot_per_unit_of_weight_in_index_order)
{
    ring_member m[3] = {{"b", 1, 3}, {"zeta", 4, 2}, {"alpha", 5, 1}};
    static const int slots[6] = {0, 0, 0, 1, 1, 2};
    ring *r = ring_build(DIST_MODULA, m, 3, NULL);

    cr_assert_not_null(r);
    for (uint32_t h = 0; h < 60; h++)
        cr_expect_eq(ring_lookup(r, h), slots[h % 6], "hash %u", h);
    cr_expect_eq(ring_lookup(r, UINT32_MAX), slots[UINT32_MAX % 6]);
    cr_expect_eq(ring_point_count(r, 0), 0);
    ring_free(r);

    /* Without zeta the slots are b,b,b,alpha. */
    bool live[3] = {true, false, true};
    static const int rest[4] = {0, 0, 0, 2};
    r = ring_build(DIST_MODULA, m, 3, live);
    cr_assert_not_null(r);
    for (uint32_t h = 0; h < 40; h++)
        cr_expect_eq(ring_lookup(r, h), rest[h % 4], "hash %u", h);
    ring_free(r);
}

Test(ring, random_maps_onto_live_members_ignoring_weight)
{
    ring_member m[4] = {{"a", 1, 5}, {"b", 1, 1}, {"c", 1, 1}, {"d", 1, 9}};
    bool live[4] = {true, false, true, true};
    static const int order[3] = {0, 2, 3};
    ring *r = ring_build(DIST_RANDOM, m, 4, live);

    cr_assert_not_null(r);
    cr_expect_eq(ring_live_count(r), 3);
    for (uint32_t h = 0; h < 300; h++)
        cr_expect_eq(ring_lookup(r, h), order[h % 3], "random %u", h);
    cr_expect_eq(ring_lookup(r, UINT32_MAX), order[UINT32_MAX % 3]);
    ring_free(r);
}

Test(ring, no_live_member_gives_minus_one)
{
    ring_member m[2] = {{"a", 1, 1}, {"b", 1, 1}};
    bool live[2] = {false, false};
    dist_kind dists[3] = {DIST_KETAMA, DIST_MODULA, DIST_RANDOM};

    for (int d = 0; d < 3; d++) {
        ring *r = ring_build(dists[d], m, 2, live);

        cr_assert_not_null(r);
        cr_expect_eq(ring_live_count(r), 0);
        cr_expect_eq(ring_lookup(r, 0), -1);
        cr_expect_eq(ring_lookup(r, 0xdeadbeef), -1);
        cr_expect_eq(ring_point_count(r, 0), 0);
        ring_free(r);
    }
    ring *empty = ring_build(DIST_KETAMA, NULL, 0, NULL);
    cr_assert_not_null(empty);
    cr_expect_eq(ring_lookup(empty, 1), -1);
    ring_free(empty);
}

Test(ring, one_member_takes_every_key)
{
    ring_member m[1] = {{"127.0.0.1:6379", 14, 3}};
    dist_kind dists[3] = {DIST_KETAMA, DIST_MODULA, DIST_RANDOM};

    for (int d = 0; d < 3; d++) {
        ring *r = ring_build(dists[d], m, 1, NULL);

        cr_assert_not_null(r);
        for (uint32_t k = 0; k < 1000; k++)
            cr_expect_eq(ring_lookup(r, k * 4294967u), 0);
        cr_expect_eq(ring_lookup(r, UINT32_MAX), 0);
        cr_expect_eq(ring_point_count(r, 0), dists[d] == DIST_KETAMA ? 160 : 0);
        ring_free(r);
    }
}
