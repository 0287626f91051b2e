/*
 * The memcached path, without servers: arbitrary argv through
 * shard_mc_command_argv (mc_command.c's checks, routing, mc_dispatch.c's
 * split of multi-key get, gets and mset per server, conn_mc.c, the worker
 * for retries and probes) and the cache API's calls on a memcached pool.
 * The seam is libmemcached itself: its calls that talk to a server
 * (stat_execute, mget, fetch_result, the stores, incr, decr, touch,
 * delete, quit, the last error) are replaced at link time (--wrap) by
 * fuzz_mc_server.c, so mc_exec.c's conversion of what comes back (values,
 * flags, cas, misses, server errors, timeouts, closed connections) into
 * shard replies, and the join of a split get, run on what the script
 * says each server answered.
 *
 * Checked: every command reaches the server the ring gives its keys (and
 * only a live one), with valid keys, and values within the item size the
 * server told; a command libshard must refuse sends nothing and answers
 * an ERROR "ERR ..." (EINVAL for the cache API); no command is sent on a
 * link with a get's reply unread, and no reply read that was not asked
 * for; two threads never talk to servers at once; replies are well
 * formed, a get of n keys answers n entries in key order, each value the
 * one its own key was sent with; when every server answered right the
 * result is exactly right; failures name a server.
 *
 * Input: one byte choosing the pool; then commands, one per line, their
 * arguments separated by spaces, '\' taking the next byte as it is, an
 * unescaped 0xfe and two bytes b1 b2 an argument of (b1 * 256 + b2) * 32
 * bytes 'x' (values up to 2 MiB); a first argument "!get", "!mget",
 * "!set", "!mset", "!add", "!delete", "!incr", "!decr" or "!touch" calls
 * the cache API instead. An unescaped 0xff ends the commands; the bytes
 * after it are what the servers do. When they run out every server
 * answers right.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shard/cache.h>
#include <shard/memcached.h>

#include "fuzz_mc.h"
#include "mc_command.h"
#include "mc_worker.h"

/* Servers listen on BASE_PORT + their index. */
#define BASE_PORT 11211

/* The longest argument the 0xfe marker makes. */
#define BIG_MAX (65535 * 32)

/* --- the script ----------------------------------------------------------- */

static int64_t now_us;    /* the clock libshard reads */
static char *big;         /* BIG_MAX bytes of 'x' */
static char pool70[8192]; /* the config of the pool of 70 servers */

/* The pools: ketama with a hash tag, ejection and read retries; modula
 * with weights, no ejection; one server; ketama with another tag, the
 * probe and ejection after two failures; 70 servers (over the 64 that
 * the split keeps on the stack). */
static const char *pools[] = {
    "p:\n  listen: 127.0.0.1:22121\n  redis: false\n  hash: fnv1a_64\n"
    "  hash_tag: \"{}\"\n  distribution: ketama\n  auto_eject_hosts: true\n"
    "  server_failure_limit: 1\n  server_retry_timeout: 2000\n"
    "  read_retries: 2\n  timeout: 400\n  servers:\n"
    "   - 127.0.0.1:11211:1\n   - 127.0.0.1:11212:1\n   - 127.0.0.1:11213:2 c\n"
    "   - 127.0.0.1:11214:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: false\n  hash: murmur\n"
    "  distribution: modula\n  servers:\n   - 127.0.0.1:11211:1\n"
    "   - 127.0.0.1:11212:3\n   - 127.0.0.1:11213:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: false\n  hash: md5\n"
    "  auto_eject_hosts: true\n  server_retry_timeout: 500\n  servers:\n"
    "   - 127.0.0.1:11211:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: false\n  hash: crc32a\n"
    "  hash_tag: \"$$\"\n  distribution: ketama\n  auto_eject_hosts: true\n"
    "  server_failure_limit: 2\n  server_retry_timeout: 500\n"
    "  server_probe: true\n  read_retries: 1\n  servers:\n"
    "   - 127.0.0.1:11211:1\n   - 127.0.0.1:11212:1\n   - 127.0.0.1:11213:1\n",
    pool70,
};
static const size_t npools = sizeof(pools) / sizeof(pools[0]);

static void
build_pool70(void)
{
    int n = snprintf(pool70, sizeof(pool70),
                     "p:\n  listen: 127.0.0.1:22121\n  redis: false\n"
                     "  hash: one_at_a_time\n  distribution: ketama\n"
                     "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                     "  server_retry_timeout: 100\n  read_retries: 1\n"
                     "  servers:\n");

    for (int i = 0; i < FUZZ_MC_MAX_SERVERS; i++)
        n += snprintf(pool70 + n, sizeof(pool70) - (size_t)n,
                      "   - 127.0.0.1:%d:%d\n", BASE_PORT + i, 1 + i % 3);
}

