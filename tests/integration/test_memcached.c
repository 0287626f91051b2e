/*
 * memcached pools (`redis: false`) against real memcached servers and a
 * real nutcracker: placement identical to nutcracker's (keys written
 * through nutcracker are all found by libshard), every command twemproxy
 * serves, multi-gets split per server and sent to all before any reply
 * is read (proven with two fake servers that answer only once both have
 * been asked), a killed server, a stopped one (timeouts), ejection and
 * return, item sizes, async calls through the worker thread, and the
 * order of a blocking call behind async ones.
 */
#include <criterion/criterion.h>
#include <libmemcached/memcached.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <shard/shard.h>

#include "harness.h"
#include "harness_loop.h"

#define MAX_SERVERS 8
#define MAX_EVENTS 256

static harness_server *servers[MAX_SERVERS]; /* by pool index */
static size_t nservers;
static shard_pool *pool;
static int events[MAX_EVENTS]; /* types, in order */
static size_t event_server[MAX_EVENTS];
static int nevents;

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

TestSuite(memcached, .fini = teardown, .timeout = 60);

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
    if (nevents < MAX_EVENTS) {
        event_server[nevents] = ev->server;
        events[nevents++] = ev->type;
    }
}

static int
count_events(int type, size_t server)
{
    int n = 0;

    for (int i = 0; i < nevents; i++)
        n += events[i] == type && event_server[i] == server;
    return n;
}

/* Opens pool "m" over `n` fresh memcached servers with `directives`. */
static void
open_pool(size_t n, const char *directives)
{
    char yaml[2048];
    harness_server *started[MAX_SERVERS];
    shard_options opts = SHARD_OPTIONS_INIT;
    int used;

    used = snprintf(yaml, sizeof(yaml),
                    "m:\n  listen: 127.0.0.1:%d\n  redis: false\n%s"
                    "  servers:\n",
                    harness_free_port(), directives);
    for (size_t i = 0; i < n; i++) {
        started[i] = harness_memcached_start(0);
        cr_assert_not_null(started[i]);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", started[i]->addr);
    }
    opts.event_fn = on_event;
    nevents = 0;
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts),
                 SHARD_OK, "%s", shard_last_error());
    nservers = n;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            if (strcmp(started[j]->addr, shard_pool_server_addr(pool, i)) == 0)
                servers[i] = started[j];
        }
    }
}

/* A key that lives on server `s`, as "<prefix>:<n>". */
static const char *
key_on(size_t s, const char *prefix)
{
    for (int n = 0;; n++) {
        const char *k = harness_fmt("%s:%d", prefix, n);
        if (shard_pool_locate(pool, k, strlen(k)) == (int)s)
            return k;
    }
}

/* Runs a memcached command given as C strings (NULL-terminated). */
static int
mc(shard_reply **out, const char *first, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *w = first; w != NULL && argc < 32; w = va_arg(ap, char *))
        argv[argc++] = w;
    va_end(ap);
    return shard_mc_command_argv(pool, out, argc, argv, NULL);
}

static void
expect_status(shard_reply *r, const char *word)
{
    cr_assert_not_null(r);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STATUS, "type %d: %s",
                 shard_reply_type(r), shard_reply_str(r, NULL));
    cr_expect_str_eq(shard_reply_str(r, NULL), word);
    shard_reply_free(r);
}

/* Runs a command that answers one status word. */
static void
expect_cmd_status(const char *word, const char *first, ...)
{
    const char *argv[16];
    shard_reply *r = NULL;
    int argc = 0;
    va_list ap;

    va_start(ap, first);
    for (const char *w = first; w != NULL && argc < 16; w = va_arg(ap, char *))
        argv[argc++] = w;
    va_end(ap);
    cr_assert_eq(shard_mc_command_argv(pool, &r, argc, argv, NULL), SHARD_OK,
                 "%s: %s", first, shard_pool_errmsg(pool));
    expect_status(r, word);
}

