/*
 * The fault matrix, with real processes: a server killed under load,
 * stopped and continued, restarted on its port, every server dead, a
 * listener that never answers, a server answering -LOADING or -BUSY, a
 * server flapping, and servers that break the protocol (unparsable
 * replies, replies nobody asked for). Each case runs in the blocking and the
 * async API, and with and without auto_eject_hosts where ejection changes the
 * outcome. It checks what the application sees and when: the status, the
 * failing server's address in the message (never the exact wording), the time
 * against `timeout` (with slack, never a speed), that the healthy servers
 * answer as before, and that nothing is left pending.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_fake.h"
#include "harness_loop.h"

#define NSERVERS 3        /* servers in every pool */
#define KEYS_PER_SERVER 4 /* keys placed on each server at open */
#define MAX_REQS 64       /* requests in one batch */
#define EARLY_MS 10       /* how much before `timeout` a timeout may come */
#define LATE_MS 1500      /* how much after it: slack for a loaded machine */
#define RETRY_MS 500      /* server_retry_timeout of the ejecting pools */
#define FLAP_MS 300       /* the flapping server's period */
#define NO_CODE 1 /* shard_command() failed: it returns NULL, not a code */

/* Which interface the requests of a test go through. */
typedef enum api {
    BLOCKING, /* shard_command_argv, and shard_command for SET */
    ASYNC     /* shard_command_async on the harness loop */
} api;

/* How a test's pool is made. */
typedef struct pool_spec {
    api api;           /* the interface of its requests */
    int timeout_ms;    /* `timeout` */
    int failure_limit; /* 0: auto_eject_hosts false; else true, this limit */
    harness_fake *odd; /* takes the place of one redis-server, or NULL */
} pool_spec;

/* One request of a batch and what came of it. */
typedef struct req {
    const char *argv[3]; /* GET key, or SET key value */
    int argc;            /* 2 or 3 */
    int home;            /* the server the key was on when the pool opened */
    char value[48];      /* "v:" + key: SET's value and GET's answer */
    int status;          /* SHARD_OK, the failure's code, or NO_CODE */
    int type;            /* the reply's type when status is SHARD_OK */
    char text[512];      /* the reply's text, or the message of a failure */
    long start_ms;       /* when it was sent */
    long ms;             /* how long its answer took */
    int calls;           /* async callbacks: exactly one, none if refused */
    bool refused;        /* the async submit itself failed */
    int order;           /* rank of its answer in the batch */
} req;

/* A thread that stops and continues a server every FLAP_MS. */
typedef struct flapper {
    pid_t pid;          /* the server's process */
    pthread_t thread;   /* sends the signals */
    bool running;       /* started and not yet joined */
    atomic_bool stop;   /* set by the test to end it */
    atomic_int toggles; /* signals sent */
} flapper;

static shard_pool *pool;
static api mode;                                 /* the current test's API */
static harness_server *servers[NSERVERS];        /* by pool index; NULL: odd */
static const char *addrs[NSERVERS];              /* by pool index */
static char keys[NSERVERS][KEYS_PER_SERVER][16]; /* keys[s]: on server s */
static req reqs[MAX_REQS];   /* static: callbacks may run in teardown */
static int strays[NSERVERS]; /* closes for a reply nobody asked for, by
                                server, as SHARD_EVENT_DISCONNECTED says */
static int nreqs;            /* requests in the batch */
static int answered;         /* of them, answered */
static flapper flap;

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* This process's CPU time, user and system, in ms. */
static long
cpu_ms(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L;
}

static int
locate(const char *key)
{
    return shard_pool_locate(pool, key, strlen(key));
}

/* --- the pool ------------------------------------------------------------- */

static void
pick_keys(void)
{
    int found[NSERVERS] = {0};
    int missing = NSERVERS * KEYS_PER_SERVER;

    for (int i = 0; missing > 0 && i < 100000; i++) {
        char key[16];
        snprintf(key, sizeof(key), "f%d", i * 7919);
        int s = locate(key);
        cr_assert(s >= 0 && s < NSERVERS, "locate: %d", s);
        if (found[s] < KEYS_PER_SERVER) {
            memcpy(keys[s][found[s]++], key, sizeof(key));
            missing--;
        }
    }
    cr_assert_eq(missing, 0, "could not place %d keys per server",
                 KEYS_PER_SERVER);
}

/* Maps every pool index to its server, by address. */
static void
map_servers(harness_server *const *started, int n, const harness_fake *odd)
{
    for (int i = 0; i < NSERVERS; i++) {
        addrs[i] = shard_pool_server_addr(pool, (size_t)i);
        servers[i] = NULL;
        for (int j = 0; j < n; j++) {
            if (strcmp(started[j]->addr, addrs[i]) == 0)
                servers[i] = started[j];
        }
        cr_assert(
            servers[i] != NULL ||
                (odd != NULL && strcmp(harness_fake_addr(odd), addrs[i]) == 0),
            "no server for %s", addrs[i]);
    }
}

/* Counts the closes that blame a reply nobody asked for. */
static void
on_event(const shard_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SHARD_EVENT_DISCONNECTED && ev->server < NSERVERS &&
        strstr(ev->reason, "nobody asked for") != NULL)
        strays[ev->server]++;
}

/* Starts the redis-servers (one fewer with an odd server) and opens a pool
 * over them; the async tests get the harness loop. */