/* clock.c, replaced at link time (--wrap): time moves when the script
 * says, so ejections end and probes start as the input has it. */
int64_t __wrap_clock_monotonic_us(void);
int64_t __wrap_clock_wall_us(void);

int64_t
__wrap_clock_monotonic_us(void)
{
    return __atomic_load_n(&now_us, __ATOMIC_RELAXED);
}

int64_t
__wrap_clock_wall_us(void)
{
    return 1700000000000000 + __wrap_clock_monotonic_us();
}

/* --- the application ------------------------------------------------------ */

/* Nothing runs on the worker any more: the next command starts from a
 * known state, and no thread reads the script after the input is gone. */
static void
drain(shard_pool *pool)
{
    for (long i = 0; mc_worker_busy(pool->mc_worker); i++) {
        FUZZ_CHECK(i < 100000000, "the worker never goes idle");
        sched_yield();
    }
}

/* What the harness knows before a command is routed. */
typedef struct before {
    bool live;                              /* some server is live */
    uint64_t item_max[FUZZ_MC_MAX_SERVERS]; /* item sizes the links know */
    bool no_cas[FUZZ_MC_MAX_SERVERS];       /* and their cas */
    bool refuse; /* a value is over its server's size */
} before;

static bool too_big_at_routing(shard_pool *pool, const before *b);

/* Servers that would refuse a connect now (back-off after a failed one)
 * make errors out of right script.answers. */
static bool
every_server_reachable(const shard_pool *pool)
{
    for (size_t i = 0; i < pool->conf->server_count; i++) {
        const struct server *s = &pool->servers[i];
        if (s->conn != NULL && s->conn->fd < 0 &&
            backoff_remaining(&s->reconnect, now_us) > 0)
            return false;
    }
    return true;
}

static void
prepare(shard_pool *pool, before *b)
{
    drain(pool);
    /* What submit does first, so that the ring is the one it routes on;
     * twice: the first may start probes, the second reads their end. */
    for (int i = 0; i < 2; i++) {
        health_readmit(&pool->health);
        drain(pool);
    }
    script.routed_at = script.ring_changes;
    b->live = false;
    for (size_t i = 0; i < pool->conf->server_count; i++) {
        b->live = b->live || pool->servers[i].live;
        b->item_max[i] = fuzz_mc_item_max(i, &b->no_cas[i]);
    }
    b->refuse = b->live && too_big_at_routing(pool, b);
    script.all_right = b->live && every_server_reachable(pool);
    script.main_calls = script.data_calls = 0;
}

/* The largest value key `key` stores now (or as it was in `b`). */
static size_t
value_max(shard_pool *pool, const before *b, const char *key, size_t klen,
          uint32_t flags)
{
    int at = pool_locate(pool, key, klen);
    bool no_cas;
    uint64_t size = fuzz_mc_item_max((size_t)at, &no_cas);

    if (b != NULL) {
        size = b->item_max[at];
        no_cas = b->no_cas[at];
    }

    return mc_value_max(size ? size : MC_DEFAULT_ITEM_MAX, !no_cas, klen,
                        flags);
}

/* True when the text names a server, as every failure must. */
static bool
names_server(const char *msg)
{
    return msg != NULL && strstr(msg, "server '127.0.0.1:") != NULL;
}

/* A failure's message: it names the server, unless no server was there
 * to fail or memory ran out. */
static void
check_failure(int rc, const char *msg)
{
    FUZZ_CHECK(rc < 0, "code %d", rc);
    FUZZ_CHECK(msg != NULL && msg[0] != '\0', "code %d without a message", rc);
    if (rc == SHARD_ENOSERVER || rc == SHARD_ENOMEM || rc == SHARD_EINVAL)
        return;
    FUZZ_CHECK(names_server(msg), "code %d: '%s' names no server", rc, msg);
}

/* An ERROR element of a get or mset: the server's words, libshard's
 * refusal of a value naming the server, or a failure naming it (or
 * memory running out: libmemcached's MEMORY_ALLOCATION_FAILURE; or a
 * retry finding no server left). */
static void
check_error_element(const shard_reply *e)
{
    if (strncmp(e->str, "SERVER_ERROR", 12) == 0 ||
        strncmp(e->str, "CLIENT_ERROR", 12) == 0 ||
        strcmp(e->str, "ERROR") == 0 ||
        strcmp(e->str, "ERR out of memory") == 0 ||
        strstr(e->str, "every server of the pool is ejected") != NULL)
        return;
    FUZZ_CHECK(names_server(e->str), "element '%s' names no server", e->str);
}

