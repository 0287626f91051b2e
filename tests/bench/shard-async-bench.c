/*
 * shard-async-bench: async throughput with one application thread on a
 * libevent loop, keeping 1, 16 or 256 requests in flight over four
 * redis-servers, three ways:
 *
 *   libshard    shard_command_async() through <shard/adapters/libevent.h>
 *   hiredis     hiredis async by hand (<hiredis/adapters/libevent.h>), one
 *               context per server, each key routed by shard_pool_locate();
 *               an MGET split by hand into one sub-MGET per server, the
 *               sub-replies kept and joined in request order
 *   nutcracker  hiredis async, one context to a nutcracker over the four
 *
 * Workloads GET, SET and MGET of 10 keys; a request is one command (an
 * MGET counts once). Each completion submits the next request until the
 * run's time is up, so exactly `depth` requests stay in flight. Reported:
 * requests per second, and CPU per request of this process (getrusage,
 * user + system) and, in the nutcracker rows, of nutcracker too
 * (/proc/PID/stat). Modes are interleaved round by round and each figure
 * is the median across rounds, as in shard-bench.
 *
 *   shard-async-bench [--rounds N] [--seconds S] [--quick]
 *
 * It prints figures and never judges them: it is not a test.
 */
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <shard/adapters/libevent.h>
#include <shard/shard.h>

#include "bench_env.h"

#define PROG "shard-async-bench"
#define MGET_KEYS 10       /* keys per MGET */
#define MAX_DEPTH 256      /* most requests in flight */
#define WARMUP_SECONDS 0.1 /* untimed run per mode and workload */
#define WARMUP_DEPTH 16    /* requests in flight while warming up */
#define WATCHDOG_S 30      /* a run this much over its time has hung */

/* The three ways of running a workload. */
typedef enum amode {
    AM_LIBSHARD,   /* shard_command_async on the libevent adapter */
    AM_HIREDIS,    /* hiredis async over the four, routed by hand */
    AM_NUTCRACKER, /* hiredis async through nutcracker */
    AM_COUNT
} amode;

static const char *const mode_names[AM_COUNT] = {"libshard", "hiredis",
                                                 "nutcracker"};

/* What one request does. */
typedef enum op_kind {
    OP_GET, /* GET key */
    OP_SET, /* SET key value */
    OP_MGET /* MGET of MGET_KEYS keys */
} op_kind;

/* One workload. */
typedef struct workload {
    const char *name; /* as printed */
    op_kind op;       /* the command */
    int keys;         /* keys per request */
} workload;

static const workload workloads[] = {
    {"GET", OP_GET, 1}, {"SET", OP_SET, 1}, {"MGET-10", OP_MGET, MGET_KEYS}};
static const int depths[] = {1, 16, MAX_DEPTH};

#define WORKLOAD_COUNT (sizeof(workloads) / sizeof(workloads[0]))
#define DEPTH_COUNT (sizeof(depths) / sizeof(depths[0]))
#define CELLS (AM_COUNT * WORKLOAD_COUNT * DEPTH_COUNT)

/* The figures of one run. */
typedef struct sample {
    double ops;    /* requests per second */
    double cpu_us; /* this process's CPU per request, us */
    double nut_us; /* nutcracker's CPU per request, us (nutcracker rows) */
} sample;

struct abench;

/* One hand-split MGET in flight: its plan and the sub-replies so far. */
typedef struct join {
    struct abench *ab;              /* the bench it belongs to */
    int server[MGET_KEYS];          /* server of key i */
    int pos[MGET_KEYS];             /* key i's index in that sub-MGET */
    int count[ENV_SERVERS];         /* keys per server */
    redisReply **elem[ENV_SERVERS]; /* sub-replies' elements, taken over */
    int parts_left;                 /* sub-replies still to come */
    bool failed;                    /* a sub-reply was wrong */
    struct join *next_free;         /* free list link */
} join;