static void
open_pool(const pool_spec *spec)
{
    harness_server *started[NSERVERS];
    int nredis = spec->odd != NULL ? NSERVERS - 1 : NSERVERS;
    char yaml[2048];
    int used;

    mode = spec->api;
    used =
        snprintf(yaml, sizeof(yaml),
                 "faults:\n  listen: 127.0.0.1:%d\n  redis: true\n"
                 "  timeout: %d\n  auto_eject_hosts: %s\n"
                 "  server_failure_limit: %d\n"
                 "  server_retry_timeout: %d\n  servers:\n",
                 harness_free_port(), spec->timeout_ms,
                 spec->failure_limit > 0 ? "true" : "false",
                 spec->failure_limit > 0 ? spec->failure_limit : 1, RETRY_MS);
    for (int i = 0; i < nredis; i++) {
        started[i] = harness_redis_start(NULL);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    if (spec->odd != NULL)
        snprintf(yaml + used, sizeof(yaml) - (size_t)used, "   - %s:1\n",
                 harness_fake_addr(spec->odd));
    shard_options opts = SHARD_OPTIONS_INIT;
    opts.event_fn = on_event;
    memset(strays, 0, sizeof(strays));
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
    map_servers(started, nredis, spec->odd);
    pick_keys();
    if (mode == ASYNC)
        cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
}

/* The pool index of the odd server. */
static int
odd_index(const harness_fake *odd)
{
    for (int i = 0; i < NSERVERS; i++) {
        if (strcmp(addrs[i], harness_fake_addr(odd)) == 0)
            return i;
    }
    cr_assert_fail("%s is not in the pool", harness_fake_addr(odd));
    return -1;
}

/* --- batches of requests -------------------------------------------------- */

static void
batch_clear(void)
{
    if (mode == ASYNC)
        cr_assert_eq(shard_pool_pending(pool), 0);
    nreqs = 0;
    answered = 0;
}

static req *
batch_add(const char *cmd, int home, int k)
{
    req *r;

    cr_assert_lt(nreqs, MAX_REQS);
    r = &reqs[nreqs++];
    memset(r, 0, sizeof(*r));
    snprintf(r->value, sizeof(r->value), "v:%s", keys[home][k]);
    r->argv[0] = cmd;
    r->argv[1] = keys[home][k];
    r->argv[2] = r->value;
    r->argc = strcmp(cmd, "SET") == 0 ? 3 : 2;
    r->home = home;
    return r;
}

/* SET then GET of key k of server `home`. */
static void
batch_add_pair(int home, int k)
{
    batch_add("SET", home, k);
    batch_add("GET", home, k);
}

/* A SET and a GET of every key, except those of server `except` (-1). */
static void
batch_add_all(int except)
{
    for (int s = 0; s < NSERVERS; s++) {
        for (int k = 0; k < KEYS_PER_SERVER && s != except; k++)
            batch_add_pair(s, k);
    }
}

static void
record(req *r, int status, const shard_reply *reply, const char *errmsg)
{
    const char *text =
        status == SHARD_OK ? shard_reply_str(reply, NULL) : errmsg;

    r->status = status;
    r->type = shard_reply_type(reply);
    snprintf(r->text, sizeof(r->text), "%s", text != NULL ? text : "");
    r->ms = now_ms() - r->start_ms;
    r->order = answered++;
}

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    req *r = userdata;

    r->calls++;
    record(r, status, reply, shard_pool_errmsg(p));
}

/* Async: every request goes out now. Blocking: nothing yet. */
static void
batch_submit(void)
{
    if (mode != ASYNC)
        return;
    for (int i = 0; i < nreqs; i++) {
        req *r = &reqs[i];
        r->start_ms = now_ms();
        int rc = shard_command_async(pool, r->argc, r->argv, NULL, on_reply, r);
        if (rc != SHARD_OK) {
            r->refused = true; /* and never called back */
            record(r, rc, NULL, shard_pool_errmsg(pool));
        }
    }
}

static void
run_blocking(req *r)
{
    shard_reply *reply = NULL;
    int status;

    r->start_ms = now_ms();
    if (r->argc == 3) {
        /* The printf-style call: NULL and a message, no code. */
        reply = shard_command(pool, "SET %s %s", r->argv[1], r->argv[2]);
        status = reply != NULL ? SHARD_OK : NO_CODE;
    } else {
        status = shard_command_argv(pool, &reply, r->argc, r->argv, NULL);
        if (status != SHARD_OK)
            cr_assert_null(reply, "a failed call set its reply");
    }
    record(r, status, reply, shard_pool_errmsg(pool));
    shard_reply_free(reply);
}

/* Async: runs the loop until every request is answered, each once.
 * Blocking: sends them one after the other. */
static void
batch_finish(void)
{
    if (mode == BLOCKING) {
        for (int i = 0; i < nreqs; i++)
            run_blocking(&reqs[i]);
        return;
    }
    harness_loop_run(pool, &answered, nreqs, 10000);
    cr_assert_eq(answered, nreqs, "%d of %d requests answered", answered,
                 nreqs);
    for (int i = 0; i < nreqs; i++)
        cr_assert_eq(reqs[i].calls, reqs[i].refused ? 0 : 1,
                     "%s %s called back %d times", reqs[i].argv[0],
                     reqs[i].argv[1], reqs[i].calls);
    cr_assert_eq(shard_pool_pending(pool), 0, "%zu still pending",
                 shard_pool_pending(pool));
}

static void
batch_run(void)
{
    batch_submit();
    batch_finish();
}

/* --- what a request may come back with ------------------------------------ */

static bool
is_set(const req *r)
{
    return r->argc == 3;
}

static bool
failed(const req *r)
{
    return r->status != SHARD_OK;
}

