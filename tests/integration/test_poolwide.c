/*
 * Pool-wide commands through a pool of three real redis-servers. SCAN
 * walks every server with the pool's cursor: every key at least once with
 * several COUNT, MATCH and TYPE values, across pool handles of the same
 * config, and never past a server it could not read (a cursor to resume
 * there, another to skip it); cursors of another config or damaged are
 * refused. SCRIPT LOAD makes EVALSHA work for keys of every server;
 * DBSIZE is the sum of the servers'; FLUSHDB and FLUSHALL empty every
 * server (of the pool's database only); KEYS concatenates; RANDOMKEY is
 * nil only for an empty pool. A failed server is named; every server has
 * the command before any reply is read; only reads are retried.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"

#define NSERVERS 3
#define NKEYS 10000
#define NOTHER 100 /* keys outside the "scan:" pattern */
#define NHASH 20   /* hashes, for TYPE */
#define MAX_CALLS 50000

static harness_server *servers[NSERVERS]; /* by pool index */
static shard_pool *pool;
static char yaml[2048];
static char key_on[NSERVERS][32]; /* a key on each server */

/* Opens pool "p" over three fresh servers with `directives`. */
static void
open_pool(const char *directives)
{
    harness_server *started[NSERVERS];
    int used;

    used = snprintf(yaml, sizeof(yaml),
                    "p:\n  listen: 127.0.0.1:%d\n  redis: true\n%s"
                    "  servers:\n",
                    harness_free_port(), directives);
    for (int i = 0; i < NSERVERS; i++) {
        started[i] = harness_redis_start(NULL);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
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
            snprintf(key_on[s], sizeof(key_on[s]), "key:%d", n);
            if (shard_pool_locate(pool, key_on[s], strlen(key_on[s])) == s)
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

TestSuite(poolwide, .fini = teardown, .timeout = 60);

static const char *
text(const shard_reply *r)
{
    const char *s = shard_reply_str(r, NULL);
    return s != NULL ? s : "(none)";
}

/* Sends the NULL-terminated words through `p`; asserts SHARD_OK. */
static shard_reply *
run_on(shard_pool *p, const char *first, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    shard_reply *r = NULL;

    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 16; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    cr_assert_eq(shard_command_argv(p, &r, argc, argv, NULL), SHARD_OK,
                 "%s: %s", first, shard_pool_errmsg(p));
    return r;
}

#define run(...) run_on(pool, __VA_ARGS__, NULL)

/* DBSIZE of pool server `s`, asked directly. */
static long long
server_dbsize(size_t s)
{
    shard_reply *r = shard_command_server(pool, s, "DBSIZE");

    cr_assert_not_null(r, "%s", shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_INTEGER, "%s", text(r));
    long long n = shard_reply_integer(r);
    shard_reply_free(r);
    return n;
}

/* NKEYS strings "scan:NNNNN", NOTHER "other:N" and NHASH hashes "h:N",
 * pipelined in MSETs of 100 keys. */
static void
fill(void)
{
    char names[100][24];
    const char *argv[1 + 2 * 100];
    shard_reply *r;
    int batches = 0;

    argv[0] = "MSET";
    for (int b = 0; b < NKEYS + NOTHER; b += 100, batches++) {
        for (int i = 0; i < 100; i++) {
            if (b + i < NKEYS)
                snprintf(names[i], sizeof(names[i]), "scan:%05d", b + i);
            else
                snprintf(names[i], sizeof(names[i]), "other:%d", b + i - NKEYS);
            argv[1 + 2 * i] = argv[2 + 2 * i] = names[i];
        }
        cr_assert_eq(shard_append_argv(pool, 1 + 2 * 100, argv, NULL),
                     SHARD_OK);
    }
    for (int i = 0; i < batches; i++) {
        cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK, "%s",
                     shard_pool_errmsg(pool));
        cr_assert_str_eq(text(r), "OK");
        shard_reply_free(r);
    }
    for (int i = 0; i < NHASH; i++) {
        char h[16];
        snprintf(h, sizeof(h), "h:%d", i);
        shard_reply_free(run("HSET", h, "f", "v"));
    }
    for (size_t s = 0; s < NSERVERS; s++)
        cr_assert_gt(server_dbsize(s), 0, "server %zu got no key", s);
}

/* What a SCAN walk saw. */
typedef struct walk {
    int seen[NKEYS];    /* times each "scan:" key came back */
    int other;          /* "other:" keys */
    int hashes;         /* "h:" keys */
    int keyed;          /* "key:" keys (key_on) */
    int calls;          /* SCAN calls */
    unsigned on_server; /* bit per server index the cursors carried */
    char stopped[32];   /* the cursor of a call that failed */
    char errmsg[512];   /* and its message */
    int status;         /* SHARD_OK, or the failed call's code */
} walk;

static void
count_key(walk *w, const shard_reply *k)
{
    const char *s = text(k);

    if (strncmp(s, "scan:", 5) == 0) {
        int i = (int)strtol(s + 5, NULL, 10);
        cr_assert(i >= 0 && i < NKEYS, "%s", s);
        w->seen[i]++;
    } else if (strncmp(s, "other:", 6) == 0) {
        w->other++;
    } else if (strncmp(s, "h:", 2) == 0) {
        w->hashes++;
    } else if (strncmp(s, "key:", 4) == 0) {
        w->keyed++;
    } else {
        cr_assert_fail("unexpected key '%s'", s);
    }
}

/*
 * SCAN from `cursor` with the options in `opts` (NULL-terminated) until
 * the cursor is "0" again or a call fails (w->status, w->stopped).
 */
static void
scan_on(shard_pool *p, walk *w, const char *cursor, const char *const *opts)
{
    char cur[32];
    const char *argv[12] = {"SCAN", cur};
    int argc = 2;

    snprintf(cur, sizeof(cur), "%s", cursor);
    for (int i = 0; opts != NULL && opts[i] != NULL && argc < 12; i++)
        argv[argc++] = opts[i];
    do {
        shard_reply *r = NULL;
        int rc = shard_command_argv(p, &r, argc, argv, NULL);
        if (rc != SHARD_OK) {
            w->status = rc;
            snprintf(w->stopped, sizeof(w->stopped), "%s", cur);
            snprintf(w->errmsg, sizeof(w->errmsg), "%s", shard_pool_errmsg(p));
            return;
        }
        cr_assert_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "%s", text(r));
        cr_assert_eq(shard_reply_len(r), 2);
        const shard_reply *keys = shard_reply_at(r, 1);
        for (size_t i = 0; i < shard_reply_len(keys); i++)
            count_key(w, shard_reply_at(keys, i));
        snprintf(cur, sizeof(cur), "%s", text(shard_reply_at(r, 0)));
        w->on_server |= 1u << (strtoull(cur, NULL, 10) >> 52);
        shard_reply_free(r);
        cr_assert_lt(++w->calls, MAX_CALLS, "the walk does not end");
    } while (strcmp(cur, "0") != 0);
    w->status = SHARD_OK;
}