/* Everything the bench holds, and the run under way. */
typedef struct abench {
    bench_env env;                        /* servers, pool, keys */
    bench_args args;                      /* rounds and seconds */
    struct event_base *base;              /* the one loop */
    shard_libevent *ad;                   /* libshard's adapter on it */
    redisAsyncContext *hand[ENV_SERVERS]; /* by the pool's server index */
    redisAsyncContext *proxy;             /* to nutcracker */
    struct event *watchdog;               /* ends a run that hangs */
    join joins[MAX_DEPTH];                /* hand-split MGETs in flight */
    join *free_joins;                     /* the unused ones */
    amode mode;                           /* of the run under way */
    const workload *w;                    /* of the run under way */
    uint64_t rng;                         /* key sequence state */
    uint64_t end_ns;                      /* submit nothing after this */
    uint64_t last_ns;                     /* when the last reply came */
    long inflight;                        /* requests submitted, not answered */
    long done;                            /* requests answered this run */
    bool stopping;                        /* time is up: drain */
    bool closing;                         /* tearing down: ignore callbacks */
    int only_depth;                       /* --depth: only this one, or 0 */
    bool broken[AM_COUNT];                /* failed once: skipped after */
    long misses[AM_COUNT];                /* nil values seen (never expected) */
    sample samples[CELLS][ENV_MAX_ROUNDS]; /* per cell, per round */
    int sample_count[CELLS];               /* rounds recorded per cell */
} abench;

static int
cell_of(int m, size_t w, size_t d)
{
    return (int)(((size_t)m * WORKLOAD_COUNT + w) * DEPTH_COUNT + d);
}

/* Marks the current mode broken and says why, once; stops the run. */
static int
mode_fail(abench *ab, amode m, const char *what, const char *why)
{
    if (!ab->broken[m])
        fprintf(stderr, PROG ": %s: %s failed: %s; skipping %s\n",
                mode_names[m], what, why != NULL ? why : "?", mode_names[m]);
    ab->broken[m] = true;
    ab->stopping = true;
    return -1;
}

/* ---- reply checks ----------------------------------------------------- */

static void
check_value_type(abench *ab, amode m, int type, int string, int nil)
{
    if (type == nil)
        ab->misses[m]++;
    else if (type != string)
        mode_fail(ab, m, "a reply", "not a string");
}

static void
check_redis(abench *ab, amode m, const redisReply *r)
{
    if (r == NULL)
        mode_fail(ab, m, "a request", "no reply (connection lost)");
    else if (r->type == REDIS_REPLY_ERROR)
        mode_fail(ab, m, "a request", r->str);
    else if (ab->w->op == OP_SET && r->type != REDIS_REPLY_STATUS)
        mode_fail(ab, m, "SET", "not a status reply");
    else if (ab->w->op == OP_GET)
        check_value_type(ab, m, r->type, REDIS_REPLY_STRING, REDIS_REPLY_NIL);
    else if (ab->w->op != OP_MGET)
        return;
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != MGET_KEYS)
        mode_fail(ab, m, "MGET", "wrong reply shape");
    else
        for (size_t i = 0; i < MGET_KEYS; i++)
            check_value_type(ab, m, r->element[i]->type, REDIS_REPLY_STRING,
                             REDIS_REPLY_NIL);
}

static void
check_shard(abench *ab, const shard_reply *r)
{
    int type = shard_reply_type(r);

    if (type == SHARD_REPLY_ERROR)
        mode_fail(ab, AM_LIBSHARD, "a request", shard_reply_str(r, NULL));
    else if (ab->w->op == OP_SET && type != SHARD_REPLY_STATUS)
        mode_fail(ab, AM_LIBSHARD, "SET", "not a status reply");
    else if (ab->w->op == OP_GET)
        check_value_type(ab, AM_LIBSHARD, type, SHARD_REPLY_STRING,
                         SHARD_REPLY_NIL);
    else if (ab->w->op != OP_MGET)
        return;
    else if (type != SHARD_REPLY_ARRAY || shard_reply_len(r) != MGET_KEYS)
        mode_fail(ab, AM_LIBSHARD, "MGET", "wrong reply shape");
    else
        for (size_t i = 0; i < MGET_KEYS; i++)
            check_value_type(ab, AM_LIBSHARD,
                             shard_reply_type(shard_reply_at(r, i)),
                             SHARD_REPLY_STRING, SHARD_REPLY_NIL);
}

/* ---- submitting and completing --------------------------------------- */

static int submit(abench *ab);

/* A request is answered: submit the next one, or end the run once the
 * time is up and nothing is left in flight. */
