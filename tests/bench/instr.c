/*
 * shard-instr: one workload, run N times inside measured_loop(), so that
 * valgrind --tool=callgrind --toggle-collect=measured_loop counts the
 * instructions of exactly those N operations (tests/bench/instr.sh runs it
 * with N and 2N and prints the difference over N: instructions per op).
 *
 * Starts four redis-servers on loopback (tests/harness), opens a libshard
 * pool over them (ketama, fnv1a_64, named servers, preconnect, no timeout
 * unless --timeout), SETs KEY_COUNT keys where the pool puts them, warms up,
 * then runs one of:
 *
 *   get              shard_command_argv GET, reply freed
 *   get32            32 shard_append_argv GETs, then 32 shard_get_reply
 *   mget100          one shard_command_argv MGET of 100 keys
 *   hiredis-get      redisCommandArgv GET on server 0's context (keys of
 *                    server 0 only)
 *   hiredis-get32    32 GETs routed by hand (shard_pool_locate), appended
 *                    to each server, written out, then every reply read
 *   hiredis-mget100  the 100-key MGET split by hand: one MGET per server,
 *                    all sent, then read and joined in request order
 *
 *   shard-instr WORKLOAD N [--timeout MS]
 *
 * Keys are walked in a fixed shuffled order, so two runs do the same work.
 * Every reply is checked (a string of VALUE_LEN bytes); any wrong one makes
 * the exit status 1. The measured phase is also bracketed by two access(2)
 * calls on marker names, for strace to find (instr.sh --strace).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "harness.h"

#define POOL_SERVERS 4     /* redis-servers behind the pool */
#define KEY_COUNT 10000    /* keys preloaded */
#define KEY_MAX 24         /* room for one key and its NUL */
#define VALUE_LEN 32       /* bytes per value */
#define DEPTH 32           /* GETs per get32 batch */
#define MGET_KEYS 100      /* keys per mget100 MGET */
#define WARMUP_OPS 300     /* unmeasured ops before measured_loop */
#define PRELOAD_BATCH 500  /* SETs per pipelined preload round trip */
#define IO_TIMEOUT_MS 5000 /* hiredis socket timeout: fail, never hang */
#define MAX_OPS 10000000L  /* sanity bound on N */
#define ORDER_SEED 0x9e3779b97f4a7c15ULL /* the fixed key order */

#define MARK_BEGIN "shard-instr:measure-begin"
#define MARK_END "shard-instr:measure-end"

/* Keep measured_loop a real function of that name: never inlined, never
 * cloned (a clone would be named measured_loop.constprop.0). */
#if defined(__clang__)
#define MEASURED __attribute__((noinline))
#else
#define MEASURED __attribute__((noinline, noclone))
#endif

/* Everything a run needs. */
typedef struct instr {
    harness_server *servers[POOL_SERVERS]; /* the pool's redis-servers */
    redisContext *ctx[POOL_SERVERS];       /* by libshard's server index */
    redisContext *nc;                      /* to nutcracker, when used */
    int listen_port;                       /* nutcracker's */
    shard_pool *pool;                      /* libshard over `servers` */
    char keys[KEY_COUNT][KEY_MAX];         /* "instr:NNNNNN" */
    size_t key_len[KEY_COUNT];             /* their lengths */
    char value[VALUE_LEN];                 /* what every key holds */
    int order[KEY_COUNT];                  /* the order keys are used in */
    int on0[KEY_COUNT];                    /* order[] keys of server 0 */
    int on0_count;                         /* how many */
    int next;                              /* next of order[] to use */
    int next0;                             /* next of on0[] to use */
    long bad;                              /* wrong replies or failures */
    bool failed;                           /* a call failed: stop */
} instr;

/* One operation of a workload. */
typedef void (*op_fn)(instr *t);

/* ---- keys and checks ------------------------------------------------- */

static int
next_key(instr *t)
{
    int k = t->order[t->next];

    t->next = t->next + 1 == KEY_COUNT ? 0 : t->next + 1;
    return k;
}

static int
next_key0(instr *t)
{
    int k = t->on0[t->next0];

    t->next0 = t->next0 + 1 == t->on0_count ? 0 : t->next0 + 1;
    return k;
}

static void
fail(instr *t, const char *what, const char *why)
{
    if (!t->failed)
        fprintf(stderr, "shard-instr: %s failed: %s\n", what,
                why != NULL ? why : "?");
    t->failed = true;
    t->bad++;
}

static void
check_redis(instr *t, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len != (size_t)VALUE_LEN)
        t->bad++;
}

