/*
 * The Redis data path against real redis-servers: routing, split and join,
 * refusals, failures (killed, stopped, refused servers), AUTH with
 * redis_db, binary and large values, pipelining and per-server commands.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shard/shard.h>

#include "harness.h"

#define NSERVERS 3

static harness_server *servers[NSERVERS];
static shard_pool *pool;

static void
stop_all(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

/* Reorders servers[] so that servers[i] is the pool's server index i. */
static void
sort_like_pool(shard_pool *p, int n)
{
    harness_server *sorted[NSERVERS];

    for (int i = 0; i < n; i++) {
        sorted[i] = NULL;
        for (int j = 0; j < n; j++) {
            if (strcmp(servers[j]->addr,
                       shard_pool_server_addr(p, (size_t)i)) == 0)
                sorted[i] = servers[j];
        }
        cr_assert_not_null(sorted[i]);
    }
    memcpy(servers, sorted, (size_t)n * sizeof(*servers));
}

/* A pool over `n` fresh servers with `extra` directives (may be ""). */
static shard_pool *
start_pool(int n, const char *extra, const char *server_conf)
{
    char yaml[4096];
    int used;
    shard_pool *p;

    used = snprintf(yaml, sizeof(yaml),
                    "test:\n  listen: 127.0.0.1:%d\n  redis: true\n%s"
                    "  servers:\n",
                    harness_free_port(), extra);
    for (int i = 0; i < n; i++) {
        servers[i] = harness_redis_start(server_conf);
        cr_assert_not_null(servers[i], "redis-server did not start");
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", servers[i]->addr);
    }
    const char *path = harness_write_file("pool.yml", yaml);
    cr_assert_eq(shard_pool_open(&p, path, NULL, NULL), SHARD_OK, "%s",
                 shard_last_error());
    sort_like_pool(p, n);
    return p;
}

static void
setup(void)
{
    pool = start_pool(NSERVERS, "  timeout: 500\n", NULL);
}

/* Runs a command given as C strings, NULL-terminated. */
static shard_reply *
run(const char *first, ...)
{
    const char *argv[64];
    int argc = 0;
    va_list ap;
    shard_reply *r = NULL;

    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 64; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    int rc = shard_command_argv(pool, &r, argc, argv, NULL);
    cr_assert_eq(rc, SHARD_OK, "%s failed: %s", first, shard_pool_errmsg(pool));
    return r;
}

static void
expect_status(shard_reply *r, int type, const char *text)
{
    size_t len;
    const char *s = shard_reply_str(r, &len);

    cr_expect_eq(shard_reply_type(r), type, "type %d, text %s",
                 shard_reply_type(r), s ? s : "(none)");
    if (text != NULL)
        cr_expect(s != NULL && strstr(s, text) != NULL, "\"%s\" lacks \"%s\"",
                  s ? s : "(null)", text);
    shard_reply_free(r);
}

static void
expect_int(shard_reply *r, long long value)
{
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_INTEGER);
    cr_expect_eq(shard_reply_integer(r), value, "got %lld, want %lld",
                 shard_reply_integer(r), value);
    shard_reply_free(r);
}

/* Server index of a key, checked against where the key really is. */
static int
server_of(const char *key)
{
    int s = shard_pool_locate(pool, key, strlen(key));
    cr_assert_geq(s, 0);
    return s;
}

/* A key that lands on server `s`, made from `prefix`. */
static const char *
key_on(int s, const char *prefix)
{
    for (int i = 0; i < 100000; i++) {
        const char *k = harness_fmt("%s%d", prefix, i);
        if (server_of(k) == s)
            return k;
    }
    cr_assert_fail("no key found for server %d", s);
    return NULL;
}

