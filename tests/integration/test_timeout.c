/*
 * `timeout` is the server's silence, not the application's: time before a
 * request could be written and time the application kept the engine from
 * running never count, so a healthy server is never timed out (nor
 * ejected) because the application was busy; a silent one still is.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

static harness_server *server;
static shard_pool *pool;
static int ejections;

static void
on_log(int level, const char *message, void *userdata)
{
    (void)userdata;
    if (level == SHARD_LOG_WARN && strstr(message, "ejected") != NULL)
        ejections++;
}

static void
open_pool(int timeout_ms)
{
    char yaml[1024];
    shard_options opts = SHARD_OPTIONS_INIT;

    server = harness_redis_start(NULL);
    cr_assert_not_null(server);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: %d\n"
             "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
             "  server_retry_timeout: 30000\n  servers:\n   - %s:1\n",
             harness_free_port(), timeout_ms, server->addr);
    opts.log_fn = on_log;
    ejections = 0;
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(timeout, .fini = teardown, .timeout = 120);

static void
expect_value(const char *key, const char *want)
{
    shard_reply *r = shard_command(pool, "GET %s", key);

    cr_assert_not_null(r, "GET %s: %s", key, shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(r, NULL), want);
    shard_reply_free(r);
}

Test(timeout, busy_application_between_append_and_read_is_not_a_timeout)
{
    const char *set[] = {"SET", "user:200", "v2"};
    shard_reply *r = NULL;

    open_pool(400);
    shard_reply_free(shard_command(pool, "SET %s %s", "user:200", "v1"));
    cr_assert_eq(shard_append_argv(pool, 3, set, NULL), SHARD_OK);
    usleep(600000); /* other work */
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    shard_reply_free(r);
    expect_value("user:200", "v2");
    cr_expect_eq(ejections, 0, "a healthy server was ejected");
}

Test(timeout, busy_application_after_the_write_is_not_a_timeout)
{
    const char *get[] = {"GET", "k"};
    shard_reply *r = NULL;

    open_pool(400);
    shard_reply_free(shard_command(pool, "SET %s %s", "k", "v"));
    cr_assert_eq(shard_append_argv(pool, 2, get, NULL), SHARD_OK);
    cr_assert_eq(shard_append_argv(pool, 2, get, NULL), SHARD_OK);
    /* The first read writes both; the second reply waits while we work. */
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
    shard_reply_free(r);
    usleep(600000);
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(r, NULL), "v");
    shard_reply_free(r);
    cr_expect_eq(ejections, 0);
}

Test(timeout, many_appended_requests_all_succeed)
{
    enum { N = 200000 };
    const char *incr[] = {"INCR", "n"};
    shard_reply *r = NULL;

    /* Appending them, then more work, takes longer than the timeout: none
     * of it is the server's silence. */
    open_pool(250);
    for (int i = 0; i < N; i++)
        cr_assert_eq(shard_append_argv(pool, 2, incr, NULL), SHARD_OK);
    usleep(300000);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK, "reply %d: %s", i,
                     shard_pool_errmsg(pool));
        cr_assert_eq(shard_reply_integer(r), i + 1);
        shard_reply_free(r);
    }
    cr_expect_eq(ejections, 0);
}

Test(timeout, a_huge_argument_to_a_reading_server_is_not_a_timeout)
{
    size_t len = (size_t)256 << 20;
    char *value = malloc(len);
    const char *set[] = {"SET", "big", value};
    const size_t lens[] = {3, 3, len};
    shard_reply *r = NULL;

    cr_assert_not_null(value);
    memset(value, 'x', len);
    open_pool(200); /* writing 256 MiB takes longer than that */
    cr_assert_eq(shard_command_argv(pool, &r, 3, set, lens), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STATUS);
    shard_reply_free(r);
    free(value);
    r = shard_command(pool, "STRLEN %s", "big");
    cr_assert_not_null(r);
    cr_expect_eq(shard_reply_integer(r), (long long)len);
    shard_reply_free(r);
}

