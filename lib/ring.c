/*
 * ketama / modula / random over the live servers, placed exactly as
 * twemproxy 0.5 places them (src/hashkit/nc_ketama.c, nc_modula.c,
 * nc_random.c). A ring is built once and never changed, so a request
 * already routed keeps its server while a new ring is swapped in.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "ring.h"

/* twemproxy's ketama constants. */
#define KETAMA_POINTS_PER_SERVER 160.0f
#define KETAMA_POINTS_PER_HASH 4
/* Its point name buffer holds 273 bytes, so at most 272 are hashed. */
#define KETAMA_MAX_NAME 272

/* One ketama point: a position on the circle and the server that owns it. */
typedef struct ring_point {
    uint32_t value;  /* position, from the MD5 of "<identity>-<i>" */
    uint32_t server; /* member index */
} ring_point;

struct ring {
    dist_kind dist;       /* how ring_lookup maps a hash */
    size_t member_count;  /* members given, live or not */
    size_t live_count;    /* members that were live */
    size_t *point_count;  /* ketama points per member index */
    ring_point *points;   /* ketama points, sorted by value */
    size_t npoints;       /* entries in points */
    uint32_t *live_index; /* member index of each live member, in order */
    uint64_t *weight_end; /* modula: live weight up to and with each one */
};

static bool
member_is_live(const bool *live, size_t i)
{
    return live == NULL || live[i];
}

/*
 * Points for one server, in single-precision float step by step as
 * twemproxy computes them: the rounding is why 25 equal servers get 156
 * points each and not 160. volatile keeps every step a rounded float, so
 * no compiler can keep more precision or fuse a multiply and an add.
 */
static size_t
ketama_points(uint32_t weight, uint64_t total_weight, size_t live_count)
{
    if (total_weight == 0) /* only weights of 0, which conf rejects */
        return 0;
    volatile float pct = (float)weight / (float)total_weight;
    volatile float scaled = pct * KETAMA_POINTS_PER_SERVER;
    volatile float per_hash = scaled / (float)KETAMA_POINTS_PER_HASH;
    volatile float x = per_hash * (float)live_count;
    volatile float nudged = (float)((double)x + 0.0000000001);

    return (size_t)floorf(nudged) * KETAMA_POINTS_PER_HASH;
}

/*
 * The MD5 of "<identity>-<i>", cut at 272 bytes like twemproxy's
 * snprintf into its fixed buffer.
 */
static void
ketama_digest(const ring_member *m, size_t i, unsigned char digest[16])
{
    char name[KETAMA_MAX_NAME + 1];
    size_t len =
        m->identity_len < KETAMA_MAX_NAME ? m->identity_len : KETAMA_MAX_NAME;
    int n;

    memcpy(name, m->identity, len);
    n = snprintf(name + len, sizeof(name) - len, "-%zu", i);
    if (n > 0)
        len += (size_t)n;
    if (len > KETAMA_MAX_NAME)
        len = KETAMA_MAX_NAME;
    hash_md5_digest(name, len, digest);
}

/* Appends `count` points of member `server` (count is a multiple of 4). */
static void
ketama_add_points(ring *r, const ring_member *m, uint32_t server, size_t count)
{
    unsigned char d[16];

    for (size_t i = 0; i < count / KETAMA_POINTS_PER_HASH; i++) {
        ketama_digest(m, i, d);
        for (size_t a = 0; a < KETAMA_POINTS_PER_HASH; a++) {
            const unsigned char *w = d + 4 * a;
            ring_point *p = &r->points[r->npoints++];

            p->value = (uint32_t)w[0] | (uint32_t)w[1] << 8 |
                       (uint32_t)w[2] << 16 | (uint32_t)w[3] << 24;
            p->server = server;
        }
    }
}

/*
 * twemproxy's qsort compares values only, and glibc's merge sort keeps
 * ties in insertion order: lower server index first. Breaking ties by
 * server index gives the same lookups with any qsort (ties within one
 * server lead to that server whatever their order).
 */
static int
point_compare(const void *a, const void *b)
{
    const ring_point *pa = a, *pb = b;

    if (pa->value != pb->value)
        return pa->value < pb->value ? -1 : 1;
    if (pa->server != pb->server)
        return pa->server < pb->server ? -1 : 1;
    return 0;
}