static redisContext *
direct(int s)
{
    redisContext *c = redisConnect("127.0.0.1", servers[s]->port);
    cr_assert(c != NULL && c->err == 0, "cannot reach server %d", s);
    return c;
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

TestSuite(redis, .init = setup, .fini = stop_all, .timeout = 60);

Test(redis, single_key_commands_land_on_the_located_server)
{
    for (int i = 0; i < 300; i++) {
        const char *k = harness_fmt("user:%d", i);
        expect_status(run("SET", k, k, NULL), SHARD_REPLY_STATUS, "OK");
    }
    for (int s = 0; s < NSERVERS; s++) {
        redisContext *c = direct(s);
        for (int i = 0; i < 300; i++) {
            const char *k = harness_fmt("user:%d", i);
            redisReply *r = redisCommand(c, "EXISTS %s", k);
            cr_expect_eq(r->integer, server_of(k) == s, "key %s", k);
            freeReplyObject(r);
        }
        redisFree(c);
    }
}

Test(redis, split_mget_joins_in_request_order_with_duplicates_and_misses)
{
    const char *a = key_on(0, "a"), *b = key_on(1, "b"), *c = key_on(2, "c");

    expect_status(run("MSET", a, "va", b, "vb", c, "vc", NULL),
                  SHARD_REPLY_STATUS, "OK");
    shard_reply *r = run("MGET", c, "missing", a, b, a, c, NULL);
    const char *want[] = {"vc", NULL, "va", "vb", "va", "vc"};
    cr_assert_eq(shard_reply_len(r), 6);
    for (size_t i = 0; i < 6; i++) {
        const shard_reply *e = shard_reply_at(r, i);
        if (want[i] == NULL)
            cr_expect_eq(shard_reply_type(e), SHARD_REPLY_NIL);
        else
            cr_expect_str_eq(shard_reply_str(e, NULL), want[i], "index %zu", i);
    }
    shard_reply_free(r);
}

Test(redis, split_counting_commands_sum_over_servers)
{
    const char *a = key_on(0, "a"), *b = key_on(1, "b"), *c = key_on(2, "c");

    expect_status(run("MSET", a, "1", b, "2", c, "3", NULL), SHARD_REPLY_STATUS,
                  "OK");
    expect_int(run("EXISTS", a, b, c, a, "nope", NULL), 4);
    expect_int(run("TOUCH", a, b, "nope", NULL), 2);
    expect_int(run("UNLINK", a, "nope", NULL), 1);
    expect_int(run("DEL", b, c, b, NULL), 2);
    expect_int(run("EXISTS", a, b, c, NULL), 0);
}

Test(redis, multi_key_commands_on_one_server_pass_and_across_servers_fail)
{
    const char *a = key_on(0, "a"), *b = key_on(1, "b");

    expect_status(run("SADD", "{t}x", "1", "2", NULL), SHARD_REPLY_INTEGER,
                  NULL);
    expect_status(run("SADD", "{t}y", "2", "3", NULL), SHARD_REPLY_INTEGER,
                  NULL);
    shard_reply *r = run("SINTER", "{t}x", "{t}y", NULL);
    cr_expect_eq(shard_reply_len(r), 1);
    shard_reply_free(r);
    expect_int(run("MSETNX", "{t}m1", "1", "{t}m2", "2", NULL), 1);
    expect_status(run("RENAME", "{t}m1", "{t}m3", NULL), SHARD_REPLY_STATUS,
                  "OK");
    expect_int(run("EVAL", "return #KEYS", "2", "{t}a", "{t}b", NULL), 2);
    expect_int(run("EVAL", "return 7", "0", NULL), 7);
    expect_status(run("SINTER", a, b, NULL), SHARD_REPLY_ERROR,
                  servers[0]->addr);
    expect_status(run("RENAME", a, b, NULL), SHARD_REPLY_ERROR, "'rename'");
    expect_status(run("EVAL", "return 1", "2", a, b, NULL), SHARD_REPLY_ERROR,
                  servers[1]->addr);
}

Test(redis, bad_commands_get_error_replies_and_the_pool_stays_usable)
{
    shard_reply *r;

    expect_status(run("GET", NULL), SHARD_REPLY_ERROR, "wrong number");
    expect_status(run("NOSUCHCMD", "x", NULL), SHARD_REPLY_ERROR,
                  "unknown command");
    expect_status(run("SELECT", "1", NULL), SHARD_REPLY_ERROR, "'select'");
    expect_status(run("MULTI", NULL), SHARD_REPLY_ERROR, "transaction");
    expect_status(run("SUBSCRIBE", "ch", NULL), SHARD_REPLY_ERROR,
                  "'subscribe'");
    expect_status(run("INFO", NULL), SHARD_REPLY_ERROR, "server-specific");
    expect_status(run("MSET", "a", NULL), SHARD_REPLY_ERROR, "wrong number");
    expect_status(run("EVAL", "return 1", "x", NULL), SHARD_REPLY_ERROR, NULL);
    cr_assert_eq(shard_command_argv(pool, &r, 0, NULL, NULL), SHARD_OK);
    expect_status(r, SHARD_REPLY_ERROR, "empty command");
    cr_expect_eq(shard_command_argv(pool, &r, -1, NULL, NULL), SHARD_EINVAL);
    cr_expect_null(r);
    expect_status(run("PING", NULL), SHARD_REPLY_STATUS, "PONG");
    expect_status(run("PING", "hello", NULL), SHARD_REPLY_STRING, "hello");
    expect_status(run("SET", "still", "fine", NULL), SHARD_REPLY_STATUS, "OK");
    expect_status(run("GET", "still", NULL), SHARD_REPLY_STRING, "fine");
}

Test(redis, binary_keys_and_values_round_trip)
{
    const char key[] = "k\0\r\n\xff\x80{x}";
    const char value[] = "v\0\r\n\0\xc3\xa9";
    const char *set[] = {"SET", key, value};
    size_t setlen[] = {3, sizeof(key) - 1, sizeof(value) - 1};
    const char *get[] = {"GET", key};
    size_t getlen[] = {3, sizeof(key) - 1};
    shard_reply *r;
    size_t len;

    cr_assert_eq(shard_command_argv(pool, &r, 3, set, setlen), SHARD_OK);
    shard_reply_free(r);
    cr_assert_eq(shard_command_argv(pool, &r, 2, get, getlen), SHARD_OK);
    const char *s = shard_reply_str(r, &len);
    cr_expect_eq(len, sizeof(value) - 1);
    cr_expect(s != NULL && memcmp(s, value, len) == 0);
    shard_reply_free(r);
    r = shard_command(pool, "SET %b %b", key, sizeof(key) - 1, "", (size_t)0);
    expect_status(r, SHARD_REPLY_STATUS, "OK");
}

Test(redis, one_mebibyte_value_round_trips)
{
    size_t n = 1 << 20;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 31 + 7);
    shard_reply *r = shard_command(pool, "SET big %b", big, n);
    expect_status(r, SHARD_REPLY_STATUS, "OK");
    r = shard_command(pool, "GET big");
    size_t len;
    const char *s = shard_reply_str(r, &len);
    cr_assert_eq(len, n);
    cr_expect(memcmp(s, big, n) == 0);
    shard_reply_free(r);
    free(big);
}

