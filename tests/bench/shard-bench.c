/*
 * shard-bench: libshard against the ways it replaces, on one machine.
 *
 * Starts its own servers on loopback (one redis-server alone, four more
 * behind a nutcracker), then runs the same workloads four ways: hiredis
 * straight to the lone server ("direct", a reference), libshard over the
 * four, hiredis split over the four by hand ("hand-split", what a careful
 * application does without libshard), and hiredis through nutcracker.
 * Modes are interleaved run by run and each figure is the median across
 * rounds, because where the kernel puts the processes on a small machine
 * moves single-connection figures more than any client does.
 *
 *   shard-bench [--rounds N] [--seconds S] [--quick]
 *
 * This file is the driver: servers, keys, rounds, medians and the report;
 * bench_modes.c runs one batch each of the four ways.
 *
 * It prints figures and never judges them: it is not a test.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <shard/shard.h>

#include "bench.h"
#include "harness.h"

#define WARMUP_BATCHES 200  /* untimed batches per mode and workload */
#define PRELOAD_BATCH 500   /* SETs per pipelined preload round trip */
#define IO_TIMEOUT_MS 5000  /* hiredis socket timeout: fail, never hang */
#define DEFAULT_ROUNDS 7    /* rounds when --rounds is not given */
#define DEFAULT_SECONDS 0.5 /* seconds per run when --seconds is not */
#define QUICK_ROUNDS 2      /* rounds for --quick */
#define QUICK_SECONDS 0.2   /* seconds per run for --quick */
#define MAX_ROUNDS 1000     /* sanity bound on --rounds */
#define RNG_SEED 0x9e3779b97f4a7c15ULL /* same key sequence for every run */

static const char *const mode_names[MODE_COUNT] = {"direct", "libshard",
                                                   "hand-split", "nutcracker"};

static const workload workloads[] = {
    {"GET", OP_GET, 1, 1},       {"GET x32", OP_GET, DEPTH, 1},
    {"SET", OP_SET, 1, 1},       {"SET x32", OP_SET, DEPTH, 1},
    {"MGET 10", OP_MGET, 1, 10}, {"MGET 100", OP_MGET, 1, MGET_MAX},
};

#define WORKLOAD_COUNT (sizeof(workloads) / sizeof(workloads[0]))

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
next_key(bench *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (int)((b->rng * 0x2545f4914f6cdd1dULL >> 33) % KEY_COUNT);
}

/* Marks a mode broken and says why, once. */
int
mode_fail(bench *b, mode m, const char *what, const char *why)
{
    if (!b->broken[m])
        fprintf(stderr, "shard-bench: %s: %s failed: %s; skipping %s\n",
                mode_names[m], what, why, mode_names[m]);
    b->broken[m] = true;
    return -1;
}

/* ---- runs ----------------------------------------------------------- */

static void
pick_keys(bench *b, const workload *w, int *idx)
{
    int n = w->op == OP_MGET ? w->keys : w->depth;

    for (int i = 0; i < n; i++)
        idx[i] = next_key(b);
}

static bool
record_latency(bench *b, uint64_t ns)
{
    if (b->lat_len == b->lat_cap) {
        size_t cap = b->lat_cap ? b->lat_cap * 2 : 65536;
        uint64_t *grown = realloc(b->lat, cap * sizeof(*grown));
        if (grown == NULL)
            return false;
        b->lat = grown;
        b->lat_cap = cap;
    }
    b->lat[b->lat_len++] = ns;
    return true;
}

static int
cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

    return (a > c) - (a < c);
}

/* The q-quantile (0..1) of the recorded latencies, in microseconds. */
static double
latency_us(const bench *b, double q)
{
    size_t i = (size_t)(q * (double)b->lat_len);

    if (i >= b->lat_len)
        i = b->lat_len - 1;
    return (double)b->lat[i] / 1000.0;
}

/* CPU time this process has used, ns. */
static uint64_t
self_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time process `pid` has used, ns (its first schedstat field); 0 when
 * unknown. */
