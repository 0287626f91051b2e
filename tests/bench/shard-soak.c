/*
 * shard-soak: libshard under server faults, with every reply checked.
 *
 * Starts four redis-servers on free loopback ports (tests/harness), writes
 * a nutcracker.yml for them and opens a pool on it. Then, from one thread,
 * it runs rounds of a mixed load on that pool. Each round submits up to 4
 * async requests (GET, SET, MGET of 10 keys) on the libevent adapter, never
 * more than 32 in flight; sends one blocking GET, SET, MGET or pipeline of
 * 16 GETs and SETs (shard_append_argv, shard_get_reply); and lets the event
 * loop run without waiting. Async callbacks are also delivered from inside
 * the blocking calls, which share the pool's connections.
 *
 * Meanwhile, from the same loop and by the clock, a fault schedule acts on
 * the servers every 3 s (--fault-every), in turn: one server is SIGSTOPped
 * for 1.5 s and SIGCONTed; the next is SIGKILLed, left down for 1 s and
 * restarted on its port; the next is restarted gracefully (SIGTERM, then
 * started again on its port). A fault starts only once the one before has
 * ended. The servers keep nothing on disk, so a killed or restarted server
 * comes back empty. Restarts run in the load's thread: the load waits the
 * ~100 ms a redis-server takes to stop and start.
 *
 * Every value names its key and a generation (soak_load.c says how the
 * replies are checked). It prints ops/s, errors/s and misses/s every
 * second and each fault as it starts and ends, then a summary: requests,
 * ops/s, failures by status code, reads and misses, each fault's recovery
 * time (from the fault's end to the first success on one of that server's
 * keys, and to the first such success sent to the server itself rather
 * than to the server an ejection moved the key to), and the counts of
 * crossed, lost and doubly answered requests, which must be 0.
 *
 *   shard-soak [--seconds S] [--requests N] [--eject] [--timeout MS]
 *              [--directive 'LINE']... [--fault-every MS] [--seed N]
 *
 * --eject sets auto_eject_hosts: true, server_failure_limit: 1 and
 * server_retry_timeout: 500 (else auto_eject_hosts: false); --timeout is
 * the pool's timeout (500); --directive adds a line to the pool verbatim
 * (say 'server_probe: true'). Without --seconds or --requests it runs 60 s;
 * with both, it stops at the first.
 *
 * Exit status: 0 nothing crossed, lost, doubled or overdue; 1 otherwise;
 * 2 bad usage; 3 the servers or the pool could not be set up, or a server
 * could not be restarted. A run with no progress for 60 s aborts (a hang).
 * The servers are stopped at exit, and on SIGINT or SIGTERM the run stops,
 * drains and reports; a second SIGINT kills at once, and the servers die
 * with the process (the harness's PR_SET_PDEATHSIG).
 *
 * It is a program, not a test: built with the tests, run by hand.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "soak.h"

#define FAULT_EVERY_MS 3000    /* default of --fault-every */
#define PAUSE_MS 1500          /* how long a paused server stays stopped */
#define DOWN_MS 1000           /* how long a killed server stays down */
#define RETRY_MS 500           /* server_retry_timeout with --eject */
#define DRAIN_MS 10000         /* how long the last async requests get */
#define WATCHDOG_S 60          /* seconds without a tick that mean a hang */
#define DEFAULT_SECONDS 60.0   /* run length without --seconds/--requests */
#define DEFAULT_TIMEOUT_MS 500 /* the pool's timeout without --timeout */
#define MAX_DIRECTIVES 32      /* --directive lines kept */
#define DEFAULT_SEED 0x9e3779b97f4a7c15ULL /* same run for the same options */

static const char *const fault_names[FAULT_KINDS] = {"pause", "kill",
                                                     "restart"};

/* Names of the causes: the codes -1..-12 of shard/common.h (append-only)
 * at their slots, then the ERROR replies. */