Test(redis, ten_thousand_key_mget)
{
    enum { N = 10000 };
    const char **argv = malloc((N * 2 + 1) * sizeof(*argv));
    shard_reply *r;

    argv[0] = "MSET";
    for (int i = 0; i < N; i++) {
        argv[1 + 2 * i] = strdup(harness_fmt("key:%d", i));
        argv[2 + 2 * i] = strdup(harness_fmt("value:%d", i));
    }
    cr_assert_eq(shard_command_argv(pool, &r, N * 2 + 1, argv, NULL), SHARD_OK);
    expect_status(r, SHARD_REPLY_STATUS, "OK");
    const char **mget = malloc((N + 1) * sizeof(*mget));
    mget[0] = "MGET";
    for (int i = 0; i < N; i++)
        mget[1 + i] = argv[1 + 2 * i];
    cr_assert_eq(shard_command_argv(pool, &r, N + 1, mget, NULL), SHARD_OK);
    cr_assert_eq(shard_reply_len(r), N);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(shard_reply_str(shard_reply_at(r, (size_t)i), NULL),
                         argv[2 + 2 * i]);
    shard_reply_free(r);
    for (int i = 1; i < N * 2 + 1; i++)
        free((void *)argv[i]);
    free(argv);
    free(mget);
}

Test(redis, killed_server_fails_only_its_keys_in_a_split_mget)
{
    const char *a = key_on(0, "a"), *b = key_on(1, "b"), *c = key_on(2, "c");

    expect_status(run("MSET", a, "va", b, "vb", c, "vc", NULL),
                  SHARD_REPLY_STATUS, "OK");
    harness_kill(servers[1]);
    shard_reply *r = run("MGET", a, b, c, b, NULL);
    cr_assert_eq(shard_reply_len(r), 4);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "va");
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "vc");
    for (size_t i = 1; i < 4; i += 2) {
        const shard_reply *e = shard_reply_at(r, i);
        cr_expect_eq(shard_reply_type(e), SHARD_REPLY_ERROR);
        cr_expect(strstr(shard_reply_str(e, NULL), servers[1]->addr) != NULL,
                  "error does not name the server: %s",
                  shard_reply_str(e, NULL));
    }
    shard_reply_free(r);
    expect_status(run("DEL", a, b, c, NULL), SHARD_REPLY_ERROR,
                  servers[1]->addr);
    expect_status(run("MSET", a, "1", b, "2", NULL), SHARD_REPLY_ERROR,
                  servers[1]->addr);
    /* The healthy servers did their part. */
    expect_status(run("GET", a, NULL), SHARD_REPLY_STRING, "1");
}

