/*
 * Live reload with real servers: after each kind of config change, every
 * key written through a nutcracker started fresh on the new file is found
 * by the reloaded pool (0 misplaced); a bad file changes nothing; kept
 * servers keep their connections; requests in flight during a reload all
 * finish once, each with its own reply; a watched file reloads itself.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define NSERVERS 4
#define NKEYS 400

static harness_server *servers[NSERVERS]; /* s0..s3, in start order */
static shard_pool *pool;
static int listen_port;
static int reloads, connects[NSERVERS + 1];

static void
on_event(const shard_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SHARD_EVENT_RELOADED) {
        cr_assert_eq(ev->server, SHARD_EVENT_POOL);
        reloads++;
    }
    if (ev->type == SHARD_EVENT_CONNECTED) {
        for (int i = 0; i < NSERVERS; i++) {
            if (strcmp(ev->addr, servers[i]->addr) == 0)
                connects[i]++;
        }
    }
}

static void
start_servers(void)
{
    for (int i = 0; i < NSERVERS; i++) {
        servers[i] = harness_redis_start(NULL);
        cr_assert_not_null(servers[i]);
    }
    listen_port = harness_free_port();
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(reload, .init = start_servers, .fini = teardown, .timeout = 180);

/*
 * A config over the servers whose weights are given (0: not in it), with
 * `directives`. The text is the harness's (valid until exit).
 */
static const char *
config(const char *directives, const int weights[NSERVERS])
{
    char yaml[2048];
    int used = snprintf(yaml, sizeof(yaml),
                        "alpha:\n  listen: 127.0.0.1:%d\n  redis: true\n"
                        "  timeout: 2000\n%s  servers:\n",
                        listen_port, directives);

    for (int i = 0; i < NSERVERS; i++) {
        if (weights[i] > 0)
            used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                             "   - %s:%d\n", servers[i]->addr, weights[i]);
    }
    return harness_fmt("%s", yaml);
}

static void
open_text(const char *yaml)
{
    shard_options opts = SHARD_OPTIONS_INIT;

    opts.event_fn = on_event;
    reloads = 0;
    memset(connects, 0, sizeof(connects));
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
}

/* A key that the pool places on the server at address servers[s]. */
static const char *
key_on(size_t s)
{
    for (int k = 0;; k++) {
        const char *key = harness_fmt("on%zu:%d", s, k);
        int at = shard_pool_locate(pool, key, strlen(key));
        if (at >= 0 && strcmp(shard_pool_server_addr(pool, (size_t)at),
                              servers[s]->addr) == 0)
            return key;
    }
}

static void
flush_all(void)
{
    for (int i = 0; i < NSERVERS; i++) {
        redisContext *c = redisConnect("127.0.0.1", servers[i]->port);
        cr_assert(c != NULL && c->err == 0);
        freeReplyObject(redisCommand(c, "FLUSHALL"));
        redisFree(c);
    }
}

/* Writes NKEYS keys through a fresh nutcracker on `yaml`, then reads them
 * all through the pool: returns how many were not found. */
static int
misplaced_after_nutcracker(const char *yaml, const char *name)
{
    const char *path = harness_write_file(name, yaml);
    harness_server *nc = harness_nutcracker_start(path, listen_port);
    int missing = 0;

    cr_assert_not_null(nc);
    redisContext *c = redisConnect("127.0.0.1", listen_port);
    cr_assert(c != NULL && c->err == 0);
    for (int k = 0; k < NKEYS; k++) {
        redisReply *r = redisCommand(c, "SET key:%d v%d", k, k);
        cr_assert(r != NULL && r->type == REDIS_REPLY_STATUS, "SET key:%d", k);
        freeReplyObject(r);
    }
    redisFree(c);
    harness_stop(nc);
    for (int k = 0; k < NKEYS; k++) {
        char key[32], want[32];
        snprintf(key, sizeof(key), "key:%d", k);
        snprintf(want, sizeof(want), "v%d", k);
        shard_reply *r = shard_command(pool, "GET %s", key);
        cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
        if (shard_reply_type(r) != SHARD_REPLY_STRING ||
            strcmp(shard_reply_str(r, NULL), want) != 0)
            missing++;
        shard_reply_free(r);
    }
    flush_all();
    return missing;
}