static const char *const code_names[CAUSES] = {
    "other",     "EINVAL",      "ENOMEM",
    "ECONFIG",   "ENOPOOL",     "EIO",
    "ETIMEDOUT", "ECONN",       "ENOSERVER",
    "EPROTO",    "ECLOSED",     "EUNSUPPORTED",
    "ESTATE",    "ERROR reply", "MGET with ERROR elements"};

static volatile sig_atomic_t stop_requested; /* SIGINT or SIGTERM came */

uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
ms_between(uint64_t from, uint64_t to)
{
    return (double)(to - from) / 1e6;
}

/* ---- faults --------------------------------------------------------- */

void
fault_note(soak *s, int key, bool home, bool ok, uint64_t now)
{
    int h = s->ks[key].home;
    fault *f;

    if (s->open_fault[h] < 0)
        return;
    f = &s->faults[s->open_fault[h]];
    if (!ok) {
        f->failures++;
        return;
    }
    if (f->end_ns == 0 || now < f->end_ns)
        return;
    if (f->served_ns == 0)
        f->served_ns = now;
    if (home && f->back_ns == 0)
        f->back_ns = now;
    if (f->back_ns != 0)
        s->open_fault[h] = -1;
}

/* Starts the server of pool index `i` again on its port; the old record
 * is stopped (SIGTERM) or, after a kill, only freed. */
static bool
server_restart(soak *s, int i)
{
    int port = s->port[i];

    harness_stop(s->srv[i]);
    s->srv[i] = harness_redis_start_port(port, NULL);
    if (s->srv[i] == NULL) {
        fprintf(stderr, "shard-soak: cannot restart redis on port %d\n", port);
        s->broken = true;
        return false;
    }
    return true;
}

/* One line when a fault starts or ends, among the per-second lines. */
static void
fault_print(const soak *s, const fault *f, const char *what, uint64_t at,
            uint64_t t0)
{
    printf("%8.1f s  %s %s 127.0.0.1:%d\n", ms_between(t0, at) / 1000.0,
           fault_names[f->kind], what, s->port[f->server]);
}

static void
fault_end(soak *s, fault *f, uint64_t t0)
{
    if (f->kind == FAULT_PAUSE)
        harness_resume(s->srv[f->server]);
    else if (!server_restart(s, f->server))
        return;
    f->end_ns = now_ns();
    s->active = -1;
    fault_print(s, f, "ends", f->end_ns, t0);
}

static bool
faults_room(soak *s)
{
    size_t cap = s->faults_cap ? s->faults_cap * 2 : 64;
    fault *grown;

    if (s->nfaults < s->faults_cap)
        return true;
    if ((grown = realloc(s->faults, cap * sizeof(*grown))) == NULL)
        return false;
    s->faults = grown;
    s->faults_cap = cap;
    return true;
}

/*
 * Fault i is kind i % 3 on server (i / 3 + i % 3) % 4: pause, kill and
 * restart hit three different servers in a row, and every kind comes to
 * every server in turn.
 */
static void
fault_start(soak *s, uint64_t now, uint64_t t0)
{
    size_t i = s->nfaults;
    fault *f;

    if (!faults_room(s)) {
        s->broken = true;
        return;
    }
    f = &s->faults[s->nfaults++];
    memset(f, 0, sizeof(*f));
    f->kind = (fault_kind)(i % FAULT_KINDS);
    f->server = (int)((i / FAULT_KINDS + i % FAULT_KINDS) % SERVERS);
    f->start_ns = now;
    s->open_fault[f->server] = (int)i;
    s->active = (int)i;
    s->next_fault_ns = now + (uint64_t)s->fault_every_ms * 1000000u;
    fault_print(s, f, "starts", now, t0);
    if (f->kind == FAULT_PAUSE)
        harness_pause(s->srv[f->server]);
    else if (f->kind == FAULT_KILL)
        harness_kill(s->srv[f->server]);
    else
        fault_end(s, f, t0);
}

