/*
 * shard-mc-bench: libshard's memcached pools against what they replace,
 * on one machine, over the same four memcached servers:
 *
 *   libshard      the cache API (shard_get, shard_set, shard_mget)
 *   libmemcached  libmemcached alone, its own ketama (MD5) and its own
 *                 multi-get (memcached_mget, then memcached_fetch_result)
 *   hand-split    libmemcached per server, routed by shard_pool_locate;
 *                 a multi-get asks every server, then reads every reply
 *   nutcracker    libmemcached through nutcracker 0.5 on the same config
 *
 * Workloads: GET, SET (32-byte values), MGET of 10 and of 100 keys, on
 * 10,000 preloaded keys picked at random with the same seed in every mode.
 * As shard-bench does, modes are interleaved round by round and each
 * figure is the median across rounds (see docs/benchmarks.md).
 *
 *   shard-mc-bench [--rounds N] [--seconds S] [--quick]
 *   shard-mc-bench --instr WORKLOAD N   (for tests/bench/mc-instr.sh)
 *
 * --instr runs N operations of one mode's workload inside measured_loop()
 * and nothing else, for valgrind --tool=callgrind --toggle-collect=
 * measured_loop; WORKLOAD is MODE-OP, OP one of get set mget10 mget100
 * (libshard-get, libmemcached-mget100, ...). It prints figures and judges
 * nothing: it is not a test.
 */
#include <libmemcached/memcached.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shard/shard.h>

#include "harness.h"

#define SERVERS 4
#define KEY_COUNT 10000
#define KEY_MAX 24
#define VALUE_LEN 32
#define MGET_MAX 100
#define IO_TIMEOUT_MS 5000
#define WARMUP_OPS 300
#define MAX_ROUNDS 101
#define RNG_SEED 0x9e3779b97f4a7c15ULL

#if defined(__clang__)
#define MEASURED __attribute__((noinline))
#else
#define MEASURED __attribute__((noinline, noclone))
#endif

typedef enum mode { LIBSHARD, LIBMEMCACHED, SPLIT, NUTCRACKER, MODES } mode;
typedef enum op { OP_GET, OP_SET, OP_MGET10, OP_MGET100, OPS } op;

static const char *const mode_names[MODES] = {"libshard", "libmemcached",
                                              "hand-split", "nutcracker"};
static const char *const op_names[OPS] = {"get", "set", "mget10", "mget100"};
static const char *const op_titles[OPS] = {"GET", "SET", "MGET 10", "MGET 100"};
static const int op_keys[OPS] = {1, 1, 10, 100};

/* The figures of one run. */
typedef struct sample {
    double ops, p50_us, p99_us, cpu_us;
} sample;

typedef struct bench {
    harness_server *servers[SERVERS]; /* memcached, by libshard index */
    harness_server *nut;              /* nutcracker over them */
    shard_pool *pool;                 /* libshard */
    memcached_st *alone;              /* libmemcached over the four */
    memcached_st *split[SERVERS];     /* one per server, libshard's index */
    memcached_st *proxy;              /* to nutcracker */
    /* Reused by fetches: embedded (libmemcached frees allocated ones at
     * the end of every multi-get). */
    memcached_result_st result;                /* alone's */
    memcached_result_st split_result[SERVERS]; /* split[i]'s */
    memcached_result_st proxy_result;          /* proxy's */
    int nkeys;                                 /* keys preloaded and used */
    char keys[KEY_COUNT][KEY_MAX];
    size_t key_len[KEY_COUNT];
    char value[VALUE_LEN + 1];
    uint64_t rng;
    long bad;      /* wrong or missing values */
    uint64_t *lat; /* latencies of this run, ns */
    size_t nlat, lat_cap;
    int rounds;
    double seconds;
    sample s[MODES][OPS][MAX_ROUNDS];
    int ns[MODES][OPS];
} bench;

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
    return (int)((b->rng * 0x2545f4914f6cdd1dULL >> 33) % (uint64_t)b->nkeys);
}

/* ---- the operations, each mode's way ------------------------------- */