Test(redis, single_key_to_a_dead_server_fails_with_a_clear_error)
{
    const char *b = key_on(1, "b");
    shard_reply *r = (shard_reply *)1;

    harness_kill(servers[1]);
    const char *argv[] = {"GET", b};
    cr_assert_eq(shard_command_argv(pool, &r, 2, argv, NULL), SHARD_ECONN);
    cr_expect_null(r);
    cr_expect(strstr(shard_pool_errmsg(pool), servers[1]->addr) != NULL, "%s",
              shard_pool_errmsg(pool));
    expect_status(run("SET", key_on(0, "a"), "ok", NULL), SHARD_REPLY_STATUS,
                  "OK");
}

Test(redis, stopped_server_times_out_between_timeout_and_twice_it)
{
    const char *a = key_on(0, "a"), *b = key_on(1, "b");
    shard_reply *r;

    expect_status(run("SET", b, "before", NULL), SHARD_REPLY_STATUS, "OK");
    harness_pause(servers[1]);
    const char *argv[] = {"GET", b};
    double start = now_ms();
    cr_assert_eq(shard_command_argv(pool, &r, 2, argv, NULL), SHARD_ETIMEDOUT);
    double took = now_ms() - start;
    cr_expect_geq(took, 500, "timed out after %.0f ms, before 500", took);
    cr_expect_lt(took, 1000, "timed out after %.0f ms, not before 1000", took);
    cr_expect(strstr(shard_pool_errmsg(pool), "timed out") != NULL);
    expect_status(run("SET", a, "unaffected", NULL), SHARD_REPLY_STATUS, "OK");
    shard_reply *m = run("MGET", a, b, NULL);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(m, 0), NULL), "unaffected");
    cr_expect_eq(shard_reply_type(shard_reply_at(m, 1)), SHARD_REPLY_ERROR);
    shard_reply_free(m);
    harness_resume(servers[1]);
}

Test(redis, late_reply_is_never_handed_to_a_later_request)
{
    const char *b1 = key_on(1, "b"), *b2 = key_on(1, "bb");
    shard_reply *r;

    expect_status(run("SET", b1, "one", NULL), SHARD_REPLY_STATUS, "OK");
    expect_status(run("SET", b2, "two", NULL), SHARD_REPLY_STATUS, "OK");
    harness_pause(servers[1]);
    const char *argv[] = {"GET", b1};
    cr_assert_eq(shard_command_argv(pool, &r, 2, argv, NULL), SHARD_ETIMEDOUT);
    harness_resume(servers[1]);
    /* The server now answers the old GET too; it must not reach this one. */
    expect_status(run("GET", b2, NULL), SHARD_REPLY_STRING, "two");
    expect_status(run("GET", b1, NULL), SHARD_REPLY_STRING, "one");
}

Test(redis, pipelined_replies_come_back_in_order)
{
    shard_reply *r;

    for (int i = 0; i < 200; i++) {
        const char *k = harness_fmt("p:%d", i % 20);
        const char *argv[] = {"INCR", k};
        cr_assert_eq(shard_append_argv(pool, 2, argv, NULL), SHARD_OK);
    }
    const char *mget[] = {"MGET", "p:0", "p:1", "p:19"};
    cr_assert_eq(shard_append_argv(pool, 4, mget, NULL), SHARD_OK);
    for (int i = 0; i < 200; i++) {
        cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
        expect_int(r, i / 20 + 1);
    }
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "10");
    shard_reply_free(r);
    cr_expect_eq(shard_get_reply(pool, &r), SHARD_ESTATE);
}