/* Starts or ends a fault when its time has come. */
static void
fault_tick(soak *s, uint64_t now, uint64_t t0)
{
    fault *f = s->active >= 0 ? &s->faults[s->active] : NULL;

    if (f == NULL) {
        if (now >= s->next_fault_ns)
            fault_start(s, now, t0);
        return;
    }
    if (now - f->start_ns >=
        (f->kind == FAULT_PAUSE ? PAUSE_MS : DOWN_MS) * 1000000ull)
        fault_end(s, f, t0);
}

/* ---- the run -------------------------------------------------------- */

static void
on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void
on_watchdog(int sig)
{
    static const char msg[] = "shard-soak: HANG: no progress for 60 s, "
                              "aborting\n";

    (void)sig;
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    abort();
}

static void
install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND; /* a second one kills at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_watchdog;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
}

/* What the last per-second line counted from. */
typedef struct tick {
    uint64_t at;     /* when */
    uint64_t done;   /* s->done then */
    uint64_t failed; /* s->failed then */
    uint64_t misses; /* s->misses then */
} tick;

/* The faults that were on at some time in (from, now]: one or two, since
 * one starts only after the last ended. */
static void
print_faults_between(const soak *s, uint64_t from)
{
    size_t first = s->nfaults > 2 ? s->nfaults - 2 : 0;

    for (size_t i = first; i < s->nfaults; i++) {
        const fault *f = &s->faults[i];

        if (f->end_ns == 0 || f->end_ns > from)
            printf("  %s", fault_names[f->kind]);
    }
}

static void
print_second(soak *s, tick *last, uint64_t now, uint64_t t0)
{
    double secs = (double)(now - last->at) / 1e9;

    printf("%8.1f s %9.0f ops/s %8.0f errors/s %8.0f misses/s",
           (double)(now - t0) / 1e9, (double)(s->done - last->done) / secs,
           (double)(s->failed - last->failed) / secs,
           (double)(s->misses - last->misses) / secs);
    print_faults_between(s, last->at);
    printf("\n");
    fflush(stdout);
    /* Read the clock again: a fault that ended just now (after `now`) is
     * not shown on the next line. */
    *last = (tick){now_ns(), s->done, s->failed, s->misses};
    alarm(WATCHDOG_S);
}

static bool
run_over(const soak *s, uint64_t now, uint64_t t0)
{
    return stop_requested || s->broken ||
           (s->requests > 0 && s->issued >= s->requests) ||
           (s->seconds > 0 && (double)(now - t0) / 1e9 >= s->seconds);
}

/* Rounds of load until the end, faults by the clock; then the fault going
 * on ends, and the async requests in flight get their callbacks. Returns
 * the length of the load, ns. */
static uint64_t
run(soak *s, uint64_t t0)
{
    uint64_t now = t0;
    tick last = {t0, 0, 0, 0};

    s->next_fault_ns = t0 + (uint64_t)s->fault_every_ms * 1000000u;
    alarm(WATCHDOG_S);
    while (!run_over(s, now, t0)) {
        fault_tick(s, now, t0);
        /* The clock again: fault_tick() may have taken a while (a
         * restart), and the line must not predate a fault's end. */
        if (now - last.at >= 1000000000u)
            print_second(s, &last, now_ns(), t0);
        load_round(s);
        now = now_ns();
    }
    if (s->active >= 0) {
        s->faults[s->active].cut = true;
        fault_end(s, &s->faults[s->active], t0);
    }
    load_drain(s, DRAIN_MS);
    now = now_ns();
    print_second(s, &last, now, t0);
    alarm(0);
    return now - t0;
}

/* ---- servers and the pool ------------------------------------------- */

static const char *
pool_yaml(const soak *s, const int *ports)
{
    const char *y = harness_fmt("soak:\n"
                                "  listen: 127.0.0.1:22121\n"
                                "  redis: true\n"
                                "  hash: fnv1a_64\n"
                                "  distribution: ketama\n"
                                "  timeout: %d\n",
                                s->timeout_ms);

    if (s->eject)
        y = harness_fmt("%s  auto_eject_hosts: true\n"
                        "  server_failure_limit: 1\n"
                        "  server_retry_timeout: %d\n",
                        y, RETRY_MS);
    else
        y = harness_fmt("%s  auto_eject_hosts: false\n", y);
    for (int i = 0; i < s->directives && y != NULL; i++)
        y = harness_fmt("%s  %s\n", y, s->directive[i]);
    y = harness_fmt("%s  servers:\n", y);
    for (int i = 0; i < SERVERS && y != NULL; i++)
        y = harness_fmt("%s   - 127.0.0.1:%d:1\n", y, ports[i]);
    return y;
}