static void
complete(abench *ab)
{
    ab->done++;
    ab->inflight--;
    if (!ab->stopping) {
        if (bench_now_ns() < ab->end_ns && submit(ab) == 0)
            return;
        ab->stopping = true;
    }
    if (ab->inflight == 0) {
        ab->last_ns = bench_now_ns();
        event_base_loopbreak(ab->base);
    }
}

static void
on_shard_reply(shard_pool *pool, const shard_reply *reply, int status,
               void *userdata)
{
    abench *ab = userdata;

    (void)pool;
    if (ab->closing)
        return;
    if (status != SHARD_OK)
        mode_fail(ab, AM_LIBSHARD, "an async request", shard_strerror(status));
    else
        check_shard(ab, reply);
    complete(ab);
}

static void
on_redis_reply(redisAsyncContext *c, void *reply, void *privdata)
{
    abench *ab = privdata;

    if (ab->closing)
        return;
    check_redis(ab, c == ab->proxy ? AM_NUTCRACKER : AM_HIREDIS, reply);
    complete(ab);
}

/* The argv of a request on keys `idx`; returns argc. */
static int
request_argv(const abench *ab, const int *idx, const char **argv, size_t *len)
{
    const bench_env *env = &ab->env;
    int n = ab->w->keys;

    argv[0] = ab->w->op == OP_GET   ? "GET"
              : ab->w->op == OP_SET ? "SET"
                                    : "MGET";
    len[0] = strlen(argv[0]);
    for (int i = 0; i < n; i++) {
        argv[i + 1] = env->keys[idx[i]];
        len[i + 1] = env->key_len[idx[i]];
    }
    if (ab->w->op != OP_SET)
        return n + 1;
    argv[2] = env->value;
    len[2] = ENV_VALUE_LEN;
    return 3;
}

static int
submit_shard(abench *ab, int argc, const char **argv, const size_t *len)
{
    int rc =
        shard_command_async(ab->env.pool, argc, argv, len, on_shard_reply, ab);

    if (rc != SHARD_OK)
        return mode_fail(ab, AM_LIBSHARD, "shard_command_async",
                         shard_pool_errmsg(ab->env.pool));
    return 0;
}

static int
submit_redis(abench *ab, amode m, redisAsyncContext *c, int argc,
             const char **argv, const size_t *len)
{
    if (redisAsyncCommandArgv(c, on_redis_reply, ab, argc, argv, len) !=
        REDIS_OK)
        return mode_fail(ab, m, "redisAsyncCommandArgv", c->errstr);
    return 0;
}

static int
locate(abench *ab, int key)
{
    int s = shard_pool_locate(ab->env.pool, ab->env.keys[key],
                              ab->env.key_len[key]);

    if (s < 0 || s >= ENV_SERVERS)
        return mode_fail(ab, AM_HIREDIS, "shard_pool_locate",
                         shard_pool_errmsg(ab->env.pool));
    return s;
}

/* ---- the hand-split MGET ---------------------------------------------- */

static void
join_release(abench *ab, join *j)
{
    for (int s = 0; s < ENV_SERVERS; s++) {
        for (int k = 0; j->elem[s] != NULL && k < j->count[s]; k++)
            freeReplyObject(j->elem[s][k]);
        free(j->elem[s]);
        j->elem[s] = NULL;
    }
    j->next_free = ab->free_joins;
    ab->free_joins = j;
}

/* Every sub-reply is in: the MGET's elements in request order. */
static void
join_finish(abench *ab, join *j)
{
    redisReply *joined[MGET_KEYS];

    if (!j->failed) {
        for (int i = 0; i < MGET_KEYS; i++)
            joined[i] = j->elem[j->server[i]][j->pos[i]];
        for (int i = 0; i < MGET_KEYS; i++)
            check_value_type(ab, AM_HIREDIS, joined[i]->type,
                             REDIS_REPLY_STRING, REDIS_REPLY_NIL);
    }
    join_release(ab, j);
    complete(ab);
}

/* One server's sub-MGET reply: its elements are taken over (the reply
 * itself is freed by hiredis when this returns). */
