/*
 * libshard's failure handling beyond twemproxy, with real servers: the
 * events, reconnection spacing, the probe before an ejected server
 * returns (server_probe), retries of reads (read_retries), and data-store
 * mode (auto_eject_hosts: false). Times are checked against `timeout` and
 * the back-off cap with generous slack: they say what the application
 * sees and when, never how fast.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define NSERVERS 3
#define MAX_EVENTS 1024

typedef struct seen_event {
    int type;
    size_t server;
    int status;
    long delay_ms;
    char reason[200];
} seen_event;

static harness_server *servers[NSERVERS]; /* by pool index */
static shard_pool *pool;
static seen_event events[MAX_EVENTS];
static int nevents;
static char keys[NSERVERS][32]; /* a key on each server */

static void
on_event(const shard_event *ev, void *userdata)
{
    (void)userdata;
    cr_assert_str_eq(ev->pool, "h");
    cr_assert_str_eq(ev->addr, servers[ev->server]->addr);
    cr_assert_not_null(ev->identity);
    if (nevents == MAX_EVENTS)
        return;
    seen_event *e = &events[nevents++];
    e->type = ev->type;
    e->server = ev->server;
    e->status = ev->status;
    e->delay_ms = ev->delay_ms;
    snprintf(e->reason, sizeof(e->reason), "%s", ev->reason);
}