static void
check_shard(instr *t, const shard_reply *r)
{
    size_t len = 0;

    if (shard_reply_type(r) != SHARD_REPLY_STRING ||
        shard_reply_str(r, &len) == NULL || len != VALUE_LEN)
        t->bad++;
}

/* ---- libshard -------------------------------------------------------- */

static void
op_get(instr *t)
{
    int k = next_key(t);
    const char *argv[2] = {"GET", t->keys[k]};
    size_t len[2] = {3, t->key_len[k]};
    shard_reply *r;

    if (shard_command_argv(t->pool, &r, 2, argv, len) != SHARD_OK) {
        fail(t, "shard_command_argv", shard_pool_errmsg(t->pool));
        return;
    }
    check_shard(t, r);
    shard_reply_free(r);
}

static void
op_get32(instr *t)
{
    shard_reply *r;

    for (int i = 0; i < DEPTH; i++) {
        int k = next_key(t);
        const char *argv[2] = {"GET", t->keys[k]};
        size_t len[2] = {3, t->key_len[k]};
        if (shard_append_argv(t->pool, 2, argv, len) != SHARD_OK) {
            fail(t, "shard_append_argv", shard_pool_errmsg(t->pool));
            return;
        }
    }
    for (int i = 0; i < DEPTH; i++) {
        if (shard_get_reply(t->pool, &r) != SHARD_OK) {
            fail(t, "shard_get_reply", shard_pool_errmsg(t->pool));
            return;
        }
        check_shard(t, r);
        shard_reply_free(r);
    }
}

static void
op_mget100(instr *t)
{
    const char *argv[MGET_KEYS + 1];
    size_t len[MGET_KEYS + 1];
    shard_reply *r;

    argv[0] = "MGET";
    len[0] = 4;
    for (int i = 1; i <= MGET_KEYS; i++) {
        int k = next_key(t);
        argv[i] = t->keys[k];
        len[i] = t->key_len[k];
    }
    if (shard_command_argv(t->pool, &r, MGET_KEYS + 1, argv, len) != SHARD_OK) {
        fail(t, "shard_command_argv", shard_pool_errmsg(t->pool));
        return;
    }
    if (shard_reply_type(r) != SHARD_REPLY_ARRAY ||
        shard_reply_len(r) != MGET_KEYS) {
        t->bad++;
    } else {
        for (size_t i = 0; i < MGET_KEYS; i++)
            check_shard(t, shard_reply_at(r, i));
    }
    shard_reply_free(r);
}

/* ---- plain hiredis, routed by hand ----------------------------------- */

static void
op_hiredis_get(instr *t)
{
    int k = next_key0(t);
    const char *argv[2] = {"GET", t->keys[k]};
    size_t len[2] = {3, t->key_len[k]};
    redisReply *r = redisCommandArgv(t->ctx[0], 2, argv, len);

    if (r == NULL) {
        fail(t, "redisCommandArgv", t->ctx[0]->errstr);
        return;
    }
    check_redis(t, r);
    freeReplyObject(r);
}

/* The server of key `k`, or -1. */
static int
locate(instr *t, int k)
{
    int s = shard_pool_locate(t->pool, t->keys[k], t->key_len[k]);

    if (s < 0 || s >= POOL_SERVERS) {
        fail(t, "shard_pool_locate", shard_pool_errmsg(t->pool));
        return -1;
    }
    return s;
}

/*
 * Writes out every server's pending commands before any reply is read:
 * the blocking redisGetReply would otherwise send to one server, wait for
 * it, then send to the next (as shard-bench's hand-split mode does).
 */
static bool
flush_all(instr *t)
{
    for (int s = 0; s < POOL_SERVERS; s++) {
        int done = 0;
        while (!done) {
            if (redisBufferWrite(t->ctx[s], &done) != REDIS_OK) {
                fail(t, "redisBufferWrite", t->ctx[s]->errstr);
                return false;
            }
        }
    }
    return true;
}

static void
op_hiredis_get32(instr *t)
{
    int server[DEPTH];
    void *r;

    for (int i = 0; i < DEPTH; i++) {
        int k = next_key(t);
        const char *argv[2] = {"GET", t->keys[k]};
        size_t len[2] = {3, t->key_len[k]};
        if ((server[i] = locate(t, k)) < 0)
            return;
        if (redisAppendCommandArgv(t->ctx[server[i]], 2, argv, len) !=
            REDIS_OK) {
            fail(t, "redisAppendCommandArgv", "out of memory");
            return;
        }
    }
    if (!flush_all(t))
        return;
    for (int i = 0; i < DEPTH; i++) {
        redisContext *c = t->ctx[server[i]];
        if (redisGetReply(c, &r) != REDIS_OK) {
            fail(t, "redisGetReply", c->errstr);
            return;
        }
        check_redis(t, r);
        freeReplyObject(r);
    }
}