/* Its own answer: +OK for SET, "v:<key>" for GET. */
static bool
is_exact(const req *r)
{
    if (r->status != SHARD_OK)
        return false;
    if (is_set(r))
        return r->type == SHARD_REPLY_STATUS && strcmp(r->text, "OK") == 0;
    return r->type == SHARD_REPLY_STRING && strcmp(r->text, r->value) == 0;
}

/* Its own answer, nil for a GET whose key moved, or a failure with a
 * message: anything else (another key's value, a SET's +OK for a GET) is a
 * reply crossed between requests. */
static bool
is_clean(const req *r)
{
    if (failed(r))
        return r->text[0] != '\0';
    return is_exact(r) || (!is_set(r) && r->type == SHARD_REPLY_NIL);
}

/* The request and its answer, for a failed check. */
static const char *
describe(const req *r)
{
    return harness_fmt("%s %s (a key of server %d, %s, now on %d): status "
                       "%d, type %d, '%s' after %ld ms",
                       r->argv[0], r->argv[1], r->home, addrs[r->home],
                       locate(r->argv[1]), r->status, r->type, r->text, r->ms);
}

static void
expect_exact(const req *r)
{
    cr_assert(is_exact(r), "%s", describe(r));
}

static void
expect_clean(const req *r)
{
    cr_assert(is_clean(r), "crossed: %s", describe(r));
}

/* Failed as a request to a dead, stopped or silent server must: a
 * connection failure or a timeout, naming the server. */
static void
expect_failed_on(const req *r, const char *addr)
{
    cr_assert(r->status == SHARD_ECONN || r->status == SHARD_ETIMEDOUT ||
                  (r->status == NO_CODE && mode == BLOCKING),
              "%s %s: status %d (%s), want ECONN or ETIMEDOUT", r->argv[0],
              r->argv[1], r->status, r->text);
    cr_assert(strstr(r->text, addr) != NULL, "%s %s: message lacks %s: %s",
              r->argv[0], r->argv[1], addr, r->text);
}

/* Timed out after about `timeout_ms`, naming the server. */
static void
expect_timed_out(const req *r, int timeout_ms, const char *addr)
{
    cr_assert_eq(r->status, SHARD_ETIMEDOUT, "%s %s: status %d (%s)",
                 r->argv[0], r->argv[1], r->status, r->text);
    cr_assert(strstr(r->text, addr) != NULL, "message lacks %s: %s", addr,
              r->text);
    cr_assert_geq(r->ms, timeout_ms - EARLY_MS, "timed out after %ld ms",
                  r->ms);
    cr_assert_leq(r->ms, timeout_ms + LATE_MS, "timed out after %ld ms", r->ms);
}

/* Every request of the batch from index `from` came back exact. */
static void
expect_all_exact(int from)
{
    for (int i = from; i < nreqs; i++)
        expect_exact(&reqs[i]);
}

/* The keys of server `s` are (or are not) placed on it now. */
static void
expect_placed(int s, bool on_it)
{
    for (int k = 0; k < KEYS_PER_SERVER; k++) {
        int now = locate(keys[s][k]);
        cr_assert(on_it ? now == s : now >= 0 && now != s,
                  "%s is on server %d, want %s %d", keys[s][k], now,
                  on_it ? "" : "not", s);
    }
}

/* A SET and GET of every key, all exact. */
static void
expect_every_key_works(void)
{
    batch_clear();
    batch_add_all(-1);
    batch_run();
    expect_all_exact(0);
}

/* Past the retry timeout: ejected servers return on the next request, and
 * the reconnection back-off (capped by it) is over. */
static void
wait_for_return(void)
{
    usleep((RETRY_MS + 150) * 1000);
}

/* --- fixtures ------------------------------------------------------------- */

static void *
flap_loop(void *arg)
{
    flapper *f = arg;
    bool stopped = false;

    while (!atomic_load(&f->stop)) {
        usleep(FLAP_MS * 1000);
        kill(f->pid, stopped ? SIGCONT : SIGSTOP);
        stopped = !stopped;
        atomic_fetch_add(&f->toggles, 1);
    }
    if (stopped)
        kill(f->pid, SIGCONT);
    return NULL;
}

static void
flapper_start(pid_t pid)
{
    flap.pid = pid;
    atomic_store(&flap.stop, false);
    atomic_store(&flap.toggles, 0);
    cr_assert_eq(pthread_create(&flap.thread, NULL, flap_loop, &flap), 0);
    flap.running = true;
}

/* Ends the flapping with the server running. */
static void
flapper_stop(void)
{
    if (!flap.running)
        return;
    atomic_store(&flap.stop, true);
    pthread_join(flap.thread, NULL);
    flap.running = false;
}

static void
setup(void)
{
    pool = NULL;
    nreqs = answered = 0;
    memset(servers, 0, sizeof(servers));
}

static void txn_free(void);

static void
teardown(void)
{
    flapper_stop();
    txn_free();
    shard_pool_free(pool); /* pending callbacks get SHARD_ECLOSED */
    pool = NULL;
    harness_fake_stop_all();
    harness_stop_all();
}

TestSuite(faults, .init = setup, .fini = teardown, .timeout = 60);

/* A case in both APIs: tests `name`_blocking and `name`_async, each
 * calling `run` with its API and the rest of the arguments. */