static int
count_events(int type, size_t server)
{
    int n = 0;

    for (int i = 0; i < nevents; i++)
        n += events[i].type == type && events[i].server == server;
    return n;
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Opens pool "h" over three fresh servers with `directives`. */
static void
open_pool(const char *directives)
{
    char yaml[2048];
    harness_server *started[NSERVERS];
    shard_options opts = SHARD_OPTIONS_INIT;
    int used;

    used = snprintf(yaml, sizeof(yaml),
                    "h:\n  listen: 127.0.0.1:%d\n  redis: true\n%s"
                    "  servers:\n",
                    harness_free_port(), directives);
    for (int i = 0; i < NSERVERS; i++) {
        started[i] = harness_redis_start(NULL);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    opts.event_fn = on_event;
    nevents = 0;
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
    for (int i = 0; i < NSERVERS; i++) {
        for (int j = 0; j < NSERVERS; j++) {
            if (strcmp(started[j]->addr,
                       shard_pool_server_addr(pool, (size_t)i)) == 0)
                servers[i] = started[j];
        }
    }
    for (int s = 0; s < NSERVERS; s++) {
        for (int n = 0;; n++) {
            snprintf(keys[s], sizeof(keys[s]), "key:%d", n);
            if (shard_pool_locate(pool, keys[s], strlen(keys[s])) == s)
                break;
        }
    }
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(health, .fini = teardown, .timeout = 120);

static void
set_ok(const char *key, const char *value)
{
    shard_reply *r = shard_command(pool, "SET %s %s", key, value);

    cr_assert_not_null(r, "SET %s: %s", key, shard_pool_errmsg(pool));
    cr_assert_str_eq(shard_reply_str(r, NULL), "OK");
    shard_reply_free(r);
}

/* GET `key`: the reply (caller frees) or NULL with *status set. */
static shard_reply *
get(const char *key, int *status)
{
    const char *argv[] = {"GET", key};
    shard_reply *r = NULL;

    *status = shard_command_argv(pool, &r, 2, argv, NULL);
    return r;
}

static void
expect_value(const char *key, const char *want)
{
    int status;
    shard_reply *r = get(key, &status);

    cr_assert_eq(status, SHARD_OK, "GET %s: %s", key, shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(r, NULL), want, "GET %s", key);
    shard_reply_free(r);
}

/* Restarts server `i` on its port, as a process supervisor would. */
static void
restart(int i)
{
    int port = servers[i]->port;

    harness_stop(servers[i]);
    servers[i] = harness_redis_start_port(port, NULL);
    cr_assert_not_null(servers[i], "restart on port %d", port);
}

/* Resumes a SIGSTOPped server after `ms` from another thread. */
typedef struct resume_later {
    harness_server *server;
    int ms;
    pthread_t thread;
} resume_later;

static void *
resume_main(void *arg)
{
    resume_later *r = arg;

    usleep((useconds_t)r->ms * 1000);
    harness_resume(r->server);
    return NULL;
}

static void
pause_for(resume_later *r, harness_server *s, int ms)
{
    r->server = s;
    r->ms = ms;
    harness_pause(s);
    cr_assert_eq(pthread_create(&r->thread, NULL, resume_main, r), 0);
}

static void
pause_end(resume_later *r)
{
    pthread_join(r->thread, NULL);
}

/* --- config ----------------------------------------------------------------
 */

Test(health, new_directives_are_checked_like_twemproxy_ones)
{
    static const struct {
        const char *line;
        const char *word;
    } bad[] = {
        {"  server_probe: yes\n", "server_probe"},
        {"  read_retries: -1\n", "read_retries"},
        {"  read_retries: two\n", "read_retries"},
    };
    char yaml[512];
    shard_pool *p = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(yaml, sizeof(yaml),
                 "h:\n  listen: 127.0.0.1:22121\n%s  servers:\n"
                 "   - 127.0.0.1:6379:1\n",
                 bad[i].line);
        cr_expect_eq(shard_pool_open_string(&p, yaml, strlen(yaml), NULL, NULL),
                     SHARD_ECONFIG, "%s", bad[i].line);
        cr_expect(strstr(shard_last_error(), bad[i].word) != NULL, "%s",
                  shard_last_error());
    }
    snprintf(yaml, sizeof(yaml),
             "h:\n  listen: 127.0.0.1:22121\n  server_probe: true\n"
             "  read_retries: 2\n  servers:\n   - 127.0.0.1:6379:1\n");
    cr_assert_eq(shard_pool_open_string(&p, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    shard_pool_free(p);
}

Test(health, options_of_version_1_still_open_a_pool)
{
    /* An application built against version 1 passes the shorter struct:
     * nothing after log_level may be read. */
    struct {
        int version;
        shard_log_fn log_fn;
        void *log_userdata;
        int log_level;
    } v1 = {1, NULL, NULL, SHARD_LOG_WARN};
    const char *yaml = "h:\n  listen: 127.0.0.1:22121\n  servers:\n"
                       "   - 127.0.0.1:6379:1\n";
    shard_pool *p = NULL;

    cr_assert_eq(shard_pool_open_string(&p, yaml, strlen(yaml), NULL,
                                        (const shard_options *)&v1),
                 SHARD_OK, "%s", shard_last_error());
    shard_pool_free(p);
}

/* --- events -----------------------------------------------------------------
 */

Test(health, events_tell_connect_loss_ejection_and_blind_return)
{
    int status;

    open_pool("  timeout: 1000\n  auto_eject_hosts: true\n"
              "  server_failure_limit: 1\n  server_retry_timeout: 300\n");
    set_ok(keys[1], "v1");
    cr_expect_eq(count_events(SHARD_EVENT_CONNECTED, 1), 1);

    harness_kill(servers[1]);
    shard_reply_free(get(keys[1], &status));
    cr_expect_eq(status, SHARD_ECONN, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(count_events(SHARD_EVENT_DISCONNECTED, 1), 1);
    cr_assert_eq(count_events(SHARD_EVENT_EJECTED, 1), 1);
    for (int i = 0; i < nevents; i++) {
        if (events[i].type == SHARD_EVENT_EJECTED)
            cr_expect_eq(events[i].delay_ms, 300);
    }
    /* Its keys moved: they work, on another server. */
    shard_reply_free(get(keys[1], &status));
    cr_expect_eq(status, SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_neq(shard_pool_locate(pool, keys[1], strlen(keys[1])), 1);

    /* twemproxy's blind return: the first request after the retry time
     * goes to the dead server, fails and ejects it again. */
    usleep(350000);
    shard_reply_free(get(keys[1], &status));
    cr_expect_eq(status, SHARD_ECONN);
    cr_expect_eq(count_events(SHARD_EVENT_RETURNED, 1), 1);
    cr_expect_geq(count_events(SHARD_EVENT_CONNECT_FAILED, 1), 1);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 1), 2);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 0), 0);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 2), 0);
}

/* --- the probe -------------------------------------------------------------
 */

