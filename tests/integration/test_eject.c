/*
 * Ejection and return (auto_eject_hosts), compared with a real nutcracker:
 * after a server is ejected, keys must land where nutcracker puts them.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"

#define NSERVERS 5

static harness_server *servers[NSERVERS]; /* in the pool's index order */
static shard_pool *pool;
static int listen_port;
static const char *yaml_path;
static shard_options *open_opts; /* NULL: the defaults */

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

/* Starts n servers and opens a pool over them with `directives`. */
static void
start(int n, const char *directives)
{
    char yaml[4096];
    harness_server *started[NSERVERS];
    int used;

    listen_port = harness_free_port();
    used = snprintf(yaml, sizeof(yaml),
                    "eject:\n  listen: 127.0.0.1:%d\n  redis: true\n"
                    "  timeout: 1000\n%s  servers:\n",
                    listen_port, directives);
    for (int i = 0; i < n; i++) {
        started[i] = harness_redis_start(NULL);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    yaml_path = harness_write_file("eject.yml", yaml);
    cr_assert_eq(shard_pool_open(&pool, yaml_path, NULL, open_opts), SHARD_OK,
                 "%s", shard_last_error());
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            if (strcmp(started[j]->addr,
                       shard_pool_server_addr(pool, (size_t)i)) == 0)
                servers[i] = started[j];
        }
    }
}

static int
locate(const char *key)
{
    return shard_pool_locate(pool, key, strlen(key));
}

static const char *
key_on(int s)
{
    for (int i = 0;; i++) {
        const char *k = harness_fmt("k%d", i);
        if (locate(k) == s)
            return k;
    }
}

static int
get(const char *key, shard_reply **r)
{
    const char *argv[] = {"GET", key};
    *r = NULL;
    return shard_command_argv(pool, r, 2, argv, NULL);
}

TestSuite(eject, .fini = teardown, .timeout = 60);

Test(eject, ejected_server_keys_move_where_nutcracker_moves_them)
{
    start(NSERVERS, "  hash: fnv1a_64\n  auto_eject_hosts: true\n"
                    "  server_failure_limit: 1\n"
                    "  server_retry_timeout: 60000\n");
    harness_server *nc = harness_nutcracker_start(yaml_path, listen_port);
    cr_assert_not_null(nc);
    redisContext *proxy = redisConnect("127.0.0.1", listen_port);
    cr_assert(proxy != NULL && proxy->err == 0);
    const char *victim = key_on(2);
    shard_reply *r;

    harness_kill(servers[2]);
    /* One failed request ejects it, in nutcracker and in libshard. */
    redisReply *pr = redisCommand(proxy, "GET %s", victim);
    cr_assert(pr != NULL && pr->type == REDIS_REPLY_ERROR);
    freeReplyObject(pr);
    cr_assert_eq(get(victim, &r), SHARD_ECONN);
    cr_assert_neq(locate(victim), 2, "server 2 was not ejected");

    for (int i = 0; i < 1000; i++) {
        const char *k = harness_fmt("moved:%d", i);
        redisAppendCommand(proxy, "SET %s %s", k, k);
    }
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(redisGetReply(proxy, (void **)&pr), REDIS_OK);
        cr_assert_eq(pr->type, REDIS_REPLY_STATUS, "%s", pr->str);
        freeReplyObject(pr);
    }
    redisFree(proxy);
    int misplaced = 0;
    for (int i = 0; i < 1000; i++) {
        const char *k = harness_fmt("moved:%d", i);
        int s = locate(k);
        cr_assert(s >= 0 && s != 2);
        redisContext *c = redisConnect("127.0.0.1", servers[s]->port);
        pr = redisCommand(c, "EXISTS %s", k);
        misplaced += pr->integer != 1;
        freeReplyObject(pr);
        redisFree(c);
    }
    cr_expect_eq(misplaced, 0, "%d of 1000 keys not where nutcracker put them",
                 misplaced);
}