/* Counts ejections and returns from the pool's log. */
static void
on_log(int level, const char *message, void *userdata)
{
    soak *s = userdata;

    if (level == SHARD_LOG_WARN && strstr(message, " ejected") != NULL)
        s->ejections++;
    if (strstr(message, "back in the ring") != NULL)
        s->returns++;
}

/* Orders the servers by pool index (which sorts them by identity). */
static bool
map_servers(soak *s, harness_server **started)
{
    for (int i = 0; i < SERVERS; i++) {
        const char *addr = shard_pool_server_addr(s->pool, (size_t)i);

        for (int j = 0; j < SERVERS && s->srv[i] == NULL; j++) {
            if (addr != NULL && strcmp(addr, started[j]->addr) == 0)
                s->srv[i] = started[j];
        }
        if (s->srv[i] == NULL)
            return false;
        s->port[i] = s->srv[i]->port;
    }
    return true;
}

static bool
open_pool(soak *s, const char *yaml)
{
    shard_options opts = SHARD_OPTIONS_INIT;

    opts.log_fn = on_log;
    opts.log_userdata = s;
    opts.log_level = SHARD_LOG_INFO;
    if (shard_pool_open(&s->pool, yaml, NULL, &opts) != SHARD_OK) {
        fprintf(stderr, "shard-soak: shard_pool_open: %s\n",
                shard_last_error());
        return false;
    }
    s->base = event_base_new();
    if (s->base == NULL ||
        shard_libevent_attach(s->pool, &s->ad, s->base) != SHARD_OK) {
        fprintf(stderr, "shard-soak: attaching libevent: %s\n",
                shard_pool_errmsg(s->pool));
        return false;
    }
    return true;
}

static bool
setup(soak *s)
{
    harness_server *started[SERVERS];
    int ports[SERVERS];
    const char *yaml, *path;

    for (int i = 0; i < SERVERS; i++) {
        if ((started[i] = harness_redis_start(NULL)) == NULL)
            return false;
        ports[i] = started[i]->port;
        s->open_fault[i] = -1;
    }
    yaml = pool_yaml(s, ports);
    path = yaml != NULL ? harness_write_file("soak.yml", yaml) : NULL;
    if (path == NULL)
        return false;
    printf("shard-soak: libshard %s, nutcracker.yml:\n%s", shard_version(),
           yaml);
    if (!open_pool(s, path))
        return false;
    if (shard_pool_server_count(s->pool) != SERVERS || !map_servers(s, started))
        return false;
    s->active = -1;
    s->rng = s->seed;
    return load_preload(s);
}

static void
teardown(soak *s)
{
    s->freeing = true;
    shard_pool_free(s->pool);
    s->freeing = false;
    shard_libevent_detach(s->ad);
    if (s->base != NULL)
        event_base_free(s->base);
    load_count_lost(s);
    harness_cleanup();
}

/* ---- the report ----------------------------------------------------- */

static void
print_failures(const soak *s)
{
    printf("failed requests by cause (an MGET counts once):\n");
    for (int c = 0; c < CAUSES; c++) {
        if (s->cause[c] == 0)
            continue;
        if (c > CAUSE_OTHER && c < CAUSE_ERROR_REPLY)
            printf("  SHARD_%-12s (%3d) %9llu  first: %s\n", code_names[c], -c,
                   (unsigned long long)s->cause[c], s->cause_msg[c]);
        else
            printf("  %-25s %9llu  first: %s\n", code_names[c],
                   (unsigned long long)s->cause[c], s->cause_msg[c]);
    }
}

static void
print_recovery(const uint64_t end, const uint64_t when)
{
    if (when == 0)
        printf(" %12s", "not seen");
    else
        printf(" %12.1f", ms_between(end, when));
}