static uint64_t
proc_cpu_ns(pid_t pid)
{
    char path[64], buf[128];
    unsigned long long ns = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) != NULL)
        ns = strtoull(buf, NULL, 10);
    fclose(f);
    return ns;
}

/* The CPU a mode costs on the client side: this process, plus the proxy
 * when there is one. */
static uint64_t
client_cpu_ns(const bench *b, mode m)
{
    return self_cpu_ns() +
           (m == MODE_NUTCRACKER ? proc_cpu_ns(b->nut->pid) : 0);
}

/* Runs one workload one way for b->seconds; fills `out`. */
static int
run_once(bench *b, mode m, const workload *w, sample *out)
{
    int idx[MGET_MAX > DEPTH ? MGET_MAX : DEPTH];
    uint64_t cpu = client_cpu_ns(b, m);
    uint64_t start = now_ns(), t0, t1;
    uint64_t end = start + (uint64_t)(b->seconds * 1e9);
    size_t batches = 0;

    b->rng = RNG_SEED;
    b->lat_len = 0;
    do {
        pick_keys(b, w, idx);
        t0 = now_ns();
        if (run_batch(b, m, w, idx) != 0)
            return -1;
        t1 = now_ns();
        if (!record_latency(b, t1 - t0))
            return mode_fail(b, m, "recording", "out of memory");
        batches++;
    } while (t1 < end);
    cpu = client_cpu_ns(b, m) - cpu;
    qsort(b->lat, b->lat_len, sizeof(b->lat[0]), cmp_u64);
    out->cpu_us = (double)cpu / 1000.0 / ((double)batches * w->depth);
    out->ops = (double)batches * w->depth * 1e9 / (double)(t1 - start);
    out->p50_us = latency_us(b, 0.50);
    out->p99_us = latency_us(b, 0.99);
    return 0;
}

static void
warm_up(bench *b)
{
    int idx[MGET_MAX > DEPTH ? MGET_MAX : DEPTH];

    for (int m = 0; m < MODE_COUNT; m++) {
        for (size_t w = 0; w < WORKLOAD_COUNT && !b->broken[m]; w++) {
            for (int i = 0; i < WARMUP_BATCHES && !b->broken[m]; i++) {
                pick_keys(b, &workloads[w], idx);
                run_batch(b, (mode)m, &workloads[w], idx);
            }
        }
    }
    memset(b->misses, 0, sizeof(b->misses));
}

static sample *
sample_at(bench *b, int m, size_t w, int round)
{
    return &b->samples[((size_t)m * WORKLOAD_COUNT + w) * b->rounds + round];
}

/*
 * Round by round, workload by workload, every mode in turn, starting from
 * a different mode each round so that none always runs first.
 */
static void
run_rounds(bench *b)
{
    for (int r = 0; r < b->rounds; r++) {
        fprintf(stderr, "shard-bench: round %d/%d\n", r + 1, b->rounds);
        for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
            for (int k = 0; k < MODE_COUNT; k++) {
                int m = (k + r) % MODE_COUNT;
                int *n = &b->sample_count[m * WORKLOAD_COUNT + w];
                if (b->broken[m])
                    continue;
                if (run_once(b, (mode)m, &workloads[w],
                             sample_at(b, m, w, *n)) == 0)
                    (*n)++;
            }
        }
    }
}

/* ---- medians and the report ----------------------------------------- */

static int
cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;

    return (a > c) - (a < c);
}

/* Which figure of a sample. */
typedef enum field { F_OPS, F_P50, F_P99, F_CPU } field;

static double
field_of(const sample *s, field f)
{
    switch (f) {
    case F_OPS:
        return s->ops;
    case F_P50:
        return s->p50_us;
    case F_P99:
        return s->p99_us;
    default:
        return s->cpu_us;
    }
}

/* One figure of every round of a cell, sorted; returns how many. */
static int
sorted_figures(bench *b, int m, size_t w, field f, double *v)
{
    int n = b->sample_count[m * WORKLOAD_COUNT + w];

    for (int r = 0; r < n; r++)
        v[r] = field_of(sample_at(b, m, w, r), f);
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return n;
}