static void
expect_every_key(const walk *w, int from, int to, const char *what)
{
    for (int i = from; i < to; i++)
        cr_assert_geq(w->seen[i], 1, "%s: scan:%05d never came", what, i);
}

/* --- SCAN ----------------------------------------------------------------- */

Test(poolwide, scan_returns_every_key_of_every_server_at_least_once)
{
    static const char *const count7[] = {"COUNT", "7", NULL};
    static const char *const count100[] = {"COUNT", "100", NULL};
    static const char *const count5000[] = {"COUNT", "5000", NULL};
    static const char *const *const counts[] = {NULL, count7, count100,
                                                count5000};
    static walk w;

    open_pool("  timeout: 2000\n");
    fill();
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        memset(&w, 0, sizeof(w));
        scan_on(pool, &w, "0", counts[c]);
        cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
        expect_every_key(&w, 0, NKEYS, "no MATCH");
        cr_expect_eq(w.other, NOTHER);
        cr_expect_eq(w.hashes, NHASH);
        /* The cursor went through every server, by index (bits 63..52). */
        cr_expect_eq(w.on_server, 7u, "servers in cursors: %x", w.on_server);
    }
}

Test(poolwide, scan_match_and_type_filter_on_every_server)
{
    static const char *const all[] = {"MATCH", "scan:*", "COUNT", "50", NULL};
    static const char *const some[] = {"MATCH", "scan:001*", NULL};
    static const char *const hashes[] = {"TYPE", "hash", "COUNT", "200", NULL};
    static walk w;

    open_pool("  timeout: 2000\n");
    fill();
    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, "0", all);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    expect_every_key(&w, 0, NKEYS, "MATCH scan:*");
    cr_expect_eq(w.other + w.hashes, 0, "keys outside the pattern");

    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, "0", some);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    expect_every_key(&w, 100, 200, "MATCH scan:001*");
    for (int i = 0; i < NKEYS; i++)
        cr_expect(w.seen[i] == 0 || (i >= 100 && i < 200), "scan:%05d", i);

    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, "0", hashes);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    cr_expect_eq(w.hashes, NHASH);
    cr_expect_eq(w.other, 0);
}