Test(health, probe_keeps_a_dead_server_out_and_returns_it_when_it_answers)
{
    int status;

    open_pool("  timeout: 1000\n  auto_eject_hosts: true\n"
              "  server_failure_limit: 1\n  server_retry_timeout: 200\n"
              "  server_probe: true\n");
    set_ok(keys[1], "v1");
    harness_kill(servers[1]);
    shard_reply_free(get(keys[1], &status));
    cr_expect_eq(status, SHARD_ECONN);
    cr_assert_eq(count_events(SHARD_EVENT_EJECTED, 1), 1);

    /* Past several retry times: the probe fails each time and no
     * application request is sent to the dead server. */
    long end = now_ms() + 900;
    int requests = 0;
    while (now_ms() < end) {
        shard_reply *r = get(keys[1], &status);
        cr_assert_eq(status, SHARD_OK, "request %d failed: %s", requests,
                     shard_pool_errmsg(pool));
        cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL);
        shard_reply_free(r);
        requests++;
        usleep(20000);
    }
    cr_expect_geq(count_events(SHARD_EVENT_PROBE_FAILED, 1), 2);
    cr_expect_eq(count_events(SHARD_EVENT_RETURNED, 1), 0);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 1), 1);

    /* Back: the next probe finds it and it takes its keys again. */
    restart(1);
    end = now_ms() + 2000;
    while (count_events(SHARD_EVENT_RETURNED, 1) == 0 && now_ms() < end) {
        shard_reply_free(get(keys[0], &status));
        usleep(20000);
    }
    cr_assert_eq(count_events(SHARD_EVENT_PROBE_OK, 1), 1);
    cr_assert_eq(count_events(SHARD_EVENT_RETURNED, 1), 1);
    cr_expect_eq(shard_pool_locate(pool, keys[1], strlen(keys[1])), 1);
    set_ok(keys[1], "v2");
    expect_value(keys[1], "v2");
}

Test(health, probe_of_a_hung_server_times_out_and_costs_no_request)
{
    int status;
    resume_later later;

    open_pool("  timeout: 200\n  auto_eject_hosts: true\n"
              "  server_failure_limit: 1\n  server_retry_timeout: 200\n"
              "  server_probe: true\n");
    set_ok(keys[2], "v2");
    pause_for(&later, servers[2], 1200);
    shard_reply_free(get(keys[2], &status));
    cr_expect_eq(status, SHARD_ETIMEDOUT);
    cr_assert_eq(count_events(SHARD_EVENT_EJECTED, 2), 1);

    /* While it is stopped, its keys are served elsewhere, at once. */
    long end = now_ms() + 800;
    while (now_ms() < end) {
        long t0 = now_ms();
        shard_reply_free(get(keys[2], &status));
        cr_assert_eq(status, SHARD_OK, "%s", shard_pool_errmsg(pool));
        cr_expect_lt(now_ms() - t0, 150, "a request waited for the probe");
        usleep(20000);
    }
    cr_expect_geq(count_events(SHARD_EVENT_PROBE_FAILED, 2), 1);
    pause_end(&later);
    end = now_ms() + 2000;
    while (count_events(SHARD_EVENT_RETURNED, 2) == 0 && now_ms() < end) {
        shard_reply_free(get(keys[0], &status));
        usleep(20000);
    }
    cr_expect_eq(count_events(SHARD_EVENT_RETURNED, 2), 1);
    expect_value(keys[2], "v2");
}

/* --- reconnection spacing and data-store mode ------------------------------
 */