/* The median across rounds of one figure; negative when there is none. */
static double
median(bench *b, int m, size_t w, field f)
{
    double v[MAX_ROUNDS];
    int n = sorted_figures(b, m, w, f, v);

    if (n == 0)
        return -1.0;
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* (max - min) / median of ops/s across rounds, in percent: the noise. */
static double
spread(bench *b, int m, size_t w)
{
    double v[MAX_ROUNDS], mid = median(b, m, w, F_OPS);
    int n = sorted_figures(b, m, w, F_OPS, v);

    if (n == 0 || mid <= 0)
        return -1.0;
    return (v[n - 1] - v[0]) / mid * 100.0;
}

static void
print_figure(double v, const char *fmt, int width)
{
    if (v < 0)
        printf(" %*s", width, "n/a");
    else
        printf(fmt, v);
}

static void
print_spread(double v)
{
    if (v < 0)
        printf(" %7s", "n/a");
    else
        printf(" %6.0f%%", v);
}

static void
print_ratio(double v)
{
    if (v < 0)
        printf(" %7s", "n/a");
    else
        printf(" %7.2f", v);
}

static void
print_figures(bench *b)
{
    printf("%-9s %-11s %9s %7s %9s %9s %8s  %s\n", "workload", "mode", "ops/s",
           "spread", "p50 us", "p99 us", "cpu us", "latency of");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        const workload *wl = &workloads[w];
        for (int m = 0; m < MODE_COUNT; m++) {
            printf("%-9s %-11s", m == 0 ? wl->name : "", mode_names[m]);
            print_figure(median(b, m, w, F_OPS), " %9.0f", 9);
            print_spread(spread(b, m, w));
            print_figure(median(b, m, w, F_P50), " %9.1f", 9);
            print_figure(median(b, m, w, F_P99), " %9.1f", 9);
            print_figure(median(b, m, w, F_CPU), " %8.1f", 8);
            printf("  %s\n", wl->op == OP_MGET ? "one MGET"
                             : wl->depth > 1   ? "batch of 32"
                                               : "one command");
        }
    }
}

/* libshard's figure over another mode's; negative when either is missing. */
static double
ratio(bench *b, int other, size_t w, field f)
{
    double mine = median(b, MODE_LIBSHARD, w, f);
    double theirs = median(b, other, w, f);

    return mine < 0 || theirs <= 0 ? -1.0 : mine / theirs;
}

static void
print_ratios(bench *b)
{
    const int others[] = {MODE_NUTCRACKER, MODE_SPLIT, MODE_DIRECT};

    printf("\nlibshard / other, from the medians (ops/s above 1 and p50 "
           "below 1 favour libshard)\n");
    printf("%-9s %15s %15s %15s\n", "", "vs nutcracker", "vs hand-split",
           "vs direct");
    printf("%-9s", "workload");
    for (int k = 0; k < 3; k++)
        printf(" %7s %7s", "ops/s", "p50");
    printf("\n");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        printf("%-9s", workloads[w].name);
        for (int k = 0; k < 3; k++) {
            print_ratio(ratio(b, others[k], w, F_OPS));
            print_ratio(ratio(b, others[k], w, F_P50));
        }
        printf("\n");
    }
}

static void
print_target(const char *what, double v, double target, bool at_least)
{
    const char *verdict = v < 0                                    ? "no figure"
                          : (at_least ? v >= target : v <= target) ? "met"
                                                                   : "not met";

    printf("  %-36s", what);
    print_ratio(v);
    printf("   target %s %.1f: %s\n", at_least ? ">=" : "<=", target, verdict);
}

static void
print_targets(bench *b)
{
    size_t get = 0, mget100 = WORKLOAD_COUNT - 1;

    printf("\ntargets (reported, never asserted):\n");
    print_target("MGET 100 ops/s libshard/nutcracker",
                 ratio(b, MODE_NUTCRACKER, mget100, F_OPS), 1.6, true);
    print_target("MGET 100 ops/s libshard/hand-split",
                 ratio(b, MODE_SPLIT, mget100, F_OPS), 0.9, true);
    print_target("GET p50 libshard/direct", ratio(b, MODE_DIRECT, get, F_P50),
                 1.2, false);
    for (int m = 0; m < MODE_COUNT; m++) {
        if (b->misses[m] > 0)
            printf("warning: %s found no value %ld times (every key was "
                   "preloaded: placement differs?)\n",
                   mode_names[m], b->misses[m]);
    }
}