/* Walks from 0 until a cursor lands on server `s` mid-walk (counting the
 * keys into `w`, when not NULL); that cursor into `out`. */
static void
cursor_on_server(char *out, size_t len, size_t s, walk *w)
{
    char cur[32] = "0";

    for (int calls = 0; calls < MAX_CALLS; calls++) {
        shard_reply *r = run("SCAN", cur, "COUNT", "10");
        const shard_reply *keys = shard_reply_at(r, 1);
        for (size_t i = 0; w != NULL && i < shard_reply_len(keys); i++)
            count_key(w, shard_reply_at(keys, i));
        snprintf(cur, sizeof(cur), "%s", text(shard_reply_at(r, 0)));
        shard_reply_free(r);
        uint64_t v = strtoull(cur, NULL, 10);
        if ((v >> 52) == s && (v & ((1ULL << 36) - 1)) != 0) {
            snprintf(out, len, "%s", cur);
            return;
        }
        cr_assert_str_neq(cur, "0", "never on server %zu mid-walk", s);
    }
}

Test(poolwide, scan_goes_on_in_another_pool_of_the_same_config)
{
    static walk w;
    char cur[32];
    shard_pool *again = NULL;

    open_pool("  timeout: 2000\n");
    fill();
    cursor_on_server(cur, sizeof(cur), 1, NULL);
    /* Another handle of the same config (another process would hash the
     * same config the same way): it takes the cursor on. */
    cr_assert_eq(shard_pool_open_string(&again, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK);
    memset(&w, 0, sizeof(w));
    scan_on(again, &w, cur, NULL);
    shard_pool_free(again);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    cr_expect_eq(w.on_server & 4u, 4u, "the walk reached server 2");
}

Test(poolwide, scan_refuses_cursors_of_another_config_and_damaged_ones)
{
    char cur[32], bad[32], other_yaml[2048];
    shard_pool *other = NULL;

    open_pool("  timeout: 2000\n");
    fill();
    cursor_on_server(cur, sizeof(cur), 2, NULL);
    uint64_t v = strtoull(cur, NULL, 10);
    const uint64_t damaged[] = {
        v ^ (0xffffULL << 36),                  /* every check bit */
        v ^ (1ULL << 36),                       /* one check bit */
        (v & ~(0xfffULL << 52)) | (3ULL << 52), /* a fourth server */
        v ^ (1ULL << 63),                       /* server 2050 */
    };
    for (size_t i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
        snprintf(bad, sizeof(bad), "%" PRIu64, damaged[i]);
        shard_reply *r = run("SCAN", bad);
        cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR, "%s took", bad);
        cr_expect(strncmp(text(r), "ERR invalid cursor", 18) == 0, "%s",
                  text(r));
        shard_reply_free(r);
    }
    const char *not_numbers[] = {"abc", "-1", "",
                                 " 1",  "1x", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
        shard_reply *r = run("SCAN", not_numbers[i]);
        cr_expect_str_eq(text(r), "ERR invalid cursor", "'%s'", not_numbers[i]);
        shard_reply_free(r);
    }
    /* The same servers, another database: another walk. The check has 16
     * bits, so this could pass once in 65,536 runs. */
    const char *list = strstr(yaml, "  servers:");
    cr_assert_not_null(list);
    snprintf(other_yaml, sizeof(other_yaml), "%.*s  redis_db: 1\n%s",
             (int)(list - yaml), yaml, list);
    cr_assert_eq(shard_pool_open_string(&other, other_yaml, strlen(other_yaml),
                                        NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    shard_reply *r = run_on(other, "SCAN", cur, NULL);
    cr_expect(strstr(text(r), "invalid cursor") != NULL, "%s", text(r));
    shard_reply_free(r);
    r = run_on(other, "SCAN", "0", NULL);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "0 starts anywhere");
    shard_reply_free(r);
    shard_pool_free(other);
}

Test(poolwide, a_reload_keeps_cursors_only_while_the_servers_stay)
{
    char cur[32], changed[2048];
    static walk w;

    open_pool("  timeout: 2000\n");
    fill();
    cursor_on_server(cur, sizeof(cur), 2, NULL);
    /* Another timeout, the same servers: the walk goes on. */
    snprintf(changed, sizeof(changed), "%s", yaml);
    memcpy(strstr(changed, "timeout: 2000"), "timeout: 2500", 13);
    cr_assert_eq(shard_pool_reload_string(pool, changed, strlen(changed)),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, cur, NULL);
    cr_expect_eq(w.status, SHARD_OK, "%s", w.errmsg);
    cr_expect_gt(w.calls, 0);
    /* The last server gone: its cursors mean nothing any more. */
    *strrchr(changed, '-') = '\0';
    cr_assert_eq(shard_pool_reload_string(pool, changed, strlen(changed)),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_assert_eq(shard_pool_server_count(pool), 2);
    shard_reply *r = run("SCAN", cur);
    cr_expect(strncmp(text(r), "ERR invalid cursor", 18) == 0, "%s", text(r));
    shard_reply_free(r);
}

Test(poolwide, scan_stops_at_a_killed_server_and_skips_it_only_when_told)
{
    static walk w;
    char skip[32];

    open_pool("  timeout: 2000\n");
    fill();
    harness_kill(servers[1]);
    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, "0", NULL);
    cr_assert_lt(w.status, 0, "the walk went past a dead server");
    cr_expect(strstr(w.errmsg, servers[1]->addr) != NULL, "%s", w.errmsg);
    cr_expect(strstr(w.errmsg, "2 of 3") != NULL, "%s", w.errmsg);
    /* "send cursor <the one that failed> again to resume there, or <N> to
     * skip that server" */
    char resume[64];
    snprintf(resume, sizeof(resume), "send cursor %s again", w.stopped);
    cr_expect(strstr(w.errmsg, resume) != NULL, "%s", w.errmsg);
    const char * or = strstr(w.errmsg, "again to resume there, or ");
    cr_assert_not_null(or, "%s", w.errmsg);
    snprintf(skip, sizeof(skip), "%.*s", (int)strspn(or +26, "0123456789"),
             or +26);
    cr_assert_gt(strlen(skip), 0, "%s", w.errmsg);
    scan_on(pool, &w, skip, NULL);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    /* Every key of the two live servers came back. */
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        snprintf(k, sizeof(k), "scan:%05d", i);
        if (shard_pool_locate(pool, k, strlen(k)) != 1)
            cr_assert_geq(w.seen[i], 1, "%s never came", k);
    }
}

