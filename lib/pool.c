/*
 * A pool's lifecycle: open it from YAML (config, servers in twemproxy
 * order, the first topology, the engine and its connections), keep its
 * servers' health (ejection and return swap in a new topology), free it
 * (now, or once the running callback returns), and describe it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "conn_mc.h"
#include "conn_redis.h"
#include "pool.h"

int
pool_fail(shard_pool *pool, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(pool->errmsg, sizeof(pool->errmsg), fmt, ap) < 0)
        pool->errmsg[0] = '\0';
    va_end(ap);
    return code;
}

int
pool_check_arg(shard_pool *pool, const void *arg, const char *what)
{
    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if (arg == NULL)
        return pool_fail(pool, SHARD_EINVAL, "%s is NULL", what);
    return SHARD_OK;
}

/* --- the config ----------------------------------------------------------- */

int
pool_read_file(const char *path, char **out, size_t *len)
{
    char buf[256];
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t used = 0, cap = 0, n;

    if (f == NULL)
        return error_set_last(SHARD_EIO, "cannot open '%s': %s", path,
                              strerror_r(errno, buf, sizeof(buf)));
    do {
        if (used == cap) {
            char *grown = realloc(data, cap = cap ? cap * 2 : 4096);
            if (grown == NULL) {
                free(data);
                fclose(f);
                return error_set_last(SHARD_ENOMEM, "out of memory");
            }
            data = grown;
        }
        n = fread(data + used, 1, cap - used, f);
        used += n;
    } while (n > 0);
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(data);
        return error_set_last(SHARD_EIO, "cannot read '%s'", path);
    }
    *out = data;
    *len = used;
    return SHARD_OK;
}

