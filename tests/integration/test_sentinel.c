/*
 * Sentinel with real processes: three redis-sentinels, two shards of
 * master + replica. The pool finds each master through the sentinels (the
 * server lines' addresses are only the fallback), follows a failover under
 * write load (SENTINEL FAILOVER with the blocking API; a killed master
 * with the async API), keeps every key's placement, and survives the death
 * of the sentinel it listens to.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define NSENTINELS 3
#define MAX_WRITES 20000

static harness_server *master_a, *replica_a, *master_b, *replica_b;
static harness_server *sentinels[NSENTINELS];
static shard_pool *pool;
static int switches;
static long switched_at_ms; /* of the first SWITCHED event */
static char switched_to[64];

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_event(const shard_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type != SHARD_EVENT_SWITCHED)
        return;
    if (switches++ == 0) {
        switched_at_ms = now_ms();
        snprintf(switched_to, sizeof(switched_to), "%s", ev->addr);
    }
}

/* Waits until `replica` holds its master's data: a failover before that
 * would promote an empty server. */
static void
wait_in_sync(const harness_server *replica)
{
    long end = now_ms() + 20000;

    while (now_ms() < end) {
        redisContext *c = redisConnect("127.0.0.1", replica->port);
        redisReply *r =
            c && !c->err ? redisCommand(c, "INFO replication") : NULL;
        bool up = r != NULL && r->type == REDIS_REPLY_STRING &&
                  strstr(r->str, "master_link_status:up") != NULL &&
                  strstr(r->str, "master_sync_in_progress:0") != NULL;
        freeReplyObject(r);
        redisFree(c);
        if (up)
            return;
        usleep(50000);
    }
    cr_assert_fail("replica %s never synced", replica->addr);
}

/* Two shards, three sentinels (quorum 2), the pool open on them. The
 * server lines point at a port where nothing listens. */
