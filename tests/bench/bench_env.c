/*
 * The environment of shard-async-bench and shard-procs-bench: four
 * redis-servers and a nutcracker on loopback started with the test
 * harness, the keys preloaded, and the clocks, CPU readings and medians
 * both report with.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "bench_env.h"
#include "harness.h"

#define PRELOAD_BATCH 500 /* SETs per pipelined preload round trip */

/* ---- servers and keys ------------------------------------------------ */

static const char *
pool_yaml(const bench_env *env)
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
                       env->nut_port, ENV_TIMEOUT_MS, env->shards[0]->port,
                       env->shards[1]->port, env->shards[2]->port,
                       env->shards[3]->port);
}

static void
make_keys(bench_env *env)
{
    for (int i = 0; i < ENV_KEYS; i++) {
        int n = snprintf(env->keys[i], ENV_KEY_MAX, "bench:%06d", i);
        env->key_len[i] = n > 0 ? (size_t)n : 0;
    }
    for (int i = 0; i < ENV_VALUE_LEN; i++)
        env->value[i] = (char)('a' + i % 26);
}

/* A blocking hiredis context to server `s` of the pool. */
static redisContext *
connect_server(const bench_env *env, int s)
{
    struct timeval tv = {ENV_TIMEOUT_MS / 1000, 0};
    redisContext *c =
        redisConnectWithTimeout("127.0.0.1", env->shards[s]->port, tv);

    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Appends SET for key `i` to `c`. */
static void
append_set(const bench_env *env, redisContext *c, int i)
{
    const char *argv[3] = {"SET", env->keys[i], env->value};
    size_t len[3] = {3, env->key_len[i], ENV_VALUE_LEN};

    redisAppendCommandArgv(c, 3, argv, len);
}

/* SETs every key on the server the pool places it on, pipelined. */
static bool
preload_with(bench_env *env, redisContext **ctx)
{
    int pending[ENV_SERVERS] = {0};

    for (int i = 0; i < ENV_KEYS; i++) {
        int s = shard_pool_locate(env->pool, env->keys[i], env->key_len[i]);
        if (s < 0 || s >= ENV_SERVERS)
            return false;
        append_set(env, ctx[s], i);
        pending[s]++;
        if (i % PRELOAD_BATCH != PRELOAD_BATCH - 1 && i != ENV_KEYS - 1)
            continue;
        for (int k = 0; k < ENV_SERVERS; k++) {
            if (!harness_drain_ok(ctx[k], pending[k]))
                return false;
            pending[k] = 0;
        }
    }
    return true;
}

static bool
preload(bench_env *env)
{
    redisContext *ctx[ENV_SERVERS] = {NULL};
    bool ok = true;

    for (int s = 0; s < ENV_SERVERS; s++)
        ok = ok && (ctx[s] = connect_server(env, s)) != NULL;
    ok = ok && preload_with(env, ctx);
    for (int s = 0; s < ENV_SERVERS; s++)
        redisFree(ctx[s]);
    return ok;
}

/* The pool's server `s` must be harness server `s`: the benches route by
 * shard_pool_locate() and index their own connections the same way. */
static bool
same_order(const bench_env *env)
{
    if (shard_pool_server_count(env->pool) != ENV_SERVERS)
        return false;
    for (int s = 0; s < ENV_SERVERS; s++) {
        const char *addr = shard_pool_server_addr(env->pool, (size_t)s);
        if (addr == NULL || strcmp(addr, env->shards[s]->addr) != 0)
            return false;
    }
    return true;
}

/* Sorts the servers as twemproxy orders them, so that index s of the pool
 * is env->shards[s]. */
static bool
match_pool_order(bench_env *env)
{
    harness_server *sorted[ENV_SERVERS];

    for (int s = 0; s < ENV_SERVERS; s++) {
        const char *addr = shard_pool_server_addr(env->pool, (size_t)s);
        sorted[s] = NULL;
        for (int k = 0; k < ENV_SERVERS && addr != NULL; k++) {
            if (strcmp(addr, env->shards[k]->addr) == 0)
                sorted[s] = env->shards[k];
        }
        if (sorted[s] == NULL)
            return false;
    }
    memcpy(env->shards, sorted, sizeof(sorted));
    return same_order(env);
}

static bool
start_processes(bench_env *env)
{
    for (int i = 0; i < ENV_SERVERS; i++) {
        if ((env->shards[i] = harness_redis_start(NULL)) == NULL)
            return false;
    }
    env->nut_port = harness_free_port();
    env->yaml = harness_write_file("bench.yml", pool_yaml(env));
    if (env->yaml == NULL)
        return false;
    env->nut = harness_nutcracker_start(env->yaml, env->nut_port);
    return env->nut != NULL;
}

bool
bench_env_start(bench_env *env, const char *prog)
{
    make_keys(env);
    if (!start_processes(env)) {
        fprintf(stderr, "%s: starting redis-server and nutcracker failed\n",
                prog);
        return false;
    }
    if (shard_pool_open(&env->pool, env->yaml, NULL, NULL) != SHARD_OK) {
        fprintf(stderr, "%s: shard_pool_open: %s\n", prog, shard_last_error());
        return false;
    }
    if (!match_pool_order(env)) {
        fprintf(stderr, "%s: the pool's servers are not the four started\n",
                prog);
        return false;
    }
    if (!preload(env)) {
        fprintf(stderr, "%s: preloading the keys failed\n", prog);
        return false;
    }
    return true;
}

void
bench_env_stop(bench_env *env)
{
    shard_pool_free(env->pool);
    env->pool = NULL;
    harness_cleanup();
}

/* ---- keys, clocks, CPU ----------------------------------------------- */

int
bench_next_key(uint64_t *rng)
{
    *rng ^= *rng >> 12;
    *rng ^= *rng << 25;
    *rng ^= *rng >> 27;
    return (int)((*rng * 0x2545f4914f6cdd1dULL >> 33) % ENV_KEYS);
}

uint64_t
bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t
timeval_ns(struct timeval tv)
{
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

uint64_t
bench_self_cpu_ns(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return timeval_ns(ru.ru_utime) + timeval_ns(ru.ru_stime);
}

long
bench_self_switches(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return ru.ru_nvcsw + ru.ru_nivcsw;
}

uint64_t
bench_proc_cpu_ns(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long utime, stime;
    long tick = sysconf(_SC_CLK_TCK);
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (tick <= 0 || (f = fopen(path, "r")) == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15; the command name (field 2) may hold spaces, so
     * count from its closing parenthesis, which ends field 2. */
    if ((p = strrchr(buf, ')')) == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &utime, &stime) != 2)
        return 0;
    return (utime + stime) * (1000000000ull / (unsigned long long)tick);
}

/* ---- medians --------------------------------------------------------- */

static int
cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return (a > b) - (a < b);
}

double
bench_median(double *v, int n)
{
    if (n <= 0)
        return -1.0;
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

double
bench_spread(double *v, int n)
{
    double mid = bench_median(v, n);

    if (n <= 0 || mid <= 0)
        return -1.0;
    return (v[n - 1] - v[0]) / mid * 100.0;
}

/* ---- command line ---------------------------------------------------- */

bool
bench_parse_args(bench_args *out, int argc, char **argv, bench_args defaults,
                 bench_args quick)
{
    long rounds = -1;
    double seconds = -1;
    bool is_quick = false;
    char *end = NULL;

    for (int i = 1; i < argc; i++) {
        errno = 0;
        if (strcmp(argv[i], "--quick") == 0) {
            is_quick = true;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = strtol(argv[++i], &end, 10);
            if (errno || *end || rounds < 1 || rounds > ENV_MAX_ROUNDS)
                return false;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], &end);
            if (errno || *end || !(seconds > 0.0) || seconds > 60.0)
                return false;
        } else {
            return false;
        }
    }
    *out = is_quick ? quick : defaults;
    if (rounds > 0)
        out->rounds = (int)rounds;
    if (seconds > 0)
        out->seconds = seconds;
    return true;
}