static void
print_faults(const soak *s, uint64_t t0)
{
    printf("faults (ms; recovery from the fault's end to the first success "
           "on one of its keys,\n"
           "        'back': the first such success sent to that server "
           "itself):\n");
    printf("  %7s  %-7s %5s %9s %12s %12s %12s\n", "at s", "fault", "port",
           "lasted", "failed keys", "served", "back");
    for (size_t i = 0; i < s->nfaults; i++) {
        const fault *f = &s->faults[i];

        printf("  %7.1f  %-7s %5d %9.1f %12llu",
               ms_between(t0, f->start_ns) / 1000.0, fault_names[f->kind],
               s->port[f->server],
               f->end_ns ? ms_between(f->start_ns, f->end_ns) : -1.0,
               (unsigned long long)f->failures);
        print_recovery(f->end_ns, f->served_ns);
        print_recovery(f->end_ns, f->back_ns);
        printf("%s\n", f->cut ? "  (cut short: the run ended)" : "");
    }
}

static int
cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;

    return (a > b) - (a < b);
}

/* Median and worst recovery of one kind of fault. */
static void
print_kind_recovery(const soak *s, fault_kind kind, bool back)
{
    double *v = malloc((s->nfaults + 1) * sizeof(*v));
    size_t n = 0, missing = 0;

    if (v == NULL)
        return;
    for (size_t i = 0; i < s->nfaults; i++) {
        const fault *f = &s->faults[i];
        uint64_t when = back ? f->back_ns : f->served_ns;

        if (f->kind != kind || f->end_ns == 0)
            continue;
        if (when == 0)
            missing++;
        else
            v[n++] = ms_between(f->end_ns, when);
    }
    qsort(v, n, sizeof(v[0]), cmp_double);
    if (n == 0 && missing > 0)
        printf("  %-7s %-6s none seen (%zu faults)\n", fault_names[kind],
               back ? "back" : "served", missing);
    else if (n > 0)
        printf("  %-7s %-6s %3zu faults: median %8.1f ms, max %8.1f ms%s\n",
               fault_names[kind], back ? "back" : "served", n,
               n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[n - 1],
               missing ? " (some not seen)" : "");
    free(v);
}

static int
report(const soak *s, uint64_t t0, uint64_t length_ns)
{
    double secs = (double)length_ns / 1e9;
    bool clean =
        s->crossed == 0 && s->lost == 0 && s->doubled == 0 && s->overdue == 0;

    printf("\nshard-soak: %llu requests in %.1f s: %.0f ops/s (blocking %llu, "
           "pipelined %llu, async %llu)\n",
           (unsigned long long)s->done, secs, (double)s->done / secs,
           (unsigned long long)s->issued_by[WAY_BLOCKING],
           (unsigned long long)s->issued_by[WAY_PIPELINE],
           (unsigned long long)s->issued_by[WAY_ASYNC]);
    printf("failed: %llu (%.2f%%)\n", (unsigned long long)s->failed,
           s->done ? 100.0 * (double)s->failed / (double)s->done : 0.0);
    print_failures(s);
    printf("keys read: %llu: current %llu, newer unacknowledged (ahead) "
           "%llu,\n  older from a failed SET (late) %llu, older "
           "acknowledged (stale) %llu, misses (nil) %llu\n",
           (unsigned long long)s->reads, (unsigned long long)s->current,
           (unsigned long long)s->ahead, (unsigned long long)s->late,
           (unsigned long long)s->stale, (unsigned long long)s->misses);
    printf("pool log: %llu ejections, %llu returns to the ring\n",
           (unsigned long long)s->ejections, (unsigned long long)s->returns);
    if (stop_requested)
        printf("stopped early by a signal\n");
    print_faults(s, t0);
    printf("recovery by kind:\n");
    for (int k = 0; k < FAULT_KINDS; k++) {
        print_kind_recovery(s, (fault_kind)k, false);
        print_kind_recovery(s, (fault_kind)k, true);
    }
    printf("crossed %llu, lost %llu, doubly answered %llu (unknown "
           "callbacks %llu), overdue after the drain %llu: %s\n",
           (unsigned long long)s->crossed, (unsigned long long)s->lost,
           (unsigned long long)s->doubled, (unsigned long long)s->stray,
           (unsigned long long)s->overdue, clean ? "clean" : "FAILED");
    return clean ? 0 : 1;
}