Test(health, data_store_mode_fails_fast_spaces_connects_and_heals)
{
    int status;
    long max_delay = 0;

    open_pool("  timeout: 2000\n  auto_eject_hosts: false\n");
    set_ok(keys[0], "v0");
    set_ok(keys[1], "v1");
    harness_kill(servers[1]);

    /* 0.5 s of requests to the dead server's keys: each fails at once
     * with its name, and only a few connects are attempted. */
    long end = now_ms() + 500;
    int requests = 0;
    while (now_ms() < end) {
        long t0 = now_ms();
        shard_reply *r = get(keys[1], &status);
        cr_assert_null(r);
        cr_assert_eq(status, SHARD_ECONN, "%s", shard_pool_errmsg(pool));
        cr_assert(strstr(shard_pool_errmsg(pool), servers[1]->addr) != NULL,
                  "%s", shard_pool_errmsg(pool));
        cr_expect_lt(now_ms() - t0, 200);
        expect_value(keys[0], "v0");
        requests++;
        usleep(2000);
    }
    int connects = count_events(SHARD_EVENT_CONNECT_FAILED, 1);
    cr_expect_gt(requests, 50);
    cr_expect_geq(connects, 3);
    cr_expect_leq(connects, 10, "%d connects for %d requests", connects,
                  requests);
    for (int i = 0; i < nevents; i++) {
        if (events[i].type == SHARD_EVENT_CONNECT_FAILED &&
            events[i].delay_ms > max_delay)
            max_delay = events[i].delay_ms;
    }
    cr_expect_leq(max_delay, 1000);
    cr_expect_eq(shard_pool_locate(pool, keys[1], strlen(keys[1])), 1,
                 "a key moved with ejection off");

    /* Back on its port: its keys work again within the cap, unasked. */
    restart(1);
    long t0 = now_ms();
    shard_reply *r = NULL;
    while ((r = get(keys[1], &status)) == NULL && now_ms() - t0 < 3000)
        usleep(5000);
    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_expect_lt(now_ms() - t0, 1500);
    shard_reply_free(r);
    cr_expect_geq(count_events(SHARD_EVENT_CONNECTED, 1), 2);
}

Test(health, back_off_is_capped_by_server_retry_timeout)
{
    int status;

    open_pool("  timeout: 1000\n  server_retry_timeout: 40\n");
    harness_kill(servers[2]);
    long end = now_ms() + 400;
    while (now_ms() < end) {
        shard_reply_free(get(keys[2], &status));
        usleep(2000);
    }
    int connects = count_events(SHARD_EVENT_CONNECT_FAILED, 2);
    cr_expect_geq(connects, 6, "only %d connects in 400 ms", connects);
    for (int i = 0; i < nevents; i++) {
        if (events[i].type == SHARD_EVENT_CONNECT_FAILED)
            cr_expect_leq(events[i].delay_ms, 40);
    }
}

/* --- read retries ----------------------------------------------------------
 */

Test(health, without_retries_a_read_to_a_hung_server_times_out)
{
    int status;
    resume_later later;

    open_pool("  timeout: 300\n");
    set_ok(keys[1], "v1");
    pause_for(&later, servers[1], 450);
    shard_reply_free(get(keys[1], &status));
    cr_expect_eq(status, SHARD_ETIMEDOUT);
    pause_end(&later);
}

Test(health, a_read_that_timed_out_is_retried)
{
    int status;
    resume_later later;

    open_pool("  timeout: 300\n  read_retries: 2\n");
    set_ok(keys[1], "v1");
    long t0 = now_ms();
    pause_for(&later, servers[1], 450);
    shard_reply *r = get(keys[1], &status);
    cr_assert_eq(status, SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(r, NULL), "v1");
    cr_expect_geq(now_ms() - t0, 290, "no timeout happened");
    shard_reply_free(r);
    pause_end(&later);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 1), 0);
}

Test(health, a_write_is_never_retried)
{
    int status;
    resume_later later;
    const char *incr[] = {"INCR", keys[1]};
    shard_reply *r = NULL;

    open_pool("  timeout: 300\n  read_retries: 3\n");
    pause_for(&later, servers[1], 450);
    status = shard_command_argv(pool, &r, 2, incr, NULL);
    cr_expect_eq(status, SHARD_ETIMEDOUT, "%s", shard_pool_errmsg(pool));
    pause_end(&later);
    /* The server did it once, when it woke: never twice. */
    usleep(100000);
    expect_value(keys[1], "1");
}