/* A value came back for `key`: its own, never another key's. */
static void
check_value(const shard_reply *v, const char *key, size_t len)
{
    FUZZ_CHECK(v->type == SHARD_REPLY_STRING, "value of type %d", v->type);
    FUZZ_CHECK(v->len >= len + 2 && memcmp(v->str + 2, key, len) == 0 &&
                   (memcmp(v->str, "v:", 2) == 0 ||
                    (memcmp(v->str, "w:", 2) == 0 && v->str[len + 2] == ':')),
               "a value of %zu bytes given to another key", v->len);
    FUZZ_CHECK(v->str[0] == 'w' || v->len == len + 2, "value of '%.*s'",
               (int)len, key);
}

/* One key's entry of a get (`gets`: [value, flags, cas]); `exact`: it
 * must be the right one. */
static void
check_entry(const shard_reply *e, bool gets, const char *key, size_t len,
            bool exact)
{
    if (e->type == SHARD_REPLY_ERROR) {
        FUZZ_CHECK(!exact, "'%s' when every server answered right", e->str);
        check_error_element(e);
        return;
    }
    if (e->type == SHARD_REPLY_NIL) {
        FUZZ_CHECK(!exact || !fuzz_mc_stored(key, len), "a stored key missed");
        return;
    }
    FUZZ_CHECK(!exact || fuzz_mc_stored(key, len),
               "a value for a key not stored");
    if (!gets) {
        check_value(e, key, len);
        return;
    }
    FUZZ_CHECK(e->type == SHARD_REPLY_ARRAY && e->elements == 3 &&
                   e->element[1]->type == SHARD_REPLY_INTEGER &&
                   e->element[2]->type == SHARD_REPLY_INTEGER,
               "a gets entry of type %d", e->type);
    check_value(e->element[0], key, len);
    FUZZ_CHECK(!exact || (e->element[1]->integer == fuzz_mc_flags_of(len) &&
                          (uint64_t)e->element[2]->integer ==
                              fuzz_mc_cas_of(key, len)),
               "flags or cas of a gets entry");
}

/* --- memcached commands --------------------------------------------------- */

/* What libshard must make of an argv: its own reading, apart from
 * mc_command.c's. */
typedef struct expectation {
    const char *name; /* the command; NULL: unknown */
    bool valid;       /* libshard must take it */
    bool read;        /* get or gets */
    bool gets;        /* gets */
    int first_key;    /* argv index of the first key (0: none) */
    int stride;       /* from one key to the next */
    size_t nkeys;     /* keys */
    int value_at;     /* a single store's value (0: none) */
} expectation;

/* Digits only, at most `max`. */
static bool
number(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return v <= max;
}

/* The words of each command: 'k' keys, 'K' one key, 'f' flags, 'e'
 * exptime, 'v' a value, 'c' a cas, 'd' a delta; '*' key value pairs. */
static const struct {
    const char *name;
    const char *words;
} shapes[] = {
    {"get", "k"},        {"gets", "k"},       {"set", "Kfev"},
    {"add", "Kfev"},     {"replace", "Kfev"}, {"append", "Kfev"},
    {"prepend", "Kfev"}, {"cas", "Kfevc"},    {"incr", "Kd"},
    {"decr", "Kd"},      {"touch", "Ke"},     {"delete", "K"},
    {"version", ""},     {"mset", "fe*"},
};

/* The numbers of the argv, checked, into `script.expected`. */
static bool
numbers_ok(const char *words, int argc, const char **argv, const size_t *lens)
{
    uint64_t v;

    for (int i = 0; words[i] != '\0' && words[i] != '*' && i + 1 < argc; i++) {
        char w = words[i];
        int at = i + 1;
        if (w == 'K' || w == 'k' || w == 'v')
            continue;
        if (!number(argv[at], lens[at],
                    w == 'c' || w == 'd' ? UINT64_MAX : UINT32_MAX, &v))
            return false;
        if (w == 'f')
            script.expected.flags = (uint32_t)v;
        else if (w == 'e')
            script.expected.exptime = (int64_t)v;
        else {
            script.expected.number = v;
            script.expected.number_set = true;
        }
    }
    return true;
}