/* ---- command line ---------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr,
            "usage: shard-soak [--seconds S] [--requests N] [--eject] "
            "[--timeout MS]\n"
            "                  [--directive 'LINE']... [--fault-every MS] "
            "[--seed N]\n"
            "  --seconds S       run length (default %.0f without "
            "--requests)\n"
            "  --requests N      requests to issue\n"
            "  --eject           auto_eject_hosts true, "
            "server_failure_limit 1,\n"
            "                    server_retry_timeout %d\n"
            "  --timeout MS      the pool's timeout (default %d)\n"
            "  --directive LINE  a pool directive, verbatim (repeatable)\n"
            "  --fault-every MS  from one fault's start to the next's "
            "(default %d)\n"
            "  --seed N          seed of the key and command choices\n",
            DEFAULT_SECONDS, RETRY_MS, DEFAULT_TIMEOUT_MS, FAULT_EVERY_MS);
}

/* Parses a whole unsigned number in [lo, hi]. */
static bool
parse_u64(const char *arg, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 0);
    if (errno || *end != '\0' || arg[0] == '-' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool
parse_one(soak *s, int argc, char **argv, int *i)
{
    const char *opt = argv[*i], *arg = *i + 1 < argc ? argv[*i + 1] : NULL;
    uint64_t v;
    char *end;

    if (strcmp(opt, "--eject") == 0) {
        s->eject = true;
        return true;
    }
    if (arg == NULL)
        return false;
    (*i)++;
    if (strcmp(opt, "--seconds") == 0) {
        s->seconds = strtod(arg, &end);
        return *end == '\0' && s->seconds > 0.0;
    }
    if (strcmp(opt, "--requests") == 0)
        return parse_u64(arg, 1, UINT64_MAX, &s->requests);
    if (strcmp(opt, "--timeout") == 0 && parse_u64(arg, 1, 600000, &v)) {
        s->timeout_ms = (int)v;
        return true;
    }
    if (strcmp(opt, "--fault-every") == 0 && parse_u64(arg, 1, 600000, &v)) {
        s->fault_every_ms = (int)v;
        return true;
    }
    if (strcmp(opt, "--seed") == 0)
        return parse_u64(arg, 1, UINT64_MAX, &s->seed);
    if (strcmp(opt, "--directive") == 0 && s->directives < MAX_DIRECTIVES) {
        s->directive[s->directives++] = arg;
        return true;
    }
    return false;
}

static bool
parse_args(soak *s, int argc, char **argv)
{
    static const char *directives[MAX_DIRECTIVES];

    s->directive = directives;
    s->timeout_ms = DEFAULT_TIMEOUT_MS;
    s->fault_every_ms = FAULT_EVERY_MS;
    s->seed = DEFAULT_SEED;
    for (int i = 1; i < argc; i++) {
        if (!parse_one(s, argc, argv, &i))
            return false;
    }
    if (s->seconds == 0 && s->requests == 0)
        s->seconds = DEFAULT_SECONDS;
    return true;
}

int
main(int argc, char **argv)
{
    static soak s; /* big (the keys): not on the stack */
    int rc = 3;

    if (!parse_args(&s, argc, argv)) {
        usage();
        return 2;
    }
    install_signals();
    if (setup(&s)) {
        uint64_t t0 = now_ns();
        uint64_t length = run(&s, t0);

        teardown(&s);
        rc = report(&s, t0, length);
        if (rc == 0 && s.broken)
            rc = 3;
    } else {
        fprintf(stderr, "shard-soak: setup failed\n");
        teardown(&s);
    }
    free(s.faults);
    free(s.calls);
    return rc;
}