static void
on_part_reply(redisAsyncContext *c, void *reply, void *privdata)
{
    join *j = privdata;
    redisReply *r = reply;
    int s = (int)(intptr_t)c->data;

    if (j->ab->closing)
        return;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
        r->elements != (size_t)j->count[s]) {
        mode_fail(j->ab, AM_HIREDIS, "a sub-MGET",
                  r == NULL ? "no reply" : "wrong reply shape");
        j->failed = true;
    } else {
        j->elem[s] = r->element;
        r->element = NULL;
        r->elements = 0;
    }
    if (--j->parts_left == 0)
        join_finish(j->ab, j);
}

static int
submit_split_mget(abench *ab, const int *idx)
{
    const char *argv[ENV_SERVERS][MGET_KEYS + 1];
    size_t len[ENV_SERVERS][MGET_KEYS + 1];
    join *j = ab->free_joins;

    if (j == NULL)
        return mode_fail(ab, AM_HIREDIS, "MGET", "more in flight than room");
    ab->free_joins = j->next_free;
    memset(j->count, 0, sizeof(j->count));
    j->failed = false;
    j->parts_left = 0;
    for (int i = 0; i < MGET_KEYS; i++) {
        int s = locate(ab, idx[i]);
        if (s < 0)
            return -1;
        j->server[i] = s;
        j->pos[i] = j->count[s]++;
        argv[s][j->count[s]] = ab->env.keys[idx[i]];
        len[s][j->count[s]] = ab->env.key_len[idx[i]];
    }
    for (int s = 0; s < ENV_SERVERS; s++) {
        if (j->count[s] == 0)
            continue;
        argv[s][0] = "MGET";
        len[s][0] = 4;
        if (redisAsyncCommandArgv(ab->hand[s], on_part_reply, j,
                                  j->count[s] + 1, argv[s], len[s]) != REDIS_OK)
            return mode_fail(ab, AM_HIREDIS, "a sub-MGET", ab->hand[s]->errstr);
        j->parts_left++;
    }
    return 0;
}

static int
submit_hiredis(abench *ab, const int *idx, int argc, const char **argv,
               const size_t *len)
{
    int s;

    if (ab->w->op == OP_MGET)
        return submit_split_mget(ab, idx);
    if ((s = locate(ab, idx[0])) < 0)
        return -1;
    return submit_redis(ab, AM_HIREDIS, ab->hand[s], argc, argv, len);
}

/* Submits one request on fresh keys, the current mode's way. */
static int
submit(abench *ab)
{
    const char *argv[MGET_KEYS + 1];
    size_t len[MGET_KEYS + 1];
    int idx[MGET_KEYS], argc, rc;

    for (int i = 0; i < ab->w->keys; i++)
        idx[i] = bench_next_key(&ab->rng);
    argc = request_argv(ab, idx, argv, len);
    switch (ab->mode) {
    case AM_LIBSHARD:
        rc = submit_shard(ab, argc, argv, len);
        break;
    case AM_HIREDIS:
        rc = submit_hiredis(ab, idx, argc, argv, len);
        break;
    default:
        rc = submit_redis(ab, AM_NUTCRACKER, ab->proxy, argc, argv, len);
        break;
    }
    if (rc == 0)
        ab->inflight++;
    return rc;
}

/* ---- runs ------------------------------------------------------------- */

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    abench *ab = arg;

    (void)fd;
    (void)what;
    fprintf(stderr,
            PROG ": %s: %s: %ld requests still in flight %d s after the "
                 "run's end; giving up\n",
            mode_names[ab->mode], ab->w->name, ab->inflight, WATCHDOG_S);
    exit(1);
}

/* Runs workload `w` with `depth` in flight, mode `m`'s way, for `seconds`;
 * fills `out` (when not NULL). 0, or -1 when the mode failed. */
static int
run_once(abench *ab, amode m, const workload *w, int depth, double seconds,
         sample *out)
{
    struct timeval limit = {(long)seconds + WATCHDOG_S, 0};
    uint64_t cpu0, nut0, start;

    ab->mode = m;
    ab->w = w;
    ab->rng = ENV_SEED;
    ab->done = 0;
    ab->inflight = 0;
    ab->stopping = false;
    evtimer_add(ab->watchdog, &limit);
    nut0 = m == AM_NUTCRACKER ? bench_proc_cpu_ns(ab->env.nut->pid) : 0;
    cpu0 = bench_self_cpu_ns();
    start = bench_now_ns();
    ab->end_ns = start + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < depth && !ab->stopping; i++)
        submit(ab);
    if (ab->inflight > 0)
        event_base_dispatch(ab->base);
    evtimer_del(ab->watchdog);
    if (ab->broken[m] || ab->done == 0)
        return -1;
    if (out != NULL) {
        double n = (double)ab->done;
        out->cpu_us = (double)(bench_self_cpu_ns() - cpu0) / 1000.0 / n;
        out->nut_us =
            m != AM_NUTCRACKER
                ? 0.0
                : (double)(bench_proc_cpu_ns(ab->env.nut->pid) - nut0) /
                      1000.0 / n;
        out->ops = n * 1e9 / (double)(ab->last_ns - start);
    }
    return 0;
}