static void
expect(expectation *e, int argc, const char **argv, const size_t *lens)
{
    const char *words = NULL;
    size_t want;

    *e = (expectation){.name = NULL};
    for (size_t i = 0; argc > 0 && i < sizeof(shapes) / sizeof(shapes[0]);
         i++) {
        if (strlen(shapes[i].name) == lens[0] &&
            memcmp(shapes[i].name, argv[0], lens[0]) == 0) {
            e->name = shapes[i].name;
            words = shapes[i].words;
        }
    }
    if (e->name == NULL)
        return;
    e->read = words[0] == 'k';
    e->gets = strcmp(e->name, "gets") == 0;
    want = strlen(words) + 1;
    if (e->read) {
        e->first_key = 1;
        e->stride = 1;
        e->nkeys = argc >= 2 ? (size_t)argc - 1 : 0;
        e->valid = argc >= 2;
    } else if (words[0] == 'f') {
        e->first_key = 3;
        e->stride = 2;
        e->nkeys = argc >= 5 ? (size_t)(argc - 3) / 2 : 0;
        e->valid = argc >= 5 && (argc - 3) % 2 == 0;
    } else {
        e->first_key = words[0] == 'K';
        e->stride = 1;
        e->nkeys = words[0] == 'K';
        e->value_at = strchr(words, 'v') != NULL ? 4 : 0;
        e->valid = (size_t)argc == want;
    }
    e->valid = e->valid && numbers_ok(words, argc, argv, lens);
    for (size_t i = 0; e->valid && i < e->nkeys; i++) {
        int at = e->first_key + (int)i * e->stride;
        e->valid = fuzz_mc_valid_key(argv[at], lens[at]);
    }
}

/* The pairs a command stores, for the servers' check. */
static void
expect_stores(const expectation *e, const char **argv, const size_t *lens,
              const char **kbuf, size_t *klbuf, const char **vbuf,
              size_t *vlbuf)
{
    script.expected.keys = kbuf;
    script.expected.klens = klbuf;
    script.expected.values = vbuf;
    script.expected.vlens = vlbuf;
    script.expected.n = 0;
    if (!e->valid || (e->value_at == 0 && e->stride != 2))
        return;
    for (size_t i = 0; i < e->nkeys; i++) {
        int at = e->first_key + (int)i * e->stride;
        int vat = e->stride == 2 ? at + 1 : e->value_at;
        kbuf[i] = argv[at];
        klbuf[i] = lens[at];
        vbuf[i] = argv[vat];
        vlbuf[i] = lens[vat];
    }
    script.expected.n = e->nkeys;
}

/* A refusal: an ERROR "ERR ...", and nothing sent. */
static void
check_refused(int rc, const shard_reply *out)
{
    FUZZ_CHECK(rc == SHARD_OK && out->type == SHARD_REPLY_ERROR &&
                   strncmp(out->str, "ERR ", 4) == 0,
               "a refusal answered %d", rc);
    FUZZ_CHECK(script.main_calls == 0 && script.data_calls == 0,
               "a refused command was sent (%zu calls)", script.main_calls);
}

/* The store's outcome for key i: STORED, or refused for its size. */
static bool
value_fits(shard_pool *pool, const before *b, size_t i)
{
    size_t max = value_max(pool, b, script.expected.keys[i],
                           script.expected.klens[i], script.expected.flags);

    return script.expected.vlens[i] <= max;
}

/* Refused before sending: some value over what its server was known to
 * take when the command was routed. */
static bool
too_big_at_routing(shard_pool *pool, const before *b)
{
    for (size_t i = 0; i < script.expected.n; i++) {
        if (!value_fits(pool, b, i))
            return true;
    }
    return false;
}

/* The reply of a store command when every server answered right. */
static void
check_stored(shard_pool *pool, const expectation *e, const shard_reply *out)
{
    bool split = e->stride == 2;

    if (!split) {
        if (value_fits(pool, NULL, 0))
            FUZZ_CHECK(out->type == SHARD_REPLY_STATUS &&
                           strcmp(out->str, "STORED") == 0,
                       "'%s' answered type %d", e->name, out->type);
        else
            FUZZ_CHECK(out->type == SHARD_REPLY_ERROR && names_server(out->str),
                       "a value over the item size: type %d", out->type);
        return;
    }
    FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY && out->elements == e->nkeys,
               "mset of %zu keys: type %d", e->nkeys, out->type);
    for (size_t i = 0; i < e->nkeys; i++) {
        const shard_reply *x = out->element[i];
        if (value_fits(pool, NULL, i))
            FUZZ_CHECK(x->type == SHARD_REPLY_STATUS &&
                           strcmp(x->str, "STORED") == 0,
                       "mset key %zu: type %d", i, x->type);
        else
            FUZZ_CHECK(x->type == SHARD_REPLY_ERROR && names_server(x->str),
                       "mset key %zu over the item size: type %d", i, x->type);
    }
}