Test(poolwide, scan_resumes_where_a_hung_server_stopped_it)
{
    static walk w;

    open_pool("  timeout: 300\n");
    fill();
    char cur[32];
    memset(&w, 0, sizeof(w));
    cursor_on_server(cur, sizeof(cur), 1, &w); /* server 0, part of 1 */
    harness_pause(servers[1]);
    scan_on(pool, &w, cur, NULL);
    harness_resume(servers[1]);
    cr_assert_eq(w.status, SHARD_ETIMEDOUT, "%s", w.errmsg);
    cr_expect_str_eq(w.stopped, cur, "it stopped where it was");
    cr_expect(strstr(w.errmsg, servers[1]->addr) != NULL, "%s", w.errmsg);
    /* The rest of server 1, then server 2: with the part before, every
     * key. */
    scan_on(pool, &w, w.stopped, NULL);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    expect_every_key(&w, 0, NKEYS, "resumed");
}

Test(poolwide, scan_reads_an_ejected_server_that_answers)
{
    static walk w;
    shard_reply *r;
    int rc;

    open_pool("  timeout: 300\n  auto_eject_hosts: true\n"
              "  server_failure_limit: 1\n  server_retry_timeout: 60000\n");
    fill();
    static int home[NKEYS]; /* each key's server before the ejection */
    for (int i = 0; i < NKEYS; i++) {
        char k[16];
        snprintf(k, sizeof(k), "scan:%05d", i);
        home[i] = shard_pool_locate(pool, k, strlen(k));
    }
    /* A timeout ejects server 1; it is back up at once, out of the ring. */
    harness_pause(servers[1]);
    const char *get[] = {"GET", key_on[1]};
    rc = shard_command_argv(pool, &r, 2, get, NULL);
    harness_resume(servers[1]);
    cr_assert_eq(rc, SHARD_ETIMEDOUT, "%s", shard_pool_errmsg(pool));
    cr_assert_neq(shard_pool_locate(pool, key_on[1], strlen(key_on[1])), 1,
                  "not ejected");
    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, "0", NULL);
    cr_assert_eq(w.status, SHARD_OK, "%s", w.errmsg);
    expect_every_key(&w, 0, NKEYS, "with server 1 ejected");
    /* RANDOMKEY asks only the ring's servers. */
    for (int i = 0; i < 30; i++) {
        r = run("RANDOMKEY");
        const char *k = text(r);
        cr_assert(strncmp(k, "scan:", 5) == 0 || strncmp(k, "other:", 6) == 0 ||
                      strncmp(k, "h:", 2) == 0,
                  "%s", k);
        if (strncmp(k, "scan:", 5) == 0)
            cr_expect_neq(home[strtol(k + 5, NULL, 10)], 1,
                          "%s came from the ejected server", k);
        shard_reply_free(r);
    }
}

