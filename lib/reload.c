/*
 * Live reload. The new text is parsed and checked whole, and everything
 * the swap needs is allocated, before anything changes: a failure leaves
 * the pool as it was. Then, with nothing left that can fail, the new
 * servers (in the new twemproxy order) and their topology replace the old
 * ones. A server in both configs (same identity and address) is copied
 * over with its state, connections and counters; one only in the old is
 * retired: its connections finish what they carry, then close. Every
 * connection and every fragment waiting on one learns its server's new
 * index (-1 when retired).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "conf.h"
#include "conn_mc.h"
#include "log.h"
#include "reload.h"

/* reload_plan.from of a server made from the new config, and of a slot
 * not filled (yet, or its server_init failed). */
#define FRESH (-1)
#define NONE (-2)

/* What a reload builds before it changes anything. */
typedef struct reload_plan {
    conf_file *file;         /* the new config */
    const conf_pool *conf;   /* the pool in it */
    struct server *servers;  /* the new array */
    int *from;               /* per new server: old index, FRESH or NONE */
    int *to;                 /* per old server: new index, or -1 (retired) */
    retired_server **retire; /* per old server: its retirement, or NULL */
    topology *topo;          /* over the new servers */
    char *auth;              /* the new redis_auth, owned */
    conn_target *sentinels;  /* the new `sentinels:`, owned; NULL: none */
} reload_plan;

static void
plan_free(reload_plan *p, size_t old_count)
{
    for (size_t j = 0; p->servers != NULL && j < p->conf->server_count; j++) {
        if (p->from[j] == FRESH) /* copies own nothing of their own */
            server_release(&p->servers[j]);
    }
    for (size_t i = 0; p->retire != NULL && i < old_count; i++) {
        if (p->retire[i] != NULL)
            free(p->retire[i]->identity);
        free(p->retire[i]);
    }
    topology_free(p->topo);
    free(p->servers);
    free(p->from);
    free(p->to);
    free(p->retire);
    free(p->auth);
    if (p->sentinels != NULL)
        sentinel_targets_free(p->sentinels, p->conf->sentinel_count);
    conf_free(p->file);
}

/*
 * The same server: what ketama hashes and where it is reached. Under
 * Sentinel the name alone: the address is Sentinel's to give, and the
 * file's is only where to look before Sentinel has answered.
 */
static bool
same_server(const struct server *s, const conf_server *cs, bool by_name)
{
    return s->identity_len == cs->identity_len &&
           memcmp(s->identity, cs->identity, cs->identity_len) == 0 &&
           (by_name || (s->target.port == cs->port &&
                        strcmp(s->target.host, cs->host) == 0));
}

/* Matches the new servers with the old and builds the new array. */
static int
plan_servers(shard_pool *pool, reload_plan *p)
{
    size_t n = p->conf->server_count, old = pool->conf->server_count;
    bool by_name = pool->sentinel != NULL;

    p->servers = calloc(n, sizeof(*p->servers));
    p->from = malloc(n * sizeof(*p->from));
    p->to = malloc(old * sizeof(*p->to));
    p->retire = calloc(old, sizeof(*p->retire));
    if (p->servers == NULL || p->from == NULL || p->to == NULL ||
        p->retire == NULL)
        return SHARD_ENOMEM;
    for (size_t i = 0; i < old; i++)
        p->to[i] = -1;
    for (size_t j = 0; j < n; j++)
        p->from[j] = NONE;
    for (size_t j = 0; j < n; j++) {
        const conf_server *cs = &p->conf->servers[j];
        for (size_t i = 0; i < old && p->from[j] < 0; i++) {
            if (p->to[i] < 0 && same_server(&pool->servers[i], cs, by_name)) {
                p->from[j] = (int)i;
                p->to[i] = (int)j;
            }
        }
        if (p->from[j] >= 0) {
            /* A copy: its state goes on; its config is the new one's. */
            struct server *s = &p->servers[j];
            *s = pool->servers[p->from[j]];
            s->index = j;
            s->identity = cs->identity;
            s->weight = cs->weight;
        } else if (server_init(&p->servers[j], j, cs) != SHARD_OK) {
            return SHARD_ENOMEM; /* it released itself: still NONE */
        } else {
            p->from[j] = FRESH;
        }
    }
    for (size_t i = 0; i < old; i++) {
        const struct server *s = &pool->servers[i];
        if (p->to[i] >= 0)
            continue;
        p->retire[i] = calloc(1, sizeof(*p->retire[i]));
        if (p->retire[i] == NULL || (p->retire[i]->identity = strndup(
                                         s->identity, s->identity_len)) == NULL)
            return SHARD_ENOMEM;
    }
    return SHARD_OK;
}