Test(eject, ejected_server_returns_after_the_retry_timeout)
{
    start(3, "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
             "  server_retry_timeout: 300\n");
    const char *k = key_on(1);
    int port = servers[1]->port;
    shard_reply *r;

    harness_stop(servers[1]);
    cr_assert_eq(get(k, &r), SHARD_ECONN);
    cr_expect_neq(locate(k), 1);
    servers[1] = harness_redis_start_port(port, NULL);
    cr_assert_not_null(servers[1]);
    usleep(400 * 1000);
    cr_expect_eq(locate(k), 1, "server 1 did not come back");
    cr_assert_eq(get(k, &r), SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL);
    shard_reply_free(r);
}

Test(eject, failure_limit_counts_failures_and_an_answer_resets_it)
{
    start(3, "  auto_eject_hosts: true\n  server_failure_limit: 3\n"
             "  server_retry_timeout: 60000\n");
    const char *k = key_on(0);
    shard_reply *r;

    harness_pause(servers[0]);
    /* Two timeouts: counted, not yet ejected. */
    for (int i = 0; i < 2; i++)
        cr_assert_eq(get(k, &r), SHARD_ETIMEDOUT);
    cr_expect_eq(locate(k), 0);
    /* An answer resets the count: two more failures still do not eject. */
    harness_resume(servers[0]);
    cr_assert_eq(get(k, &r), SHARD_OK, "%s", shard_pool_errmsg(pool));
    shard_reply_free(r);
    harness_kill(servers[0]);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(get(k, &r), SHARD_ECONN);
    cr_expect_eq(locate(k), 0);
    cr_assert_eq(get(k, &r), SHARD_ECONN);
    cr_expect_neq(locate(k), 0, "not ejected after 3 failures");
}

Test(eject, every_server_ejected_is_a_clear_error)
{
    start(2, "  auto_eject_hosts: true\n  server_failure_limit: 1\n");
    shard_reply *r;

    harness_kill(servers[0]);
    harness_kill(servers[1]);
    (void)get(key_on(0), &r);
    (void)get(key_on(1), &r);
    cr_assert_eq(get("any", &r), SHARD_ENOSERVER);
    cr_expect(strstr(shard_pool_errmsg(pool), "ejected") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect_eq(shard_pool_locate(pool, "any", 3), SHARD_ENOSERVER);
    const char *ping[] = {"PING"};
    cr_assert_eq(shard_command_argv(pool, &r, 1, ping, NULL), SHARD_OK);
    shard_reply_free(r);
}

Test(eject, without_auto_eject_a_dead_server_keeps_its_keys)
{
    start(3, "  server_failure_limit: 1\n");
    const char *k = key_on(2);
    shard_reply *r;

    harness_kill(servers[2]);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(get(k, &r), SHARD_ECONN);
    cr_expect_eq(locate(k), 2);
}

static char logged[4096];

static void
capture_log(int level, const char *message, void *userdata)
{
    size_t used = strlen(logged);

    (void)userdata;
    snprintf(logged + used, sizeof(logged) - used, "%d %s\n", level, message);
}

Test(eject, ejection_and_return_are_logged_through_the_callback)
{
    shard_options opts = SHARD_OPTIONS_INIT;
    shard_reply *r;

    opts.log_fn = capture_log;
    opts.log_level = SHARD_LOG_INFO;
    open_opts = &opts;
    start(2, "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
             "  server_retry_timeout: 100\n");
    open_opts = NULL;
    harness_kill(servers[1]);
    cr_assert_eq(get(key_on(1), &r), SHARD_ECONN);
    char want[512];
    snprintf(want, sizeof(want), "%d server '%s' ejected after 1 failure(s)",
             SHARD_LOG_WARN, servers[1]->addr);
    cr_expect(strstr(logged, want) != NULL, "log lacks \"%s\":\n%s", want,
              logged);
    usleep(150 * 1000);
    (void)locate("any");
    cr_expect(strstr(logged, "back in the ring") != NULL, "%s", logged);
}