/* A get's reply: one entry per key, in key order. */
static void
check_get(const expectation *e, const shard_reply *out, const char **argv,
          const size_t *lens, bool exact)
{
    if (e->nkeys == 1) {
        check_entry(out, e->gets, argv[1], lens[1], exact);
        return;
    }
    FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY && out->elements == e->nkeys,
               "get of %zu keys: type %d, %zu entries", e->nkeys, out->type,
               out->elements);
    for (size_t i = 0; i < e->nkeys; i++)
        check_entry(out->element[i], e->gets, argv[1 + i], lens[1 + i], exact);
}

/* Any reply of the other commands, and the exact one when right. */
static void
check_other(shard_pool *pool, const expectation *e, const shard_reply *out,
            bool exact)
{
    if (exact && (e->value_at != 0 || e->stride == 2)) {
        check_stored(pool, e, out);
        return;
    }
    if (out->type == SHARD_REPLY_ERROR) {
        FUZZ_CHECK(!exact, "'%s' answered '%s'", e->name, out->str);
        check_error_element(out);
        return;
    }
    if (e->stride == 2) {
        FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY && out->elements == e->nkeys,
                   "mset of %zu keys: type %d", e->nkeys, out->type);
        for (size_t i = 0; i < e->nkeys; i++) {
            const shard_reply *x = out->element[i];
            FUZZ_CHECK(x->type == SHARD_REPLY_STATUS ||
                           x->type == SHARD_REPLY_ERROR,
                       "mset key %zu: type %d", i, x->type);
            if (x->type == SHARD_REPLY_ERROR)
                check_error_element(x);
        }
    }
    if (!exact)
        return;
    if (strcmp(e->name, "incr") == 0 || strcmp(e->name, "decr") == 0) {
        FUZZ_CHECK(out->type == SHARD_REPLY_INTEGER &&
                       (uint64_t)out->integer ==
                           (e->name[0] == 'i' ? script.expected.number : 0),
                   "'%s' answered type %d", e->name, out->type);
    } else {
        const char *word = e->name[0] == 't'   ? "TOUCHED"
                           : e->name[0] == 'd' ? "DELETED"
                                               : NULL;
        FUZZ_CHECK(out->type == SHARD_REPLY_STATUS &&
                       (word == NULL || strcmp(out->str, word) == 0),
                   "'%s' answered type %d", e->name, out->type);
    }
}

static void
run_command(shard_pool *pool, int argc, const char **argv, const size_t *lens,
            const char **kbuf, size_t *klbuf, const char **vbuf, size_t *vlbuf)
{
    expectation e;
    shard_reply *out = NULL;
    before b;

    script.expected = (stores){.exptime = -1};
    expect(&e, argc, argv, lens);
    expect_stores(&e, argv, lens, kbuf, klbuf, vbuf, vlbuf);
    prepare(pool, &b);
    int rc = shard_mc_command_argv(pool, &out, argc, argv, lens);
    drain(pool);
    FUZZ_CHECK((rc == SHARD_OK) == (out != NULL), "code %d with%s a reply", rc,
               out ? "" : "out");
    if (out != NULL)
        fuzz_check_reply(out);
    if (!e.valid) {
        check_refused(rc, out);
    } else if (!b.live) {
        FUZZ_CHECK(rc == SHARD_ENOSERVER && script.data_calls == 0,
                   "no server live: code %d", rc);
    } else if (b.refuse) {
        check_refused(rc, out);
        FUZZ_CHECK(names_server(out->str), "'%s' names no server", out->str);
    } else if (rc != SHARD_OK) {
        FUZZ_CHECK(!script.all_right,
                   "code %d when every server answered right: %s", rc,
                   shard_pool_errmsg(pool));
        check_failure(rc, shard_pool_errmsg(pool));
    } else {
        bool exact =
            script.all_right && script.ring_changes == script.routed_at;
        if (e.read)
            check_get(&e, out, argv, lens, exact);
        else
            check_other(pool, &e, out, exact);
    }
    shard_reply_free(out);
}

/* --- the cache API -------------------------------------------------------- */

/* A cache call's number argument: its digits, 0 without any. */
static uint64_t
digits(int argc, const char **argv, const size_t *lens, int at)
{
    uint64_t v = 0;

    for (size_t i = 0; at < argc && i < lens[at] && i < 20; i++)
        v = v * 10 + (unsigned)((unsigned char)argv[at][i] % 10);
    return v;
}