static void
warm_up(abench *ab)
{
    for (int m = 0; m < AM_COUNT; m++) {
        for (size_t w = 0; w < WORKLOAD_COUNT && !ab->broken[m]; w++)
            run_once(ab, (amode)m, &workloads[w], WARMUP_DEPTH, WARMUP_SECONDS,
                     NULL);
    }
    memset(ab->misses, 0, sizeof(ab->misses));
}

/* Whether `depth` is one of the depths and runs (--depth). */
static bool
depth_runs(const abench *ab, int depth)
{
    for (size_t d = 0; d < DEPTH_COUNT; d++) {
        if (depths[d] == depth)
            return ab->only_depth == 0 || ab->only_depth == depth;
    }
    return false;
}

/* Round `r` of workload `w` at depth `d`: every mode in turn, back to
 * back, starting from a different mode each round so that none always
 * runs first. */
static void
run_modes(abench *ab, int r, size_t w, size_t d)
{
    for (int k = 0; k < AM_COUNT; k++) {
        int m = (k + r) % AM_COUNT;
        int c = cell_of(m, w, d);
        if (ab->broken[m])
            continue;
        if (run_once(ab, (amode)m, &workloads[w], depths[d], ab->args.seconds,
                     &ab->samples[c][ab->sample_count[c]]) == 0)
            ab->sample_count[c]++;
    }
}

/* Round by round, each workload at each depth (or at --depth only). */
static void
run_rounds(abench *ab)
{
    for (int r = 0; r < ab->args.rounds; r++) {
        fprintf(stderr, PROG ": round %d/%d\n", r + 1, ab->args.rounds);
        for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
            for (size_t d = 0; d < DEPTH_COUNT; d++) {
                if (depth_runs(ab, depths[d]))
                    run_modes(ab, r, w, d);
            }
        }
    }
}

/* ---- the report ------------------------------------------------------- */

/* Which figure of a sample. */
typedef enum field { F_OPS, F_CPU, F_NUT, F_TOTAL } field;

static double
field_of(const sample *s, field f)
{
    switch (f) {
    case F_OPS:
        return s->ops;
    case F_CPU:
        return s->cpu_us;
    case F_NUT:
        return s->nut_us;
    default:
        return s->cpu_us + s->nut_us;
    }
}

/* One figure of every round of cell `c`, into v; returns how many. */
static int
figures(const abench *ab, int c, field f, double *v)
{
    for (int r = 0; r < ab->sample_count[c]; r++)
        v[r] = field_of(&ab->samples[c][r], f);
    return ab->sample_count[c];
}

static double
median(const abench *ab, int c, field f)
{
    double v[ENV_MAX_ROUNDS];
    int n = figures(ab, c, f, v);

    return bench_median(v, n);
}

static double
spread(const abench *ab, int c)
{
    double v[ENV_MAX_ROUNDS];
    int n = figures(ab, c, F_OPS, v);

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
print_row(const abench *ab, int m, size_t w, size_t d)
{
    int c = cell_of(m, w, d);
    double sp = spread(ab, c);

    printf(" %-10s", mode_names[m]);
    print_figure(median(ab, c, F_OPS), " %9.0f", 9);
    if (sp < 0)
        printf(" %7s", "n/a");
    else
        printf(" %6.0f%%", sp);
    print_figure(median(ab, c, F_CPU), " %10.2f", 10);
    if (m == AM_NUTCRACKER)
        print_figure(median(ab, c, F_NUT), " %9.2f", 9);
    else
        printf(" %9s", "-");
    print_figure(median(ab, c, F_TOTAL), " %9.2f", 9);
    printf("\n");
}

static void
print_figures(const abench *ab)
{
    printf("%-8s %5s %-10s %9s %7s %10s %9s %9s\n", "workload", "depth", "mode",
           "ops/s", "spread", "client us", "proxy us", "total us");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        for (size_t d = 0; d < DEPTH_COUNT; d++) {
            if (!depth_runs(ab, depths[d]))
                continue;
            for (int m = 0; m < AM_COUNT; m++) {
                if (m == 0)
                    printf("%-8s %5d", workloads[w].name, depths[d]);
                else
                    printf("%-8s %5s", "", "");
                print_row(ab, m, w, d);
            }
        }
    }
}

