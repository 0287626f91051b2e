/*
 * Config: arbitrary bytes to the nutcracker.yml parser, as
 * shard_pool_open_string() gives them (conf_parse) and as a reload reads
 * them (conf_parse_flags with CONF_NO_DNS). A refused config must say
 * why; an accepted one must hold what the rest of libshard relies on, and
 * each of its pools gets its servers and ring built and keys placed, as a
 * pool open does. Then the bytes go to shard_pool_reload_string() on a
 * pool "alpha" of each protocol: a reload takes exactly what its parse
 * accepts (and the same protocol), and before or after it the pool places
 * keys on its live servers. Nothing connects anywhere.
 *
 * Input: the YAML. Seeds: every file of tests/data (run.sh passes them).
 */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conn_redis.h"
#include "error.h"
#include "fuzz.h"
#include "reload.h" /* and lib/pool.h: "pool.h" would be <shard/pool.h> */

int __real_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service,
                       const struct addrinfo *hints, struct addrinfo **res);

/*
 * conf_parse's getaddrinfo (linked with --wrap): numeric hosts resolve
 * as usual, "localhost" as 127.0.0.1, every other name fails as it would
 * offline. Fuzzing must neither wait for nor send DNS queries.
 */
int
__wrap_getaddrinfo(const char *node, const char *service,
                   const struct addrinfo *hints, struct addrinfo **res)
{
    struct addrinfo numeric = {0};

    if (hints != NULL)
        numeric = *hints;
    numeric.ai_flags |= AI_NUMERICHOST;
    if (node != NULL && strcmp(node, "localhost") == 0)
        node = "127.0.0.1";
    return __real_getaddrinfo(node, service, &numeric, res);
}

conn *__wrap_conn_redis_new(conn_env *env, const conn_target *target,
                            server_stats *stats, int server,
                            const conn_redis_login *login);

static int
offline_connect(conn *c, char *err, size_t errlen)
{
    error_format(err, errlen, "server '%s': no network while fuzzing",
                 c->target->addr);
    return SHARD_ECONN;
}

static void
offline_nothing(conn *c)
{
    (void)c;
}

static bool
offline_connected(const conn *c)
{
    (void)c;
    return false;
}

static void
offline_destroy(conn *c)
{
    free(c);
}

/* A connection that never connects: preconnect after a reload. */
static const conn_ops offline_ops = {
    .name = "offline",
    .connect = offline_connect,
    .read = offline_nothing,
    .write = offline_nothing,
    .close = offline_nothing,
    .connected = offline_connected,
    .destroy = offline_destroy,
};

/* The pool's connections (linked with --wrap): offline ones. */
conn *
__wrap_conn_redis_new(conn_env *env, const conn_target *target,
                      server_stats *stats, int server,
                      const conn_redis_login *login)
{
    conn *c = calloc(1, sizeof(*c));

    (void)login;
    FUZZ_CHECK(c != NULL, "offline connection");
    conn_init(c, &offline_ops, env, target, stats, server);
    return c;
}

static void
check_refusal(const char *err)
{
    static const char source[] = "<string>:";

    FUZZ_CHECK(strnlen(err, ERROR_MAX) < ERROR_MAX, "message not terminated");
    FUZZ_CHECK(strncmp(err, source, sizeof(source) - 1) == 0,
               "message does not name the source: \"%s\"", err);
}

static void
check_server(const conf_pool *p, const conf_server *s)
{
    FUZZ_CHECK(s->weight > 0, "pool '%s': weight 0", p->name);
    FUZZ_CHECK(s->identity != NULL && s->addr != NULL && s->host != NULL,
               "pool '%s': server strings", p->name);
    FUZZ_CHECK(s->port >= 0 && s->port <= 65535, "pool '%s': port %d", p->name,
               s->port);
}

/* What the pool open and the routing take for granted. */
static void
check_pool(const conf_file *cf, const conf_pool *p)
{
    FUZZ_CHECK(p->name != NULL, "pool without a name");
    FUZZ_CHECK(conf_find_pool(cf, p->name) == p,
               "pool '%s' not found by its name", p->name);
    FUZZ_CHECK(p->server_count > 0, "pool '%s' has no server", p->name);
    FUZZ_CHECK(p->hash < HASH_KIND_COUNT && p->distribution <= DIST_RANDOM,
               "pool '%s': hash %d, distribution %d", p->name, p->hash,
               p->distribution);
    FUZZ_CHECK(p->server_connections > 0, "pool '%s': server_connections %d",
               p->name, p->server_connections);
    for (size_t i = 0; i < p->server_count; i++)
        check_server(p, &p->servers[i]);
}

