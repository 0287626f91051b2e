/*
 * redis_auth against servers that have no password: nutcracker serves such
 * a pool (it ignores the AUTH error), so libshard does too, with one
 * warning per server and the password never shown. A wrong password
 * against a server that has one stays an error naming AUTH.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define PASSWORD "t0ps3cret"

static harness_server *servers[2];
static shard_pool *pool;
static int warnings;
static char last_warning[512];
static bool password_shown;

static void
on_log(int level, const char *message, void *userdata)
{
    (void)userdata;
    if (strstr(message, PASSWORD) != NULL)
        password_shown = true;
    if (level == SHARD_LOG_WARN && strstr(message, "no password") != NULL) {
        warnings++;
        snprintf(last_warning, sizeof(last_warning), "%s", message);
    }
}

static shard_pool *
open_pool(const char *extra_conf)
{
    char yaml[1024];
    shard_options opts = SHARD_OPTIONS_INIT;
    shard_pool *p = NULL;

    for (int i = 0; i < 2; i++) {
        servers[i] = harness_redis_start(extra_conf);
        cr_assert_not_null(servers[i]);
    }
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  redis_auth: " PASSWORD "\n  redis_db: 2\n"
             "  servers:\n   - %s:1\n   - %s:1\n",
             harness_free_port(), servers[0]->addr, servers[1]->addr);
    opts.log_fn = on_log;
    cr_assert_eq(shard_pool_open_string(&p, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
    return p;
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(auth, .fini = teardown, .timeout = 30);

/* SET and GET of `n` keys over both servers. */
static void
expect_serves(int n)
{
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%c%d:auth", 'a' + i % 26, i * 7919);
        shard_reply *r = shard_command(pool, "SET %s %d", key, i);
        cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
        cr_assert_eq(shard_reply_type(r), SHARD_REPLY_STATUS, "%s",
                     shard_reply_str(r, NULL));
        shard_reply_free(r);
        r = shard_command(pool, "GET %s", key);
        cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
        cr_expect_eq(strtol(shard_reply_str(r, NULL), NULL, 10), i);
        shard_reply_free(r);
    }
}

Test(auth, servers_without_password_are_served_with_one_warning_each)
{
    warnings = 0;
    password_shown = false;
    pool = open_pool(NULL);
    expect_serves(40);
    cr_expect_eq(warnings, 2, "one warning per server, got %d", warnings);
    cr_expect(strstr(last_warning, "redis_auth") != NULL, "%s", last_warning);
    /* SELECT still applies after the refused AUTH; then the servers drop
     * the pool's connections, and the reconnects do not warn again. */
    for (int s = 0; s < 2; s++) {
        redisContext *c = redisConnect("127.0.0.1", servers[s]->port);
        cr_assert(c != NULL && c->err == 0);
        redisReply *r = redisCommand(c, "CLIENT LIST");
        cr_assert(r != NULL && r->type == REDIS_REPLY_STRING);
        cr_expect(strstr(r->str, " db=2 ") != NULL, "%s", r->str);
        freeReplyObject(r);
        freeReplyObject(redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes"));
        redisFree(c);
    }
    usleep(100000); /* the application is idle while the server drops them */
    expect_serves(10);
    cr_expect_eq(warnings, 2);
    cr_expect(!password_shown, "the password was logged");
}

Test(auth, wrong_password_fails_naming_auth_never_the_password)
{
    const char *get[] = {"GET", "x"};
    shard_reply *r = NULL;

    password_shown = false;
    pool = open_pool("requirepass other-password\n");
    cr_expect_eq(shard_command_argv(pool, &r, 2, get, NULL), SHARD_ECONN);
    cr_expect(strstr(shard_pool_errmsg(pool), "AUTH") != NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect(strstr(shard_pool_errmsg(pool), PASSWORD) == NULL, "%s",
              shard_pool_errmsg(pool));
    cr_expect(!password_shown);
}

/* --- async ------------------------------------------------------------- */

static int calls, failures;

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)p;
    (void)reply;
    (void)userdata;
    calls++;
    failures += status != SHARD_OK;
}

Test(auth, async_commands_are_served_without_password_too)
{
    const char *set[] = {"SET", "k", "v"};

    warnings = 0;
    pool = open_pool(NULL);
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    calls = failures = 0;
    for (int i = 0; i < 10; i++)
        cr_assert_eq(shard_command_async(pool, 3, set, NULL, on_reply, NULL),
                     SHARD_OK);
    harness_loop_run(pool, &calls, 10, 5000);
    cr_expect_eq(calls, 10);
    cr_expect_eq(failures, 0, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(warnings, 1, "one warning for the one server used");
    cr_assert_eq(harness_loop_detach(pool), SHARD_OK);
}