/* The value of `key` through libshard, or NULL for a miss. */
static char *
get_value(const char *key)
{
    shard_reply *r;
    char *v = NULL;

    cr_assert_eq(mc(&r, "get", key, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    /* One key: its value itself, or nil. */
    cr_assert(shard_reply_type(r) == SHARD_REPLY_STRING ||
                  shard_reply_type(r) == SHARD_REPLY_NIL,
              "type %d", shard_reply_type(r));
    if (shard_reply_type(r) == SHARD_REPLY_STRING)
        v = strdup(shard_reply_str(r, NULL));
    shard_reply_free(r);
    return v;
}

/* --- direct access, bypassing libshard -----------------------------------
 */

static memcached_st *
direct(const harness_server *s)
{
    memcached_st *m = memcached_create(NULL);

    cr_assert_not_null(m);
    cr_assert_eq(memcached_server_add(m, "127.0.0.1", (in_port_t)s->port),
                 MEMCACHED_SUCCESS);
    memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 5000);
    return m;
}

static bool
direct_has(memcached_st *m, const char *key, size_t len)
{
    size_t vlen;
    uint32_t flags;
    memcached_return_t rc;
    char *v = memcached_get(m, key, len, &vlen, &flags, &rc);

    free(v);
    return v != NULL;
}

static memcached_return_t
read_stat(const memcached_instance_st *server, const char *key, size_t klen,
          const char *value, size_t vlen, void *ctx)
{
    (void)server;
    (void)vlen;
    if (klen == 7 && memcmp(key, "cmd_set", 7) == 0)
        *(long *)ctx = atol(value);
    return MEMCACHED_SUCCESS;
}

/* The server's count of set commands (stats cmd_set). */
static long
cmd_sets(const harness_server *s)
{
    memcached_st *m = direct(s);
    long n = -1;

    cr_assert_eq(memcached_stat_execute(m, NULL, read_stat, &n),
                 MEMCACHED_SUCCESS);
    memcached_free(m);
    return n;
}

/* --- placement against nutcracker -----------------------------------------
 */

/* One server line of a placement case. */
typedef struct member {
    int port;         /* 0: a free one */
    int weight;       /* its weight */
    const char *name; /* NULL: none */
} member;

/* Keys written through nutcracker; libshard must find every one of them. */
static void
check_placement(const char *hash, const char *dist, const char *tag,
                const member *m, size_t n, int nkeys)
{
    char yaml[2048];
    harness_server *started[MAX_SERVERS];
    int listen = harness_free_port();
    int used = snprintf(yaml, sizeof(yaml),
                        "m:\n  listen: 127.0.0.1:%d\n  redis: false\n"
                        "  hash: %s\n  distribution: %s\n%s%s%s"
                        "  servers:\n",
                        listen, hash, dist, tag ? "  hash_tag: \"" : "",
                        tag ? tag : "", tag ? "\"\n" : "");

    for (size_t i = 0; i < n; i++) {
        started[i] = harness_memcached_start(m[i].port);
        cr_assert_not_null(started[i], "memcached on %d", m[i].port);
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - 127.0.0.1:%d:%d%s%s\n", started[i]->port,
                         m[i].weight, m[i].name ? " " : "",
                         m[i].name ? m[i].name : "");
    }
    const char *path = harness_write_file("placement.yml", yaml);
    cr_assert(harness_nutcracker_accepts(path), "%s", yaml);
    harness_server *nut = harness_nutcracker_start(path, listen);
    cr_assert_not_null(nut);
    memcached_st *via = direct(nut);
    for (int k = 0; k < nkeys; k++) {
        const char *key = harness_fmt("key:%d{t%d}\xc3\xa9", k, k % 7);
        cr_assert_eq(
            memcached_set(via, key, strlen(key), key, strlen(key), 0, 0),
            MEMCACHED_SUCCESS, "set %s through nutcracker", key);
    }
    memcached_free(via);
    cr_assert_eq(shard_pool_open(&pool, path, "m", NULL), SHARD_OK, "%s",
                 shard_last_error());
    memcached_st *at[MAX_SERVERS];
    for (size_t i = 0; i < n; i++)
        at[i] = direct(started[i]);
    int misplaced = 0, found = 0;
    for (int k = 0; k < nkeys; k++) {
        const char *key = harness_fmt("key:%d{t%d}\xc3\xa9", k, k % 7);
        char *v = get_value(key);
        int s = shard_pool_locate(pool, key, strlen(key));
        size_t owner = n;
        for (size_t i = 0; i < n; i++)
            if (strcmp(shard_pool_server_addr(pool, (size_t)s),
                       started[i]->addr) == 0)
                owner = i;
        cr_assert_lt(owner, n);
        found += v != NULL && strcmp(v, key) == 0;
        misplaced += !direct_has(at[owner], key, strlen(key));
        free(v);
    }
    for (size_t i = 0; i < n; i++)
        memcached_free(at[i]);
    cr_expect_eq(misplaced, 0, "%d of %d keys not where libshard says",
                 misplaced, nkeys);
    cr_expect_eq(found, nkeys, "libshard found %d of %d keys", found, nkeys);
}

Test(memcached, ketama_placement_matches_nutcracker)
{
    member m[] = {{0, 1, NULL}, {0, 1, NULL}, {0, 1, NULL}, {0, 1, NULL}};

    check_placement("fnv1a_64", "ketama", NULL, m, 4, 400);
}

Test(memcached, weighted_modula_with_names_matches_nutcracker)
{
    member m[] = {{0, 2, "zeta"}, {0, 1, "alpha"}, {0, 3, "b"}};

    check_placement("murmur", "modula", NULL, m, 3, 300);
}

Test(memcached, hash_tags_and_md5_ketama_match_nutcracker)
{
    member m[] = {{0, 1, "s1"}, {0, 3, "s2"}, {0, 1, NULL}};

    check_placement("md5", "ketama", "{}", m, 3, 300);
}