static void
check_value(bench *b, const char *v, size_t len)
{
    if (v == NULL || len != VALUE_LEN || memcmp(v, b->value, VALUE_LEN) != 0)
        b->bad++;
}

static void
shard_op(bench *b, op o, const int *k)
{
    const char *keys[MGET_MAX];
    size_t lens[MGET_MAX], len;
    shard_reply *r;

    if (o == OP_SET) {
        if (shard_set(b->pool, b->keys[k[0]], b->key_len[k[0]], b->value,
                      VALUE_LEN, 0) != SHARD_OK)
            b->bad++;
        return;
    }
    if (o == OP_GET) {
        if (shard_get(b->pool, &r, b->keys[k[0]], b->key_len[k[0]]) !=
            SHARD_OK) {
            b->bad++;
            return;
        }
        const char *v = shard_reply_str(r, &len);
        check_value(b, v, len);
        shard_reply_free(r);
        return;
    }
    for (int i = 0; i < op_keys[o]; i++) {
        keys[i] = b->keys[k[i]];
        lens[i] = b->key_len[k[i]];
    }
    if (shard_mget(b->pool, &r, (size_t)op_keys[o], keys, lens) != SHARD_OK) {
        b->bad++;
        return;
    }
    for (size_t i = 0; i < shard_reply_len(r); i++) {
        const char *v = shard_reply_str(shard_reply_at(r, i), &len);
        check_value(b, v, len);
    }
    shard_reply_free(r);
}

/* Reads every value of a multi-get on `m` into its `result`. */
static void
fetch_all(bench *b, memcached_st *m, memcached_result_st *result, int want)
{
    memcached_result_st *res;
    memcached_return_t rc;
    int got = 0;

    while ((res = memcached_fetch_result(m, result, &rc)) != NULL) {
        check_value(b, memcached_result_value(res),
                    memcached_result_length(res));
        got++;
    }
    if (got != want)
        b->bad += want - got;
}

static void
lm_op(bench *b, memcached_st *m, memcached_result_st *result, op o,
      const int *k)
{
    const char *keys[MGET_MAX];
    size_t lens[MGET_MAX], len;
    uint32_t flags;
    memcached_return_t rc;

    if (o == OP_SET) {
        if (memcached_set(m, b->keys[k[0]], b->key_len[k[0]], b->value,
                          VALUE_LEN, 0, 0) != MEMCACHED_SUCCESS)
            b->bad++;
        return;
    }
    if (o == OP_GET) {
        char *v = memcached_get(m, b->keys[k[0]], b->key_len[k[0]], &len,
                                &flags, &rc);
        check_value(b, v, len);
        free(v);
        return;
    }
    for (int i = 0; i < op_keys[o]; i++) {
        keys[i] = b->keys[k[i]];
        lens[i] = b->key_len[k[i]];
    }
    if (memcached_mget(m, keys, lens, (size_t)op_keys[o]) != MEMCACHED_SUCCESS)
        b->bad++;
    else
        fetch_all(b, m, result, op_keys[o]);
}

/* A multi-get split by hand: every server asked, then every one read. */
static void
split_mget(bench *b, const int *k, int n)
{
    const char *keys[SERVERS][MGET_MAX];
    size_t lens[SERVERS][MGET_MAX];
    size_t count[SERVERS] = {0};

    for (int i = 0; i < n; i++) {
        int s = shard_pool_locate(b->pool, b->keys[k[i]], b->key_len[k[i]]);
        keys[s][count[s]] = b->keys[k[i]];
        lens[s][count[s]++] = b->key_len[k[i]];
    }
    for (int s = 0; s < SERVERS; s++) {
        if (count[s] > 0 && memcached_mget(b->split[s], keys[s], lens[s],
                                           count[s]) != MEMCACHED_SUCCESS)
            b->bad++;
    }
    for (int s = 0; s < SERVERS; s++) {
        if (count[s] > 0)
            fetch_all(b, b->split[s], &b->split_result[s], (int)count[s]);
    }
}