#define BOTH_APIS(name, run, ...)                                              \
    Test(faults, name##_blocking)                                              \
    {                                                                          \
        run(BLOCKING, __VA_ARGS__);                                            \
    }                                                                          \
    Test(faults, name##_async)                                                 \
    {                                                                          \
        run(ASYNC, __VA_ARGS__);                                               \
    }

/* --- 1. SIGKILL under load ------------------------------------------------ */

/* Rounds of SET and GET on every key; server 1 is killed with round 3 in
 * flight (async) or before it (blocking). */
static void
killed_under_load(api a, int limit)
{
    pool_spec spec = {a, 1000, limit, NULL};
    const int v = 1, kill_round = 3;
    int failed_rounds = 0;

    open_pool(&spec);
    for (int round = 0; round < kill_round + 4; round++) {
        int failures = 0;
        batch_clear();
        batch_add_all(-1);
        batch_submit();
        if (round == kill_round)
            harness_kill(servers[v]);
        batch_finish();
        for (int i = 0; i < nreqs; i++) {
            const req *r = &reqs[i];
            if (r->home != v || round < kill_round || failed_rounds > 0) {
                expect_exact(r); /* also the moved keys, once ejected */
            } else if (limit == 0 && round > kill_round) {
                expect_failed_on(r, addrs[v]);
            } else if (failed(r)) {
                expect_failed_on(r, addrs[v]);
                failures++;
            } else {
                expect_clean(r); /* answered before it died, or moved */
            }
        }
        failed_rounds += limit > 0 && failures > 0;
        if (round >= kill_round)
            expect_placed(v, limit == 0 || failed_rounds == 0);
    }
    if (limit == 0)
        return;
    cr_assert_eq(failed_rounds, 1,
                 "its keys failed in %d rounds: want 1, then ejected",
                 failed_rounds);
    /* Its retry time come, it is back in the ring (blind, as twemproxy):
     * one more request fails on it, and it leaves again. */
    wait_for_return();
    expect_placed(v, true);
    batch_clear();
    batch_add("GET", v, 0);
    batch_run();
    expect_failed_on(&reqs[0], addrs[v]);
    expect_placed(v, false);
}

BOTH_APIS(killed_server_fails_only_its_own_keys, killed_under_load, 0)
BOTH_APIS(killed_server_is_ejected_and_its_keys_move, killed_under_load, 1)

/* --- 2. SIGSTOP, then SIGCONT --------------------------------------------- */

/* A GET to server `v`, which does not answer, in one batch with SETs and
 * GETs of every other server's keys: it times out after about `timeout`,
 * naming `v`, and the others are answered as usual, in the async API
 * before that timeout (they do not wait for it). */
static void
expect_one_timeout_among_healthy(int v, int timeout_ms)
{
    batch_clear();
    batch_add("GET", v, 0);
    batch_add_all(v);
    batch_run();
    expect_timed_out(&reqs[0], timeout_ms, addrs[v]);
    expect_all_exact(1);
    for (int i = 1; mode == ASYNC && i < nreqs; i++)
        cr_assert_lt(reqs[i].order, reqs[0].order,
                     "%s %s was answered after the timeout of server %d",
                     reqs[i].argv[0], reqs[i].argv[1], v);
}

static void
stopped_then_continued(api a, int limit)
{
    pool_spec spec = {a, 300, limit, NULL};
    const int v = 2;

    open_pool(&spec);
    expect_every_key_works();
    harness_pause(servers[v]);
    expect_one_timeout_among_healthy(v, spec.timeout_ms);
    batch_clear();
    if (limit == 0) {
        /* Its keys stay: they time out again while it is stopped. */
        expect_placed(v, true);
        batch_add("GET", v, 1);
        batch_run();
        expect_timed_out(&reqs[0], spec.timeout_ms, addrs[v]);
    } else {
        /* Ejected: its keys work on the others meanwhile. */
        expect_placed(v, false);
        batch_add_pair(v, 1);
        batch_run();
        expect_all_exact(0);
    }
    harness_resume(servers[v]);
    if (limit > 0)
        wait_for_return();
    expect_placed(v, true);
    expect_every_key_works();
}

BOTH_APIS(stopped_server_times_out_then_serves_after_sigcont,
          stopped_then_continued, 0)
BOTH_APIS(stopped_server_is_ejected_then_returns_after_sigcont,
          stopped_then_continued, 1)

/* --- 3. restart on the same port ------------------------------------------ */

/* `key` holds `value` in server `s` itself, read without libshard. */
static void
expect_stored_on(int s, const char *key, const char *value)
{
    redisContext *c = redisConnect("127.0.0.1", servers[s]->port);
    redisReply *r;

    cr_assert(c != NULL && c->err == 0, "cannot reach %s", addrs[s]);
    r = redisCommand(c, "GET %s", key);
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING &&
                  strcmp(r->str, value) == 0,
              "%s does not hold %s", addrs[s], key);
    freeReplyObject(r);
    redisFree(c);
}

static void
restarted_on_its_port(api a, int limit)
{
    pool_spec spec = {a, 1000, limit, NULL};
    const int v = 0;
    int port;

    open_pool(&spec);
    expect_every_key_works();
    port = servers[v]->port;
    harness_kill(servers[v]);
    /* While it is down, one request fails, naming it. */
    batch_clear();
    batch_add("GET", v, 0);
    batch_run();
    expect_failed_on(&reqs[0], addrs[v]);
    if (limit > 0) {
        expect_placed(v, false);
        expect_every_key_works(); /* its keys on the others meanwhile */
    }
    harness_stop(servers[v]);
    servers[v] = harness_redis_start_port(port, NULL);
    cr_assert_not_null(servers[v], "cannot restart on port %d", port);
    if (limit > 0)
        wait_for_return();
    /* Back, with nothing done by the application. */
    expect_placed(v, true);
    expect_every_key_works();
    expect_stored_on(v, keys[v][0], harness_fmt("v:%s", keys[v][0]));
}

BOTH_APIS(server_restarted_on_its_port_serves_again, restarted_on_its_port, 0)
BOTH_APIS(ejected_server_restarted_on_its_port_returns, restarted_on_its_port,
          1)

/* --- 4. every server dead ------------------------------------------------- */

static bool
names_a_server(const char *text)
{
    for (int s = 0; s < NSERVERS; s++) {
        if (strstr(text, addrs[s]) != NULL)
            return true;
    }
    return false;
}

/* `cpu` ms of CPU time over `wall` ms is well below a busy loop's. */
static void
expect_no_spinning(long cpu, long wall)
{
    cr_assert_lt(cpu * 100, wall * 30, "%ld ms of CPU time in %ld ms", cpu,
                 wall);
}

/* For about 1 s, a GET on every server's key every 50 ms: each fails
 * quickly (well within `timeout`), with a clear error, and the process
 * sleeps in between. */
static void
every_server_dead(api a, int limit)
{
    pool_spec spec = {a, 2000, limit, NULL};
    int enoserver = 0;
    long t0, c0;

    open_pool(&spec);
    expect_every_key_works();
    for (int s = 0; s < NSERVERS; s++)
        harness_kill(servers[s]);
    t0 = now_ms();
    c0 = cpu_ms();
    while (now_ms() - t0 < 1000) {
        batch_clear();
        for (int s = 0; s < NSERVERS; s++)
            batch_add("GET", s, 0);
        batch_run();
        for (int i = 0; i < nreqs; i++) {
            const req *r = &reqs[i];
            cr_assert_lt(r->ms, spec.timeout_ms / 2,
                         "a dead server took %ld ms to fail", r->ms);
            if (r->status == SHARD_ENOSERVER) {
                cr_assert_neq(r->text[0], '\0', "ENOSERVER with no message");
                enoserver++;
            } else if (limit == 0) {
                expect_failed_on(r, addrs[r->home]);
            } else {
                /* Back after its retry time, a server fails again: any
                 * of them, for this key. */
                cr_assert(r->status == SHARD_ECONN ||
                              r->status == SHARD_ETIMEDOUT,
                          "%s", describe(r));
                cr_assert(names_a_server(r->text), "%s", describe(r));
            }
        }
        usleep(50 * 1000);
    }
    expect_no_spinning(cpu_ms() - c0, now_ms() - t0);
    if (limit == 0)
        cr_assert_eq(enoserver, 0, "keys moved without auto_eject_hosts");
    else
        cr_assert_gt(enoserver, 0, "every server failed, none was ejected");
}

BOTH_APIS(every_server_dead_fails_fast_without_spinning, every_server_dead, 0)
BOTH_APIS(every_server_dead_and_ejected_is_enoserver, every_server_dead, 1)

/* Every server stopped: the wait for their timeouts sleeps. */
static void
every_server_stopped(api a, int timeout_ms)
{
    pool_spec spec = {a, timeout_ms, 0, NULL};
    long t0, c0;

    open_pool(&spec);
    expect_every_key_works();
    for (int s = 0; s < NSERVERS; s++)
        harness_pause(servers[s]);
    batch_clear();
    for (int s = 0; s < NSERVERS; s++)
        batch_add("GET", s, 0);
    t0 = now_ms();
    c0 = cpu_ms();
    batch_run();
    expect_no_spinning(cpu_ms() - c0, now_ms() - t0);
    for (int i = 0; i < nreqs; i++)
        expect_timed_out(&reqs[i], timeout_ms, addrs[reqs[i].home]);
    for (int s = 0; s < NSERVERS; s++)
        harness_resume(servers[s]);
    expect_every_key_works();
}

BOTH_APIS(every_server_stopped_waits_without_spinning, every_server_stopped,
          400)

/* --- 5. a listener that never answers ------------------------------------- */

static void
silent_listener(api a, int limit)
{
    harness_fake *silent = harness_fake_start_silent();
    pool_spec spec = {a, 300, limit, silent};
    int o;

    cr_assert_not_null(silent);
    open_pool(&spec);
    o = odd_index(silent);
    expect_one_timeout_among_healthy(o, spec.timeout_ms);
    cr_assert_geq(harness_fake_commands(silent), 1,
                  "the request never reached the listener");
    batch_clear();
    if (limit == 0) {
        expect_placed(o, true);
        batch_add("GET", o, 1);
        batch_run();
        expect_timed_out(&reqs[0], spec.timeout_ms, addrs[o]);
    } else {
        expect_placed(o, false);
        batch_add_pair(o, 1);
        batch_run();
        expect_all_exact(0);
    }
    batch_clear();
    batch_add_all(o);
    batch_run();
    expect_all_exact(0);
}

BOTH_APIS(silent_listener_times_out_and_others_answer, silent_listener, 0)
BOTH_APIS(silent_listener_is_ejected_and_its_keys_move, silent_listener, 1)

/* --- 6. -LOADING and -BUSY ------------------------------------------------ */

#define LOADING "-LOADING Redis is loading the dataset in memory\r\n"
#define BUSY                                                                   \
    "-BUSY Redis is busy running a script. You can only call SCRIPT KILL "     \
    "or SHUTDOWN NOSCRIPT.\r\n"

/* The application got the server's error reply itself. */
static void
expect_error_reply(const req *r, const char *reply)
{
    size_t len = strlen(reply) - 3; /* without '-' and "\r\n" */

    cr_assert_eq(r->status, SHARD_OK, "%s %s failed: %s", r->argv[0],
                 r->argv[1], r->text);
    cr_assert_eq(r->type, SHARD_REPLY_ERROR, "type %d: %s", r->type, r->text);
    cr_assert(strlen(r->text) == len && memcmp(r->text, reply + 1, len) == 0,
              "not the server's reply: %s", r->text);
}

static void
error_reply(api a, int limit, const char *reply)
{
    harness_fake *fake = harness_fake_start(reply);
    pool_spec spec = {a, 1000, limit, fake};
    unsigned long seen;
    int o;

    cr_assert_not_null(fake);
    open_pool(&spec);
    o = odd_index(fake);
    batch_clear();
    batch_add("GET", o, 0);
    batch_add_all(o);
    batch_run();
    expect_error_reply(&reqs[0], reply);
    expect_all_exact(1);
    batch_clear();
    if (limit == 0) {
        /* Not ejected: its keys stay and keep getting the reply. */
        expect_placed(o, true);
        for (int k = 0; k < KEYS_PER_SERVER; k++)
            batch_add("GET", o, k);
        batch_run();
        for (int i = 0; i < nreqs; i++)
            expect_error_reply(&reqs[i], reply);
    } else {
        /* Ejected by one reply (as twemproxy): its keys work elsewhere. */
        expect_placed(o, false);
        seen = harness_fake_commands(fake);
        batch_add_pair(o, 0);
        batch_run();
        expect_all_exact(0);
        cr_assert_eq(harness_fake_commands(fake), seen,
                     "moved keys still went to the ejected server");
    }
    /* Done loading: it answers, back in the ring after its retry time. */
    harness_fake_set_reply(fake, NULL);
    if (limit > 0)
        wait_for_return();
    expect_placed(o, true);
    seen = harness_fake_commands(fake);
    batch_clear();
    batch_add_pair(o, 1);
    batch_run();
    expect_all_exact(0);
    cr_assert_eq(harness_fake_commands(fake), seen + 2,
                 "its keys were not served by it");
}

BOTH_APIS(loading_reply_reaches_the_application, error_reply, 0, LOADING)
BOTH_APIS(loading_reply_ejects_the_server, error_reply, 1, LOADING)
BOTH_APIS(busy_reply_reaches_the_application, error_reply, 0, BUSY)
BOTH_APIS(busy_reply_ejects_the_server, error_reply, 1, BUSY)

/* --- 7. flapping ---------------------------------------------------------- */

#define FLAP_TEST_MS 3000 /* how long the flapping cases send requests */
#define FLAP_SERVER 1     /* the server that flaps */

/* What the flapping cases saw. */
typedef struct flap_count {
    int failed;         /* requests for its keys that failed, cleanly */
    int ok;             /* requests for its keys that were answered */
    int ejected_rounds; /* rounds after which its keys were elsewhere */
    int stalls;         /* timeouts of the other servers (see flap_round) */
    int requests;       /* every request sent */
} flap_count;

/* A request that failed naming a server other than the flapping one: it
 * waited at least `timeout`, so that server was silent that long. */
static void
expect_stall(const req *r, int timeout_ms)
{
    cr_assert(r->status == SHARD_ETIMEDOUT || r->status == SHARD_ECONN ||
                  (r->status == NO_CODE && mode == BLOCKING),
              "%s", describe(r));
    cr_assert(names_a_server(r->text), "%s", describe(r));
    cr_assert_geq(r->ms, timeout_ms - EARLY_MS,
                  "a healthy server failed before its timeout: %s",
                  describe(r));
}

/*
 * One batch of every key's SET and GET; `fault` (may be NULL) runs while
 * it is in flight (async) or before it (blocking). Every answer is the
 * request's own, a nil for a moved key, or a clean failure; never another
 * request's reply. The flapping server's failures name it; the healthy
 * servers' keys get their own answers. Except for one thing, counted as a
 * stall: on a loaded 2-core machine a healthy redis-server can be
 * descheduled for `timeout`, and then it times out (and, ejecting, moves
 * its keys) like any silent server.
 */
static void
flap_round(flap_count *n, int timeout_ms, void (*fault)(void))
{
    const int v = FLAP_SERVER;

    batch_clear();
    batch_add_all(-1);
    batch_submit();
    if (fault != NULL)
        fault();
    batch_finish();
    for (int i = 0; i < nreqs; i++) {
        const req *r = &reqs[i];
        expect_clean(r);
        if (!failed(r)) {
            n->ok += r->home == v;
            cr_assert(r->home == v || is_exact(r) || n->stalls > 0, "%s",
                      describe(r));
        } else if (strstr(r->text, addrs[v]) != NULL) {
            expect_failed_on(r, addrs[v]);
            cr_assert(r->home == v || n->stalls > 0,
                      "a healthy key failed on the flapping server: %s",
                      describe(r));
            n->failed += r->home == v;
        } else {
            expect_stall(r, timeout_ms);
            n->stalls++;
        }
    }
    n->requests += nreqs;
    n->ejected_rounds += locate(keys[v][0]) != v;
    usleep(2000); /* leave the servers some CPU on a 2-core machine */
}

/* The flapping was seen (failures and answers, ejections only with
 * auto_eject_hosts), and once it is over every key works. */
static void
expect_flapping_over(const flap_count *n, int limit)
{
    const int v = FLAP_SERVER;

    if (n->stalls > 0)
        cr_log_warn("healthy servers timed out %d times in %d requests: "
                    "the machine is loaded",
                    n->stalls, n->requests);
    cr_assert_leq(n->stalls * 20, n->requests,
                  "healthy servers timed out %d times in %d requests",
                  n->stalls, n->requests);
    cr_assert_gt(n->failed, 0, "no request saw the server down");
    cr_assert_gt(n->ok, 0, "no request saw the server up");
    if (limit == 0)
        cr_assert_eq(n->ejected_rounds, 0,
                     "keys moved without auto_eject_hosts");
    else
        cr_assert_gt(n->ejected_rounds, 0,
                     "the flapping server was never ejected");
    /* Ejecting or not: after a run of refused connects it is tried again
     * only after the reconnection back-off, which server_retry_timeout
     * caps. */
    wait_for_return();
    expect_placed(v, true);
    expect_every_key_works();
}

/* Server 1 stopped and continued every FLAP_MS by a thread, so that the
 * signals land at any point of a request. The timeout is shorter than a
 * stop, so that the requests sent early in one time out. */
static void
flapping(api a, int limit)
{
    pool_spec spec = {a, FLAP_MS * 5 / 6, limit, NULL};
    flap_count n = {0};
    long t0;

    open_pool(&spec);
    expect_every_key_works();
    flapper_start(servers[FLAP_SERVER]->pid);
    t0 = now_ms();
    while (now_ms() - t0 < FLAP_TEST_MS)
        flap_round(&n, spec.timeout_ms, NULL);
    flapper_stop();
    cr_assert_geq(atomic_load(&flap.toggles), 6, "the server hardly flapped");
    expect_flapping_over(&n, limit);
}

BOTH_APIS(flapping_server_never_crosses_replies, flapping, 0)
BOTH_APIS(flapping_ejected_server_never_crosses_replies, flapping, 1)

/* The server killed and restarted on its port by turns. */
static struct {
    int port;     /* its port, kept across restarts */
    bool down;    /* killed, not yet restarted */
    long last_ms; /* when it last changed */
    int toggles;  /* kills and restarts */
} restarts;

/* Kills or restarts the flapping server when FLAP_MS have passed. From
 * the test's thread: the harness starts servers from the main thread. */
static void
restart_toggle(void)
{
    const int v = FLAP_SERVER;

    if (now_ms() - restarts.last_ms < FLAP_MS)
        return;
    if (restarts.down) {
        servers[v] = harness_redis_start_port(restarts.port, NULL);
        cr_assert_not_null(servers[v], "cannot restart on %d", restarts.port);
    } else {
        harness_kill(servers[v]);
        harness_stop(servers[v]);
        servers[v] = NULL;
    }
    restarts.down = !restarts.down;
    restarts.last_ms = now_ms();
    restarts.toggles++;
}

/* Server 1 killed and restarted on its port every FLAP_MS, with batches
 * in flight in the async API. */
static void
restart_flapping(api a, int limit)
{
    pool_spec spec = {a, 1000, limit, NULL};
    flap_count n = {0};
    long t0;

    open_pool(&spec);
    expect_every_key_works();
    restarts.port = servers[FLAP_SERVER]->port;
    restarts.down = false;
    restarts.toggles = 0;
    t0 = restarts.last_ms = now_ms();
    while (now_ms() - t0 < FLAP_TEST_MS)
        flap_round(&n, spec.timeout_ms, restart_toggle);
    if (restarts.down) {
        restarts.last_ms = 0;
        restart_toggle();
    }
    cr_assert_geq(restarts.toggles, 6, "the server hardly flapped");
    expect_flapping_over(&n, limit);
}

BOTH_APIS(restarting_server_never_crosses_replies, restart_flapping, 0)
BOTH_APIS(restarting_ejected_server_never_crosses_replies, restart_flapping, 1)

/* --- 8. a server that breaks the protocol --------------------------------- */

/* What an HTTP server answers: a pool pointed at the wrong port. */
#define HTTP_REPLY "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"

/* An answer that cannot be parsed is SHARD_EPROTO ("a server sent
 * something unexpected"), naming the server; the others answer as usual. */
static void
unparsable_reply(api a, int limit)
{
    harness_fake *fake = harness_fake_start(HTTP_REPLY);
    pool_spec spec = {a, 1000, limit, fake};
    int o;

    cr_assert_not_null(fake);
    open_pool(&spec);
    o = odd_index(fake);
    batch_clear();
    batch_add("GET", o, 0);
    batch_add_all(o);
    batch_run();
    cr_assert_eq(reqs[0].status, SHARD_EPROTO, "%s", describe(&reqs[0]));
    cr_assert(strstr(reqs[0].text, addrs[o]) != NULL, "%s", describe(&reqs[0]));
    cr_expect(strstr(reqs[0].text, "sent what is not RESP") != NULL, "%s",
              describe(&reqs[0]));
    expect_all_exact(1);
}

BOTH_APIS(unparsable_reply_is_eproto, unparsable_reply, 0)

/* --- 9. a reply nobody asked for ------------------------------------------ */

/* The pool has closed its connection to server `s` for a reply nobody
 * asked for. Async: the loop runs until it has (the stray may come after
 * the last reply of the batch). */
static void
expect_stray_seen(int s)
{
    if (mode == ASYNC && strays[s] == 0)
        harness_loop_run(pool, &strays[s], 1, 2000);
    cr_assert_gt(strays[s], 0, "no close of server %d for a stray reply", s);
}

/* Two replies to every command: +OK, then :42 that nobody asked for. The
 * request gets its +OK (or a clean failure naming the server), the :42
 * reaches no other request, the connection is closed for it as a failure
 * of the server (with server_failure_limit 1, an ejection), the process
 * goes on, and the next command on the pool succeeds: on the same server
 * misbehaving still (on a new connection), then once it behaves. */
static void
unsolicited_reply(api a, int limit)
{
    harness_fake *fake = harness_fake_start("+OK\r\n:42\r\n");
    pool_spec spec = {a, 1000, limit, fake};
    int o;

    cr_assert_not_null(fake);
    open_pool(&spec);
    o = odd_index(fake);
    batch_clear();
    batch_add("SET", o, 0);
    batch_add_all(o);
    batch_run();
    cr_assert(is_exact(&reqs[0]) ||
                  (failed(&reqs[0]) && strstr(reqs[0].text, addrs[o])),
              "%s", describe(&reqs[0]));
    expect_all_exact(1);
    expect_stray_seen(o);
    if (limit > 0)
        expect_placed(o, false);
    batch_clear();
    batch_add("SET", o, 1);
    batch_run();
    expect_exact(&reqs[0]);
    harness_fake_set_reply(fake, NULL);
    if (limit > 0)
        wait_for_return();
    batch_clear();
    batch_add_pair(o, 1);
    batch_add_pair(o, 2);
    batch_run();
    expect_all_exact(0);
}

BOTH_APIS(unsolicited_reply_is_not_a_crash, unsolicited_reply, 0)
BOTH_APIS(unsolicited_reply_ejects_its_server, unsolicited_reply, 1)

/*
 * A reply nobody asked for that arrives on an idle connection, then a GET
 * on it: the GET gets its own value or an error naming the server, never
 * the :42. Async: the GET is queued and not yet written when the engine
 * reads the :42 (it reads before it writes), so the :42 cannot be the
 * GET's. Blocking: the call writes at once, and the :42 is found by the
 * check of a connection idle for 10 ms or more before it is reused; a
 * stray that comes sooner, and after the GET is written, cannot be told
 * from the GET's reply (docs/failures.md).
 */
static void
stray_before_request(api a, int pause_ms)
{
    harness_fake *fake = harness_fake_start(NULL);
    pool_spec spec = {a, 1000, 0, fake};
    int o;

    cr_assert_not_null(fake);
    open_pool(&spec);
    o = odd_index(fake);
    batch_clear();
    batch_add_pair(o, 0);
    batch_run();
    expect_all_exact(0);
    cr_assert_eq(harness_fake_push(fake, ":42\r\n"), 1);
    usleep((useconds_t)pause_ms * 1000);
    batch_clear();
    batch_add("GET", o, 0);
    batch_run();
    cr_assert(reqs[0].type != SHARD_REPLY_INTEGER, "crossed: %s",
              describe(&reqs[0]));
    cr_assert(is_exact(&reqs[0]) ||
                  (failed(&reqs[0]) && strstr(reqs[0].text, addrs[o])),
              "%s", describe(&reqs[0]));
    expect_stray_seen(o);
    batch_clear();
    batch_add_pair(o, 1);
    batch_add("GET", o, 0);
    batch_run();
    expect_all_exact(0);
}

Test(faults, stray_reply_never_answers_a_queued_request_async)
{
    stray_before_request(ASYNC, 1);
}

Test(faults, stray_reply_on_an_idle_connection_never_answers_a_request_async)
{
    stray_before_request(ASYNC, 30);
}

Test(faults, stray_reply_on_an_idle_connection_never_answers_a_request_blocking)
{
    stray_before_request(BLOCKING, 30);
}

/* --- 10. a transaction's server killed ------------------------------------ */

static shard_txn *txn; /* the test's transaction, freed in teardown */

static void
txn_free(void)
{
    shard_txn_free(txn);
    txn = NULL;
}

/* Sends request `r` (already in the batch) through the transaction. */
static void
txn_run(req *r)
{
    shard_reply *reply = NULL;
    int rc;

    r->start_ms = now_ms();
    if (mode == BLOCKING) {
        rc = shard_txn_command_argv(txn, &reply, r->argc, r->argv, NULL);
        record(r, rc, reply, shard_pool_errmsg(pool));
        shard_reply_free(reply);
        return;
    }
    rc = shard_txn_command_async(txn, r->argc, r->argv, NULL, on_reply, r);
    if (rc != SHARD_OK) {
        r->refused = true;
        record(r, rc, NULL, shard_pool_errmsg(pool));
        return;
    }
    harness_loop_run(pool, &answered, nreqs, 5000);
    cr_assert_eq(r->calls, 1, "called back %d times", r->calls);
}

/* The server of a transaction in MULTI is killed: its connection is lost,
 * and every later command of the transaction fails with SHARD_ECONN,
 * whether or not the server was ejected meanwhile. */
static void
killed_under_transaction(api a, int limit)
{
    pool_spec spec = {a, 1000, limit, NULL};
    const int v = 0;
    req *r;

    open_pool(&spec);
    cr_assert_eq(shard_txn_begin(pool, &txn, keys[v][0], strlen(keys[v][0])),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    batch_clear();
    r = batch_add("GET", v, 0);
    r->argv[0] = "MULTI";
    r->argc = 1;
    txn_run(r);
    cr_assert(r->status == SHARD_OK && r->type == SHARD_REPLY_STATUS, "%s",
              describe(r));
    harness_kill(servers[v]);
    for (int i = 0; i < 3; i++) {
        r = batch_add("SET", v, 0);
        txn_run(r);
        cr_assert_eq(r->status, SHARD_ECONN, "command %d after the kill: %s",
                     i + 1, describe(r));
    }
    expect_placed(v, limit == 0);
}

BOTH_APIS(transaction_lost_with_its_server_fails_every_command,
          killed_under_transaction, 0)
BOTH_APIS(transaction_lost_with_its_ejected_server_fails_every_command,
          killed_under_transaction, 1)