Test(memcached, port_11211_is_hashed_as_its_host_like_nutcracker)
{
    if (!harness_port_is_free(11211))
        cr_skip_test("127.0.0.1:11211 is in use on this machine");
    member m[] = {{11211, 1, NULL}, {0, 1, NULL}, {0, 1, NULL}};

    check_placement("fnv1a_64", "ketama", NULL, m, 3, 300);
    cr_expect_str_eq(shard_pool_server_name(pool, 0), "127.0.0.1");
}

/* --- every command ----------------------------------------------------------
 */

Test(memcached, every_command_answers_in_memcached_words)
{
    shard_reply *r;

    open_pool(2, "");
    expect_cmd_status("STORED", "set", "k", "7", "0", "hello", NULL);
    expect_cmd_status("NOT_STORED", "add", "k", "0", "0", "x", NULL);
    expect_cmd_status("STORED", "add", "new", "0", "0", "x", NULL);
    expect_cmd_status("NOT_STORED", "replace", "nope", "0", "0", "x", NULL);
    expect_cmd_status("STORED", "replace", "new", "0", "0", "y", NULL);
    expect_cmd_status("STORED", "append", "k", "0", "0", "!", NULL);
    expect_cmd_status("STORED", "prepend", "k", "0", "0", ">", NULL);
    char *v = get_value("k");
    cr_expect_str_eq(v, ">hello!");
    free(v);

    /* gets: the value, its flags and its cas unique */
    cr_assert_eq(mc(&r, "gets", "k", NULL), SHARD_OK);
    const shard_reply *item = r;
    cr_assert_eq(shard_reply_type(item), SHARD_REPLY_ARRAY);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(item, 0), NULL), ">hello!");
    cr_expect_eq(shard_reply_integer(shard_reply_at(item, 1)), 7);
    long long cas = shard_reply_integer(shard_reply_at(item, 2));
    cr_expect_gt(cas, 0);
    shard_reply_free(r);
    cr_assert_eq(mc(&r, "gets", "k", "nothing", NULL), SHARD_OK);
    cr_assert_eq(shard_reply_len(r), 2, "several keys: an array of items");
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 0)), SHARD_REPLY_ARRAY);
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 1)), SHARD_REPLY_NIL);
    shard_reply_free(r);
    const char *stale = harness_fmt("%lld", cas + 1000);
    const char *fresh = harness_fmt("%lld", cas);
    expect_cmd_status("EXISTS", "cas", "k", "0", "0", "z", stale, NULL);
    expect_cmd_status("STORED", "cas", "k", "0", "0", "z", fresh, NULL);
    expect_cmd_status("NOT_FOUND", "cas", "gone", "0", "0", "z", "1", NULL);

    expect_cmd_status("STORED", "set", "n", "0", "0", "10", NULL);
    cr_assert_eq(mc(&r, "incr", "n", "5", NULL), SHARD_OK);
    cr_expect_eq(shard_reply_integer(r), 15);
    shard_reply_free(r);
    cr_assert_eq(mc(&r, "decr", "n", "100", NULL), SHARD_OK);
    cr_expect_eq(shard_reply_integer(r), 0, "decr stops at 0");
    shard_reply_free(r);
    expect_cmd_status("NOT_FOUND", "incr", "gone", "1", NULL);
    cr_assert_eq(mc(&r, "incr", "k", "1", NULL), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(r, NULL), "CLIENT_ERROR") != NULL, "%s",
              shard_reply_str(r, NULL));
    shard_reply_free(r);

    expect_cmd_status("TOUCHED", "touch", "k", "100", NULL);
    expect_cmd_status("NOT_FOUND", "touch", "gone", "100", NULL);
    expect_cmd_status("DELETED", "delete", "k", NULL);
    expect_cmd_status("NOT_FOUND", "delete", "k", NULL);
    cr_assert_eq(mc(&r, "version", NULL), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_STATUS);
    cr_expect(strchr(shard_reply_str(r, NULL), '.') != NULL);
    shard_reply_free(r);
}

Test(memcached, multi_get_splits_and_joins_in_key_order)
{
    shard_reply *r;
    const char *a, *b;
    static const char bin[] = "x\0y\r\nz";

    open_pool(3, "");
    a = key_on(0, "a");
    b = key_on(1, "b");
    const char *setv[] = {"set", b, "0", "0", bin};
    size_t setl[] = {3, strlen(b), 1, 1, sizeof(bin) - 1};
    cr_assert_eq(shard_mc_command_argv(pool, &r, 5, setv, setl), SHARD_OK);
    shard_reply_free(r);
    expect_cmd_status("STORED", "set", a, "0", "0", "va", NULL);
    cr_assert_eq(mc(&r, "get", b, "miss", a, key_on(2, "c"), a, NULL), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_len(r), 5);
    size_t len;
    const char *got = shard_reply_str(shard_reply_at(r, 0), &len);
    cr_expect_eq(len, sizeof(bin) - 1);
    cr_expect_eq(memcmp(got, bin, len), 0, "binary value intact");
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 1)), SHARD_REPLY_NIL);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "va");
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 3)), SHARD_REPLY_NIL);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 4), NULL), "va",
                     "a duplicate key gets its value again");
    shard_reply_free(r);
    /* mset: one set per key on its server, a result per key */
    cr_assert_eq(mc(&r, "mset", "0", "0", a, "1", b, "2", "z", "3", NULL),
                 SHARD_OK);
    cr_assert_eq(shard_reply_len(r), 3);
    for (size_t i = 0; i < 3; i++)
        cr_expect_str_eq(shard_reply_str(shard_reply_at(r, i), NULL), "STORED");
    shard_reply_free(r);
}