Test(health, mget_parts_are_retried_on_their_own)
{
    resume_later later;
    const char *mget[] = {"MGET", keys[0], keys[1], keys[2]};
    shard_reply *r = NULL;

    open_pool("  timeout: 300\n  read_retries: 2\n");
    set_ok(keys[0], "v0");
    set_ok(keys[1], "v1");
    set_ok(keys[2], "v2");
    pause_for(&later, servers[2], 450);
    cr_assert_eq(shard_command_argv(pool, &r, 4, mget, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_len(r), 3);
    for (size_t i = 0; i < 3; i++) {
        char want[8];
        snprintf(want, sizeof(want), "v%zu", i);
        cr_expect_str_eq(shard_reply_str(shard_reply_at(r, i), NULL), want);
    }
    shard_reply_free(r);
    pause_end(&later);
}

Test(health, a_retry_goes_where_the_key_lives_after_an_ejection)
{
    int status;

    open_pool("  timeout: 300\n  read_retries: 1\n  auto_eject_hosts: true\n"
              "  server_failure_limit: 1\n  server_retry_timeout: 30000\n");
    set_ok(keys[1], "v1");
    harness_pause(servers[1]);
    shard_reply *r = get(keys[1], &status);
    /* The timeout ejected it; the retry asked the key's new server,
     * which has never seen it: a miss, not an error. */
    cr_assert_eq(status, SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL);
    shard_reply_free(r);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 1), 1);
    harness_resume(servers[1]);
}

typedef struct async_result {
    int calls;
    int status;
    char value[32];
} async_result;

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    async_result *res = userdata;

    (void)p;
    res->calls++;
    res->status = status;
    if (reply != NULL)
        snprintf(res->value, sizeof(res->value), "%s",
                 shard_reply_str(reply, NULL));
}

Test(health, async_reads_are_retried_too)
{
    resume_later later;
    async_result res = {0};
    const char *argv[] = {"GET", NULL};

    open_pool("  timeout: 300\n  read_retries: 2\n");
    set_ok(keys[1], "v1");
    argv[1] = keys[1];
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    pause_for(&later, servers[1], 450);
    cr_assert_eq(shard_command_async(pool, 2, argv, NULL, on_reply, &res),
                 SHARD_OK);
    harness_loop_run(pool, &res.calls, 1, 5000);
    pause_end(&later);
    cr_assert_eq(res.calls, 1);
    cr_expect_eq(res.status, SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_str_eq(res.value, "v1");
    cr_expect_eq(shard_pool_pending(pool), 0);
    cr_expect_eq(harness_loop_detach(pool), SHARD_OK);
}

Test(health, freeing_the_pool_with_a_retry_pending_calls_back_once)
{
    async_result res = {0};
    const char *argv[] = {"GET", NULL};

    open_pool("  timeout: 200\n  read_retries: 5\n");
    set_ok(keys[1], "v1");
    argv[1] = keys[1];
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    harness_pause(servers[1]);
    cr_assert_eq(shard_command_async(pool, 2, argv, NULL, on_reply, &res),
                 SHARD_OK);
    int never = 0;
    harness_loop_run(pool, &never, 1, 500); /* a timeout, a retry out */
    cr_expect_eq(res.calls, 0);
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_eq(res.calls, 1);
    cr_expect_eq(res.status, SHARD_ECLOSED);
    harness_resume(servers[1]);
}

Test(health, writing_to_a_dead_server_raises_no_sigpipe)
{
    int status;
    sigset_t mask_before, mask_after, pending;

    /* The default disposition kills the process on SIGPIPE. */
    signal(SIGPIPE, SIG_DFL);
    open_pool("  timeout: 1000\n");
    set_ok(keys[0], "v");
    pthread_sigmask(SIG_SETMASK, NULL, &mask_before);
    harness_kill(servers[0]);
    /* At once, before the idle check would look: 8 MiB take many sends,
     * and those after the peer's reset fail with EPIPE. */
    enum { BIG = 8 << 20 };
    char *value = malloc(BIG);
    cr_assert_not_null(value);
    memset(value, 'x', BIG);
    const char *argv[] = {"SET", keys[0], value};
    const size_t lens[] = {3, strlen(keys[0]), BIG};
    shard_reply *r = NULL;
    cr_expect_eq(shard_command_argv(pool, &r, 3, argv, lens), SHARD_ECONN, "%s",
                 shard_pool_errmsg(pool));
    free(value);
    for (int i = 0; i < 20; i++) {
        shard_reply_free(get(keys[0], &status));
        cr_expect_eq(status, SHARD_ECONN, "%s", shard_pool_errmsg(pool));
    }
    pthread_sigmask(SIG_SETMASK, NULL, &mask_after);
    cr_expect_eq(sigismember(&mask_after, SIGPIPE),
                 sigismember(&mask_before, SIGPIPE));
    sigpending(&pending);
    cr_expect_not(sigismember(&pending, SIGPIPE));
    set_ok(keys[1], "still serving");
}