/* The pool's servers and ring, and a few keys placed on them. */
static void
open_pool(const conf_pool *p)
{
    static const char *const keys[] = {"", "a", "{a}b", "placeholder"};
    uint64_t rng = 1;
    fuzz_topo t;

    fuzz_topo_open(&t, p);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        (void)fuzz_topo_locate(&t, keys[i], strlen(keys[i]), &rng);
    fuzz_topo_close(&t);
}

/* The pools a reload replaces, one of each protocol (modula: opening
 * them sorts no ketama points, which would cost more than the reload). */
static const char *const reload_bases[] = {
    "alpha:\n  listen: 127.0.0.1:22121\n  distribution: modula\n"
    "  servers:\n   - 127.0.0.1:11211:1\n   - 127.0.0.1:11212:1\n",
    "alpha:\n  listen: 127.0.0.1:22121\n  distribution: modula\n"
    "  redis: true\n  auto_eject_hosts: true\n  servers:\n"
    "   - 127.0.0.1:6379:1\n   - 127.0.0.1:6380:2 b\n",
};

/* Reloads a pool opened from `base` with the input; `parsed`: whether
 * the reload's parse accepts it. */
static void
reload_pool(const char *base, const char *yaml, size_t size, bool parsed)
{
    static const char *const keys[] = {"", "a", "{a}b", "placeholder"};
    shard_pool *pool;
    int rc;

    FUZZ_CHECK(shard_pool_open_string(&pool, base, strlen(base), NULL, NULL) ==
                   SHARD_OK,
               "%s", shard_last_error());
    rc = shard_pool_reload_string(pool, yaml, size);
    if (rc == SHARD_OK)
        FUZZ_CHECK(parsed, "reloaded from a config its parse refuses");
    else
        FUZZ_CHECK(rc == SHARD_ECONFIG && shard_pool_errmsg(pool)[0] != '\0',
                   "reload failed with %d: \"%s\"", rc,
                   shard_pool_errmsg(pool));
    /* A reload's preconnect fails here (offline), which may eject every
     * server: then, and only then, keys have no server. Whether any is
     * live is read after each locate, which returns servers whose retry
     * time has passed (on the real clock: a server_retry_timeout of 2 ms
     * passes between two lines). */
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int s = shard_pool_locate(pool, keys[i], strlen(keys[i]));
        bool live = false;
        for (size_t j = 0; j < pool->conf->server_count; j++)
            live = live || pool->servers[j].live;
        FUZZ_CHECK(live ? s >= 0 && (size_t)s < pool->conf->server_count &&
                              pool->servers[s].live
                        : s == SHARD_ENOSERVER,
                   "key '%s' on %d after a reload (%d)", keys[i], s, rc);
    }
    shard_pool_free(pool);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[ERROR_MAX] = "", reload_err[ERROR_MAX] = "";
    const char *yaml = (const char *)data;
    conf_file *cf = conf_parse(yaml, size, "<string>", err, sizeof(err));
    conf_file *reload = conf_parse_flags(yaml, size, "<string>", CONF_NO_DNS,
                                         reload_err, sizeof(reload_err));

    if (reload == NULL)
        check_refusal(reload_err);
    for (size_t i = 0; i < sizeof(reload_bases) / sizeof(reload_bases[0]); i++)
        reload_pool(reload_bases[i], size > 0 ? yaml : "", size,
                    reload != NULL);
    if (cf == NULL) {
        check_refusal(err);
        conf_free(reload);
        return 0;
    }
    /* A config accepted at open must not be refused by a reload. */
    FUZZ_CHECK(reload != NULL, "accepted, refused on reload: %s", reload_err);
    FUZZ_CHECK(cf->pool_count > 0, "no pool");
    for (size_t i = 0; i < cf->pool_count; i++) {
        check_pool(cf, &cf->pools[i]);
        open_pool(&cf->pools[i]);
    }
    conf_free(cf);
    conf_free(reload);
    return 0;
}
