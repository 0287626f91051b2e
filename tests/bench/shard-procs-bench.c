/*
 * shard-procs-bench: the CPU ceiling of one shared proxy. N application
 * processes (1, 2, 4, 8) each run the same blocking load (GET, or MGET of
 * 10 keys, one at a time) over four redis-servers, two ways:
 *
 *   nutcracker  every process a hiredis blocking connection to one
 *               nutcracker over the four servers
 *   libshard    every process its own libshard pool on the same YAML file
 *
 * Reported per cell: total requests per second of the N processes, and CPU
 * per request of the applications (each child's getrusage, user + system,
 * over its measured loop), of nutcracker (/proc/PID/stat utime + stime
 * over the same window) and their total; the redis-servers' CPU per
 * request beside it, for context (it is the same work either way). Then
 * what the figures imply for a larger host (see the report).
 *
 * The children start together (they block on a pipe the parent closes),
 * each runs for --seconds, and reports through another pipe. Cells are
 * interleaved round by round, the mode that runs first alternating, and
 * each figure is the median across rounds.
 *
 *   shard-procs-bench [--rounds N] [--seconds S] [--quick]
 *
 * It prints figures and never judges them: it is not a test.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shard/shard.h>

#include "bench_env.h"

#define PROG "shard-procs-bench"
#define MGET_KEYS 10   /* keys per MGET */
#define MAX_PROCS 8    /* most application processes */
#define WARMUP_OPS 200 /* untimed requests per child before the start */
#define HOST_CORES 16  /* the larger host the report extrapolates to */

/* The two ways an application process reaches the servers. */
typedef enum pmode {
    PM_NUTCRACKER, /* hiredis blocking, through the one nutcracker */
    PM_LIBSHARD,   /* its own libshard pool */
    PM_COUNT
} pmode;

static const char *const mode_names[PM_COUNT] = {"nutcracker", "libshard"};

/* One workload: GET (keys 1) or MGET (keys MGET_KEYS). */
typedef struct workload {
    const char *name; /* as printed */
    int keys;         /* keys per request; 1 is a GET */
} workload;

static const workload workloads[] = {{"GET", 1}, {"MGET-10", MGET_KEYS}};
static const int proc_counts[] = {1, 2, 4, MAX_PROCS};

#define WORKLOAD_COUNT (sizeof(workloads) / sizeof(workloads[0]))
#define PROC_COUNTS (sizeof(proc_counts) / sizeof(proc_counts[0]))
#define CELLS (PM_COUNT * WORKLOAD_COUNT * PROC_COUNTS)

/* What a child reports through the result pipe (atomic: < PIPE_BUF). */
typedef struct child_result {
    long ops;         /* requests answered in the measured loop */
    long misses;      /* nil values (never expected) */
    uint64_t cpu_ns;  /* its CPU over the loop, user + system */
    uint64_t wall_ns; /* the loop's length */
    long switches;    /* its context switches over the loop */
    int failed;       /* a request failed: the figures are void */
} child_result;

/* The figures of one run of N processes. */
typedef struct sample {
    double ops;    /* total requests per second */
    double app_us; /* the applications' CPU per request, us */
    double nut_us; /* nutcracker's CPU per request, us */
    double srv_us; /* the redis-servers' CPU per request, us */
    double csw;    /* the applications' context switches per request */
} sample;

/* One application process's connection: one of the two. */
typedef struct client {
    pmode mode;          /* which of the two is set */
    redisContext *proxy; /* to nutcracker */
    shard_pool *pool;    /* its own pool */
} client;

/* The bench: environment, settings, samples. */
typedef struct pbench {
    bench_env env;                         /* servers, keys, the YAML */
    bench_args args;                       /* rounds and seconds */
    bool broken[PM_COUNT];                 /* failed once: skipped after */
    long misses[PM_COUNT];                 /* nil values seen */
    sample samples[CELLS][ENV_MAX_ROUNDS]; /* per cell, per round */
    int sample_count[CELLS];               /* rounds recorded per cell */
} pbench;

static int
cell_of(int m, size_t w, size_t p)
{
    return (int)(((size_t)m * WORKLOAD_COUNT + w) * PROC_COUNTS + p);
}

/* ---- a child: one application process --------------------------------- */

static bool
client_open(client *cl, const bench_env *env, pmode m)
{
    struct timeval tv = {ENV_TIMEOUT_MS / 1000, 0};

    cl->mode = m;
    if (m == PM_LIBSHARD)
        return shard_pool_open(&cl->pool, env->yaml, NULL, NULL) == SHARD_OK;
    cl->proxy = redisConnectWithTimeout("127.0.0.1", env->nut_port, tv);
    if (cl->proxy == NULL || cl->proxy->err)
        return false;
    return redisSetTimeout(cl->proxy, tv) == REDIS_OK;
}

