/* The latency histogram: recording and percentiles. */
#include <string.h>

#include "stats.h"

static unsigned
bucket_of(uint64_t us)
{
    if (us < LATENCY_SUB)
        return (unsigned)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);
    unsigned sub = (unsigned)(us >> (msb - 3)) & (LATENCY_SUB - 1);
    unsigned b = (msb - 2) * LATENCY_SUB + sub;
    return b < LATENCY_BUCKETS ? b : LATENCY_BUCKETS - 1;
}

/* The largest value bucket `b` holds. */
static uint64_t
bucket_top(unsigned b)
{
    if (b < LATENCY_SUB)
        return b;
    unsigned msb = b / LATENCY_SUB + 2, sub = b % LATENCY_SUB;
    uint64_t low = (uint64_t)(LATENCY_SUB + sub) << (msb - 3);
    return low + ((uint64_t)1 << (msb - 3)) - 1;
}

/* The 10 s slot of `now_us` becomes the one counted into (cleared if it
 * last counted an older minute). Once per slot, not per sample. */
static void
slot_advance(latency_hist *h, int64_t now_us)
{
    const int64_t len = (int64_t)LATENCY_SLOT_SECONDS * 1000000;
    int64_t epoch = now_us / len;
    int slot = (int)(epoch % LATENCY_SLOTS);

    if (STAT_GET(h->slot_epoch[slot]) != epoch) {
        /* A reader may see this slot half cleared: a count is off by the
         * samples of a minute ago, for that one read. */
        for (unsigned i = 0; i < LATENCY_BUCKETS; i++)
            STAT_SET(h->slot[slot][i], 0);
        STAT_SET(h->slot_epoch[slot], epoch);
    }
    h->slot_now = slot;
    h->slot_end_us = (epoch + 1) * len;
}

void
latency_record(latency_hist *h, uint64_t us, int64_t now_us)
{
    unsigned b = bucket_of(us);

    if (now_us >= h->slot_end_us)
        slot_advance(h, now_us);
    STAT_ADD(h->total[b], 1);
    STAT_ADD(h->slot[h->slot_now][b], 1);
    if (us > STAT_GET(h->max_us))
        STAT_SET(h->max_us, us);
}

/* Percentiles of `counts`, with `max` the largest value seen. */
static latency_summary
summarize(const uint64_t *counts, uint64_t max)
{
    static const double q[] = {0.5, 0.9, 0.99, 0.999};
    uint64_t *out[4];
    latency_summary s = {0};
    uint64_t seen = 0;
    unsigned next = 0;

    out[0] = &s.p50;
    out[1] = &s.p90;
    out[2] = &s.p99;
    out[3] = &s.p999;
    for (unsigned b = 0; b < LATENCY_BUCKETS; b++)
        s.count += counts[b];
    if (s.count == 0)
        return s;
    for (unsigned b = 0; b < LATENCY_BUCKETS && next < 4; b++) {
        seen += counts[b];
        uint64_t top = bucket_top(b) < max ? bucket_top(b) : max;
        /* The smallest value at or above a fraction q of the samples. */
        while (next < 4 && (double)seen >= q[next] * (double)s.count)
            *out[next++] = top;
    }
    s.max = max;
    return s;
}

latency_summary
latency_since_open(const latency_hist *h)
{
    uint64_t counts[LATENCY_BUCKETS];

    for (unsigned b = 0; b < LATENCY_BUCKETS; b++)
        counts[b] = STAT_GET(h->total[b]);
    return summarize(counts, STAT_GET(h->max_us));
}

latency_summary
latency_window(const latency_hist *h, int64_t now_s)
{
    uint64_t counts[LATENCY_BUCKETS] = {0};
    int64_t epoch = now_s / LATENCY_SLOT_SECONDS;
    unsigned top = 0;

    for (int s = 0; s < LATENCY_SLOTS; s++) {
        int64_t e = STAT_GET(h->slot_epoch[s]);
        if (e <= epoch - LATENCY_SLOTS || e > epoch)
            continue;
        for (unsigned b = 0; b < LATENCY_BUCKETS; b++) {
            counts[b] += STAT_GET(h->slot[s][b]);
            if (counts[b] != 0 && b > top)
                top = b;
        }
    }
    /* The window's max is its highest bucket's top (the exact max is
     * kept since open only, and bounds it). */
    uint64_t max = bucket_top(top), ever = STAT_GET(h->max_us);
    return summarize(counts, max < ever ? max : ever);
}
