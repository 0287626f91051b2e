/*
 * Live counters of a pool and its servers, with twemproxy's names and
 * meanings (twemproxy-0.5.md section 7) plus libshard's own, and a compact
 * latency histogram. One thread writes them (the pool's); another may read
 * them at any time (the stats port), so every access is a relaxed atomic:
 * a plain load or store on x86-64 and ARM64, never a lock.
 */
#ifndef SHARD_LIB_STATS_H
#define SHARD_LIB_STATS_H

#include <stdint.h>

/* The pool's thread adds; any thread reads. */
#define STAT_ADD(field, n)                                                     \
    __atomic_store_n(&(field),                                                 \
                     __atomic_load_n(&(field), __ATOMIC_RELAXED) + (n),        \
                     __ATOMIC_RELAXED)
#define STAT_SET(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define STAT_GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/*
 * Latencies in microseconds, log-linear: 8 buckets per power of two (each
 * within 12.5% of its values), exact below 8 us, up to 2^32 us (71 min).
 */
#define LATENCY_SUB 8
#define LATENCY_BUCKETS (33 * LATENCY_SUB)
/* The sliding window: this many slots of this many seconds. */
#define LATENCY_SLOTS 6
#define LATENCY_SLOT_SECONDS 10

typedef struct latency_hist {
    uint64_t total[LATENCY_BUCKETS];               /* since open */
    uint32_t slot[LATENCY_SLOTS][LATENCY_BUCKETS]; /* the last minute */
    int64_t slot_epoch[LATENCY_SLOTS]; /* which 10 s each slot counts */
    uint64_t max_us;                   /* the largest since open */
    int slot_now;                      /* the slot being counted into */
    int64_t slot_end_us;               /* when it ends (monotonic) */
} latency_hist;

/* The figures of one latency distribution, in microseconds. */
typedef struct latency_summary {
    uint64_t count; /* samples */
    uint64_t p50, p90, p99, p999, max;
} latency_summary;

/* One server's counters (twemproxy's names, then libshard's). */
typedef struct server_stats {
    uint64_t server_eof;       /* the server closed a connection */
    uint64_t server_err;       /* a connection failed: connect, I/O, AUTH */
    uint64_t server_timedout;  /* a connection closed on `timeout` */
    uint64_t connections;      /* open now (server_connections) */
    uint64_t opened;           /* opened since the pool was */
    uint64_t requests;         /* fragments queued to it */
    uint64_t request_bytes;    /* their RESP bytes */
    uint64_t responses;        /* replies from it */
    uint64_t response_bytes;   /* their RESP bytes */
    uint64_t frags_written;    /* fragments whose bytes all left */
    uint64_t frags_answered;   /* fragments answered or failed */
    uint64_t bytes_written;    /* request bytes that left */
    uint64_t bytes_answered;   /* request bytes of answered fragments */
    uint64_t ejections;        /* times it left the ring */
    int64_t ejected_at_us;     /* wall clock of the last, 0: never */
    uint64_t connect_failures; /* connects that failed */
    uint64_t probes;           /* server_probe PINGs sent */
    uint64_t probe_failures;   /* ... that failed */
    latency_hist latency;      /* request sent to reply, per fragment */
} server_stats;

/* A pool's counters beyond its servers'. */
typedef struct pool_stats {
    uint64_t client_connections; /* open handles: the pool and each open
                                    transaction (its own connection) */
    uint64_t client_eof;         /* transactions closed */
    uint64_t forward_error;      /* requests that got no reply (a negative
                                    status): twemproxy's generated errors */
    uint64_t client_err;         /* commands libshard refused with an ERROR
                                    reply: twemproxy closes the client */
    uint64_t fragments;          /* parts of split commands */
    uint64_t split_key_errors;   /* keys of split commands answered with an
                                    ERROR element (their server failed) */
    uint64_t retries;            /* fragments sent again (read_retries) */
    uint64_t sentinel_switches;  /* master address changes */
    uint64_t reloads;            /* configurations taken live */
} pool_stats;

/* Records one latency of `us` microseconds at monotonic time `now_us`. */
void latency_record(latency_hist *h, uint64_t us, int64_t now_us);

/* The distribution since open. */
latency_summary latency_since_open(const latency_hist *h);

/* The distribution over the last LATENCY_SLOTS x LATENCY_SLOT_SECONDS
 * seconds before monotonic second `now_s`. */
latency_summary latency_window(const latency_hist *h, int64_t now_s);

#endif