/* The cache call's result when every server answered right. */
static void
check_cache_right(const char *call, int rc, const shard_reply *out, int flag,
                  size_t n, const char **keys, const size_t *klens)
{
    FUZZ_CHECK(rc == SHARD_OK,
               "'%s' failed when every server answered "
               "right: %s",
               call, shard_pool_errmsg(script.pool));
    if (strcmp(call, "get") == 0) {
        check_entry(out, false, keys[0], klens[0], true);
    } else if (strcmp(call, "mget") == 0) {
        FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY && out->elements == n,
                   "mget of %zu keys: type %d", n, out->type);
        for (size_t i = 0; i < n; i++)
            check_entry(out->element[i], false, keys[i], klens[i], true);
    } else if (strcmp(call, "mset") == 0) {
        for (size_t i = 0; i < n; i++) {
            const shard_reply *x = out->element[i];
            if (value_fits(script.pool, NULL, i))
                FUZZ_CHECK(x->type == SHARD_REPLY_STATUS &&
                               strcmp(x->str, "OK") == 0,
                           "mset key %zu: type %d", i, x->type);
            else
                FUZZ_CHECK(x->type == SHARD_REPLY_ERROR && names_server(x->str),
                           "mset key %zu over the item size: type %d", i,
                           x->type);
        }
    } else if (strcmp(call, "incr") == 0 || strcmp(call, "decr") == 0) {
        FUZZ_CHECK(out->type == SHARD_REPLY_INTEGER &&
                       (uint64_t)out->integer ==
                           (call[0] == 'i' ? script.expected.number : 0),
                   "'%s' gave type %d", call, out->type);
    } else if (strcmp(call, "add") == 0 || strcmp(call, "touch") == 0) {
        FUZZ_CHECK(flag == 1, "'%s' said %d", call, flag);
    }
}

/* Any result of a cache call. */
static void
check_cache_result(const char *call, int rc, const shard_reply *out, size_t n,
                   const char **keys, const size_t *klens)
{
    if (rc != SHARD_OK) {
        FUZZ_CHECK(out == NULL, "'%s' failed with a reply", call);
        check_failure(rc, shard_pool_errmsg(script.pool));
        return;
    }
    if (out == NULL)
        return;
    fuzz_check_reply(out);
    if (strcmp(call, "get") == 0) {
        check_entry(out, false, keys[0], klens[0], false);
        return;
    }
    if (strcmp(call, "mget") == 0 || strcmp(call, "mset") == 0) {
        FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY && out->elements == n,
                   "'%s' of %zu keys: type %d", call, n, out->type);
        for (size_t i = 0; i < n && call[1] == 'g'; i++)
            check_entry(out->element[i], false, keys[i], klens[i], false);
        for (size_t i = 0; i < n && call[1] == 's'; i++) {
            const shard_reply *x = out->element[i];
            FUZZ_CHECK(x->type == SHARD_REPLY_STATUS ||
                           x->type == SHARD_REPLY_ERROR,
                       "mset key %zu: type %d", i, x->type);
            if (x->type == SHARD_REPLY_ERROR)
                check_error_element(x);
        }
        return;
    }
    FUZZ_CHECK(out->type == SHARD_REPLY_INTEGER || out->type == SHARD_REPLY_NIL,
               "'%s' gave type %d", call, out->type);
}

/* Calls `call` (argv after the name: keys, values, numbers). */
static int
cache_call(shard_pool *pool, const char *call, int argc, const char **argv,
           const size_t *lens, shard_reply **out, int *flag, size_t *n)
{
    const char **kv = argv + 1;
    const size_t *kvl = lens + 1;
    unsigned ttl = (unsigned)digits(argc, argv, lens, 3);

    *n = argc >= 2 ? (size_t)argc - 1 : 0;
    if (strcmp(call, "get") == 0)
        return shard_get(pool, out, kv[0], kvl[0]);
    if (strcmp(call, "mget") == 0)
        return shard_mget(pool, out, *n, kv, kvl);
    if (strcmp(call, "set") == 0)
        return shard_set(pool, kv[0], kvl[0], kv[1], kvl[1], ttl);
    if (strcmp(call, "add") == 0)
        return shard_add(pool, flag, kv[0], kvl[0], kv[1], kvl[1], ttl);
    if (strcmp(call, "delete") == 0)
        return shard_delete(pool, kv[0], kvl[0]);
    if (strcmp(call, "incr") == 0)
        return shard_incr(pool, out, kv[0], kvl[0], script.expected.number);
    if (strcmp(call, "decr") == 0)
        return shard_decr(pool, out, kv[0], kvl[0], script.expected.number);
    if (strcmp(call, "touch") == 0)
        return shard_touch(pool, flag, kv[0], kvl[0],
                           (unsigned)digits(argc, argv, lens, 2));
    /* mset: keys and values alternate; the values are a second array */
    *n /= 2;
    return shard_mset(pool, out, *n, script.expected.keys,
                      script.expected.klens, script.expected.values,
                      script.expected.vlens, 0);
}