Test(reload, every_change_places_keys_as_a_fresh_nutcracker)
{
    static const struct {
        const char *what;
        const char *directives;
        int weights[NSERVERS];
    } steps[] = {
        {"a server added", "", {1, 1, 1, 1}},
        {"a server removed", "", {1, 0, 1, 1}},
        {"a weight changed", "", {1, 0, 3, 1}},
        {"the hash changed", "  hash: murmur\n", {1, 0, 3, 1}},
        {"modula", "  hash: md5\n  distribution: modula\n", {2, 1, 1, 1}},
        {"a hash tag", "  hash_tag: \"{}\"\n", {1, 1, 1, 0}},
    };

    open_text(config("", (const int[]){1, 1, 1, 0}));
    cr_assert_eq(misplaced_after_nutcracker(
                     config("", (const int[]){1, 1, 1, 0}), "start.yml"),
                 0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *yaml = config(steps[i].directives, steps[i].weights);
        cr_assert_eq(shard_pool_reload_string(pool, yaml, strlen(yaml)),
                     SHARD_OK, "%s: %s", steps[i].what,
                     shard_pool_errmsg(pool));
        int missing = misplaced_after_nutcracker(yaml, "step.yml");
        cr_expect_eq(missing, 0, "%s: %d of %d keys misplaced", steps[i].what,
                     missing, NKEYS);
    }
    cr_expect_eq(reloads, 6);
}

Test(reload, a_bad_file_changes_nothing)
{
    static const struct {
        const char *yaml;
        const char *says;
    } bad[] = {
        {"alpha:\n  listen: 127.0.0.1:1\n  hash: nosuch\n  servers:\n"
         "   - 127.0.0.1:1:1\n",
         "<string>:3:"},
        {"beta:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:1:1\n",
         "no pool 'alpha'"},
        {"alpha:\n  listen: 127.0.0.1:1\n  redis: false\n  servers:\n"
         "   - 127.0.0.1:1:1\n",
         "redis"},
        {"alpha: [", "<string>"},
    };

    open_text(config("", (const int[]){1, 1, 1, 0}));
    int before[32];
    for (int k = 0; k < 32; k++)
        before[k] = shard_pool_locate(pool, harness_fmt("k%d", k),
                                      strlen(harness_fmt("k%d", k)));
    shard_reply *set = shard_command(pool, "SET a 1");
    cr_assert_not_null(set, "%s", shard_pool_errmsg(pool));
    shard_reply_free(set);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_eq(
            shard_pool_reload_string(pool, bad[i].yaml, strlen(bad[i].yaml)),
            SHARD_ECONFIG);
        cr_expect(strstr(shard_pool_errmsg(pool), bad[i].says) != NULL,
                  "'%s' not in: %s", bad[i].says, shard_pool_errmsg(pool));
    }
    cr_expect_eq(shard_pool_reload(pool, "/nonexistent/nutcracker.yml"),
                 SHARD_EIO);
    for (int k = 0; k < 32; k++) {
        const char *key = harness_fmt("k%d", k);
        cr_expect_eq(shard_pool_locate(pool, key, strlen(key)), before[k]);
    }
    shard_reply *r = shard_command(pool, "GET a");
    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(r, NULL), "1");
    shard_reply_free(r);
    cr_expect_eq(reloads, 0);
}