Test(memcached, bad_keys_and_commands_are_refused_before_sending)
{
    char long_key[252];
    shard_reply *r;

    open_pool(1, "");
    long before = cmd_sets(servers[0]);
    memset(long_key, 'k', 251);
    long_key[251] = '\0';
    cr_assert_eq(mc(&r, "set", long_key, "0", "0", "v", NULL), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(r, NULL), "251 bytes") != NULL, "%s",
              shard_reply_str(r, NULL));
    shard_reply_free(r);
    cr_assert_eq(mc(&r, "set", "a b", "0", "0", "v", NULL), SHARD_OK);
    cr_expect(strstr(shard_reply_str(r, NULL), "space") != NULL);
    shard_reply_free(r);
    cr_assert_eq(mc(&r, "get", "ok", "a\tb", NULL), SHARD_OK);
    cr_expect(strstr(shard_reply_str(r, NULL), "control") != NULL);
    shard_reply_free(r);
    cr_assert_eq(mc(&r, "GET", "a", NULL), SHARD_OK);
    cr_expect(strstr(shard_reply_str(r, NULL), "unknown") != NULL);
    shard_reply_free(r);
    long_key[250] = '\0'; /* 250 bytes: fine */
    expect_cmd_status("STORED", "set", long_key, "0", "0", "v", NULL);
    cr_expect_eq(cmd_sets(servers[0]), before + 1, "only the good set went");
    /* The Redis calls are for Redis pools. */
    const char *argv[] = {"GET", "a"};
    cr_expect_eq(shard_command_argv(pool, &r, 2, argv, NULL),
                 SHARD_EUNSUPPORTED);
}

/* Values up to the server's item size, learned from the server. */
static void
check_value_limit(size_t item, size_t max)
{
    char *big = malloc(max + 2);
    shard_reply *r;

    cr_assert_not_null(big);
    memset(big, 'v', max + 1);
    big[max + 1] = '\0';
    expect_cmd_status("STORED", "set", "k", "0", "0", "warm", NULL);
    long before = cmd_sets(servers[0]);
    big[max] = '\0';
    expect_cmd_status("STORED", "set", "k", "0", "0", big, NULL);
    big[max] = 'v';
    cr_assert_eq(mc(&r, "set", "k", "0", "0", big, NULL), SHARD_OK);
    cr_assert_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(r, NULL), "item size") != NULL, "%s",
              shard_reply_str(r, NULL));
    shard_reply_free(r);
    cr_expect_eq(cmd_sets(servers[0]), before + 1,
                 "the value over %zu bytes was never sent", item);
    free(big);
}

Test(memcached, values_over_the_default_item_size_are_refused)
{
    open_pool(1, "");
    check_value_limit(1048576, 1048516);
}

Test(memcached, values_fit_the_item_size_the_server_tells)
{
    harness_server *s = harness_memcached_start_item_size(0, "2m");
    char yaml[512];

    cr_assert_not_null(s);
    snprintf(yaml, sizeof(yaml),
             "m:\n  listen: 127.0.0.1:1\n  servers:\n   - %s:1\n", s->addr);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK);
    servers[0] = s;
    check_value_limit(2097152, 2097152 - 60);
}

/* --- failures ---------------------------------------------------------------
 */

Test(memcached, multi_get_with_a_killed_server_names_it_per_key)
{
    shard_reply *r;

    open_pool(3, "  timeout: 1000\n");
    const char *k0 = key_on(0, "k"), *k1 = key_on(1, "k"), *k2 = key_on(2, "k");
    expect_cmd_status("STORED", "set", k0, "0", "0", "v0", NULL);
    expect_cmd_status("STORED", "set", k2, "0", "0", "v2", NULL);
    harness_kill(servers[1]);
    cr_assert_eq(mc(&r, "get", k0, k1, k2, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "v0");
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "v2");
    const shard_reply *e = shard_reply_at(r, 1);
    cr_assert_eq(shard_reply_type(e), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(e, NULL), servers[1]->addr) != NULL,
              "the error names the dead server: %s", shard_reply_str(e, NULL));
    shard_reply_free(r);
    /* The pool goes on with the others. */
    char *v = get_value(k0);
    cr_expect_str_eq(v, "v0");
    free(v);
}

