/* Private to shard-bench: the state and workload types shared by the
 * driver (shard-bench.c) and the four modes (bench_modes.c), and the
 * functions each gives the other. */
#ifndef SHARD_BENCH_H
#define SHARD_BENCH_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shard/shard.h>

#include "harness.h"

#define KEY_COUNT 10000 /* keys preloaded on both server sets */
#define KEY_MAX 24      /* room for one key and its NUL */
#define VALUE_LEN 32    /* bytes per value */
#define DEPTH 32        /* commands per pipelined batch */
#define POOL_SERVERS 4  /* redis-servers behind the pool */
#define MGET_MAX 100    /* most keys one MGET asks for */

/* The four ways of running a workload. */
typedef enum mode {
    MODE_DIRECT,     /* hiredis to the lone redis-server */
    MODE_LIBSHARD,   /* libshard over the four servers */
    MODE_SPLIT,      /* hiredis over the four, routed and split by hand */
    MODE_NUTCRACKER, /* hiredis through nutcracker over the four */
    MODE_COUNT
} mode;

/* What one command of a workload does. */
typedef enum op_kind {
    OP_GET, /* GET key */
    OP_SET, /* SET key value */
    OP_MGET /* MGET key... */
} op_kind;

/* One workload: a batch is `depth` GET/SET commands or one MGET. */
typedef struct workload {
    const char *name; /* as printed */
    op_kind op;       /* the command */
    int depth;        /* commands per batch (pipelined when > 1) */
    int keys;         /* keys per command */
} workload;

/* The figures of one run. */
typedef struct sample {
    double ops;    /* commands per second (MGETs for MGET workloads) */
    double p50_us; /* median latency of a batch, microseconds */
    double p99_us; /* 99th percentile latency of a batch, microseconds */
    double cpu_us; /* client CPU (and nutcracker's) per command, us */
} sample;

/* Everything a run needs: servers, connections, keys, results. */
typedef struct bench {
    harness_server *lone;                 /* the direct-mode redis-server */
    harness_server *shards[POOL_SERVERS]; /* the pool's redis-servers */
    harness_server *nut;                  /* nutcracker over `shards` */
    redisContext *direct;                 /* to `lone` */
    redisContext *proxy;                  /* to `nut` */
    redisContext *split[POOL_SERVERS];    /* by libshard's server index */
    shard_pool *pool;                     /* libshard over `shards` */
    char keys[KEY_COUNT][KEY_MAX];        /* "bench:NNNNNN" */
    size_t key_len[KEY_COUNT];            /* their lengths */
    char value[VALUE_LEN];                /* what every SET writes */
    uint64_t rng;                         /* xorshift state for key picks */
    uint64_t *lat;                        /* batch latencies of this run, ns */
    size_t lat_len;                       /* latencies recorded */
    size_t lat_cap;                       /* room in `lat` */
    bool broken[MODE_COUNT];              /* failed once: skipped after */
    long misses[MODE_COUNT];              /* nil GET/MGET results seen */
    int rounds;                           /* rounds to run */
    double seconds;                       /* length of one run */
    sample *samples;                      /* [mode][workload][round] */
    int *sample_count;                    /* [mode][workload] */
} bench;

/* From shard-bench.c. */

/* Marks a mode broken and says why, once; returns -1. */
int mode_fail(bench *b, mode m, const char *what, const char *why);

/* From bench_modes.c. */

/* The argv of command `i` of a GET/SET batch; returns argc. */
int single_argv(const bench *b, op_kind op, int key, const char **argv,
                size_t *len);

/* One batch of workload `w` on keys `idx`, run mode `m`'s way; 0 when every
 * reply was right, negative once the mode has failed. */
int run_batch(bench *b, mode m, const workload *w, const int *idx);

#endif