/* Where each key of a split MGET went, and the sub-MGETs. */
typedef struct split_plan {
    int server[MGET_KEYS];                         /* server of key i */
    int pos[MGET_KEYS];                            /* its place there */
    int count[POOL_SERVERS];                       /* keys per server */
    const char *argv[POOL_SERVERS][MGET_KEYS + 1]; /* sub-MGETs */
    size_t len[POOL_SERVERS][MGET_KEYS + 1];       /* their lengths */
    redisReply *reply[POOL_SERVERS];               /* their replies */
    const redisReply *joined[MGET_KEYS];           /* in request order */
} split_plan;

static bool
split_send(instr *t, split_plan *p)
{
    for (int i = 0; i < MGET_KEYS; i++) {
        int k = next_key(t);
        int s = locate(t, k);
        if (s < 0)
            return false;
        p->server[i] = s;
        p->pos[i] = p->count[s]++;
        p->argv[s][p->count[s]] = t->keys[k];
        p->len[s][p->count[s]] = t->key_len[k];
    }
    for (int s = 0; s < POOL_SERVERS; s++) {
        if (p->count[s] == 0)
            continue;
        p->argv[s][0] = "MGET";
        p->len[s][0] = 4;
        if (redisAppendCommandArgv(t->ctx[s], p->count[s] + 1, p->argv[s],
                                   p->len[s]) != REDIS_OK) {
            fail(t, "redisAppendCommandArgv", "out of memory");
            return false;
        }
    }
    return flush_all(t);
}

static bool
split_read(instr *t, split_plan *p)
{
    for (int s = 0; s < POOL_SERVERS; s++) {
        void *r = NULL;
        if (p->count[s] == 0)
            continue;
        if (redisGetReply(t->ctx[s], &r) != REDIS_OK) {
            fail(t, "redisGetReply", t->ctx[s]->errstr);
            return false;
        }
        p->reply[s] = r;
        if (p->reply[s]->type != REDIS_REPLY_ARRAY ||
            p->reply[s]->elements != (size_t)p->count[s]) {
            fail(t, "MGET", "wrong reply shape");
            return false;
        }
    }
    return true;
}

static void
op_hiredis_mget100(instr *t)
{
    split_plan p;

    memset(p.count, 0, sizeof(p.count));
    memset(p.reply, 0, sizeof(p.reply));
    if (split_send(t, &p) && split_read(t, &p)) {
        for (int i = 0; i < MGET_KEYS; i++)
            p.joined[i] = p.reply[p.server[i]]->element[p.pos[i]];
        for (int i = 0; i < MGET_KEYS; i++)
            check_redis(t, p.joined[i]);
    }
    for (int s = 0; s < POOL_SERVERS; s++)
        freeReplyObject(p.reply[s]);
}

/* ---- the measured phase ---------------------------------------------- */

/* The loop callgrind counts (--toggle-collect=measured_loop): n ops of
 * `op`, nothing else. External so that its symbol is kept as is. */
MEASURED long measured_loop(instr *t, op_fn op, long n);

MEASURED long
measured_loop(instr *t, op_fn op, long n)
{
    long i;

    for (i = 0; i < n && !t->failed; i++)
        op(t);
    return i;
}

/* ---- servers, connections, keys -------------------------------------- */