static int
select_pool(const conf_file *cf, const char *name, const char *source,
            const conf_pool **out)
{
    char names[ERROR_MAX] = "";
    size_t used = 0;

    *out = conf_find_pool(cf, name);
    if (*out != NULL)
        return SHARD_OK;
    for (size_t i = 0; i < cf->pool_count && used < sizeof(names); i++) {
        int n = snprintf(names + used, sizeof(names) - used, "%s'%s'",
                         i ? ", " : "", cf->pools[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
    if (name == NULL)
        return error_set_last(SHARD_ENOPOOL,
                              "%s: holds %zu pools (%s); name one", source,
                              cf->pool_count, names);
    return error_set_last(SHARD_ENOPOOL, "%s: no pool '%s' (pools: %s)", source,
                          name, names);
}

int
pool_locate(shard_pool *pool, const char *key, size_t len)
{
    return topology_locate(pool->topo, key, len, &pool->rng);
}

/* --- open ----------------------------------------------------------------- */

static int
servers_init(shard_pool *pool)
{
    const conf_pool *c = pool->conf;

    pool->servers = calloc(c->server_count, sizeof(*pool->servers));
    if (pool->servers == NULL)
        return SHARD_ENOMEM;
    for (size_t i = 0; i < c->server_count; i++) {
        if (server_init(&pool->servers[i], i, &c->servers[i]) != SHARD_OK)
            return SHARD_ENOMEM;
    }
    return SHARD_OK;
}

conn *
pool_conn_new(shard_pool *pool, int index)
{
    const conf_pool *c = pool->conf;
    engine *e = &pool->engine;
    struct server *s = &pool->servers[index];
    conn *cn = c->redis ? conn_redis_new(&e->env, &s->target, &s->stats, index,
                                         &pool->login)
                        : conn_mc_new(&e->env, &s->target, &s->stats, index,
                                      pool->mc_worker, c->timeout_ms);

    if (cn != NULL && engine_add_conn(e, cn) != SHARD_OK) {
        conn_free(cn);
        cn = NULL;
    }
    return cn;
}

conn *
pool_server_conn(shard_pool *pool, int index)
{
    struct server *s = &pool->servers[index];

    if (s->conn == NULL)
        s->conn = pool_conn_new(pool, index);
    return s->conn;
}

static conn *
conn_of_server(void *pool, int index)
{
    return pool_server_conn(pool, index);
}

/* twemproxy's preconnect: one connection per server at open, failures
 * ignored. Without it nothing is allocated per connection before use. */
static int
preconnect(shard_pool *pool)
{
    for (size_t i = 0; pool->conf->preconnect && i < pool->conf->server_count;
         i++) {
        conn *cn = pool_server_conn(pool, (int)i);
        if (cn == NULL)
            return SHARD_ENOMEM;
        if (pool->conf->redis)
            conn_preconnect(cn);
        else
            conn_mc_warm(cn);
    }
    return SHARD_OK;
}

/* A failed async request's reason becomes the pool's message. */
static void
note_failure(void *owner, int status, const char *msg)
{
    pool_fail(owner, status, "%s", msg);
}

stats_view
pool_stats_view(const shard_pool *pool)
{
    stats_view v = {.pool_name = pool->conf->name,
                    .servers = pool->servers,
                    .server_count = pool->conf->server_count,
                    .pool = &pool->engine.stats,
                    .opened_us = pool->opened_us};

    return v;
}

/* The stats port's document, made on its thread. */
static char *
render_stats(void *ctx, size_t *len)
{
    shard_pool *pool = ctx;

    /* A reload swaps the servers: not while a document reads them. */
    pthread_mutex_lock(&pool->servers_lock);
    stats_view v = pool_stats_view(pool);
    char *doc = stats_json(&v, len);
    pthread_mutex_unlock(&pool->servers_lock);
    return doc;
}

/* shard_options.stats_listen: the port serves from now on. */
static int
stats_port_open(shard_pool *pool)
{
    char err[ERROR_MAX];
    const char *addr = pool->opts.stats_listen;

    pool->opts.stats_listen = NULL; /* the caller's string: not kept */
    if (addr == NULL)
        return SHARD_OK;
    pool->stats_port =
        stats_port_start(addr, render_stats, pool, err, sizeof(err));
    if (pool->stats_port == NULL)
        return error_set_last(SHARD_EINVAL, "pool '%s': %s", pool->conf->name,
                              err);
    return SHARD_OK;
}

/* `sentinels:`: where each master is now, then follow it. */
static int
sentinel_open(shard_pool *pool)
{
    char err[ERROR_MAX];

    if (pool->conf->sentinel_count == 0)
        return SHARD_OK;
    pool->sentinel = calloc(1, sizeof(*pool->sentinel));
    if (pool->sentinel == NULL)
        return SHARD_ENOMEM;
    return sentinel_init(pool->sentinel, pool->conf, &pool->health,
                         &pool->engine, &pool->engine.stats.sentinel_switches,
                         err, sizeof(err));
}

static int
pool_init(shard_pool *pool, conf_file *cf, const conf_pool *c,
          const shard_options *opts)
{
    int rc;

    pool->file = cf;
    pool->conf = c;
    pool->opts = *opts;
    pool->opened_us = clock_monotonic_us();
    pool->login.db = c->redis_db;
    if (c->redis_auth != NULL &&
        (pool->login.auth = strdup(c->redis_auth)) == NULL)
        return SHARD_ENOMEM;
    pool->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)pool;
    pool->rng |= 1;
    engine_init(&pool->engine, c->timeout_ms);
    STAT_SET(pool->engine.stats.client_connections, 1); /* the pool itself */
    pool->engine.note = note_failure;
    pool->engine.note_owner = pool;
    if (!c->redis && (pool->mc_worker = mc_worker_new()) == NULL)
        return SHARD_ENOMEM;
    if ((rc = servers_init(pool)) != SHARD_OK ||
        (rc = health_init(&pool->health, c, &pool->opts, pool->servers,
                          &pool->topo, &pool->engine, conn_of_server, pool)) !=
            SHARD_OK ||
        (rc = sentinel_open(pool)) != SHARD_OK)
        return rc;
    if ((rc = preconnect(pool)) != SHARD_OK)
        return rc;
    return stats_port_open(pool);
}

/* The caller's options, or the defaults; SHARD_EINVAL for a version this
 * library does not know. */
static int
options_take(shard_options *out, const shard_options *opts)
{
    shard_options defaults = SHARD_OPTIONS_INIT;

    if (opts == NULL) {
        *out = defaults;
        return SHARD_OK;
    }
    if (opts->version < 1 || opts->version > SHARD_OPTIONS_VERSION)
        return error_set_last(SHARD_EINVAL,
                              "shard_options.version is %d; this libshard "
                              "knows 1 to %d: start from SHARD_OPTIONS_INIT "
                              "or shard_options_init()",
                              opts->version, SHARD_OPTIONS_VERSION);
    /* A caller built for version 1 has a shorter struct: read only that
     * much and keep the defaults of the fields added since. */
    *out = defaults;
    memcpy(out, opts,
           opts->version == 1 ? offsetof(shard_options, event_fn)
                              : sizeof(*out));
    return SHARD_OK;
}

static void pool_release(shard_pool *pool);

static int
pool_open_source(shard_pool **out, const char *yaml, size_t len,
                 const char *source, const char *pool_name,
                 const shard_options *opts)
{
    char err[ERROR_MAX];
    shard_options options;
    const conf_pool *c;
    conf_file *cf;
    int rc;

    if ((rc = options_take(&options, opts)) != SHARD_OK)
        return rc;
    cf = conf_parse(yaml, len, source, err, sizeof(err));
    if (cf == NULL) {
        error_set_last_msg(err);
        return SHARD_ECONFIG;
    }
    if ((rc = select_pool(cf, pool_name, source, &c)) != SHARD_OK) {
        conf_free(cf);
        return rc;
    }
    shard_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        conf_free(cf);
        return error_set_last(SHARD_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&pool->servers_lock, NULL);
    if ((rc = pool_init(pool, cf, c, &options)) != SHARD_OK) {
        engine_shutdown(&pool->engine);
        /* The stats port's message is already the thread's last error. */
        if (rc != SHARD_EINVAL)
            error_set_last(rc, "pool '%s': %s while opening it", c->name,
                           shard_strerror(rc));
        pool_release(pool);
        return rc;
    }
    *out = pool;
    error_set_last_msg("");
    return SHARD_OK;
}

SHARD_API int
shard_pool_open_string(shard_pool **out, const char *yaml, size_t len,
                       const char *pool_name, const shard_options *opts)
{
    if (out == NULL)
        return error_set_last(SHARD_EINVAL, "out is NULL");
    *out = NULL;
    if (yaml == NULL)
        return error_set_last(SHARD_EINVAL, "yaml is NULL");
    return pool_open_source(out, yaml, len, "<string>", pool_name, opts);
}

/* shard_options.watch_config: remembers the file as it is now. */
static int
watch_start(shard_pool **out, const char *path)
{
    shard_pool *pool = *out;

    pool->watch_path = strdup(path);
    if (pool->watch_path == NULL) {
        shard_pool_free(pool);
        *out = NULL;
        return error_set_last(SHARD_ENOMEM, "out of memory");
    }
    if (stat(path, &pool->watch_stat) != 0)
        memset(&pool->watch_stat, 0, sizeof(pool->watch_stat));
    pool->watch_next_us = clock_monotonic_us() + 1000000;
    return SHARD_OK;
}

SHARD_API int
shard_pool_open(shard_pool **out, const char *yaml_path, const char *pool_name,
                const shard_options *opts)
{
    char *yaml;
    size_t len;
    int rc;

    if (out == NULL)
        return error_set_last(SHARD_EINVAL, "out is NULL");
    *out = NULL;
    if (yaml_path == NULL)
        return error_set_last(SHARD_EINVAL, "yaml_path is NULL");
    rc = pool_read_file(yaml_path, &yaml, &len);
    if (rc != SHARD_OK)
        return rc;
    rc = pool_open_source(out, yaml, len, yaml_path, pool_name, opts);
    free(yaml);
    if (rc == SHARD_OK && (*out)->opts.watch_config)
        rc = watch_start(out, yaml_path);
    return rc;
}

SHARD_API int
shard_config_check(const char *yaml_path)
{
    char err[ERROR_MAX], *yaml;
    size_t len;
    int rc;

    if (yaml_path == NULL)
        return error_set_last(SHARD_EINVAL, "yaml_path is NULL");
    rc = pool_read_file(yaml_path, &yaml, &len);
    if (rc != SHARD_OK)
        return rc;
    conf_file *cf = conf_parse(yaml, len, yaml_path, err, sizeof(err));
    free(yaml);
    if (cf == NULL) {
        error_set_last_msg(err);
        return SHARD_ECONFIG;
    }
    conf_free(cf);
    error_set_last_msg("");
    return SHARD_OK;
}

SHARD_API int
shard_options_init(shard_options *opts, int version)
{
    shard_options defaults = SHARD_OPTIONS_INIT;

    if (opts == NULL)
        return error_set_last(SHARD_EINVAL, "opts is NULL");
    if (version < 1 || version > SHARD_OPTIONS_VERSION)
        return error_set_last(SHARD_EINVAL,
                              "shard_options version %d is unknown to this "
                              "libshard (1 to %d)",
                              version, SHARD_OPTIONS_VERSION);
    /* A version 1 caller's struct ends before the version 2 fields. */
    defaults.version = version;
    memcpy(opts, &defaults,
           version == 1 ? offsetof(shard_options, event_fn) : sizeof(*opts));
    return SHARD_OK;
}

/* --- children (transactions) ---------------------------------------------- */

void
pool_child_add(shard_pool *pool, pool_child *child)
{
    child->pool = pool;
    child->next = pool->children;
    pool->children = child;
    STAT_ADD(pool->engine.stats.client_connections, 1);
}

void
pool_child_remove(shard_pool *pool, pool_child *child)
{
    pool_child **p = &pool->children;

    while (*p != NULL && *p != child)
        p = &(*p)->next;
    if (*p == child) {
        *p = child->next;
        STAT_ADD(pool->engine.stats.client_connections, (uint64_t)-1);
        STAT_ADD(pool->engine.stats.client_eof, 1);
    }
    child->next = NULL;
}

/* The engine frees the children's connections; their handles stay. */
static void
children_cut(shard_pool *pool)
{
    for (pool_child *ch = pool->children; ch != NULL; ch = ch->next) {
        ch->pool = NULL;
        ch->conn = NULL;
    }
    pool->children = NULL;
}

/* --- free ----------------------------------------------------------------- */

static void
pipeline_free(shard_pool *pool)
{
    request *r, *next;

    for (r = pool->pipe_head; r != NULL; r = next) {
        next = r->next;
        request_free(r);
    }
    pool->pipe_head = pool->pipe_tail = NULL;
}

static void
retired_free(shard_pool *pool)
{
    retired_server *r, *next;

    for (r = pool->retired; r != NULL; r = next) {
        next = r->next;
        server_release(&r->server);
        free(r->identity);
        free(r);
    }
    pool->retired = NULL;
}

static void
pool_release(shard_pool *pool)
{
    pipeline_free(pool);
    topology_free(pool->topo);
    for (size_t i = 0; pool->servers != NULL && i < pool->conf->server_count;
         i++)
        server_release(&pool->servers[i]);
    if (pool->sentinel != NULL)
        sentinel_release(pool->sentinel);
    free(pool->sentinel);
    free(pool->servers);
    retired_free(pool);
    mc_worker_release(pool->mc_worker); /* after the engine's connections */
    conf_free(pool->file);
    free(pool->login.auth);
    free(pool->watch_path);
    pthread_mutex_destroy(&pool->servers_lock);
    free(pool);
}

SHARD_API void
shard_pool_free(shard_pool *pool)
{
    if (pool == NULL)
        return;
    /* A callback is running: finish delivering, then free (pool_settle). */
    if (pool->engine.delivering > 0) {
        pool->free_pending = true;
        return;
    }
    /* The port's thread reads the servers: it stops before they go. */
    stats_port_stop(pool->stats_port);
    pool->stats_port = NULL;
    children_cut(pool);
    engine_shutdown(&pool->engine); /* callbacks run, with SHARD_ECLOSED */
    pool_release(pool);
}

void
pool_settle(shard_pool *pool)
{
    if (pool->free_pending && pool->engine.delivering == 0) {
        pool->free_pending = false;
        shard_pool_free(pool);
    }
}

/* --- description ---------------------------------------------------------- */

SHARD_API const char *
shard_pool_errmsg(const shard_pool *pool)
{
    return pool != NULL ? pool->errmsg : "pool is NULL";
}

SHARD_API const char *
shard_pool_name(const shard_pool *pool)
{
    return pool != NULL ? pool->conf->name : NULL;
}

SHARD_API int
shard_pool_locate(shard_pool *pool, const char *key, size_t keylen)
{
    if (pool == NULL)
        return error_set_last(SHARD_EINVAL, "pool is NULL");
    if (key == NULL && keylen > 0)
        return pool_fail(pool, SHARD_EINVAL, "key is NULL");
    health_readmit(&pool->health);
    int index = pool_locate(pool, key ? key : "", keylen);
    if (index < 0)
        return pool_fail(pool, SHARD_ENOSERVER, "pool '%s' has no live server",
                         pool->conf->name);
    return index;
}

SHARD_API size_t
shard_pool_server_count(const shard_pool *pool)
{
    return pool != NULL ? pool->conf->server_count : 0;
}

SHARD_API const char *
shard_pool_server_name(const shard_pool *pool, size_t index)
{
    if (pool == NULL || index >= pool->conf->server_count)
        return NULL;
    return pool->servers[index].identity;
}

SHARD_API const char *
shard_pool_server_addr(const shard_pool *pool, size_t index)
{
    if (pool == NULL || index >= pool->conf->server_count)
        return NULL;
    return pool->servers[index].target.addr;
}