static void
report(bench *b)
{
    printf("shard-bench: libshard %s, %d rounds x %.2f s per run, medians "
           "across rounds\n",
           shard_version(), b->rounds, b->seconds);
    printf("servers on 127.0.0.1: 1 redis-server (direct), 4 redis-servers "
           "(libshard, hand-split, nutcracker ketama/fnv1a_64)\n");
    printf("ops/s counts commands (GET/SET) or MGETs; x32 = pipelined "
           "batches of 32;\nspread = (max - min) / median of ops/s across "
           "rounds; cpu us = client CPU per command\n(this process, plus "
           "nutcracker's own CPU in the nutcracker rows)\n\n");
    print_figures(b);
    print_ratios(b);
    print_targets(b);
}

/* ---- servers, connections, keys ------------------------------------- */

static redisContext *
connect_addr(const char *host, int port)
{
    struct timeval tv = {IO_TIMEOUT_MS / 1000, (IO_TIMEOUT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(host, port, tv);

    if (c == NULL || c->err) {
        fprintf(stderr, "shard-bench: connecting to %s:%d: %s\n", host, port,
                c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* Connects to "host:port" as shard_pool_server_addr() gives it. */
static redisContext *
connect_server_addr(const char *addr)
{
    char host[256];
    const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
    char *end;
    long port;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return NULL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port <= 0 || port > 65535)
        return NULL;
    return connect_addr(host, (int)port);
}

static const char *
pool_yaml(const bench *b, int listen_port)
{
    return harness_fmt("bench:\n"
                       "  listen: 127.0.0.1:%d\n"
                       "  redis: true\n"
                       "  hash: fnv1a_64\n"
                       "  distribution: ketama\n"
                       "  auto_eject_hosts: false\n"
                       "  timeout: %d\n"
                       "  servers:\n"
                       "   - 127.0.0.1:%d:1\n"
                       "   - 127.0.0.1:%d:1\n"
                       "   - 127.0.0.1:%d:1\n"
                       "   - 127.0.0.1:%d:1\n",
                       listen_port, IO_TIMEOUT_MS, b->shards[0]->port,
                       b->shards[1]->port, b->shards[2]->port,
                       b->shards[3]->port);
}

static bool
start_servers(bench *b)
{
    int listen_port = harness_free_port();
    const char *yaml;

    b->lone = harness_redis_start(NULL);
    for (int i = 0; i < POOL_SERVERS; i++)
        b->shards[i] = harness_redis_start(NULL);
    for (int i = 0; i < POOL_SERVERS; i++) {
        if (b->shards[i] == NULL)
            return false;
    }
    yaml = harness_write_file("bench.yml", pool_yaml(b, listen_port));
    if (b->lone == NULL || yaml == NULL)
        return false;
    b->nut = harness_nutcracker_start(yaml, listen_port);
    if (b->nut == NULL)
        return false;
    if (shard_pool_open(&b->pool, yaml, NULL, NULL) != SHARD_OK) {
        fprintf(stderr, "shard-bench: shard_pool_open: %s\n",
                shard_last_error());
        return false;
    }
    return true;
}

static bool
connect_all(bench *b)
{
    if (shard_pool_server_count(b->pool) != POOL_SERVERS) {
        fprintf(stderr, "shard-bench: the pool has %zu servers, not %d\n",
                shard_pool_server_count(b->pool), POOL_SERVERS);
        return false;
    }
    b->direct = connect_addr("127.0.0.1", b->lone->port);
    b->proxy = connect_addr("127.0.0.1", b->nut->port);
    for (int s = 0; s < POOL_SERVERS; s++) {
        b->split[s] = connect_server_addr(shard_pool_server_addr(b->pool, s));
        if (b->split[s] == NULL)
            return false;
    }
    return b->direct != NULL && b->proxy != NULL;
}

static void
make_keys(bench *b)
{
    for (int i = 0; i < KEY_COUNT; i++) {
        int n = snprintf(b->keys[i], KEY_MAX, "bench:%06d", i);
        b->key_len[i] = n > 0 ? (size_t)n : 0;
    }
    for (int i = 0; i < VALUE_LEN; i++)
        b->value[i] = (char)('a' + i % 26);
}

/* SETs every key on the lone server and on its own server of the four. */
static bool
preload(bench *b)
{
    int pending[POOL_SERVERS] = {0}, lone_pending = 0;

    for (int i = 0; i < KEY_COUNT; i++) {
        const char *argv[3];
        size_t len[3];
        int argc = single_argv(b, OP_SET, i, argv, len);
        int s = shard_pool_locate(b->pool, b->keys[i], b->key_len[i]);
        if (s < 0 || s >= POOL_SERVERS)
            return false;
        redisAppendCommandArgv(b->direct, argc, argv, len);
        redisAppendCommandArgv(b->split[s], argc, argv, len);
        pending[s]++;
        if (++lone_pending == PRELOAD_BATCH || i == KEY_COUNT - 1) {
            if (!harness_drain_ok(b->direct, lone_pending))
                return false;
            lone_pending = 0;
            for (int k = 0; k < POOL_SERVERS; k++) {
                if (!harness_drain_ok(b->split[k], pending[k]))
                    return false;
                pending[k] = 0;
            }
        }
    }
    return true;
}

static void
teardown(bench *b)
{
    redisFree(b->direct);
    redisFree(b->proxy);
    for (int s = 0; s < POOL_SERVERS; s++)
        redisFree(b->split[s]);
    shard_pool_free(b->pool);
    harness_cleanup();
    free(b->lat);
    free(b->samples);
    free(b->sample_count);
}

/* ---- command line ---------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: shard-bench [--rounds N] [--seconds S] "
            "[--quick]\n"
            "  --rounds N   rounds of every mode and workload "
            "(default %d)\n"
            "  --seconds S  length of one run (default %.2f)\n"
            "  --quick      %d rounds of %.1f s, unless given\n",
            DEFAULT_ROUNDS, DEFAULT_SECONDS, QUICK_ROUNDS, QUICK_SECONDS);
}

static bool
parse_args(bench *b, int argc, char **argv)
{
    long rounds = -1;
    double seconds = -1;
    bool quick = false;
    char *end = NULL;

    for (int i = 1; i < argc; i++) {
        errno = 0;
        if (strcmp(argv[i], "--quick") == 0) {
            quick = true;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = strtol(argv[++i], &end, 10);
            if (errno || *end || rounds < 1 || rounds > MAX_ROUNDS)
                return false;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], &end);
            if (errno || *end || !(seconds > 0.0) || seconds > 60.0)
                return false;
        } else {
            return false;
        }
    }
    b->rounds = rounds > 0 ? (int)rounds
                : quick    ? QUICK_ROUNDS
                           : DEFAULT_ROUNDS;
    b->seconds = seconds > 0 ? seconds
                 : quick     ? QUICK_SECONDS
                             : DEFAULT_SECONDS;
    return true;
}

static bool
setup(bench *b)
{
    size_t cells = (size_t)MODE_COUNT * WORKLOAD_COUNT;

    b->samples = calloc(cells * (size_t)b->rounds, sizeof(*b->samples));
    b->sample_count = calloc(cells, sizeof(*b->sample_count));
    if (b->samples == NULL || b->sample_count == NULL)
        return false;
    make_keys(b);
    if (!start_servers(b) || !connect_all(b))
        return false;
    if (!preload(b)) {
        fprintf(stderr, "shard-bench: preloading the keys failed\n");
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    static bench b; /* big (the keys): not on the stack */
    int rc = 0;

    if (!parse_args(&b, argc, argv)) {
        usage();
        return 2;
    }
    if (setup(&b)) {
        warm_up(&b);
        run_rounds(&b);
        report(&b);
    } else {
        fprintf(stderr, "shard-bench: setup failed\n");
        rc = 1;
    }
    teardown(&b);
    return rc;
}