static void
run_op(bench *b, mode m, op o, const int *k)
{
    switch (m) {
    case LIBSHARD:
        shard_op(b, o, k);
        break;
    case LIBMEMCACHED:
        lm_op(b, b->alone, &b->result, o, k);
        break;
    case NUTCRACKER:
        lm_op(b, b->proxy, &b->proxy_result, o, k);
        break;
    default:
        if (o == OP_MGET10 || o == OP_MGET100) {
            split_mget(b, k, op_keys[o]);
        } else {
            int s = shard_pool_locate(b->pool, b->keys[k[0]], b->key_len[k[0]]);
            lm_op(b, b->split[s], &b->split_result[s], o, k);
        }
    }
}

static void
pick(bench *b, op o, int *k)
{
    for (int i = 0; i < op_keys[o]; i++)
        k[i] = next_key(b);
}

/* ---- instructions ---------------------------------------------------- */

MEASURED long measured_loop(bench *b, mode m, op o, long n);

MEASURED long
measured_loop(bench *b, mode m, op o, long n)
{
    int k[MGET_MAX];

    for (long i = 0; i < n; i++) {
        pick(b, o, k);
        run_op(b, m, o, k);
    }
    return n;
}

/* ---- timing ---------------------------------------------------------- */

static int
cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;

    return (a > c) - (a < c);
}

static int
cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, c = *(const double *)y;

    return (a > c) - (a < c);
}

static uint64_t
cpu_ns(pid_t pid)
{
    struct timespec ts;
    char path[64], buf[128];
    unsigned long long ns = 0;
    FILE *f;

    if (pid == 0) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) != NULL)
        ns = strtoull(buf, NULL, 10);
    fclose(f);
    return ns;
}

/* The client's CPU, and nutcracker's in the nutcracker mode. */
static uint64_t
client_cpu(const bench *b, mode m)
{
    return cpu_ns(0) + (m == NUTCRACKER ? cpu_ns(b->nut->pid) : 0);
}

static void
run_once(bench *b, mode m, op o, sample *out)
{
    int k[MGET_MAX];
    uint64_t cpu = client_cpu(b, m), start = now_ns(), t0, t1;
    uint64_t end = start + (uint64_t)(b->seconds * 1e9);

    b->rng = RNG_SEED;
    b->nlat = 0;
    do {
        pick(b, o, k);
        t0 = now_ns();
        run_op(b, m, o, k);
        t1 = now_ns();
        if (b->nlat == b->lat_cap) {
            b->lat_cap = b->lat_cap ? b->lat_cap * 2 : 65536;
            b->lat = realloc(b->lat, b->lat_cap * sizeof(*b->lat));
            if (b->lat == NULL)
                abort();
        }
        b->lat[b->nlat++] = t1 - t0;
    } while (t1 < end);
    cpu = client_cpu(b, m) - cpu;
    qsort(b->lat, b->nlat, sizeof(*b->lat), cmp_u64);
    out->ops = (double)b->nlat * 1e9 / (double)(t1 - start);
    out->p50_us = (double)b->lat[b->nlat / 2] / 1000.0;
    out->p99_us = (double)b->lat[(size_t)(0.99 * (double)b->nlat)] / 1000.0;
    out->cpu_us = (double)cpu / 1000.0 / (double)b->nlat;
}