/* --- SCRIPT ----------------------------------------------------------------
 */

Test(poolwide, script_load_makes_evalsha_work_for_keys_of_every_server)
{
    static const char body[] = "return redis.call('GET', KEYS[1])";

    open_pool("  timeout: 2000\n");
    shard_reply *r = run("SCRIPT", "LOAD", body);
    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_STRING, "%s", text(r));
    char sha[64];
    snprintf(sha, sizeof(sha), "%s", text(r));
    cr_expect_eq(strlen(sha), 40);
    shard_reply_free(r);
    for (int s = 0; s < NSERVERS; s++) {
        shard_reply_free(run("SET", key_on[s], key_on[s]));
        r = run("EVALSHA", sha, "1", key_on[s]);
        cr_expect_str_eq(text(r), key_on[s], "server %d", s);
        shard_reply_free(r);
    }
    /* SCRIPT EXISTS: 1 only where every server has it. */
    r = shard_command_server(pool, 1, "SCRIPT LOAD %s", "return 2");
    cr_assert_not_null(r);
    char one_server[64];
    snprintf(one_server, sizeof(one_server), "%s", text(r));
    shard_reply_free(r);
    r = run("script", "exists", sha, one_server, "0000");
    cr_assert_eq(shard_reply_len(r), 3, "%s", text(r));
    cr_expect_eq(shard_reply_integer(shard_reply_at(r, 0)), 1);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r, 1)), 0);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r, 2)), 0);
    shard_reply_free(r);
    /* SCRIPT FLUSH: every server forgets. */
    r = run("SCRIPT", "FLUSH");
    cr_expect_str_eq(text(r), "OK");
    shard_reply_free(r);
    for (int s = 0; s < NSERVERS; s++) {
        r = run("EVALSHA", sha, "1", key_on[s]);
        cr_expect(strncmp(text(r), "NOSCRIPT", 8) == 0, "%s", text(r));
        shard_reply_free(r);
    }
    r = run("SCRIPT", "EXISTS", one_server);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r, 0)), 0);
    shard_reply_free(r);
}