Test(reload, kept_servers_keep_their_connections)
{
    open_text(config("", (const int[]){1, 1, 1, 0}));
    for (size_t s = 0; s < 3; s++)
        shard_reply_free(shard_command(pool, "SET %s v", key_on(s)));
    cr_assert_eq(connects[0] + connects[1] + connects[2], 3, "%d %d %d",
                 connects[0], connects[1], connects[2]);
    const char *yaml = config("", (const int[]){1, 1, 2, 1});
    cr_assert_eq(shard_pool_reload_string(pool, yaml, strlen(yaml)), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    for (size_t s = 0; s < 4; s++)
        shard_reply_free(shard_command(pool, "GET %s", key_on(s)));
    cr_expect_eq(connects[0], 1);
    cr_expect_eq(connects[1], 1);
    cr_expect_eq(connects[2], 1);
    cr_expect_eq(connects[3], 1, "the new server connects as usual");

    char *json;
    size_t len;
    cr_assert_eq(shard_pool_stats_json(pool, &json, &len), SHARD_OK);
    cr_expect(strstr(json, "\"reloads\": 1") != NULL, "%s", json);
    shard_free(json);
}

typedef struct pending {
    char key[32];
    char want[32];
    int calls;
    int status;
    int wrong;
} pending;

static void
on_get(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    pending *g = userdata;

    (void)p;
    g->calls++;
    g->status = status;
    if (status == SHARD_OK && (shard_reply_type(reply) != SHARD_REPLY_STRING ||
                               strcmp(shard_reply_str(reply, NULL), g->want)))
        g->wrong++;
}

static const char *next_yaml;
static int reloaded_in_callback;

static void
on_get_then_reload(shard_pool *p, const shard_reply *reply, int status,
                   void *userdata)
{
    on_get(p, reply, status, userdata);
    if (next_yaml != NULL) {
        reloaded_in_callback =
            shard_pool_reload_string(p, next_yaml, strlen(next_yaml));
        next_yaml = NULL;
    }
}

Test(reload, requests_in_flight_finish_once_with_their_own_replies)
{
    enum { N = 600 };
    static pending gets[N];
    int done = 0;

    open_text(config("", (const int[]){1, 1, 1, 0}));
    for (int k = 0; k < N; k++) {
        snprintf(gets[k].key, sizeof(gets[k].key), "key:%d", k);
        snprintf(gets[k].want, sizeof(gets[k].want), "value:%d", k);
        shard_reply_free(
            shard_command(pool, "SET %s %s", gets[k].key, gets[k].want));
    }
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    /* The first callback swaps in a config without s1 (and with s3):
     * hundreds of GETs are then still in flight on the old topology. */
    next_yaml = config("", (const int[]){1, 0, 1, 1});
    for (int k = 0; k < N; k++) {
        const char *argv[] = {"GET", gets[k].key};
        cr_assert_eq(shard_command_async(pool, 2, argv, NULL,
                                         k == 0 ? on_get_then_reload : on_get,
                                         &gets[k]),
                     SHARD_OK);
    }
    for (int round = 0; round < 500 && shard_pool_pending(pool) > 0; round++)
        harness_loop_run(pool, &done, 1, 10);
    cr_assert_eq(shard_pool_pending(pool), 0);
    cr_expect_eq(reloaded_in_callback, SHARD_OK);
    int wrong = 0, failed = 0;
    for (int k = 0; k < N; k++) {
        cr_expect_eq(gets[k].calls, 1, "GET %d called back %d times", k,
                     gets[k].calls);
        wrong += gets[k].wrong;
        failed += gets[k].status != SHARD_OK;
    }
    cr_expect_eq(wrong, 0, "crossed replies");
    cr_expect_eq(failed, 0, "requests already sent must finish");
    cr_expect_eq(reloads, 1);
    cr_expect_eq(harness_loop_detach(pool), SHARD_OK);
    /* s1's connection drains, then closes at the next command. */
    shard_reply_free(shard_command(pool, "GET x"));
    char *json = NULL;
    size_t len = 0;
    cr_assert_eq(shard_pool_stats_json(pool, &json, &len), SHARD_OK);
    shard_free(json);
}

/*
 * Two sets of servers swapped 200 times, each reload made while GETs are in
 * flight to the set it removes: every GET is called back once with its own
 * value (each server holds every key), and the servers removed are freed
 * as they drain (under ASan, a use after that is a crash).
 */
Test(reload, repeated_reloads_under_traffic_finish_every_request)
{
    enum { ROUNDS = 200, PER_ROUND = 16 };
    static pending gets[PER_ROUND];
    const char *sets[2];
    int done = 0, wrong = 0, failed = 0, calls = 0;

    sets[0] = config("  read_retries: 1\n", (const int[]){1, 1, 0, 0});
    sets[1] = config("  read_retries: 1\n", (const int[]){0, 0, 1, 1});
    for (int i = 0; i < NSERVERS; i++) {
        redisContext *c = redisConnect("127.0.0.1", servers[i]->port);
        cr_assert(c != NULL && c->err == 0);
        for (int k = 0; k < PER_ROUND; k++)
            freeReplyObject(redisCommand(c, "SET rk:%d rv:%d", k, k));
        redisFree(c);
    }
    open_text(sets[0]);
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    for (int round = 0; round < ROUNDS; round++) {
        memset(gets, 0, sizeof(gets));
        for (int k = 0; k < PER_ROUND; k++) {
            snprintf(gets[k].key, sizeof(gets[k].key), "rk:%d", k);
            snprintf(gets[k].want, sizeof(gets[k].want), "rv:%d", k);
            const char *argv[] = {"GET", gets[k].key};
            cr_assert_eq(
                shard_command_async(pool, 2, argv, NULL, on_get, &gets[k]),
                SHARD_OK);
        }
        const char *yaml = sets[(round + 1) % 2];
        cr_assert_eq(shard_pool_reload_string(pool, yaml, strlen(yaml)),
                     SHARD_OK, "%s", shard_pool_errmsg(pool));
        for (int i = 0; i < 500 && shard_pool_pending(pool) > 0; i++)
            harness_loop_run(pool, &done, 1, 10);
        cr_assert_eq(shard_pool_pending(pool), 0, "round %d", round);
        for (int k = 0; k < PER_ROUND; k++) {
            calls += gets[k].calls;
            wrong += gets[k].wrong;
            failed += gets[k].status != SHARD_OK;
        }
    }
    cr_expect_eq(calls, ROUNDS * PER_ROUND, "each GET called back once");
    cr_expect_eq(wrong, 0, "crossed replies");
    cr_expect_eq(failed, 0, "requests already sent must finish");
    cr_expect_eq(reloads, ROUNDS);
    cr_expect_eq(harness_loop_detach(pool), SHARD_OK);
}

Test(reload, a_transaction_outlives_its_removed_server)
{
    shard_txn *txn = NULL;
    shard_reply *r = NULL;
    const char *key = NULL;

    open_text(config("", (const int[]){1, 1, 1, 0}));
    for (int k = 0;; k++) {
        key = harness_fmt("t%d", k);
        if (strcmp(shard_pool_server_addr(
                       pool, (size_t)shard_pool_locate(pool, key, strlen(key))),
                   servers[1]->addr) == 0)
            break;
    }
    cr_assert_eq(shard_txn_begin(pool, &txn, key, strlen(key)), SHARD_OK);
    const char *set[] = {"SET", key, "1"};
    cr_assert_eq(shard_txn_command_argv(txn, &r, 3, set, NULL), SHARD_OK);
    shard_reply_free(r);
    const char *yaml = config("", (const int[]){1, 0, 1, 0});
    cr_assert_eq(shard_pool_reload_string(pool, yaml, strlen(yaml)), SHARD_OK);
    cr_expect_eq(shard_txn_server(txn), SHARD_ENOSERVER);
    cr_assert_eq(shard_txn_command_argv(txn, &r, 3, set, NULL), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(r, NULL), "removed") != NULL);
    shard_reply_free(r);
    shard_txn_free(txn);
}