static redisContext *
connect_addr(const char *addr)
{
    struct timeval tv = {IO_TIMEOUT_MS / 1000, (IO_TIMEOUT_MS % 1000) * 1000};
    const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
    char host[256], *end;
    redisContext *c;
    long port;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return NULL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port <= 0 || port > 65535)
        return NULL;
    c = redisConnectWithTimeout(host, (int)port, tv);
    if (c == NULL || c->err) {
        fprintf(stderr, "shard-instr: connecting to %s: %s\n", addr,
                c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

/* A nutcracker on the pool's own file, and a connection to it. */
static bool
start_nutcracker(instr *t, const char *yaml)
{
    harness_server *nc = harness_nutcracker_start(yaml, t->listen_port);

    if (nc == NULL)
        return false;
    t->nc = connect_addr(nc->addr);
    return t->nc != NULL;
}

/*
 * The pool. Servers are named, so that the ketama ring, hence where every
 * key goes, is the same whatever ports the servers got. preconnect: the
 * connections are made at open, not in the middle of the warm-up, where
 * when each one completes would change the heap, hence malloc's path.
 */
static const char *
pool_yaml(instr *t, long timeout_ms)
{
    const char *timeout =
        timeout_ms > 0 ? harness_fmt("  timeout: %ld\n", timeout_ms) : "";

    t->listen_port = harness_free_port();
    return harness_fmt("instr:\n"
                       "  listen: 127.0.0.1:%d\n"
                       "  redis: true\n"
                       "  hash: fnv1a_64\n"
                       "  distribution: ketama\n"
                       "  auto_eject_hosts: false\n"
                       "  preconnect: true\n"
                       "%s"
                       "  servers:\n"
                       "   - 127.0.0.1:%d:1 s0\n"
                       "   - 127.0.0.1:%d:1 s1\n"
                       "   - 127.0.0.1:%d:1 s2\n"
                       "   - 127.0.0.1:%d:1 s3\n",
                       t->listen_port, timeout, t->servers[0]->port,
                       t->servers[1]->port, t->servers[2]->port,
                       t->servers[3]->port);
}

static bool
start(instr *t, long timeout_ms, bool nutcracker)
{
    const char *yaml;

    for (int i = 0; i < POOL_SERVERS; i++) {
        if ((t->servers[i] = harness_redis_start(NULL)) == NULL)
            return false;
    }
    yaml = harness_write_file("instr.yml", pool_yaml(t, timeout_ms));
    if (yaml == NULL)
        return false;
    if (shard_pool_open(&t->pool, yaml, NULL, NULL) != SHARD_OK) {
        fprintf(stderr, "shard-instr: shard_pool_open: %s\n",
                shard_last_error());
        return false;
    }
    if (shard_pool_server_count(t->pool) != POOL_SERVERS)
        return false;
    if (nutcracker && !start_nutcracker(t, yaml))
        return false;
    for (int s = 0; s < POOL_SERVERS; s++) {
        t->ctx[s] = connect_addr(shard_pool_server_addr(t->pool, s));
        if (t->ctx[s] == NULL)
            return false;
    }
    return true;
}

/*
 * The keys, and the fixed shuffled order they are used in: numbered keys
 * taken in turn would not do, as fnv1a_64 + ketama puts runs of dozens of
 * consecutive "instr:NNNNNN" on one server (an MGET of 100 would not split).
 */
static void
make_keys(instr *t)
{
    uint64_t x = ORDER_SEED;

    for (int i = 0; i < VALUE_LEN; i++)
        t->value[i] = (char)('a' + i % 26);
    for (int i = 0; i < KEY_COUNT; i++) {
        int n = snprintf(t->keys[i], KEY_MAX, "instr:%06d", i);
        t->key_len[i] = n > 0 ? (size_t)n : 0;
        t->order[i] = i;
    }
    for (int i = KEY_COUNT - 1; i > 0; i--) { /* Fisher-Yates, xorshift64 */
        int j, k;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        j = (int)(x % (uint64_t)(i + 1));
        k = t->order[i];
        t->order[i] = t->order[j];
        t->order[j] = k;
    }
}

/* SETs every key on the server the pool puts it on. */
static bool
preload(instr *t)
{
    int pending[POOL_SERVERS] = {0}, per_server[POOL_SERVERS] = {0};

    make_keys(t);
    for (int i = 0; i < KEY_COUNT; i++) {
        const char *argv[3] = {"SET", t->keys[i], t->value};
        size_t len[3] = {3, t->key_len[i], VALUE_LEN};
        int s = locate(t, i);
        if (s < 0)
            return false;
        per_server[s]++;
        if (redisAppendCommandArgv(t->ctx[s], 3, argv, len) != REDIS_OK)
            return false;
        if (++pending[s] == PRELOAD_BATCH || i == KEY_COUNT - 1) {
            for (int k = 0; k < POOL_SERVERS; k++) {
                if (!harness_drain_ok(t->ctx[k], pending[k]))
                    return false;
                pending[k] = 0;
            }
        }
    }
    for (int i = 0; i < KEY_COUNT; i++) {
        if (locate(t, t->order[i]) == 0)
            t->on0[t->on0_count++] = t->order[i];
    }
    fprintf(stderr, "shard-instr: keys per server: %d %d %d %d\n",
            per_server[0], per_server[1], per_server[2], per_server[3]);
    return t->on0_count > 0;
}

/* ---- hiredis through nutcracker (its instructions are counted apart) -- */

static void
op_nutcracker_get(instr *t)
{
    int k = next_key(t);
    const char *argv[2] = {"GET", t->keys[k]};
    size_t len[2] = {3, t->key_len[k]};
    redisReply *r = redisCommandArgv(t->nc, 2, argv, len);

    if (r == NULL) {
        fail(t, "redisCommandArgv", t->nc->errstr);
        return;
    }
    check_redis(t, r);
    freeReplyObject(r);
}

static void
op_nutcracker_get32(instr *t)
{
    void *r;

    for (int i = 0; i < DEPTH; i++) {
        int k = next_key(t);
        const char *argv[2] = {"GET", t->keys[k]};
        size_t len[2] = {3, t->key_len[k]};
        if (redisAppendCommandArgv(t->nc, 2, argv, len) != REDIS_OK) {
            fail(t, "redisAppendCommandArgv", t->nc->errstr);
            return;
        }
    }
    for (int i = 0; i < DEPTH; i++) {
        if (redisGetReply(t->nc, &r) != REDIS_OK) {
            fail(t, "redisGetReply", t->nc->errstr);
            return;
        }
        check_redis(t, r);
        freeReplyObject(r);
    }
}

static void
op_nutcracker_mget100(instr *t)
{
    const char *argv[MGET_KEYS + 1];
    size_t len[MGET_KEYS + 1];

    argv[0] = "MGET";
    len[0] = 4;
    for (int i = 1; i <= MGET_KEYS; i++) {
        int k = next_key(t);
        argv[i] = t->keys[k];
        len[i] = t->key_len[k];
    }
    redisReply *r = redisCommandArgv(t->nc, MGET_KEYS + 1, argv, len);
    if (r == NULL) {
        fail(t, "redisCommandArgv", t->nc->errstr);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != MGET_KEYS) {
        t->bad++;
    } else {
        for (size_t i = 0; i < MGET_KEYS; i++)
            check_redis(t, r->element[i]);
    }
    freeReplyObject(r);
}

/* ---- command line ---------------------------------------------------- */

static const struct {
    const char *name;
    op_fn op;
} workloads[] = {
    {"get", op_get},
    {"get32", op_get32},
    {"mget100", op_mget100},
    {"hiredis-get", op_hiredis_get},
    {"hiredis-get32", op_hiredis_get32},
    {"hiredis-mget100", op_hiredis_mget100},
    {"nutcracker-get", op_nutcracker_get},
    {"nutcracker-get32", op_nutcracker_get32},
    {"nutcracker-mget100", op_nutcracker_mget100},
};

#define WORKLOAD_COUNT (sizeof(workloads) / sizeof(workloads[0]))

static void
usage(void)
{
    fprintf(stderr, "usage: shard-instr WORKLOAD N [--timeout MS]\n"
                    "  WORKLOAD:");
    for (size_t w = 0; w < WORKLOAD_COUNT; w++)
        fprintf(stderr, " %s", workloads[w].name);
    fprintf(stderr, "\n  N: operations measured (batches for get32)\n"
                    "  --timeout MS: the pool's timeout (default: none)\n");
}

/* A whole decimal number in [lo, hi], or -1. */
static long
parse_long(const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    return v;
}

int
main(int argc, char **argv)
{
    static instr t; /* big (the keys): not on the stack */
    op_fn op = NULL;
    long n, timeout_ms = 0, done = 0;
    int rc = 1;

    for (size_t w = 0; argc > 1 && w < WORKLOAD_COUNT; w++) {
        if (strcmp(argv[1], workloads[w].name) == 0)
            op = workloads[w].op;
    }
    n = argc > 2 ? parse_long(argv[2], 1, MAX_OPS) : -1;
    if (argc == 5 && strcmp(argv[3], "--timeout") == 0)
        timeout_ms = parse_long(argv[4], 1, 3600000L);
    if (op == NULL || n < 0 || timeout_ms < 0 || (argc != 3 && argc != 5)) {
        usage();
        return 2;
    }
    if (!start(&t, timeout_ms, strncmp(argv[1], "nutcracker-", 11) == 0) ||
        !preload(&t)) {
        fprintf(stderr, "shard-instr: setup failed\n");
    } else {
        for (int i = 0; i < WARMUP_OPS && !t.failed; i++)
            op(&t);
        if (t.bad == 0) {
            (void)access(MARK_BEGIN, F_OK);
            done = measured_loop(&t, op, n);
            (void)access(MARK_END, F_OK);
        }
        fprintf(stderr, "shard-instr: %s: %ld ops measured, %ld wrong\n",
                argv[1], done, t.bad);
        rc = t.bad == 0 && done == n ? 0 : 1;
    }
    for (int s = 0; s < POOL_SERVERS; s++)
        redisFree(t.ctx[s]);
    redisFree(t.nc);
    shard_pool_free(t.pool);
    harness_cleanup();
    return rc;
}