static int
plan_build(shard_pool *pool, reload_plan *p, const char *yaml, size_t len,
           const char *source)
{
    char err[ERROR_MAX];
    const conf_pool *old = pool->conf;
    int rc;

    p->file =
        conf_parse_flags(yaml, len, source, CONF_NO_DNS, err, sizeof(err));
    if (p->file == NULL)
        return pool_fail(pool, SHARD_ECONFIG, "%s", err);
    p->conf = conf_find_pool(p->file, old->name);
    if (p->conf == NULL)
        return pool_fail(pool, SHARD_ECONFIG, "%s: no pool '%s'", source,
                         old->name);
    if (p->conf->redis != old->redis)
        return pool_fail(pool, SHARD_ECONFIG,
                         "%s: pool '%s' changes \"redis:\" from %s to %s; a "
                         "pool keeps its protocol: open a new one",
                         source, old->name, old->redis ? "true" : "false",
                         p->conf->redis ? "true" : "false");
    if ((p->conf->sentinel_count > 0) != (old->sentinel_count > 0))
        return pool_fail(pool, SHARD_ECONFIG,
                         "%s: pool '%s' %s \"sentinels:\"; a pool keeps "
                         "whether it follows Sentinel: open a new one",
                         source, old->name,
                         old->sentinel_count > 0 ? "drops" : "adds");
    if (p->conf->sentinel_count > 0 &&
        (p->sentinels = sentinel_targets_new(p->conf)) == NULL)
        return pool_fail(pool, SHARD_ENOMEM, "out of memory for the reload");
    if ((rc = plan_servers(pool, p)) != SHARD_OK)
        return pool_fail(pool, rc, "out of memory for the new servers");
    route_rules rules = topology_rules_of(p->conf);
    p->topo = topology_build(&rules, p->servers, p->conf->server_count);
    if (p->topo == NULL || (p->conf->redis_auth != NULL &&
                            (p->auth = strdup(p->conf->redis_auth)) == NULL))
        return pool_fail(pool, SHARD_ENOMEM, "out of memory for the reload");
    return SHARD_OK;
}

/* Points connection `c` (and what waits on it) at its server's new place. */
static void
move_conn(conn *c, const reload_plan *p, shard_pool *pool)
{
    for (size_t i = 0; i < pool->conf->server_count; i++) {
        if (c->target != &pool->servers[i].target)
            continue;
        int j = p->to[i];
        struct server *s = j >= 0 ? &p->servers[j] : &p->retire[i]->server;
        c->target = &s->target;
        c->stats = &s->stats;
        c->server = j;
        for (fragment *f = c->head; f != NULL; f = f->next)
            f->server = j;
        return;
    }
}

/* From here nothing can fail. */
static void
plan_commit(shard_pool *pool, reload_plan *p)
{
    size_t old = pool->conf->server_count;
    engine *e = &pool->engine;

    pthread_mutex_lock(&pool->servers_lock);
    for (size_t k = 0; k < e->nconns; k++)
        move_conn(e->conns[k], p, pool);
    for (size_t i = 0; i < old; i++) {
        retired_server *r = p->retire[i];
        if (r == NULL)
            continue;
        r->server = pool->servers[i];
        r->server.identity = r->identity;
        r->server.index = (size_t)-1;
        r->next = pool->retired;
        pool->retired = r;
        p->retire[i] = NULL;
    }
    free(pool->servers);
    pool->servers = p->servers;
    p->servers = NULL;
    conf_free(pool->file);
    pool->file = p->file;
    pool->conf = p->conf;
    p->file = NULL;
    pthread_mutex_unlock(&pool->servers_lock);

    if (pool->sentinel != NULL) {
        sentinel_retarget(pool->sentinel, p->sentinels,
                          pool->conf->sentinel_count);
        p->sentinels = NULL;
    }

    health_reconfigure(&pool->health, pool->conf, pool->servers, p->topo);
    p->topo = NULL;
    free(pool->login.auth);
    pool->login.auth = p->auth;
    pool->login.db = pool->conf->redis_db;
    p->auth = NULL;
    e->timeout_ms = pool->conf->timeout_ms;
    e->env.timed = pool->conf->timeout_ms > 0;
    e->env.timeout_us = (int64_t)pool->conf->timeout_ms * 1000;
}

/* True while a connection (a transaction's) still points at `r`. */
static bool
retired_in_use(const shard_pool *pool, const retired_server *r)
{
    for (size_t i = 0; i < pool->engine.nconns; i++) {
        if (pool->engine.conns[i]->target == &r->server.target)
            return true;
    }
    return false;
}