/*
 * libshard's figure over mode `other`'s, round by round (within a round
 * the modes of a cell run back to back, so a change of the machine's load
 * between rounds cancels out), and the median of those ratios; negative
 * when there is none.
 */
static double
ratio(const abench *ab, int other, size_t w, size_t d, field f)
{
    int mine = cell_of(AM_LIBSHARD, w, d), theirs = cell_of(other, w, d);
    int n = ab->sample_count[mine] < ab->sample_count[theirs]
                ? ab->sample_count[mine]
                : ab->sample_count[theirs];
    double v[ENV_MAX_ROUNDS];
    int k = 0;

    for (int r = 0; r < n; r++) {
        double below = field_of(&ab->samples[theirs][r], f);
        if (below > 0)
            v[k++] = field_of(&ab->samples[mine][r], f) / below;
    }
    return bench_median(v, k);
}

static void
print_ratios(const abench *ab)
{
    printf("\nlibshard / other: the median of the rounds' ratios (ops/s "
           "above 1 and cpu below 1 favour\nlibshard; cpu is total CPU per "
           "request: nutcracker's own included)\n");
    printf("%-8s %5s %17s %17s\n", "", "", "vs hiredis", "vs nutcracker");
    printf("%-8s %5s %8s %8s %8s %8s\n", "workload", "depth", "ops/s", "cpu",
           "ops/s", "cpu");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        for (size_t d = 0; d < DEPTH_COUNT; d++) {
            if (!depth_runs(ab, depths[d]))
                continue;
            printf("%-8s %5d",
                   d == 0 || ab->only_depth ? workloads[w].name : "",
                   depths[d]);
            print_figure(ratio(ab, AM_HIREDIS, w, d, F_OPS), " %8.2f", 8);
            print_figure(ratio(ab, AM_HIREDIS, w, d, F_TOTAL), " %8.2f", 8);
            print_figure(ratio(ab, AM_NUTCRACKER, w, d, F_OPS), " %8.2f", 8);
            print_figure(ratio(ab, AM_NUTCRACKER, w, d, F_TOTAL), " %8.2f", 8);
            printf("\n");
        }
    }
}

static void
print_target(const char *workload_name, const char *what, double v,
             double target)
{
    printf("  %-8s %-28s", workload_name, what);
    print_figure(v, " %6.2f", 6);
    printf("   target >= %.1f: %s\n", target,
           v < 0         ? "no figure"
           : v >= target ? "met"
                         : "not met");
}

static void
print_targets(const abench *ab)
{
    size_t d = DEPTH_COUNT - 1;

    if (!depth_runs(ab, depths[d]))
        return;
    printf("\ntargets at %d in flight (reported, never asserted):\n",
           depths[d]);
    for (size_t w = 0; w < WORKLOAD_COUNT; w++) {
        print_target(workloads[w].name, "ops/s libshard/hiredis",
                     ratio(ab, AM_HIREDIS, w, d, F_OPS), 0.9);
        print_target(workloads[w].name, "ops/s libshard/nutcracker",
                     ratio(ab, AM_NUTCRACKER, w, d, F_OPS), 2.0);
    }
    for (int m = 0; m < AM_COUNT; m++) {
        if (ab->misses[m] > 0)
            printf("warning: %s found no value %ld times (every key was "
                   "preloaded: placement differs?)\n",
                   mode_names[m], ab->misses[m]);
    }
}