/* The words each call needs after its name, -1: a list. */
static int
cache_words(const char *call)
{
    static const struct {
        const char *name;
        int words;
    } calls[] = {{"get", 1},  {"mget", -1},  {"set", 2},
                 {"add", 2},  {"delete", 1}, {"incr", 2},
                 {"decr", 2}, {"touch", 2},  {"mset", -2}};

    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        if (strcmp(call, calls[i].name) == 0)
            return calls[i].words;
    }
    return 0;
}

static void
run_cache(shard_pool *pool, int argc, const char **argv, const size_t *lens,
          const char **kbuf, size_t *klbuf, const char **vbuf, size_t *vlbuf)
{
    char call[8] = "";
    int words, flag = 0;
    size_t n;
    shard_reply *out = NULL;
    bool valid = true, number = false;
    before b;

    if (lens[0] - 1 < sizeof(call))
        memcpy(call, argv[0] + 1, lens[0] - 1);
    words = cache_words(call);
    if (words == 0 || (words > 0 && argc < words + 1) ||
        (words == -1 && argc < 2) || (words == -2 && argc < 3))
        return; /* not a call the harness makes */
    script.expected = (stores){.exptime = -1,
                               .keys = kbuf,
                               .klens = klbuf,
                               .values = vbuf,
                               .vlens = vlbuf};
    number = strcmp(call, "incr") == 0 || strcmp(call, "decr") == 0;
    if (number) {
        script.expected.number = digits(argc, argv, lens, 2);
        script.expected.number_set = true;
        valid = script.expected.number <= (uint64_t)INT64_MAX;
    }
    if (strcmp(call, "set") == 0 || strcmp(call, "add") == 0 || words == -2) {
        for (int i = 1; i + 1 < argc; i += 2) {
            kbuf[script.expected.n] = argv[i];
            klbuf[script.expected.n] = lens[i];
            vbuf[script.expected.n] = argv[i + 1];
            vlbuf[script.expected.n++] = lens[i + 1];
            if (words != -2)
                break;
        }
    }
    for (int i = 1; i < argc; i++) {
        bool key = words == -1 || i == 1 ||
                   (words == -2 && i % 2 == 1 && i + 1 < argc);
        valid = valid && (!key || fuzz_mc_valid_key(argv[i], lens[i]));
    }
    prepare(pool, &b);
    int rc = cache_call(
        pool, call, argc, argv, lens,
        strcmp(call, "add") == 0 || strcmp(call, "touch") == 0 ? NULL : &out,
        &flag, &n);
    drain(pool);
    if (!valid) {
        FUZZ_CHECK(rc == SHARD_EINVAL && out == NULL,
                   "'%s' with a bad key or delta: code %d", call, rc);
        FUZZ_CHECK(script.main_calls == 0 && script.data_calls == 0,
                   "'%s' with a bad key or delta was sent", call);
    } else if (!b.live) {
        FUZZ_CHECK(rc == SHARD_ENOSERVER && script.data_calls == 0,
                   "no server live: code %d", rc);
    } else if (b.refuse) {
        FUZZ_CHECK(rc == SHARD_EINVAL && script.data_calls == 0,
                   "'%s' of a value over the item size: code %d", call, rc);
    } else if (script.all_right && script.ring_changes == script.routed_at &&
               (words == -2 || script.expected.n == 0 ||
                value_fits(pool, NULL, 0))) {
        check_cache_right(call, rc, out, flag, n,
                          words == -2 ? script.expected.keys : argv + 1,
                          words == -2 ? script.expected.klens : lens + 1);
    }
    check_cache_result(call, rc, out, n,
                       words == -2 ? script.expected.keys : argv + 1,
                       words == -2 ? script.expected.klens : lens + 1);
    shard_reply_free(out);
}

/* --- input ---------------------------------------------------------------- */

static void
drop_log(int level, const char *msg, void *userdata)
{
    (void)level;
    (void)userdata;
    FUZZ_CHECK(msg != NULL, "NULL log message");
}