void
reload_sweep(shard_pool *pool)
{
    retired_server **p = &pool->retired;

    while (*p != NULL) {
        retired_server *r = *p;
        conn *c = r->server.conn;
        if (c != NULL && c->head == NULL) {
            /* Drained: closed and freed. */
            engine_remove_conn(&pool->engine, c);
            conn_free(c);
            r->server.conn = NULL;
        }
        /* Once no connection points at it, it goes: a pool whose config
         * keeps changing must not keep every server it ever had. Fragments
         * still naming it hold their own reference to its address. */
        if (r->server.conn == NULL && !retired_in_use(pool, r)) {
            *p = r->next;
            server_release(&r->server);
            free(r->identity);
            free(r);
            continue;
        }
        p = &r->next;
    }
}

/* Kept memcached connections take a new timeout at their next command (a
 * Redis connection reads the engine's at each check). */
static void
retime_mc_conns(shard_pool *pool)
{
    for (size_t j = 0; j < pool->conf->server_count; j++) {
        if (pool->servers[j].conn != NULL)
            conn_mc_set_timeout(pool->servers[j].conn, pool->conf->timeout_ms);
    }
}

static int
reload_text(shard_pool *pool, const char *yaml, size_t len, const char *source)
{
    reload_plan p = {0};
    size_t old = pool->conf->server_count, kept = 0, added = 0;
    int old_timeout = pool->conf->timeout_ms, rc;

    /* Finished internal work first: nothing may hold an old index. */
    engine_run_deferred(&pool->engine);
    if ((rc = plan_build(pool, &p, yaml, len, source)) != SHARD_OK) {
        plan_free(&p, old);
        return rc;
    }
    for (size_t j = 0; j < p.conf->server_count; j++) {
        if (p.from[j] >= 0)
            kept++;
        else
            added++;
    }
    plan_commit(pool, &p);
    plan_free(&p, old);
    if (!pool->conf->redis && pool->conf->timeout_ms != old_timeout)
        retime_mc_conns(pool);
    STAT_ADD(pool->engine.stats.reloads, 1);
    for (size_t j = 0; pool->conf->preconnect && j < pool->conf->server_count;
         j++) {
        conn *c = pool_server_conn(pool, (int)j);
        if (c != NULL)
            conn_preconnect(c);
    }
    reload_sweep(pool);
    if (pool->sentinel != NULL)
        sentinel_ask_all(pool->sentinel);
    char why[ERROR_MAX];
    error_format(why, sizeof(why),
                 "%s: %zu servers kept, %zu added, %zu removed", source, kept,
                 added, old - kept);
    LOG(&pool->opts, SHARD_LOG_INFO, "pool '%s' reloaded: %s", pool->conf->name,
        why);
    health_event(&pool->health, SHARD_EVENT_RELOADED, -1, SHARD_OK, why, 0);
    pool->errmsg[0] = '\0';
    return SHARD_OK;
}

SHARD_API int
shard_pool_reload_string(shard_pool *pool, const char *yaml, size_t len)
{
    int rc = pool_check_arg(pool, yaml, "yaml");

    if (rc != SHARD_OK)
        return rc;
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    return reload_text(pool, yaml, len, "<string>");
}

SHARD_API int
shard_pool_reload(shard_pool *pool, const char *yaml_path)
{
    char *yaml;
    size_t len;
    int rc = pool_check_arg(pool, yaml_path, "yaml_path");

    if (rc != SHARD_OK)
        return rc;
    if (engine_closing(&pool->engine))
        return pool_fail(pool, SHARD_ECLOSED, "pool is being freed");
    if ((rc = pool_read_file(yaml_path, &yaml, &len)) != SHARD_OK)
        return pool_fail(pool, rc, "%s", shard_last_error());
    rc = reload_text(pool, yaml, len, yaml_path);
    free(yaml);
    return rc;
}

/* A file is "changed" when any of these differ. */
static bool
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
           a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

void
reload_watch(shard_pool *pool)
{
    struct stat now;
    int64_t t = clock_monotonic_us();

    if (t < pool->watch_next_us)
        return;
    pool->watch_next_us = t + 1000000;
    if (stat(pool->watch_path, &now) != 0 || same_file(&now, &pool->watch_stat))
        return;
    pool->watch_stat = now;
    /* A file caught half written fails to parse; its last write changes it
     * again, and that version is taken. */
    if (shard_pool_reload(pool, pool->watch_path) != SHARD_OK)
        LOG(&pool->opts, SHARD_LOG_WARN, "pool '%s' kept its config: %s",
            pool->conf->name, pool->errmsg);
}