static void
client_close(client *cl)
{
    shard_pool_free(cl->pool);
    redisFree(cl->proxy);
}

/* Whether a value (a GET reply or an MGET element) is right; counts nils. */
static bool
value_ok(int type, int string, int nil, long *misses)
{
    if (type == nil)
        (*misses)++;
    return type == string || type == nil;
}

static bool
request_shard(client *cl, int argc, const char **argv, const size_t *len,
              long *misses)
{
    shard_reply *r;
    bool ok;

    if (shard_command_argv(cl->pool, &r, argc, argv, len) != SHARD_OK)
        return false;
    if (argc == 2) {
        ok = value_ok(shard_reply_type(r), SHARD_REPLY_STRING, SHARD_REPLY_NIL,
                      misses);
    } else {
        ok = shard_reply_type(r) == SHARD_REPLY_ARRAY &&
             shard_reply_len(r) == (size_t)(argc - 1);
        for (int i = 0; ok && i < argc - 1; i++)
            ok = value_ok(shard_reply_type(shard_reply_at(r, (size_t)i)),
                          SHARD_REPLY_STRING, SHARD_REPLY_NIL, misses);
    }
    shard_reply_free(r);
    return ok;
}

static bool
request_proxy(client *cl, int argc, const char **argv, const size_t *len,
              long *misses)
{
    redisReply *r = redisCommandArgv(cl->proxy, argc, argv, len);
    bool ok;

    if (r == NULL)
        return false;
    if (argc == 2) {
        ok = value_ok(r->type, REDIS_REPLY_STRING, REDIS_REPLY_NIL, misses);
    } else {
        ok = r->type == REDIS_REPLY_ARRAY && r->elements == (size_t)(argc - 1);
        for (size_t i = 0; ok && i < r->elements; i++)
            ok = value_ok(r->element[i]->type, REDIS_REPLY_STRING,
                          REDIS_REPLY_NIL, misses);
    }
    freeReplyObject(r);
    return ok;
}

/* One GET or MGET on fresh keys; false when it failed. */
static bool
request(client *cl, const bench_env *env, const workload *w, uint64_t *rng,
        long *misses)
{
    const char *argv[MGET_KEYS + 1];
    size_t len[MGET_KEYS + 1];

    argv[0] = w->keys == 1 ? "GET" : "MGET";
    len[0] = strlen(argv[0]);
    for (int i = 1; i <= w->keys; i++) {
        int k = bench_next_key(rng);
        argv[i] = env->keys[k];
        len[i] = env->key_len[k];
    }
    if (cl->mode == PM_LIBSHARD)
        return request_shard(cl, w->keys + 1, argv, len, misses);
    return request_proxy(cl, w->keys + 1, argv, len, misses);
}

/* The measured loop: requests until `seconds` have passed. */
static void
child_loop(client *cl, const bench_env *env, const workload *w, uint64_t rng,
           double seconds, child_result *res)
{
    long switches0 = bench_self_switches();
    uint64_t cpu0 = bench_self_cpu_ns(), start = bench_now_ns(), now;
    uint64_t end = start + (uint64_t)(seconds * 1e9);

    do {
        if (!request(cl, env, w, &rng, &res->misses)) {
            res->failed = 1;
            break;
        }
        res->ops++;
        now = bench_now_ns();
    } while (now < end);
    res->wall_ns = bench_now_ns() - start;
    res->cpu_ns = bench_self_cpu_ns() - cpu0;
    res->switches = bench_self_switches() - switches0;
}

/*
 * The body of child `index`: connect, warm up, say ready, wait for the
 * start (EOF on `go`), run, report. Never returns.
 */
static void
child_main(const pbench *pb, pmode m, const workload *w, int index,
           const int *fds)
{
    client cl = {0};
    child_result res = {0};
    uint64_t rng = ENV_SEED + 0x1000193u * (uint64_t)(index + 1);
    char byte = 'r';
    long warm_misses = 0;
    bool ok = client_open(&cl, &pb->env, m);

    for (int i = 0; ok && i < WARMUP_OPS; i++)
        ok = request(&cl, &pb->env, w, &rng, &warm_misses);
    res.failed = !ok;
    if (write(fds[1], &byte, 1) != 1 || read(fds[2], &byte, 1) != 0)
        res.failed = 1;
    if (!res.failed)
        child_loop(&cl, &pb->env, w, rng, pb->args.seconds, &res);
    if (write(fds[5], &res, sizeof(res)) != (ssize_t)sizeof(res))
        res.failed = 1;
    client_close(&cl);
    _exit(res.failed ? 1 : 0);
}