static void
report(const abench *ab)
{
    printf(PROG ": libshard %s, %d rounds x %.2f s per run, medians across "
                "rounds\n",
           shard_version(), ab->args.rounds, ab->args.seconds);
    printf("one thread on one libevent loop; 4 redis-servers on 127.0.0.1; "
           "nutcracker (ketama, fnv1a_64) over them\n"
           "ops/s = requests per second (an MGET-10 is one request); "
           "spread = (max - min) / median of ops/s;\n"
           "client us = this process's CPU per request (getrusage, user + "
           "system); proxy us = nutcracker's\n(/proc/PID/stat utime + "
           "stime); total us = client + proxy\n\n");
    print_figures(ab);
    print_ratios(ab);
    print_targets(ab);
}

/* ---- setup and teardown ----------------------------------------------- */

static redisAsyncContext *
connect_async(abench *ab, int port, int index)
{
    redisAsyncContext *c = redisAsyncConnect("127.0.0.1", port);

    if (c == NULL || c->err) {
        fprintf(stderr, PROG ": connecting to 127.0.0.1:%d: %s\n", port,
                c != NULL ? c->errstr : "out of memory");
        if (c != NULL)
            redisAsyncFree(c);
        return NULL;
    }
    c->data = (void *)(intptr_t)index;
    if (redisLibeventAttach(c, ab->base) != REDIS_OK) {
        redisAsyncFree(c);
        return NULL;
    }
    return c;
}

static bool
setup(abench *ab)
{
    if (!bench_env_start(&ab->env, PROG))
        return false;
    if ((ab->base = event_base_new()) == NULL ||
        (ab->watchdog = evtimer_new(ab->base, on_watchdog, ab)) == NULL)
        return false;
    if (shard_libevent_attach(ab->env.pool, &ab->ad, ab->base) != SHARD_OK) {
        fprintf(stderr, PROG ": shard_libevent_attach: %s\n",
                shard_pool_errmsg(ab->env.pool));
        return false;
    }
    for (int s = 0; s < ENV_SERVERS; s++) {
        ab->hand[s] = connect_async(ab, ab->env.shards[s]->port, s);
        if (ab->hand[s] == NULL)
            return false;
    }
    ab->proxy = connect_async(ab, ab->env.nut_port, -1);
    for (int i = 0; i < MAX_DEPTH; i++) {
        ab->joins[i].ab = ab;
        join_release(ab, &ab->joins[i]);
    }
    return ab->proxy != NULL;
}

/* The pool goes before its adapter, hiredis' contexts before the loop. */
static void
teardown(abench *ab)
{
    ab->closing = true;
    for (int s = 0; s < ENV_SERVERS; s++) {
        if (ab->hand[s] != NULL)
            redisAsyncFree(ab->hand[s]);
    }
    if (ab->proxy != NULL)
        redisAsyncFree(ab->proxy);
    bench_env_stop(&ab->env);
    shard_libevent_detach(ab->ad);
    if (ab->watchdog != NULL)
        event_free(ab->watchdog);
    if (ab->base != NULL)
        event_base_free(ab->base);
}

static void
usage(void)
{
    fprintf(stderr, "usage: " PROG " [--rounds N] [--seconds S] [--quick] "
                    "[--depth D]\n"
                    "  --rounds N   rounds of every cell (default 5)\n"
                    "  --seconds S  length of one run (default 1.0)\n"
                    "  --quick      2 rounds of 0.2 s, unless given\n"
                    "  --depth D    only D requests in flight: 1, 16 or 256\n");
}

/* Takes --depth D out of argv (into ab->only_depth); false when D is not
 * one of the depths. */
static bool
take_depth(abench *ab, int *argc, char **argv)
{
    int out = 1;

    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--depth") != 0 || i + 1 == *argc) {
            argv[out++] = argv[i];
            continue;
        }
        ab->only_depth = (int)strtol(argv[++i], NULL, 10);
        if (!depth_runs(ab, ab->only_depth))
            return false;
    }
    *argc = out;
    return true;
}

int
main(int argc, char **argv)
{
    static abench ab; /* big (keys, samples): not on the stack */
    const bench_args defaults = {5, 1.0}, quick = {2, 0.2};
    int rc = 0;

    if (!take_depth(&ab, &argc, argv) ||
        !bench_parse_args(&ab.args, argc, argv, defaults, quick)) {
        usage();
        return 2;
    }
    if (setup(&ab)) {
        warm_up(&ab);
        run_rounds(&ab);
        report(&ab);
    } else {
        fprintf(stderr, PROG ": setup failed\n");
        rc = 1;
    }
    teardown(&ab);
    return rc;
}