Test(poolwide, script_errors_read_as_one_servers_and_others_stay_refused)
{
    open_pool("  timeout: 2000\n");
    /* The same error from every server is the pool's answer, verbatim. */
    shard_reply *r = run("SCRIPT", "LOAD", "this is not lua");
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(text(r), "Error compiling script") != NULL, "%s", text(r));
    shard_reply_free(r);
    r = run("SCRIPT", "NOPE");
    cr_expect_str_eq(text(r),
                     "ERR unknown subcommand 'NOPE'. Try SCRIPT HELP.");
    shard_reply_free(r);
    r = run("SCRIPT", "KILL");
    cr_expect(strstr(text(r), "shard_command_server") != NULL, "%s", text(r));
    shard_reply_free(r);
    r = run("SCRIPT", "HELP");
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "%s", text(r));
    shard_reply_free(r);
    r = run("INFO");
    cr_expect(strstr(text(r), "server-specific") != NULL, "%s", text(r));
    shard_reply_free(r);
    r = run("FLUSHDB", "NOPE");
    cr_expect_str_eq(text(r), "ERR syntax error");
    shard_reply_free(r);
}

/* --- DBSIZE FLUSHDB FLUSHALL KEYS RANDOMKEY --------------------------------
 */

Test(poolwide, dbsize_is_the_sum_and_flushdb_and_flushall_empty_every_server)
{
    open_pool("  timeout: 2000\n");
    fill();
    long long sum = 0;
    for (size_t s = 0; s < NSERVERS; s++)
        sum += server_dbsize(s);
    shard_reply *r = run("DBSIZE");
    cr_expect_eq(shard_reply_integer(r), sum);
    cr_expect_eq(sum, NKEYS + NOTHER + NHASH);
    shard_reply_free(r);
    r = run("FLUSHDB");
    cr_expect_str_eq(text(r), "OK");
    shard_reply_free(r);
    for (size_t s = 0; s < NSERVERS; s++)
        cr_expect_eq(server_dbsize(s), 0, "server %zu", s);
    r = run("DBSIZE");
    cr_expect_eq(shard_reply_integer(r), 0);
    shard_reply_free(r);
    for (int s = 0; s < NSERVERS; s++)
        shard_reply_free(run("SET", key_on[s], "v"));
    r = run("FLUSHALL", "SYNC");
    cr_expect_str_eq(text(r), "OK");
    shard_reply_free(r);
    for (size_t s = 0; s < NSERVERS; s++)
        cr_expect_eq(server_dbsize(s), 0, "server %zu", s);
}

Test(poolwide, flushdb_and_dbsize_stay_in_the_pools_database)
{
    redisContext *direct[NSERVERS];
    redisReply *got;

    open_pool("  timeout: 2000\n  redis_db: 3\n");
    for (int s = 0; s < NSERVERS; s++) {
        direct[s] = redisConnect("127.0.0.1", servers[s]->port);
        cr_assert(direct[s] != NULL && direct[s]->err == 0);
        freeReplyObject(redisCommand(direct[s], "SET other-db stays"));
    }
    shard_reply_free(run("SET", key_on[0], "v"));
    shard_reply *r = run("DBSIZE");
    cr_expect_eq(shard_reply_integer(r), 1);
    shard_reply_free(r);
    shard_reply_free(run("FLUSHDB"));
    r = run("DBSIZE");
    cr_expect_eq(shard_reply_integer(r), 0);
    shard_reply_free(r);
    for (int s = 0; s < NSERVERS; s++) {
        got = redisCommand(direct[s], "GET other-db");
        cr_assert_not_null(got);
        cr_expect(got->type == REDIS_REPLY_STRING &&
                      strcmp(got->str, "stays") == 0,
                  "db 0 of server %d lost its key", s);
        freeReplyObject(got);
        redisFree(direct[s]);
    }
}

Test(poolwide, keys_concatenates_the_keys_of_every_server)
{
    open_pool("  timeout: 2000\n");
    fill();
    shard_reply *r = run("KEYS", "scan:00*");
    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "%s", text(r));
    cr_expect_eq(shard_reply_len(r), 1000);
    static walk w;
    memset(&w, 0, sizeof(w));
    for (size_t i = 0; i < shard_reply_len(r); i++)
        count_key(&w, shard_reply_at(r, i));
    shard_reply_free(r);
    for (int i = 0; i < 1000; i++)
        cr_expect_eq(w.seen[i], 1, "scan:%05d", i);
}