Test(memcached, a_split_get_retries_the_keys_of_an_ejected_server)
{
    shard_reply *r;

    open_pool(3, "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                 "  server_retry_timeout: 60000\n  read_retries: 1\n"
                 "  timeout: 1000\n");
    const char *k0 = key_on(0, "k"), *k1 = key_on(1, "k"), *k2 = key_on(2, "k");
    expect_cmd_status("STORED", "set", k0, "0", "0", "v0", NULL);
    expect_cmd_status("STORED", "set", k2, "0", "0", "v2", NULL);
    harness_kill(servers[1]);
    cr_assert_eq(mc(&r, "get", k0, k1, k2, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_len(r), 3);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "v0");
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 1)), SHARD_REPLY_NIL,
                 "asked again where its key lives now: a miss, not an error");
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "v2");
    shard_reply_free(r);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 1), 1);
}

Test(memcached, a_retried_key_of_a_split_gets_keeps_its_cas)
{
    shard_reply *r;

    open_pool(3, "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                 "  server_retry_timeout: 300\n  read_retries: 1\n"
                 "  timeout: 1000\n");
    const char *k0 = key_on(0, "k"), *k1 = key_on(1, "k");
    expect_cmd_status("STORED", "set", k0, "0", "0", "v0", NULL);
    harness_kill(servers[1]);
    cr_assert_eq(mc(&r, "get", k1, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    shard_reply_free(r);
    /* Ejected: k1 lives on another server now, and is stored there. */
    expect_cmd_status("STORED", "set", k1, "7", "0", "v1", NULL);
    usleep(400 * 1000); /* back in the ring, still dead */
    cr_assert_eq(mc(&r, "gets", k0, k1, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_assert_eq(shard_reply_len(r), 2);
    const shard_reply *e = shard_reply_at(r, 1);
    cr_assert_eq(shard_reply_type(e), SHARD_REPLY_ARRAY,
                 "the retried key's entry is [value, flags, cas]");
    cr_assert_eq(shard_reply_len(e), 3);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(e, 0), NULL), "v1");
    cr_expect_eq(shard_reply_integer(shard_reply_at(e, 1)), 7);
    shard_reply_free(r);
}

Test(memcached, a_stopped_server_times_out_after_timeout)
{
    shard_reply *r;
    long t0;

    open_pool(2, "  timeout: 300\n");
    const char *k0 = key_on(0, "k"), *k1 = key_on(1, "k");
    expect_cmd_status("STORED", "set", k0, "0", "0", "v0", NULL);
    expect_cmd_status("STORED", "set", k1, "0", "0", "v1", NULL);
    harness_pause(servers[1]);
    t0 = now_ms();
    cr_expect_eq(mc(&r, "get", k1, NULL), SHARD_ETIMEDOUT);
    long took = now_ms() - t0;
    cr_expect_geq(took, 250, "waited %ld ms", took);
    cr_expect_lt(took, 2000, "waited %ld ms", took);
    cr_expect(strstr(shard_pool_errmsg(pool), "timed out after 300 ms") != NULL,
              "%s", shard_pool_errmsg(pool));
    cr_expect(strstr(shard_pool_errmsg(pool), servers[1]->addr) != NULL);
    /* A split get: the other server's keys still come back. */
    cr_assert_eq(mc(&r, "get", k0, k1, NULL), SHARD_OK);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "v0");
    cr_expect_eq(shard_reply_type(shard_reply_at(r, 1)), SHARD_REPLY_ERROR);
    shard_reply_free(r);
    harness_resume(servers[1]);
    usleep(100 * 1000); /* past the reconnection back-off */
    char *v = get_value(k1);
    cr_expect_str_eq(v, "v1", "the server answers again once resumed");
    free(v);
}

/* A reload's timeout reaches the connections it keeps, at once and in
 * both directions (before, only servers the reload added had it). */
Test(memcached, a_reloaded_timeout_applies_to_kept_servers)
{
    shard_reply *r;
    char yaml[1024];

    open_pool(1, "  timeout: 2000\n");
    const char *k = key_on(0, "k");
    expect_cmd_status("STORED", "set", k, "0", "0", "v", NULL);
    for (int round = 0; round < 2; round++) {
        int timeout = round == 0 ? 200 : 1200;
        snprintf(yaml, sizeof(yaml),
                 "m:\n  listen: 127.0.0.1:%d\n  redis: false\n"
                 "  timeout: %d\n  servers:\n   - %s:1\n",
                 harness_free_port(), timeout, servers[0]->addr);
        cr_assert_eq(shard_pool_reload_string(pool, yaml, strlen(yaml)),
                     SHARD_OK, "%s", shard_pool_errmsg(pool));
        harness_pause(servers[0]);
        long t0 = now_ms();
        cr_expect_eq(mc(&r, "get", k, NULL), SHARD_ETIMEDOUT);
        long took = now_ms() - t0;
        harness_resume(servers[0]);
        cr_expect_geq(took, timeout - 50, "timeout %d: waited %ld ms", timeout,
                      took);
        cr_expect_lt(took, timeout + 700, "timeout %d: waited %ld ms", timeout,
                     took);
        cr_expect(strstr(shard_pool_errmsg(pool),
                         harness_fmt("timed out after %d ms", timeout)) != NULL,
                  "%s", shard_pool_errmsg(pool));
        usleep(300 * 1000); /* past the reconnection back-off */
        char *v = get_value(k);
        cr_expect_str_eq(v, "v", "answers again once resumed");
        free(v);
    }
}

/* A server restarted on its port while the pool rested costs no request:
 * the rested connection found closed is replaced and the command runs
 * again, for every kind of command, as a Redis pool peeks before reuse. */
Test(memcached, a_restart_while_idle_costs_no_request)
{
    static const char *const cmds[][6] = {
        {"set", NULL, "0", "0", "v", NULL},
        {"get", NULL, NULL},
        {"add", NULL, "0", "0", "w", NULL},
        {"incr", NULL, "1", NULL},
        {"delete", NULL, NULL},
    };
    shard_reply *r;

    open_pool(1, "  timeout: 1000\n");
    const char *k = key_on(0, "k");
    expect_cmd_status("STORED", "set", k, "0", "0", "1", NULL);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int port = servers[0]->port;
        usleep(20 * 1000); /* the connection rests */
        harness_stop(servers[0]);
        servers[0] = harness_memcached_start(port);
        cr_assert_not_null(servers[0], "cannot restart on port %d", port);
        const char *argv[6];
        int argc = 0;
        for (; cmds[i][argc] != NULL || argc == 1; argc++)
            argv[argc] = argc == 1 ? k : cmds[i][argc];
        int rc = shard_mc_command_argv(pool, &r, argc, argv, NULL);
        cr_expect_eq(rc, SHARD_OK, "%s after a restart: %s", cmds[i][0],
                     shard_pool_errmsg(pool));
        cr_expect(r != NULL && shard_reply_type(r) != SHARD_REPLY_ERROR,
                  "%s after a restart: %s", cmds[i][0],
                  r != NULL ? shard_reply_str(r, NULL) : "(none)");
        shard_reply_free(r);
    }
}