static void
check_event(const shard_event *ev, void *userdata)
{
    (void)userdata;
    FUZZ_CHECK(fuzz_mc_on_main(), "an event on the worker thread");
    if (ev->type == SHARD_EVENT_EJECTED || ev->type == SHARD_EVENT_RETURNED)
        script.ring_changes++;
    FUZZ_CHECK(script.pool == NULL || ev->server == SHARD_EVENT_POOL ||
                   ev->server < script.pool->conf->server_count,
               "event about server %zu", ev->server);
    FUZZ_CHECK(ev->reason != NULL && ev->addr != NULL, "event fields");
}

static shard_pool *
open_pool(size_t index)
{
    shard_options opts = SHARD_OPTIONS_INIT;
    const char *yaml = pools[index % npools];
    shard_pool *pool;

    opts.log_fn = drop_log;
    opts.log_level = SHARD_LOG_DEBUG;
    opts.event_fn = check_event;
    FUZZ_CHECK(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts) ==
                   SHARD_OK,
               "%s", shard_last_error());
    return pool;
}

/* Where the commands end: the first 0xff not escaped by '\'. */
static size_t
commands_end(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\\')
            i++;
        else if (data[i] == 0xff)
            return i;
    }
    return size;
}

/* The next line's arguments, unescaped into `buf`; argc 0 for an empty
 * line. */
static int
next_line(fuzz_bytes *in, char *buf, const char **argv, size_t *lens)
{
    size_t used = 0;
    int argc = 0;

    while (in->len > 0) {
        uint8_t b = fuzz_byte(in);
        if (b == '\n')
            break;
        if (argc == 0 || b == ' ') {
            argv[argc] = buf + used;
            lens[argc++] = 0;
            if (b == ' ')
                continue;
        }
        if (b == 0xfe && lens[argc - 1] == 0 && argv[argc - 1] == buf + used) {
            size_t n = ((size_t)fuzz_byte(in) * 256 + fuzz_byte(in)) * 32;
            argv[argc - 1] = big;
            lens[argc - 1] = n;
            continue;
        }
        if (b == '\\' && in->len > 0)
            b = fuzz_byte(in);
        if (argv[argc - 1] == big) /* bytes after a big one start anew */
            argv[argc - 1] = buf + used, lens[argc - 1] = 0;
        buf[used++] = (char)b;
        lens[argc - 1]++;
    }
    return argc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in = {data, size};

    if (big == NULL) {
        big = malloc(BIG_MAX);
        FUZZ_CHECK(big != NULL, "%d bytes", BIG_MAX);
        memset(big, 'x', BIG_MAX);
        build_pool70();
        script.main_thread = pthread_self();
    }
    now_us = 1000000;
    script.ring_changes = 0;
    script.pool = open_pool(fuzz_byte(&in));
    size_t end = commands_end(in.data, in.len);
    script.answers = (fuzz_bytes){in.data + end, in.len - end};
    (void)fuzz_byte(&script.answers); /* the 0xff */
    in.len = end;
    /* Room for the longest line: every byte an argument. */
    size_t room = end + 1;
    char *buf = malloc(room);
    const char **argv = malloc(room * sizeof(*argv));
    size_t *lens = malloc(room * sizeof(*lens));
    const char **kbuf = malloc(room * sizeof(*kbuf));
    const char **vbuf = malloc(room * sizeof(*vbuf));
    size_t *klbuf = malloc(room * sizeof(*klbuf));
    size_t *vlbuf = malloc(room * sizeof(*vlbuf));
    FUZZ_CHECK(buf && argv && lens && kbuf && vbuf && klbuf && vlbuf,
               "%zu bytes of commands", end);
    while (in.len > 0) {
        int argc = next_line(&in, buf, argv, lens);
        if (argc > 0 && lens[0] > 1 && argv[0][0] == '!')
            run_cache(script.pool, argc, argv, lens, kbuf, klbuf, vbuf, vlbuf);
        else
            run_command(script.pool, argc, argv, lens, kbuf, klbuf, vbuf,
                        vlbuf);
        /* Time passes between commands as the script says: ejected
         * servers come back. */
        __atomic_add_fetch(&now_us, (int64_t)fuzz_byte(&script.answers) * 10000,
                           __ATOMIC_RELAXED);
    }
    drain(script.pool);
    shard_pool_free(script.pool);
    script.pool = NULL;
    fuzz_mc_servers_reset();
    free(buf);
    free(argv);
    free(lens);
    free(kbuf);
    free(vbuf);
    free(klbuf);
    free(vlbuf);
    return 0;
}