Test(poolwide, randomkey_is_nil_only_for_an_empty_pool)
{
    open_pool("  timeout: 2000\n");
    shard_reply *r = run("RANDOMKEY");
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL, "%s", text(r));
    shard_reply_free(r);
    /* One key, on the last server: whichever server is asked first. */
    shard_reply_free(run("SET", key_on[2], "v"));
    for (int i = 0; i < 20; i++) {
        r = run("RANDOMKEY");
        cr_expect_str_eq(text(r), key_on[2]);
        shard_reply_free(r);
    }
    /* One key on each: over 60 calls, more than one server answers. */
    shard_reply_free(run("SET", key_on[0], "v"));
    shard_reply_free(run("SET", key_on[1], "v"));
    int from[NSERVERS] = {0};
    for (int i = 0; i < 60; i++) {
        r = run("RANDOMKEY");
        for (int s = 0; s < NSERVERS; s++)
            from[s] += strcmp(text(r), key_on[s]) == 0;
        shard_reply_free(r);
    }
    cr_expect_eq(from[0] + from[1] + from[2], 60);
    cr_expect((from[0] > 0) + (from[1] > 0) + (from[2] > 0) >= 2,
              "always the same server: %d %d %d", from[0], from[1], from[2]);
}

/* --- failures, retries, concurrency ----------------------------------------
 */

static void
expect_names_the_dead(const char *what, shard_reply *r, const char *addr)
{
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR, "%s: %s", what,
                 text(r));
    cr_expect(strstr(text(r), "failed on 1 of 3 servers") != NULL, "%s: %s",
              what, text(r));
    cr_expect(strstr(text(r), addr) != NULL, "%s: %s", what, text(r));
    shard_reply_free(r);
}

Test(poolwide, a_killed_server_is_named_and_the_others_still_do_their_part)
{
    open_pool("  timeout: 2000\n");
    fill();
    harness_kill(servers[1]);
    const char *dead = servers[1]->addr;
    expect_names_the_dead("dbsize", run("DBSIZE"), dead);
    expect_names_the_dead("keys", run("KEYS", "*"), dead);
    expect_names_the_dead("script load", run("SCRIPT", "LOAD", "return 1"),
                          dead);
    expect_names_the_dead("script exists", run("SCRIPT", "EXISTS", "ab"), dead);
    shard_reply *r = run("RANDOMKEY");
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STRING, "%s", text(r));
    shard_reply_free(r);
    r = run("FLUSHDB");
    cr_expect(strstr(text(r), "the others succeeded") != NULL, "%s", text(r));
    expect_names_the_dead("flushdb", r, dead);
    cr_expect_eq(server_dbsize(0), 0, "server 0 was not flushed");
    cr_expect_eq(server_dbsize(2), 0, "server 2 was not flushed");
    /* Every server dead: the code of one key, every server named. */
    harness_kill(servers[0]);
    harness_kill(servers[2]);
    const char *argv[] = {"DBSIZE"};
    r = NULL;
    cr_expect_lt(shard_command_argv(pool, &r, 1, argv, NULL), 0);
    cr_expect_null(r);
    for (int s = 0; s < NSERVERS; s++)
        cr_expect(strstr(shard_pool_errmsg(pool), servers[s]->addr) != NULL,
                  "%s", shard_pool_errmsg(pool));
}

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

Test(poolwide, reads_are_retried_on_their_own_server_and_writes_never)
{
    resume_later later;

    open_pool("  timeout: 300\n  read_retries: 2\n");
    for (int s = 0; s < NSERVERS; s++)
        shard_reply_free(run("SET", key_on[s], "v"));
    pause_for(&later, servers[1], 450);
    shard_reply *r = run("DBSIZE");
    pthread_join(later.thread, NULL);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_INTEGER, "%s", text(r));
    cr_expect_eq(shard_reply_integer(r), 3);
    shard_reply_free(r);
    pause_for(&later, servers[1], 450);
    static walk w;
    memset(&w, 0, sizeof(w));
    scan_on(pool, &w, "0", NULL);
    pthread_join(later.thread, NULL);
    cr_expect_eq(w.status, SHARD_OK, "%s", w.errmsg);
    cr_expect_eq(w.keyed, NSERVERS);
    /* FLUSHDB is a write: the timeout is the answer, never a second one. */
    pause_for(&later, servers[1], 450);
    r = run("FLUSHDB");
    pthread_join(later.thread, NULL);
    cr_expect(strstr(text(r), "timed out") != NULL, "%s", text(r));
    expect_names_the_dead("flushdb", r, servers[1]->addr);
}