Test(memcached, a_dead_server_is_ejected_and_returns)
{
    shard_reply *r;

    open_pool(3, "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                 "  server_retry_timeout: 400\n  timeout: 500\n");
    const char *k = key_on(1, "k");
    int port = servers[1]->port;
    harness_kill(servers[1]);
    cr_expect_eq(mc(&r, "get", k, NULL), SHARD_ECONN, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 1), 1);
    cr_expect_neq(shard_pool_locate(pool, k, strlen(k)), 1,
                  "its keys go to the others meanwhile");
    expect_cmd_status("STORED", "set", k, "0", "0", "moved", NULL);
    /* Back on its port: after server_retry_timeout it takes keys again. */
    servers[1] = harness_memcached_start(port);
    cr_assert_not_null(servers[1]);
    usleep(450 * 1000);
    char *v = get_value(k);
    cr_expect_null(v, "the key is back on its (empty) server");
    free(v);
    cr_expect_eq(count_events(SHARD_EVENT_RETURNED, 1), 1);
    cr_expect_eq(shard_pool_locate(pool, k, strlen(k)), 1);
}

Test(memcached, the_probe_runs_on_the_worker_and_keeps_a_dead_server_out)
{
    shard_reply *r;

    open_pool(2, "  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                 "  server_retry_timeout: 200\n  server_probe: true\n"
                 "  timeout: 500\n");
    const char *k = key_on(0, "k");
    int port = servers[0]->port;
    harness_kill(servers[0]);
    cr_expect_lt(mc(&r, "get", k, NULL), 0);
    cr_expect_eq(count_events(SHARD_EVENT_EJECTED, 0), 1);
    for (long end = now_ms() + 700; now_ms() < end; usleep(20 * 1000))
        shard_pool_locate(pool, k, strlen(k));
    cr_expect_geq(count_events(SHARD_EVENT_PROBE_FAILED, 0), 1);
    cr_expect_eq(count_events(SHARD_EVENT_RETURNED, 0), 0);
    servers[0] = harness_memcached_start(port);
    cr_assert_not_null(servers[0]);
    for (long end = now_ms() + 2000;
         now_ms() < end && count_events(SHARD_EVENT_RETURNED, 0) == 0;
         usleep(20 * 1000))
        shard_pool_locate(pool, k, strlen(k));
    cr_expect_eq(count_events(SHARD_EVENT_PROBE_OK, 0), 1);
    cr_expect_eq(count_events(SHARD_EVENT_RETURNED, 0), 1);
    expect_cmd_status("STORED", "set", k, "0", "0", "back", NULL);
}

/* --- written everywhere before anything is read ---------------------------
 */

/* Two fake memcached servers that answer a get only once both have been
 * sent one: a client that reads one reply before writing the other get
 * waits for ever (here: its timeout). */