Test(reload, a_watched_file_reloads_itself)
{
    shard_options opts = SHARD_OPTIONS_INIT;
    const char *path = harness_write_file(
        "watched.yml", config("", (const int[]){1, 1, 0, 0}));

    opts.watch_config = 1;
    opts.event_fn = on_event;
    reloads = 0;
    cr_assert_eq(shard_pool_open(&pool, path, NULL, &opts), SHARD_OK, "%s",
                 shard_last_error());
    cr_assert_eq(shard_pool_server_count(pool), 2);
    sleep(1); /* a new mtime, whatever the file system's resolution */
    harness_write_file("watched.yml", config("", (const int[]){1, 1, 1, 1}));
    for (int i = 0; i < 30 && reloads == 0; i++) {
        shard_reply_free(shard_command(pool, "GET x"));
        usleep(100000);
    }
    cr_expect_eq(reloads, 1);
    cr_expect_eq(shard_pool_server_count(pool), 4);
    /* A broken rewrite is refused and the pool goes on. */
    sleep(1);
    harness_write_file("watched.yml", "alpha: [");
    for (int i = 0; i < 15; i++) {
        shard_reply *r = shard_command(pool, "GET x");
        cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
        shard_reply_free(r);
        usleep(100000);
    }
    cr_expect_eq(reloads, 1);
    cr_expect_eq(shard_pool_server_count(pool), 4);
}