static void
setup(void)
{
    char monitors[1024], yaml[2048];
    const char *quick = "repl-diskless-sync-delay 0\n";

    master_a = harness_redis_start(quick);
    master_b = harness_redis_start(quick);
    cr_assert(master_a != NULL && master_b != NULL);
    replica_a = harness_redis_start(
        harness_fmt("replicaof 127.0.0.1 %d\n", master_a->port));
    replica_b = harness_redis_start(
        harness_fmt("replicaof 127.0.0.1 %d\n", master_b->port));
    cr_assert(replica_a != NULL && replica_b != NULL);
    wait_in_sync(replica_a);
    wait_in_sync(replica_b);
    snprintf(monitors, sizeof(monitors),
             "sentinel monitor shard-a 127.0.0.1 %d 2\n"
             "sentinel down-after-milliseconds shard-a 1000\n"
             "sentinel failover-timeout shard-a 3000\n"
             "sentinel monitor shard-b 127.0.0.1 %d 2\n"
             "sentinel down-after-milliseconds shard-b 1000\n"
             "sentinel failover-timeout shard-b 3000\n",
             master_a->port, master_b->port);
    for (int i = 0; i < NSENTINELS; i++) {
        sentinels[i] = harness_sentinel_start_conf(monitors);
        cr_assert_not_null(sentinels[i]);
    }
    int nowhere = harness_free_port();
    snprintf(yaml, sizeof(yaml),
             "ha:\n  listen: 127.0.0.1:%d\n  redis: true\n  timeout: 500\n"
             "  read_retries: 1\n  servers:\n"
             "   - 127.0.0.1:%d:1 shard-a\n   - 127.0.0.1:%d:1 shard-b\n"
             "  sentinels:\n   - %s\n   - %s:1\n   - %s\n",
             harness_free_port(), nowhere, nowhere, sentinels[0]->addr,
             sentinels[1]->addr, sentinels[2]->addr);
    shard_options opts = SHARD_OPTIONS_INIT;
    opts.event_fn = on_event;
    switches = 0;
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

TestSuite(sentinel, .init = setup, .fini = teardown, .timeout = 120);

/* A key on shard `name` ("shard-a"). */
static const char *
key_on(const char *name, int n)
{
    for (int k = 0;; k++) {
        const char *key = harness_fmt("%s:%d:%d", name, n, k);
        int at = shard_pool_locate(pool, key, strlen(key));
        if (at >= 0 &&
            strcmp(shard_pool_server_name(pool, (size_t)at), name) == 0)
            return key;
    }
}

/* Waits until the three sentinels know each other (a failover of a dead
 * master needs the quorum and a leader). */
static void
sentinels_meet(void)
{
    long end = now_ms() + 20000;

    while (now_ms() < end) {
        int known = 0;
        for (int i = 0; i < NSENTINELS; i++) {
            redisContext *c = redisConnect("127.0.0.1", sentinels[i]->port);
            redisReply *r = c && !c->err
                                ? redisCommand(c, "SENTINEL SENTINELS shard-b")
                                : NULL;
            if (r != NULL && r->type == REDIS_REPLY_ARRAY &&
                r->elements == NSENTINELS - 1)
                known++;
            freeReplyObject(r);
            redisFree(c);
        }
        if (known == NSENTINELS)
            return;
        usleep(200000);
    }
    cr_assert_fail("the sentinels never met");
}

/* SENTINEL FAILOVER `name` through sentinel `i`. */
static void
failover(int i, const char *name)
{
    redisContext *c = redisConnect("127.0.0.1", sentinels[i]->port);

    cr_assert(c != NULL && c->err == 0);
    redisReply *r = redisCommand(c, "SENTINEL FAILOVER %s", name);
    cr_assert(r != NULL && r->type != REDIS_REPLY_ERROR, "failover %s: %s",
              name, r ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
}

static void
set_ok(const char *key, const char *value)
{
    shard_reply *r = shard_command(pool, "SET %s %s", key, value);

    cr_assert_not_null(r, "SET %s: %s", key, shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_STATUS, "SET %s: %s", key,
                 shard_reply_str(r, NULL));
    shard_reply_free(r);
}

Test(sentinel, masters_are_found_through_the_sentinels)
{
    set_ok(key_on("shard-a", 0), "a");
    set_ok(key_on("shard-b", 0), "b");
    cr_expect_str_eq(shard_pool_server_addr(pool, 0), master_a->addr);
    cr_expect_str_eq(shard_pool_server_addr(pool, 1), master_b->addr);
    cr_expect_eq(switches, 0, "where a master is at open is no switch");
}

/* One write of the load: when it was sent and whether it was acknowledged. */
typedef struct write_rec {
    const char *key;
    long sent_ms, acked_ms;
    bool acked;
} write_rec;

static write_rec writes[MAX_WRITES];
static int nwrites;

/* Every write acknowledged before `from_ms` or after `until_ms` must read
 * back: returns how many do not. */
static int
lost_writes(long from_ms, long until_ms)
{
    int lost = 0;

    for (int i = 0; i < nwrites; i++) {
        const write_rec *w = &writes[i];
        if (!w->acked || (w->acked_ms >= from_ms && w->sent_ms < until_ms))
            continue;
        shard_reply *r = shard_command(pool, "GET %s", w->key);
        if (r == NULL || shard_reply_type(r) != SHARD_REPLY_STRING) {
            if (lost++ < 5)
                cr_log_warn("lost %s: sent %+ld ms acked %+ld ms after the "
                            "fault; switch at %+ld ms",
                            w->key, w->sent_ms - from_ms, w->acked_ms - from_ms,
                            switched_at_ms - from_ms);
        }
        shard_reply_free(r);
    }
    return lost;
}

/* The longest stretch during which writes to `shard` failed, in ms. */
static long
longest_outage(const char *shard)
{
    long worst = 0, down_since = -1;

    for (int i = 0; i < nwrites; i++) {
        if (strncmp(writes[i].key, shard, strlen(shard)) != 0)
            continue;
        if (!writes[i].acked && down_since < 0)
            down_since = writes[i].sent_ms;
        if (writes[i].acked && down_since >= 0) {
            if (writes[i].acked_ms - down_since > worst)
                worst = writes[i].acked_ms - down_since;
            down_since = -1;
        }
    }
    return down_since >= 0 ? 1000000 : worst;
}

Test(sentinel, a_failover_under_blocking_writes_loses_nothing_acknowledged)
{
    int before_a = shard_pool_locate(pool, "placement", 9);
    long failover_ms = 0;

    nwrites = 0;
    long start = now_ms();
    while (nwrites < MAX_WRITES &&
           (switches == 0 || now_ms() < switched_at_ms + 2500) &&
           now_ms() < start + 30000) {
        if (failover_ms == 0 && now_ms() > start + 800) {
            failover_ms = now_ms();
            failover(1, "shard-a");
        }
        write_rec *w = &writes[nwrites];
        w->key = key_on(nwrites % 2 ? "shard-b" : "shard-a", nwrites);
        w->sent_ms = now_ms();
        shard_reply *r = shard_command(pool, "SET %s v", w->key);
        w->acked = r != NULL && shard_reply_type(r) == SHARD_REPLY_STATUS;
        w->acked_ms = now_ms();
        shard_reply_free(r);
        nwrites++;
        usleep(2000);
    }
    cr_assert_geq(switches, 1, "no switch seen");
    cr_expect_str_eq(switched_to, replica_a->addr);
    cr_expect_str_eq(shard_pool_server_addr(pool, 0), replica_a->addr);
    cr_expect_eq(shard_pool_locate(pool, "placement", 9), before_a);
    int lost = lost_writes(failover_ms, switched_at_ms + 1000);
    cr_expect_eq(lost, 0, "%d acknowledged writes lost of %d", lost, nwrites);
    long outage = longest_outage("shard-a");
    cr_log_info("shard-a: writes failed for %ld ms; switch seen %ld ms after "
                "SENTINEL FAILOVER",
                outage, switched_at_ms - failover_ms);
    cr_expect_lt(outage, 3000, "writes to shard-a failed for %ld ms", outage);
    cr_expect_eq(longest_outage("shard-b"), 0, "shard-b was never down");
}

typedef struct async_write {
    write_rec *rec;
    int calls;
} async_write;

static async_write pending[MAX_WRITES];
static int callbacks;

static void
on_set(shard_pool *p, const shard_reply *reply, int status, void *userdata)
{
    async_write *a = userdata;

    (void)p;
    a->calls++;
    callbacks++;
    a->rec->acked =
        status == SHARD_OK && shard_reply_type(reply) == SHARD_REPLY_STATUS;
    a->rec->acked_ms = now_ms();
}

Test(sentinel, a_killed_master_under_async_writes_loses_nothing_acknowledged)
{
    int never = 0;

    sentinels_meet();
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    nwrites = 0;
    callbacks = 0;
    long start = now_ms(), killed_ms = 0;
    while (nwrites < MAX_WRITES &&
           (switches == 0 || now_ms() < switched_at_ms + 2500) &&
           now_ms() < start + 40000) {
        if (killed_ms == 0 && now_ms() > start + 800) {
            killed_ms = now_ms();
            harness_kill(master_b);
        }
        for (int k = 0; k < 4 && nwrites < MAX_WRITES; k++) {
            write_rec *w = &writes[nwrites];
            w->key = key_on(nwrites % 2 ? "shard-b" : "shard-a", nwrites);
            w->sent_ms = now_ms();
            pending[nwrites] = (async_write){w, 0};
            const char *argv[] = {"SET", w->key, "v"};
            cr_assert_eq(shard_command_async(pool, 3, argv, NULL, on_set,
                                             &pending[nwrites]),
                         SHARD_OK);
            nwrites++;
        }
        harness_loop_run(pool, &never, 1, 5);
    }
    harness_loop_run(pool, &callbacks, nwrites, 5000);
    cr_assert_eq(shard_pool_pending(pool), 0);
    for (int i = 0; i < nwrites; i++)
        cr_assert_eq(pending[i].calls, 1, "write %d called back %d times", i,
                     pending[i].calls);
    cr_assert_geq(switches, 1, "no switch seen");
    cr_expect_str_eq(shard_pool_server_addr(pool, 1), replica_b->addr);
    cr_expect_eq(harness_loop_detach(pool), SHARD_OK);
    int lost = lost_writes(killed_ms, switched_at_ms + 1000);
    cr_expect_eq(lost, 0, "%d acknowledged writes lost of %d", lost, nwrites);
    cr_expect_eq(longest_outage("shard-a"), 0, "shard-a was never down");
    long outage = longest_outage("shard-b");
    cr_log_info("shard-b: writes failed for %ld ms; failover seen %ld ms "
                "after the kill",
                outage, switched_at_ms - killed_ms);
    /* The outage is the failover's own (down-after 1000 ms, then the
     * sentinels' vote and the promotion); libshard adds only the moment
     * between +switch-master and its next write. */
    cr_expect_lt(outage - (switched_at_ms - killed_ms), 1000,
                 "writes failed %ld ms, %ld ms after the switch", outage,
                 outage - (switched_at_ms - killed_ms));
}

Test(sentinel, the_sentinel_listened_to_may_die)
{
    set_ok(key_on("shard-a", 0), "before");
    harness_kill(sentinels[0]);
    /* Requests go on; the subscription moves to another sentinel. */
    for (int i = 0; i < 30; i++) {
        set_ok(key_on("shard-b", i), "during");
        usleep(50000);
    }
    failover(2, "shard-a");
    long end = now_ms() + 15000;
    while (switches == 0 && now_ms() < end) {
        shard_reply_free(shard_command(pool, "GET %s", key_on("shard-b", 0)));
        usleep(50000);
    }
    cr_assert_geq(switches, 1, "the failover was not followed");
    cr_expect_str_eq(shard_pool_server_addr(pool, 0), replica_a->addr);
    end = now_ms() + 3000;
    shard_reply *r = NULL;
    while (now_ms() < end) {
        r = shard_command(pool, "SET %s after", key_on("shard-a", 0));
        if (r != NULL && shard_reply_type(r) == SHARD_REPLY_STATUS)
            break;
        shard_reply_free(r);
        r = NULL;
        usleep(50000);
    }
    cr_expect_not_null(r, "writes to the new master failed");
    shard_reply_free(r);
}

/* Connections subscribed to a channel on sentinel `i` (CLIENT LIST). */
static int
subscribers_on(int i)
{
    redisContext *c = redisConnect("127.0.0.1", sentinels[i]->port);
    int n = 0;

    cr_assert(c != NULL && c->err == 0);
    redisReply *r = redisCommand(c, "CLIENT LIST");
    cr_assert(r != NULL && r->type == REDIS_REPLY_STRING, "CLIENT LIST: %s",
              r ? r->str : c->errstr);
    for (const char *p = r->str; (p = strstr(p, " sub=")) != NULL; p += 5)
        n += p[5] != '0';
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* The pool's config with the sentinels `list` (indices, -1 ends it). */
static const char *
config_with_sentinels(const int *list)
{
    char yaml[2048];
    int used =
        snprintf(yaml, sizeof(yaml),
                 "ha:\n  listen: 127.0.0.1:%d\n  redis: true\n"
                 "  timeout: 500\n  read_retries: 1\n  servers:\n"
                 "   - 127.0.0.1:%d:1 shard-a\n"
                 "   - 127.0.0.1:%d:1 shard-b\n",
                 harness_free_port(), harness_free_port(), harness_free_port());

    if (list[0] >= 0)
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "  sentinels:\n");
    for (int k = 0; list[k] >= 0; k++)
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used, "   - %s\n",
                         sentinels[list[k]]->addr);
    return harness_fmt("%s", yaml);
}

/* Sends commands until sentinel `i` has `want` subscribers of the pool. */
static bool
wait_subscribers(int i, int want)
{
    long end = now_ms() + 5000;

    while (now_ms() < end) {
        if (subscribers_on(i) == want)
            return true;
        shard_reply_free(shard_command(pool, "GET %s", key_on("shard-b", 0)));
        usleep(50000);
    }
    return false;
}

Test(sentinel, a_reload_moves_to_its_sentinels)
{
    set_ok(key_on("shard-a", 0), "before");
    cr_assert(wait_subscribers(0, 1), "subscribed to the first sentinel");
    /* The same sentinels: the subscription stays where it is. */
    const char *same = config_with_sentinels((const int[]){0, 1, 2, -1});
    cr_assert_eq(shard_pool_reload_string(pool, same, strlen(same)), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    cr_expect_eq(subscribers_on(0), 1);
    /* Without the first: it moves to one of the others. */
    const char *other = config_with_sentinels((const int[]){2, 1, -1});
    cr_assert_eq(shard_pool_reload_string(pool, other, strlen(other)), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    cr_expect(wait_subscribers(0, 0), "still listening to a dropped sentinel");
    long end = now_ms() + 5000;
    while (subscribers_on(1) + subscribers_on(2) != 1 && now_ms() < end)
        shard_reply_free(shard_command(pool, "GET %s", key_on("shard-b", 0)));
    cr_expect_eq(subscribers_on(1) + subscribers_on(2), 1);
    /* The masters were asked again: placement and addresses unchanged. */
    cr_expect_str_eq(shard_pool_server_addr(pool, 0), master_a->addr);
    set_ok(key_on("shard-a", 0), "after");
    /* Following Sentinel or not is the pool's for good. */
    const char *none = config_with_sentinels((const int[]){-1});
    cr_expect_eq(shard_pool_reload_string(pool, none, strlen(none)),
                 SHARD_ECONFIG);
    cr_expect(strstr(shard_pool_errmsg(pool), "drops \"sentinels:\"") != NULL,
              "%s", shard_pool_errmsg(pool));
    /* A failover told only by a sentinel of the new list is followed
     * (once that sentinel knows the replica: NOGOODSLAVE until then). */
    end = now_ms() + 15000;
    for (;;) {
        redisContext *c = redisConnect("127.0.0.1", sentinels[2]->port);
        cr_assert(c != NULL && c->err == 0);
        redisReply *r = redisCommand(c, "SENTINEL FAILOVER shard-a");
        bool started = r != NULL && r->type != REDIS_REPLY_ERROR;
        cr_assert(started || now_ms() < end, "failover: %s",
                  r ? r->str : c->errstr);
        freeReplyObject(r);
        redisFree(c);
        if (started)
            break;
        usleep(200000);
    }
    end = now_ms() + 15000;
    while (switches == 0 && now_ms() < end) {
        shard_reply_free(shard_command(pool, "GET %s", key_on("shard-b", 0)));
        usleep(50000);
    }
    cr_assert_geq(switches, 1, "the failover was not followed");
    /* A reload keeps the address Sentinel gave, not the file's. */
    cr_assert_eq(shard_pool_reload_string(pool, other, strlen(other)), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_pool_server_addr(pool, 0), replica_a->addr);
    set_ok(key_on("shard-a", 0), "after the reload");
}