typedef struct fake_pair {
    int listen[2]; /* listening sockets */
    int port[2];   /* their ports */
    int rounds;    /* gets to answer on each */
    int answered;  /* rounds done */
    pthread_t thread;
} fake_pair;

static int
listen_any(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void
say(int fd, const char *s)
{
    (void)!write(fd, s, strlen(s));
}

/* Answers one request line; true when it was a get (held back: its key
 * is kept in `key`). */
static bool
answer_line(int fd, const char *line, char *key, size_t keylen)
{
    if (strncmp(line, "version", 7) == 0)
        say(fd, "VERSION 1.6.18\r\n");
    else if (strncmp(line, "stats", 5) == 0)
        say(fd, "STAT item_size_max 1048576\r\nEND\r\n");
    if (strncmp(line, "get ", 4) != 0)
        return false;
    snprintf(key, keylen, "%s", line + 4);
    return true;
}

static void *
fake_run(void *arg)
{
    fake_pair *p = arg;
    int conn[2] = {-1, -1};
    char buf[2][512], key[2][64];
    size_t have[2] = {0, 0};
    bool asked[2] = {false, false};

    while (p->answered < p->rounds) {
        struct pollfd pfd[4] = {{conn[0], POLLIN, 0},
                                {conn[1], POLLIN, 0},
                                {conn[0] < 0 ? p->listen[0] : -1, POLLIN, 0},
                                {conn[1] < 0 ? p->listen[1] : -1, POLLIN, 0}};
        if (poll(pfd, 4, 3000) <= 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (pfd[2 + i].revents)
                conn[i] = accept(p->listen[i], NULL, NULL);
        }
        for (int i = 0; i < 2; i++) {
            if (conn[i] < 0 || !(pfd[i].revents & POLLIN))
                continue;
            ssize_t n =
                read(conn[i], buf[i] + have[i], sizeof(buf[i]) - have[i] - 1);
            if (n <= 0)
                return NULL;
            have[i] += (size_t)n;
            buf[i][have[i]] = '\0';
            char *eol;
            while ((eol = strstr(buf[i], "\r\n")) != NULL) {
                *eol = '\0';
                asked[i] =
                    answer_line(conn[i], buf[i], key[i], sizeof(key[i])) ||
                    asked[i];
                have[i] -= (size_t)(eol + 2 - buf[i]);
                memmove(buf[i], eol + 2, have[i] + 1);
            }
        }
        if (asked[0] && asked[1]) {
            say(conn[0], harness_fmt("VALUE %s 0 1\r\n0\r\nEND\r\n", key[0]));
            say(conn[1], harness_fmt("VALUE %s 0 1\r\n1\r\nEND\r\n", key[1]));
            asked[0] = asked[1] = false;
            p->answered++;
        }
    }
    return NULL;
}

static int async_done;
static char async_values[2][8];

static void
on_pair(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    (void)p;
    (void)ud;
    cr_assert_eq(status, SHARD_OK);
    for (int i = 0; i < 2; i++)
        snprintf(async_values[i], sizeof(async_values[i]), "%s",
                 shard_reply_str(shard_reply_at(reply, (size_t)i), NULL));
    async_done++;
}

Test(memcached, a_split_get_asks_every_server_before_reading_any)
{
    fake_pair p = {.rounds = 2};
    char yaml[512];
    shard_reply *r;

    p.listen[0] = listen_any(&p.port[0]);
    p.listen[1] = listen_any(&p.port[1]);
    snprintf(yaml, sizeof(yaml),
             "m:\n  listen: 127.0.0.1:1\n  timeout: 2000\n  servers:\n"
             "   - 127.0.0.1:%d:1 s0\n   - 127.0.0.1:%d:1 s1\n",
             p.port[0], p.port[1]);
    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK);
    const char *a = NULL, *b = NULL;
    for (int n = 0; a == NULL || b == NULL; n++) {
        const char *k = harness_fmt("k%d", n);
        if (shard_pool_locate(pool, k, strlen(k)) == 0)
            a = a ? a : k;
        else
            b = b ? b : k;
    }
    pthread_create(&p.thread, NULL, fake_run, &p);
    /* Blocking: inline on this thread. */
    long t0 = now_ms();
    cr_assert_eq(mc(&r, "get", a, b, NULL), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 0), NULL), "0");
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 1), NULL), "1");
    cr_expect_lt(now_ms() - t0, 1500, "no server waited for its timeout");
    shard_reply_free(r);
    /* Async: on the worker thread. */
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    const char *argv[] = {"get", a, b};
    cr_assert_eq(shard_mc_command_async(pool, 3, argv, NULL, on_pair, NULL),
                 SHARD_OK);
    cr_expect_eq(harness_loop_run(pool, &async_done, 1, 1500), 1);
    cr_expect_str_eq(async_values[0], "0");
    cr_expect_str_eq(async_values[1], "1");
    pthread_join(p.thread, NULL);
    cr_expect_eq(p.answered, 2);
    harness_loop_detach(pool);
    close(p.listen[0]);
    close(p.listen[1]);
}