/* ---- the parent: one run of N children --------------------------------- */

/* Reads `len` bytes from `fd` within `timeout_s` seconds. */
static bool
read_within(int fd, void *buf, size_t len, int timeout_s)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    ssize_t n;

    if (poll(&pfd, 1, timeout_s * 1000) != 1)
        return false;
    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)len;
}

/* nutcracker's CPU, and the four redis-servers' together, ns. */
static void
server_cpu(const pbench *pb, uint64_t *nut, uint64_t *servers)
{
    *nut = bench_proc_cpu_ns(pb->env.nut->pid);
    *servers = 0;
    for (int s = 0; s < ENV_SERVERS; s++)
        *servers += bench_proc_cpu_ns(pb->env.shards[s]->pid);
}

/* Forks `n` children running `w` mode `m`'s way; their pids into `pids`.
 * fds: ready, go and result pipes, read end first. */
static int
spawn(pbench *pb, pmode m, const workload *w, int n, int *fds, pid_t *pids)
{
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0)
            return i;
        if (pids[i] == 0) {
            close(fds[0]);
            close(fds[3]);
            close(fds[4]);
            child_main(pb, m, w, i, fds);
        }
    }
    return n;
}

/* Reads the `n` children's reports and adds them up into *sum (its ops
 * field holding the sum of their rates); false when one failed. */
static bool
gather(pbench *pb, pmode m, int n, int fd, child_result *sum, double *rate)
{
    child_result res;

    for (int i = 0; i < n; i++) {
        if (!read_within(fd, &res, sizeof(res), (int)pb->args.seconds + 60) ||
            res.failed || res.wall_ns == 0)
            return false;
        sum->ops += res.ops;
        sum->cpu_ns += res.cpu_ns;
        sum->switches += res.switches;
        pb->misses[m] += res.misses;
        *rate += (double)res.ops * 1e9 / (double)res.wall_ns;
    }
    return sum->ops > 0;
}

/* Starts the children together and adds up what they report. */
static bool
collect(pbench *pb, pmode m, int n, const int *fds, sample *out)
{
    child_result sum = {0};
    uint64_t nut0, srv0, nut1, srv1;
    double ops;
    char byte;
    bool ok = true;

    for (int i = 0; i < n && ok; i++)
        ok = read_within(fds[0], &byte, 1, 60);
    server_cpu(pb, &nut0, &srv0);
    close(fds[3]); /* go: every child reads EOF */
    out->ops = 0;
    ok = ok && gather(pb, m, n, fds[4], &sum, &out->ops);
    server_cpu(pb, &nut1, &srv1);
    if (!ok)
        return false;
    ops = (double)sum.ops;
    out->app_us = (double)sum.cpu_ns / 1000.0 / ops;
    out->nut_us =
        m == PM_NUTCRACKER ? (double)(nut1 - nut0) / 1000.0 / ops : 0.0;
    out->srv_us = (double)(srv1 - srv0) / 1000.0 / ops;
    out->csw = (double)sum.switches / ops;
    return true;
}

/* Runs `n` processes of workload `w`, mode `m`; 0 and `out` filled, or -1
 * (the mode is then skipped from there on). */
static int
run_cell(pbench *pb, pmode m, const workload *w, int n, sample *out)
{
    int fds[6] = {-1, -1, -1, -1, -1, -1}, started, status;
    pid_t pids[MAX_PROCS];
    bool ok;

    if (pipe(fds) != 0 || pipe(fds + 2) != 0 || pipe(fds + 4) != 0) {
        fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
        exit(1);
    }
    started = spawn(pb, m, w, n, fds, pids);
    close(fds[1]);
    close(fds[2]);
    close(fds[5]);
    if (started < n) {
        close(fds[3]); /* the started ones see EOF, run, and exit */
        ok = false;
    } else {
        ok = collect(pb, m, n, fds, out);
    }
    close(fds[0]);
    close(fds[4]);
    for (int i = 0; i < started; i++) {
        if (!ok)
            kill(pids[i], SIGKILL);
        if (waitpid(pids[i], &status, 0) != pids[i] || status != 0)
            ok = false;
    }
    if (!ok && !pb->broken[m])
        fprintf(stderr,
                PROG ": %s with %d processes, %s: a process failed; "
                     "skipping %s\n",
                mode_names[m], n, w->name, mode_names[m]);
    pb->broken[m] |= !ok;
    return ok ? 0 : -1;
}

/* Round by round, each workload and process count, both modes in turn,
 * the first of them alternating. */