Test(timeout, a_silent_server_still_times_out)
{
    const char *get[] = {"GET", "k"};
    shard_reply *r = NULL;

    open_pool(300);
    shard_reply_free(shard_command(pool, "SET %s %s", "k", "v"));
    harness_pause(server);
    cr_expect_eq(shard_command_argv(pool, &r, 2, get, NULL), SHARD_ETIMEDOUT);
    cr_expect(strstr(shard_pool_errmsg(pool), "timed out after 300 ms") != NULL,
              "%s", shard_pool_errmsg(pool));
    harness_resume(server);
    cr_expect_eq(ejections, 1);
}

/* A server that answers a command with an array announced as two billion
 * items long and sends items at 4 MB/s, never pausing, until 16 MB are out
 * (a bound for the test's sake) or the client is gone: `arg` listens. */
static void *
stream_without_end(void *arg)
{
    int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
    char items[4096], buf[256];

    if (fd < 0)
        return NULL;
    for (size_t i = 0; i + 4 <= sizeof(items); i += 4)
        memcpy(items + i, ":1\r\n", 4);
    (void)read(fd, buf, sizeof(buf)); /* the command */
    if (write(fd, "*2000000000\r\n", 13) == 13) {
        for (int n = 0; n < 4096; n++) {
            if (send(fd, items, sizeof(items), MSG_NOSIGNAL) <= 0)
                break;
            usleep(1000);
        }
    }
    close(fd);
    return NULL;
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Bytes that keep coming without ever making a whole reply are not the
 * server's progress: the request times out, and the reply stops growing
 * (before, it grew by gigabytes until the server closed). */
Test(timeout, a_reply_without_end_still_times_out)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    pthread_t t;
    char yaml[512];
    shard_reply *r = NULL;
    const char *get[] = {"GET", "k"};

    cr_assert(lfd >= 0 && bind(lfd, (struct sockaddr *)&sin, len) == 0 &&
              listen(lfd, 1) == 0 &&
              getsockname(lfd, (struct sockaddr *)&sin, &len) == 0);
    cr_assert_eq(pthread_create(&t, NULL, stream_without_end, &lfd), 0);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 300\n"
             "  servers:\n   - 127.0.0.1:%d:1\n",
             harness_free_port(), ntohs(sin.sin_port));
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    long t0 = now_ms();
    cr_expect_eq(shard_command_argv(pool, &r, 2, get, NULL), SHARD_ETIMEDOUT,
                 "%s", shard_pool_errmsg(pool));
    long took = now_ms() - t0;
    cr_expect_lt(took, 2000, "the endless reply was read for %ld ms", took);
    cr_expect(strstr(shard_pool_errmsg(pool), "timed out after 300 ms") != NULL,
              "%s", shard_pool_errmsg(pool));
    shard_pool_free(pool); /* the server's sends fail: its thread ends */
    pool = NULL;
    pthread_join(t, NULL);
    close(lfd);
}

/* --- async ------------------------------------------------------------- */

static int calls, failures;

static void
slow_callback(shard_pool *p, const shard_reply *reply, int status,
              void *userdata)
{
    const char *get[] = {"GET", "k"};

    (void)reply;
    (void)userdata;
    if (status != SHARD_OK)
        failures++;
    if (calls++ > 0)
        return;
    /* The next request goes out, then the callback blocks the loop. */
    cr_expect_eq(shard_command_async(p, 2, get, NULL, slow_callback, NULL),
                 SHARD_OK);
    usleep(600000);
}

/* The harness loop fires a due timer before it polls: the worst case. */
Test(timeout, a_blocking_callback_is_not_the_servers_silence)
{
    const char *get[] = {"GET", "k"};

    open_pool(400);
    calls = failures = 0;
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    cr_assert_eq(shard_command_async(pool, 2, get, NULL, slow_callback, NULL),
                 SHARD_OK);
    cr_assert_eq(harness_loop_run(pool, &calls, 2, 5000), 2);
    cr_expect_eq(failures, 0, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(ejections, 0);
}
