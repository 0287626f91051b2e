/*
 * SORT and SORT_RO with BY and GET patterns: the keys a pattern names must
 * be on the sorted key's server, pinned there by a hash tag before the
 * '*'; otherwise an ERROR naming the pattern (they silently read nils
 * before), in the blocking, async and transaction paths.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"

static shard_pool *pool;
static char other_tag[16]; /* a tag on the other server than {t} */

static void
setup(void)
{
    harness_server *a = harness_redis_start(NULL);
    harness_server *b = harness_redis_start(NULL);
    char yaml[1024];

    cr_assert(a != NULL && b != NULL);
    snprintf(yaml, sizeof(yaml),
             "t:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 2000\n"
             "  hash_tag: \"{}\"\n  servers:\n   - %s:1\n   - %s:1\n",
             harness_free_port(), a->addr, b->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    int home = shard_pool_locate(pool, "t", 1);
    for (int i = 0; i < 1000; i++) {
        snprintf(other_tag, sizeof(other_tag), "u%d", i);
        if (shard_pool_locate(pool, other_tag, strlen(other_tag)) != home)
            break;
    }
    shard_reply_free(shard_command(pool, "RPUSH {t}l 3 1 2"));
    for (int i = 1; i <= 3; i++) {
        shard_reply_free(shard_command(pool, "SET {t}w_%d %d", i, 10 - i));
        shard_reply_free(shard_command(pool, "SET {t}d_%d data%d", i, i));
    }
}

static void
teardown(void)
{
    shard_pool_free(pool);
    harness_stop_all();
}

TestSuite(sort, .init = setup, .fini = teardown, .timeout = 30);

static shard_reply *
sort(int argc, const char **argv)
{
    shard_reply *r = NULL;

    cr_assert_eq(shard_command_argv(pool, &r, argc, argv, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    return r;
}

static void
expect_refused(shard_reply *r, const char *text)
{
    const char *s = shard_reply_str(r, NULL);

    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR, "not refused: %s",
                 s ? s : "(array)");
    cr_expect(s != NULL && strstr(s, text) != NULL, "'%s' lacks '%s'", s, text);
    shard_reply_free(r);
}

Test(sort, untagged_patterns_are_refused)
{
    const char *by[] = {"SORT", "{t}l", "BY", "w_*"};
    const char *get[] = {"SORT", "{t}l", "GET", "d_*"};
    const char *ro[] = {"SORT_RO", "{t}l", "BY", "w_*", "GET", "#"};

    expect_refused(sort(4, by), "pattern 'w_*'");
    expect_refused(sort(4, get), "pattern 'd_*'");
    expect_refused(sort(6, ro), "pattern 'w_*'");
}

Test(sort, a_tag_after_the_star_does_not_pin)
{
    const char *get[] = {"SORT", "{t}l", "GET", "d_*{t}"};

    expect_refused(sort(4, get), "hash tag before");
}

Test(sort, patterns_pinned_elsewhere_are_refused)
{
    char by[32];
    const char *argv[] = {"SORT", "{t}l", "BY", by};

    snprintf(by, sizeof(by), "{%s}w_*", other_tag);
    expect_refused(sort(4, argv), "not on the sorted key's server");
}

Test(sort, patterns_pinned_to_the_key_run)
{
    const char *argv[] = {"SORT", "{t}l", "BY",  "{t}w_*",
                          "GET",  "#",    "GET", "{t}d_*"};
    shard_reply *r = sort(8, argv);

    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "%s",
                 shard_reply_str(r, NULL));
    /* Weights 10 - i: element 3 first. */
    const char *want[] = {"3", "data3", "2", "data2", "1", "data1"};
    cr_assert_eq(shard_reply_len(r), 6);
    for (size_t i = 0; i < 6; i++)
        cr_expect_str_eq(shard_reply_str(shard_reply_at(r, i), NULL), want[i]);
    shard_reply_free(r);
}

Test(sort, patterns_that_read_nothing_run)
{
    const char *nosort[] = {"SORT", "{t}l", "BY", "nosort", "GET", "#"};
    shard_reply *r = sort(6, nosort);

    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY);
    cr_expect_eq(shard_reply_len(r), 3);
    shard_reply_free(r);
}

Test(sort, transactions_refuse_unpinned_patterns)
{
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    const char *bad[] = {"SORT", "{t}l", "GET", "d_*"};
    shard_reply *r = NULL;
    shard_txn *t;

    cr_assert_eq(shard_txn_begin(pool, &t, "{t}l", 4), SHARD_OK);
    cr_assert_eq(shard_txn_command_argv(t, &r, 1, multi, NULL), SHARD_OK);
    shard_reply_free(r);
    cr_assert_eq(shard_txn_command_argv(t, &r, 4, bad, NULL), SHARD_OK);
    expect_refused(r, "pattern 'd_*'");
    cr_assert_eq(shard_txn_command_argv(t, &r, 1, exec, NULL), SHARD_OK);
    expect_refused(r, "EXECABORT");
    shard_txn_free(t);
}

static void
noop_watch(int fd, int events, void **watch_data, void *userdata)
{
    (void)fd;
    (void)events;
    (void)watch_data;
    (void)userdata;
}

static void
noop_timer(long ms, void *userdata)
{
    (void)ms;
    (void)userdata;
}

static int calls;
static char async_text[256];

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    (void)p;
    (void)userdata;
    calls++;
    cr_expect_eq(status, SHARD_OK);
    cr_expect_eq(shard_reply_type(reply), SHARD_REPLY_ERROR);
    snprintf(async_text, sizeof(async_text), "%s",
             shard_reply_str(reply, NULL) ? shard_reply_str(reply, NULL) : "");
}

Test(sort, async_refuses_unpinned_patterns)
{
    const char *bad[] = {"SORT", "{t}l", "BY", "w_*"};

    cr_assert_eq(shard_pool_set_event_hooks(pool, noop_watch, noop_timer, NULL),
                 SHARD_OK);
    cr_assert_eq(shard_command_async(pool, 4, bad, NULL, on_reply, NULL),
                 SHARD_OK);
    shard_pool_on_timeout(pool); /* a refusal is delivered by the loop */
    cr_assert_eq(calls, 1);
    cr_expect(strstr(async_text, "pattern 'w_*'") != NULL, "%s", async_text);
}