static double
median(bench *b, mode m, op o, int field)
{
    double v[MAX_ROUNDS];
    int n = b->ns[m][o];

    if (n == 0)
        return -1;
    for (int r = 0; r < n; r++) {
        const sample *s = &b->s[m][o][r];
        v[r] = field == 0   ? s->ops
               : field == 1 ? s->p50_us
               : field == 2 ? s->p99_us
                            : s->cpu_us;
    }
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
report(bench *b)
{
    printf("shard-mc-bench: libshard %s, %d rounds x %.2f s, medians\n",
           shard_version(), b->rounds, b->seconds);
    printf("4 memcached on 127.0.0.1; libshard and nutcracker: ketama "
           "fnv1a_64; libmemcached alone: its ketama (MD5)\n\n");
    printf("%-9s %-13s %9s %9s %9s %8s\n", "workload", "mode", "ops/s",
           "p50 us", "p99 us", "cpu us");
    for (int o = 0; o < OPS; o++) {
        for (int m = 0; m < MODES; m++)
            printf("%-9s %-13s %9.0f %9.1f %9.1f %8.1f\n",
                   m == 0 ? op_titles[o] : "", mode_names[m],
                   median(b, m, o, 0), median(b, m, o, 1), median(b, m, o, 2),
                   median(b, m, o, 3));
    }
    printf("\nlibshard / other, ops/s (above 1 favours libshard) and p50\n");
    printf("%-9s %21s %21s %21s\n", "", "vs libmemcached", "vs hand-split",
           "vs nutcracker");
    for (int o = 0; o < OPS; o++) {
        printf("%-9s", op_titles[o]);
        for (int m = LIBMEMCACHED; m < MODES; m++)
            printf("  ops %5.2f  p50 %5.2f",
                   median(b, LIBSHARD, o, 0) / median(b, m, o, 0),
                   median(b, LIBSHARD, o, 1) / median(b, m, o, 1));
        printf("\n");
    }
    printf("\ntargets (reported, never asserted):\n");
    printf("  MGET 100 ops/s libshard/nutcracker   %5.2f  (>= 2.0)\n",
           median(b, LIBSHARD, OP_MGET100, 0) /
               median(b, NUTCRACKER, OP_MGET100, 0));
    printf("  MGET 100 ops/s libshard/libmemcached %5.2f  (>= 1.0)\n",
           median(b, LIBSHARD, OP_MGET100, 0) /
               median(b, LIBMEMCACHED, OP_MGET100, 0));
    printf("  (GET instructions: tests/bench/mc-instr.sh)\n");
    if (b->bad > 0)
        printf("warning: %ld wrong or missing values\n", b->bad);
}

static void
run_rounds(bench *b)
{
    for (int r = 0; r < b->rounds; r++) {
        fprintf(stderr, "shard-mc-bench: round %d/%d\n", r + 1, b->rounds);
        for (int o = 0; o < OPS; o++) {
            for (int i = 0; i < MODES; i++) {
                int m = (i + r) % MODES;
                run_once(b, m, o, &b->s[m][o][b->ns[m][o]++]);
            }
        }
    }
}

/* ---- servers, clients, keys ------------------------------------------ */

static memcached_st *
client(bench *b, const harness_server *s)
{
    memcached_st *m = memcached_create(NULL);

    if (m == NULL)
        return NULL;
    if (s != NULL)
        memcached_server_add(m, "127.0.0.1", (in_port_t)s->port);
    else
        for (int i = 0; i < SERVERS; i++)
            memcached_server_add(m, "127.0.0.1",
                                 (in_port_t)b->servers[i]->port);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, IO_TIMEOUT_MS);
    if (s == NULL)
        memcached_behavior_set(m, MEMCACHED_BEHAVIOR_KETAMA, 1);
    return m;
}

static bool
start(bench *b)
{
    harness_server *started[SERVERS];
    int listen = harness_free_port();
    const char *yaml;

    for (int i = 0; i < SERVERS; i++)
        if ((started[i] = harness_memcached_start(0)) == NULL)
            return false;
    yaml = harness_write_file(
        "mc-bench.yml",
        harness_fmt("bench:\n  listen: 127.0.0.1:%d\n  redis: false\n"
                    "  hash: fnv1a_64\n  distribution: ketama\n"
                    "  timeout: %d\n  preconnect: true\n  servers:\n"
                    "   - %s:1 s0\n   - %s:1 s1\n   - %s:1 s2\n"
                    "   - %s:1 s3\n",
                    listen, IO_TIMEOUT_MS, started[0]->addr, started[1]->addr,
                    started[2]->addr, started[3]->addr));
    if (yaml == NULL || shard_pool_open(&b->pool, yaml, NULL, NULL) != SHARD_OK)
        return false;
    for (int i = 0; i < SERVERS; i++)
        for (int j = 0; j < SERVERS; j++)
            if (strcmp(started[j]->addr,
                       shard_pool_server_addr(b->pool, (size_t)i)) == 0)
                b->servers[i] = started[j];
    if ((b->nut = harness_nutcracker_start(yaml, listen)) == NULL)
        return false;
    b->alone = client(b, NULL);
    b->proxy = client(b, b->nut);
    bool ok = memcached_result_create(b->alone, &b->result) != NULL &&
              memcached_result_create(b->proxy, &b->proxy_result) != NULL;
    for (int i = 0; i < SERVERS; i++) {
        b->split[i] = client(b, b->servers[i]);
        ok = ok &&
             memcached_result_create(b->split[i], &b->split_result[i]) != NULL;
    }
    return ok;
}