static uint64_t
live_weight(const ring_member *members, size_t count, const bool *live)
{
    uint64_t total = 0;

    for (size_t i = 0; i < count; i++) {
        if (member_is_live(live, i))
            total += members[i].weight;
    }
    return total;
}

static int
ketama_build(ring *r, const ring_member *members, const bool *live)
{
    uint64_t total = live_weight(members, r->member_count, live);
    size_t all = 0;

    for (size_t i = 0; i < r->member_count; i++) {
        if (!member_is_live(live, i))
            continue;
        r->point_count[i] =
            ketama_points(members[i].weight, total, r->live_count);
        all += r->point_count[i];
    }
    r->points = malloc((all ? all : 1) * sizeof(*r->points));
    if (r->points == NULL)
        return -1;
    for (size_t i = 0; i < r->member_count; i++)
        ketama_add_points(r, &members[i], (uint32_t)i, r->point_count[i]);
    qsort(r->points, r->npoints, sizeof(*r->points), point_compare);
    return 0;
}

/*
 * Lists the live members in index order; for modula also their running
 * weight, which stands for twemproxy's one slot per unit of weight
 * without allocating one entry per unit.
 */
static int
slots_build(ring *r, const ring_member *members, const bool *live)
{
    size_t n = r->live_count ? r->live_count : 1;
    uint64_t sum = 0;
    size_t j = 0;

    r->live_index = malloc(n * sizeof(*r->live_index));
    r->weight_end = malloc(n * sizeof(*r->weight_end));
    if (r->live_index == NULL || r->weight_end == NULL)
        return -1;
    for (size_t i = 0; i < r->member_count; i++) {
        if (!member_is_live(live, i))
            continue;
        sum += members[i].weight;
        r->live_index[j] = (uint32_t)i;
        r->weight_end[j++] = sum;
    }
    return 0;
}

ring *
ring_build(dist_kind dist, const ring_member *members, size_t count,
           const bool *live)
{
    ring *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->dist = dist;
    r->member_count = count;
    for (size_t i = 0; i < count; i++)
        r->live_count += member_is_live(live, i);
    r->point_count = calloc(count ? count : 1, sizeof(*r->point_count));
    if (r->point_count == NULL)
        goto fail;
    if (dist == DIST_KETAMA ? ketama_build(r, members, live)
                            : slots_build(r, members, live))
        goto fail;
    return r;
fail:
    ring_free(r);
    return NULL;
}

void
ring_free(ring *r)
{
    if (r == NULL)
        return;
    free(r->point_count);
    free(r->points);
    free(r->live_index);
    free(r->weight_end);
    free(r);
}

/* The first point at or after `hash`, wrapping to the first point. */
static int
ketama_lookup(const ring *r, uint32_t hash)
{
    size_t lo = 0, hi = r->npoints;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->points[mid].value < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == r->npoints)
        lo = 0;
    return (int)r->points[lo].server;
}

/* The live member owning slot hash % total weight. */
static int
modula_lookup(const ring *r, uint32_t hash)
{
    uint64_t slot = hash % r->weight_end[r->live_count - 1];
    size_t lo = 0, hi = r->live_count - 1;

    /* The first member whose running weight passes the slot. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->weight_end[mid] <= slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)r->live_index[lo];
}

int
ring_lookup(const ring *r, uint32_t hash)
{
    if (r == NULL || r->live_count == 0)
        return -1;
    switch (r->dist) {
    case DIST_KETAMA:
        return r->npoints ? ketama_lookup(r, hash) : -1;
    case DIST_MODULA:
        /* A total weight of 0 (weights conf rejects) has no slot. */
        return r->weight_end[r->live_count - 1] ? modula_lookup(r, hash) : -1;
    case DIST_RANDOM:
        return (int)r->live_index[hash % r->live_count];
    }
    return -1;
}

size_t
ring_live_count(const ring *r)
{
    return r == NULL ? 0 : r->live_count;
}

size_t
ring_point_count(const ring *r, size_t index)
{
    if (r == NULL || index >= r->member_count)
        return 0;
    return r->point_count[index];
}