Test(redis, per_server_commands_reach_one_server)
{
    shard_reply *r;

    expect_status(run("SET", key_on(2, "c"), "x", NULL), SHARD_REPLY_STATUS,
                  "OK");
    for (size_t s = 0; s < NSERVERS; s++) {
        r = shard_command_server(pool, s, "DBSIZE");
        cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
        expect_int(r, s == 2 ? 1 : 0);
    }
    const char *sel[] = {"SELECT", "2"};
    cr_expect_eq(shard_command_server_argv(pool, 0, &r, 2, sel, NULL),
                 SHARD_EUNSUPPORTED);
    cr_expect_null(shard_command_server(pool, 9, "PING"));
}

Test(redis, ping_is_answered_while_every_server_is_down)
{
    for (int s = 0; s < NSERVERS; s++)
        harness_kill(servers[s]);
    expect_status(run("PING", NULL), SHARD_REPLY_STATUS, "PONG");
}

Test(redis, server_restart_is_reconnected)
{
    const char *a = key_on(0, "a");
    int port = servers[0]->port;

    expect_status(run("SET", a, "1", NULL), SHARD_REPLY_STATUS, "OK");
    harness_stop(servers[0]);
    servers[0] = harness_redis_start_port(port, NULL);
    cr_assert_not_null(servers[0]);
    shard_reply *r = NULL;
    const char *argv[] = {"GET", a};
    /* The first request may meet the closed connection; the next works. */
    if (shard_command_argv(pool, &r, 2, argv, NULL) != SHARD_OK)
        cr_assert_eq(shard_command_argv(pool, &r, 2, argv, NULL), SHARD_OK,
                     "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL);
    shard_reply_free(r);
}

static void
auth_setup(void)
{
    pool = start_pool(2,
                      "  timeout: 1000\n  redis_auth: s3cret\n  redis_db: 5\n"
                      "  server_connections: 2\n  preconnect: true\n",
                      "requirepass s3cret\n");
}

/* Suites of their own: a test's .init runs after its suite's, not instead. */
Test(redis_auth, auth_then_select_on_every_connection, .init = auth_setup,
     .fini = stop_all, .timeout = 60)
{
    for (int i = 0; i < 50; i++)
        expect_status(run("SET", harness_fmt("k%d", i), "v", NULL),
                      SHARD_REPLY_STATUS, "OK");
    int in_db5 = 0;
    for (int s = 0; s < 2; s++) {
        redisContext *c = direct(s);
        redisReply *r = redisCommand(c, "AUTH s3cret");
        freeReplyObject(r);
        r = redisCommand(c, "DBSIZE");
        cr_expect_eq(r->integer, 0, "db 0 of server %d holds keys", s);
        freeReplyObject(r);
        freeReplyObject(redisCommand(c, "SELECT 5"));
        r = redisCommand(c, "DBSIZE");
        in_db5 += (int)r->integer;
        freeReplyObject(r);
        redisFree(c);
    }
    cr_expect_eq(in_db5, 50);
}

static void
wrong_auth_setup(void)
{
    pool = start_pool(1, "  redis_auth: wrong\n  timeout: 1000\n",
                      "requirepass s3cret\n");
}

Test(redis_auth, wrong_password_is_a_clear_error, .init = wrong_auth_setup,
     .fini = stop_all, .timeout = 60)
{
    shard_reply *r;
    const char *argv[] = {"GET", "x"};

    cr_assert_eq(shard_command_argv(pool, &r, 2, argv, NULL), SHARD_ECONN);
    cr_expect(strstr(shard_pool_errmsg(pool), "AUTH") != NULL, "%s",
              shard_pool_errmsg(pool));
}

Test(redis, memcached_pool_refuses_redis_commands)
{
    const char yaml[] = "mc:\n  listen: 127.0.0.1:1\n  servers:\n"
                        "   - 127.0.0.1:11211:1\n";
    shard_pool *mc;
    shard_reply *r;
    const char *argv[] = {"GET", "x"};

    cr_assert_eq(shard_pool_open_string(&mc, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK);
    cr_expect_eq(shard_command_argv(mc, &r, 2, argv, NULL), SHARD_EUNSUPPORTED);
    cr_expect(strstr(shard_pool_errmsg(mc), "memcached") != NULL);
    shard_pool_free(mc);
}