static void
run_rounds(pbench *pb)
{
    for (int r = 0; r < pb->args.rounds; r++) {
        fprintf(stderr, PROG ": round %d/%d\n", r + 1, pb->args.rounds);
        for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
            for (size_t p = 0; p < PROC_COUNTS; p++) {
                for (int k = 0; k < PM_COUNT; k++) {
                    int m = (k + r) % PM_COUNT;
                    int c = cell_of(m, w, p);
                    if (pb->broken[m])
                        continue;
                    if (run_cell(pb, (pmode)m, &workloads[w], proc_counts[p],
                                 &pb->samples[c][pb->sample_count[c]]) == 0)
                        pb->sample_count[c]++;
                }
            }
        }
    }
}

/* ---- the report -------------------------------------------------------- */

/* Which figure of a sample. */
typedef enum field { F_OPS, F_APP, F_NUT, F_TOTAL, F_SRV, F_CSW } field;

static double
field_of(const sample *s, field f)
{
    switch (f) {
    case F_OPS:
        return s->ops;
    case F_APP:
        return s->app_us;
    case F_NUT:
        return s->nut_us;
    case F_TOTAL:
        return s->app_us + s->nut_us;
    case F_SRV:
        return s->srv_us;
    default:
        return s->csw;
    }
}

static int
figures(const pbench *pb, int c, field f, double *v)
{
    for (int r = 0; r < pb->sample_count[c]; r++)
        v[r] = field_of(&pb->samples[c][r], f);
    return pb->sample_count[c];
}

static double
median(const pbench *pb, int m, size_t w, size_t p, field f)
{
    double v[ENV_MAX_ROUNDS];
    int n = figures(pb, cell_of(m, w, p), f, v);

    return bench_median(v, n);
}

static double
spread(const pbench *pb, int m, size_t w, size_t p)
{
    double v[ENV_MAX_ROUNDS];
    int n = figures(pb, cell_of(m, w, p), F_OPS, v);

    return bench_spread(v, n);
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
print_row(const pbench *pb, int m, size_t w, size_t p)
{
    double sp = spread(pb, m, w, p);

    printf(" %-10s", mode_names[m]);
    print_figure(median(pb, m, w, p, F_OPS), " %9.0f", 9);
    if (sp < 0)
        printf(" %7s", "n/a");
    else
        printf(" %6.0f%%", sp);
    print_figure(median(pb, m, w, p, F_APP), " %8.2f", 8);
    print_figure(median(pb, m, w, p, F_CSW), " %7.2f", 7);
    if (m == PM_NUTCRACKER)
        print_figure(median(pb, m, w, p, F_NUT), " %9.2f", 9);
    else
        printf(" %9s", "-");
    print_figure(median(pb, m, w, p, F_TOTAL), " %9.2f", 9);
    print_figure(median(pb, m, w, p, F_SRV), " %11.2f", 11);
    printf("\n");
}

static void
print_figures(const pbench *pb)
{
    printf("%-8s %5s %-10s %9s %7s %8s %7s %9s %9s %11s\n", "workload", "procs",
           "mode", "ops/s", "spread", "app us", "app csw", "proxy us",
           "total us", "servers us");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        for (size_t p = 0; p < PROC_COUNTS; p++) {
            for (int m = 0; m < PM_COUNT; m++) {
                if (m == 0)
                    printf("%-8s %5d", workloads[w].name, proc_counts[p]);
                else
                    printf("%-8s %5s", "", "");
                print_row(pb, m, w, p);
            }
        }
    }
}

/*
 * libshard's figure over nutcracker's, round by round (within a round the
 * two modes of a cell run back to back, so a change of the machine's load
 * between rounds cancels out), and the median of those ratios; negative
 * when there is none.
 */
static double
ratio(const pbench *pb, size_t w, size_t p, field f)
{
    int mine = cell_of(PM_LIBSHARD, w, p),
        theirs = cell_of(PM_NUTCRACKER, w, p);
    int n = pb->sample_count[mine] < pb->sample_count[theirs]
                ? pb->sample_count[mine]
                : pb->sample_count[theirs];
    double v[ENV_MAX_ROUNDS];
    int k = 0;

    for (int r = 0; r < n; r++) {
        double below = field_of(&pb->samples[theirs][r], f);
        if (below > 0)
            v[k++] = field_of(&pb->samples[mine][r], f) / below;
    }
    return bench_median(v, k);
}