/* --- async through the worker ---------------------------------------------
 */

typedef struct seen {
    int calls;
    int status;
    char value[64];
} seen;

static void
on_reply(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    seen *s = ud;

    (void)p;
    s->calls++;
    s->status = status;
    s->value[0] = '\0';
    if (reply != NULL && shard_reply_type(reply) == SHARD_REPLY_ARRAY)
        reply = shard_reply_at(reply, 0);
    if (reply != NULL && shard_reply_str(reply, NULL) != NULL)
        snprintf(s->value, sizeof(s->value), "%s",
                 shard_reply_str(reply, NULL));
}

static int total_calls;

static void
count_reply(shard_pool *p, const shard_reply *reply, int status, void *ud)
{
    on_reply(p, reply, status, ud);
    total_calls++;
}

Test(memcached, async_calls_run_on_the_worker_and_call_back_once)
{
    seen set = {0}, get = {0}, miss = {0};

    open_pool(2, "  timeout: 1000\n");
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    const char *sv[] = {"set", "ak", "0", "0", "async"};
    const char *gv[] = {"get", "ak"};
    const char *mv[] = {"get", "nothing-here"};
    total_calls = 0;
    cr_assert_eq(shard_mc_command_async(pool, 5, sv, NULL, count_reply, &set),
                 SHARD_OK);
    cr_assert_eq(shard_mc_command_async(pool, 2, gv, NULL, count_reply, &get),
                 SHARD_OK);
    cr_assert_eq(shard_mc_command_async(pool, 2, mv, NULL, count_reply, &miss),
                 SHARD_OK);
    cr_expect_eq(set.calls + get.calls, 0, "never inside the submit");
    cr_expect_eq(harness_loop_run(pool, &total_calls, 3, 2000), 3);
    cr_expect_str_eq(set.value, "STORED");
    cr_expect_str_eq(get.value, "async", "the get after the set sees it");
    cr_expect_eq(miss.status, SHARD_OK);
    cr_expect_eq(shard_pool_pending(pool), 0);
    /* A failed submit never calls back. */
    const char *bad[] = {"GET", "x"};
    cr_expect_eq(shard_mc_command_async(pool, 2, bad, NULL, NULL, NULL),
                 SHARD_EINVAL);
    usleep(100 * 1000);
    harness_loop_run(pool, &total_calls, 4, 100);
    cr_expect_eq(set.calls + get.calls + miss.calls, 3, "each exactly once");
    harness_loop_detach(pool);
}

Test(memcached, a_blocking_call_keeps_its_place_behind_async_ones)
{
    seen set = {0};

    open_pool(1, "  timeout: 1000\n");
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    expect_cmd_status("STORED", "set", "order", "0", "0", "old", NULL);
    const char *sv[] = {"set", "order", "0", "0", "new"};
    cr_assert_eq(shard_mc_command_async(pool, 5, sv, NULL, on_reply, &set),
                 SHARD_OK);
    /* Not run by the loop yet: the blocking get must still see "new". */
    char *v = get_value("order");
    cr_expect_str_eq(v, "new");
    free(v);
    harness_loop_run(pool, &set.calls, 1, 1000);
    cr_expect_eq(set.calls, 1);
    harness_loop_detach(pool);
}

Test(memcached, freeing_the_pool_calls_back_pending_ones_without_waiting)
{
    seen got = {0};

    /* No timeout: a stopped server would hold the worker for ever. */
    open_pool(1, "");
    cr_assert_eq(harness_loop_attach(pool), SHARD_OK);
    expect_cmd_status("STORED", "set", "k", "0", "0", "v", NULL);
    harness_pause(servers[0]);
    const char *gv[] = {"get", "k"};
    cr_assert_eq(shard_mc_command_async(pool, 2, gv, NULL, on_reply, &got),
                 SHARD_OK);
    harness_loop_run(pool, &got.calls, 1, 200);
    cr_expect_eq(got.calls, 0);
    long t0 = now_ms();
    shard_pool_free(pool);
    pool = NULL;
    cr_expect_lt(now_ms() - t0, 1000, "the free did not wait for the server");
    cr_expect_eq(got.calls, 1);
    cr_expect_eq(got.status, SHARD_ECLOSED);
    harness_resume(servers[0]); /* the worker then ends by itself */
}

Test(memcached, stats_count_memcached_requests)
{
    char *json;
    size_t len;

    open_pool(1, "");
    expect_cmd_status("STORED", "set", "s", "0", "0", "v", NULL);
    char *v = get_value("s");
    free(v);
    cr_assert_eq(shard_pool_stats_json(pool, &json, &len), SHARD_OK);
    cr_expect(strstr(json, "\"requests\": 2,") != NULL, "%s", json);
    cr_expect(strstr(json, "\"responses\": 2,") != NULL, "%s", json);
    cr_expect(strstr(json, "\"server_connections\": 1,") != NULL, "%s", json);
    shard_free(json);
}