/* Every key where libshard puts it, and where libmemcached alone does. */
static bool
preload(bench *b)
{
    memset(b->value, 'v', VALUE_LEN);
    for (int i = 0; i < b->nkeys; i++) {
        b->key_len[i] = (size_t)snprintf(b->keys[i], KEY_MAX, "bench:%06d", i);
        if (shard_set(b->pool, b->keys[i], b->key_len[i], b->value, VALUE_LEN,
                      0) != SHARD_OK ||
            memcached_set(b->alone, b->keys[i], b->key_len[i], b->value,
                          VALUE_LEN, 0, 0) != MEMCACHED_SUCCESS) {
            fprintf(stderr, "shard-mc-bench: preload: %s\n",
                    shard_pool_errmsg(b->pool));
            return false;
        }
    }
    return true;
}

static bool
parse_workload(const char *w, mode *m, op *o)
{
    for (int i = 0; i < MODES; i++) {
        size_t n = strlen(mode_names[i]);
        if (strncmp(w, mode_names[i], n) != 0 || w[n] != '-')
            continue;
        for (int j = 0; j < OPS; j++) {
            if (strcmp(w + n + 1, op_names[j]) == 0) {
                *m = (mode)i;
                *o = (op)j;
                return true;
            }
        }
    }
    return false;
}

static int
usage(void)
{
    fprintf(stderr, "usage: shard-mc-bench [--rounds N] [--seconds S] "
                    "[--quick]\n       shard-mc-bench --instr MODE-OP N\n"
                    "MODE: libshard libmemcached hand-split nutcracker; OP: "
                    "get set mget10 mget100\n");
    return 2;
}

static int
instr_main(bench *b, const char *workload, long n)
{
    mode m;
    op o;

    if (!parse_workload(workload, &m, &o) || n < 1)
        return usage();
    b->rng = RNG_SEED;
    measured_loop(b, m, o, WARMUP_OPS); /* connections and caches warm */
    measured_loop(b, m, o, n);
    if (b->bad > 0)
        fprintf(stderr, "shard-mc-bench: %ld wrong values\n", b->bad);
    return b->bad > 0;
}

int
main(int argc, char **argv)
{
    static bench b;
    const char *instr = NULL;
    long n = 0;

    b.rounds = 7;
    b.seconds = 0.5;
    b.nkeys = KEY_COUNT;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            b.rounds = 2;
            b.seconds = 0.2;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            b.rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            b.seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--instr") == 0 && i + 2 < argc) {
            instr = argv[++i];
            n = atol(argv[++i]);
        } else {
            return usage();
        }
    }
    if (b.rounds < 1 || b.rounds > MAX_ROUNDS || b.seconds <= 0)
        return usage();
    if (instr != NULL)
        b.nkeys = 1000; /* preloading under valgrind is slow */
    if (!start(&b) || !preload(&b)) {
        fprintf(stderr, "shard-mc-bench: could not start the servers\n");
        harness_cleanup();
        return 1;
    }
    int rc = 0;
    if (instr != NULL) {
        rc = instr_main(&b, instr, n);
    } else {
        run_rounds(&b);
        report(&b);
    }
    shard_pool_free(b.pool);
    harness_cleanup();
    return rc;
}