/* The application's loop, as far as this test needs: what is watched. */
static int watched;

static void
count_watch(int fd, int events, void **watch_data, void *userdata)
{
    (void)fd;
    (void)userdata;
    if (events != 0 && *watch_data == NULL) {
        *watch_data = &watched;
        watched++;
    } else if (events == 0 && *watch_data != NULL) {
        *watch_data = NULL;
        watched--;
    }
}

static void
ignore_timer(long timeout_ms, void *userdata)
{
    (void)timeout_ms;
    (void)userdata;
}

static void
ignore_reply(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    (void)p;
    (void)reply;
    (void)status;
    (void)ud;
}

Test(poolwide, every_server_has_the_command_before_any_reply_is_read)
{
    const char *argv[] = {"DBSIZE"};

    /* A fresh pool connects on first use: if DBSIZE waited for one
     * server's reply before sending to the next, the submit would open
     * one connection, not three. */
    open_pool("  timeout: 2000\n");
    cr_assert_eq(
        shard_pool_set_event_hooks(pool, count_watch, ignore_timer, NULL),
        SHARD_OK);
    cr_assert_eq(watched, 0, "connections open before the first command");
    cr_assert_eq(shard_command_async(pool, 1, argv, NULL, ignore_reply, NULL),
                 SHARD_OK, "%s", shard_pool_errmsg(pool));
    cr_expect_eq(watched, NSERVERS, "connections in use after the submit");
}

Test(poolwide, pipelined_and_async_calls_join_the_same_way)
{
    const char *dbsize[] = {"DBSIZE"}, *keys[] = {"KEYS", "key:*"};
    shard_reply *r;

    open_pool("  timeout: 2000\n");
    for (int s = 0; s < NSERVERS; s++)
        shard_reply_free(run("SET", key_on[s], "v"));
    cr_assert_eq(shard_append_argv(pool, 1, dbsize, NULL), SHARD_OK);
    cr_assert_eq(shard_append_argv(pool, 2, keys, NULL), SHARD_OK);
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
    cr_expect_eq(shard_reply_integer(r), NSERVERS);
    shard_reply_free(r);
    cr_assert_eq(shard_get_reply(pool, &r), SHARD_OK);
    cr_expect_eq(shard_reply_len(r), NSERVERS);
    shard_reply_free(r);
}

Test(poolwide, transactions_and_memcached_pools_refuse_them)
{
    shard_txn *txn = NULL;
    shard_reply *r = NULL;
    const char *scan[] = {"SCAN", "0"}, *flush[] = {"FLUSHDB"};
    shard_pool *mc = NULL;
    static const char mc_yaml[] = "m:\n  listen: 127.0.0.1:22121\n"
                                  "  servers:\n   - 127.0.0.1:11211:1\n";

    open_pool("  timeout: 2000\n");
    cr_assert_eq(shard_txn_begin(pool, &txn, key_on[0], strlen(key_on[0])),
                 SHARD_OK);
    cr_assert_eq(shard_txn_command_argv(txn, &r, 2, scan, NULL), SHARD_OK);
    cr_expect(strstr(text(r), "every server") != NULL, "%s", text(r));
    shard_reply_free(r);
    shard_txn_free(txn);
    cr_assert_eq(
        shard_pool_open_string(&mc, mc_yaml, strlen(mc_yaml), NULL, NULL),
        SHARD_OK, "%s", shard_last_error());
    cr_expect_eq(shard_command_argv(mc, &r, 1, flush, NULL),
                 SHARD_EUNSUPPORTED);
    cr_expect(strstr(shard_pool_errmsg(mc), "memcached pools") != NULL, "%s",
              shard_pool_errmsg(mc));
    shard_pool_free(mc);
}