static void
print_ratios(const pbench *pb)
{
    printf("\nlibshard / nutcracker: the median of the rounds' ratios (ops/s "
           "above 1 and total CPU\nper request below 1 favour libshard)\n");
    printf("%-8s %5s %8s %8s\n", "workload", "procs", "ops/s", "cpu");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        for (size_t p = 0; p < PROC_COUNTS; p++) {
            printf("%-8s %5d", p == 0 ? workloads[w].name : "", proc_counts[p]);
            print_figure(ratio(pb, w, p, F_OPS), " %8.2f", 8);
            print_figure(ratio(pb, w, p, F_TOTAL), " %8.2f", 8);
            printf("\n");
        }
    }
}

/*
 * What the CPU per request of the cell at procs index `p` implies for a
 * host of HOST_CORES cores, the redis-servers elsewhere and the
 * applications doing nothing but this. One nutcracker is one thread: it
 * serves at most one core's worth, the applications sharing the other
 * cores. With a nutcracker per core as needed, every core's CPU goes to
 * applications and proxies alike. With libshard every core runs
 * applications.
 */
static void
print_host_cell(const pbench *pb, size_t w, size_t p)
{
    double nut = median(pb, PM_NUTCRACKER, w, p, F_NUT);
    double app = median(pb, PM_NUTCRACKER, w, p, F_APP);
    double lib = median(pb, PM_LIBSHARD, w, p, F_TOTAL);
    double one, apps, many;

    if (nut <= 0 || app <= 0 || lib <= 0)
        return;
    one = 1e6 / nut;
    apps = (HOST_CORES - 1) * 1e6 / app;
    one = one < apps ? one : apps;
    many = HOST_CORES * 1e6 / (app + nut);
    printf(
        "  %s, %d-process medians:\n"
        "    one nutcracker       min(1e6 / %.2f, %d x 1e6 / %.2f) = %.0f/s\n"
        "    a nutcracker a core  %d x 1e6 / (%.2f + %.2f) = %.0f/s\n"
        "    libshard             %d x 1e6 / %.2f = %.0f/s (%.1fx one "
        "nutcracker, %.1fx a nutcracker per core)\n",
        workloads[w].name, proc_counts[p], nut, HOST_CORES - 1, app, one,
        HOST_CORES, app, nut, many, HOST_CORES, lib, HOST_CORES * 1e6 / lib,
        HOST_CORES * 1e6 / lib / one, HOST_CORES * 1e6 / lib / many);
}

static void
print_host(const pbench *pb)
{
    printf("\nimplied for a %d-core host (redis-servers elsewhere; the "
           "applications do nothing but\nthese requests), requests per "
           "second:\n",
           HOST_CORES);
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        print_host_cell(pb, w, 0);
        print_host_cell(pb, w, PROC_COUNTS - 1);
    }
}

static void
report(const pbench *pb)
{
    printf(PROG ": libshard %s, %d rounds x %.2f s per run, medians across "
                "rounds\n",
           shard_version(), pb->args.rounds, pb->args.seconds);
    printf("N processes, each one blocking request at a time; 4 "
           "redis-servers on 127.0.0.1; one nutcracker\n(ketama, fnv1a_64) "
           "for all N, or a libshard pool per process; ops/s = total "
           "requests per second;\napp us = the N processes' CPU per request "
           "(getrusage, user + system); app csw = their context switches "
           "per request;\nproxy us = nutcracker's CPU per request "
           "(/proc/PID/stat); total us = app + proxy;\nservers us = the "
           "redis-servers' (context)\n\n");
    print_figures(pb);
    print_ratios(pb);
    print_host(pb);
    for (int m = 0; m < PM_COUNT; m++) {
        if (pb->misses[m] > 0)
            printf("warning: %s found no value %ld times (every key was "
                   "preloaded: placement differs?)\n",
                   mode_names[m], pb->misses[m]);
    }
}

static void
usage(void)
{
    fprintf(stderr, "usage: " PROG " [--rounds N] [--seconds S] [--quick]\n"
                    "  --rounds N   rounds of every cell (default 5)\n"
                    "  --seconds S  length of one run (default 1.0)\n"
                    "  --quick      2 rounds of 0.3 s, unless given\n");
}

int
main(int argc, char **argv)
{
    static pbench pb; /* big (keys, samples): not on the stack */
    const bench_args defaults = {5, 1.0}, quick = {2, 0.3};
    int rc = 0;

    if (!bench_parse_args(&pb.args, argc, argv, defaults, quick)) {
        usage();
        return 2;
    }
    if (bench_env_start(&pb.env, PROG)) {
        run_rounds(&pb);
        report(&pb);
    } else {
        fprintf(stderr, PROG ": setup failed\n");
        rc = 1;
    }
    bench_env_stop(&pb.env);
    return rc;
}
