/* Public API glue: open a pool from YAML, place keys, describe servers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static int
read_file(const char *path, char **out, size_t *len)
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
pool_build_ring(shard_pool *pool)
{
    const conf_pool *c = pool->conf;
    ring_member *members = calloc(c->server_count, sizeof(*members));

    if (members == NULL)
        return SHARD_ENOMEM;
    for (size_t i = 0; i < c->server_count; i++) {
        members[i].identity = c->servers[i].identity;
        members[i].identity_len = c->servers[i].identity_len;
        members[i].weight = c->servers[i].weight;
    }
    ring *r = ring_build(c->distribution, members, c->server_count, pool->live);
    free(members);
    if (r == NULL)
        return SHARD_ENOMEM;
    ring_free(pool->ring);
    pool->ring = r;
    return SHARD_OK;
}

static int
pool_init(shard_pool *pool, conf_file *cf, const conf_pool *c,
          const shard_options *opts)
{
    shard_options defaults = SHARD_OPTIONS_INIT;

    pool->file = cf;
    pool->conf = c;
    pool->opts = opts != NULL ? *opts : defaults;
    pool->rules.hash = c->hash;
    pool->rules.dist = c->distribution;
    pool->rules.has_tag = c->has_hash_tag;
    memcpy(pool->rules.tag, c->hash_tag, sizeof(pool->rules.tag));
    pool->rules.server_count = c->server_count;
    pool->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)(uintptr_t)pool;
    pool->rng |= 1;
    pool->live = malloc(c->server_count * sizeof(*pool->live));
    if (pool->live == NULL)
        return SHARD_ENOMEM;
    for (size_t i = 0; i < c->server_count; i++)
        pool->live[i] = true;
    int rc = pool_build_ring(pool);
    if (rc == SHARD_OK)
        rc = pool_engine_init(pool);
    return rc != SHARD_OK ? rc : eject_init(pool);
}

static int
pool_open_source(shard_pool **out, const char *yaml, size_t len,
                 const char *source, const char *pool_name,
                 const shard_options *opts)
{
    char err[ERROR_MAX];
    const conf_pool *c;
    conf_file *cf;
    int rc;

    if (opts != NULL && opts->version < 1)
        return error_set_last(SHARD_EINVAL,
                              "shard_options.version is %d; "
                              "start from SHARD_OPTIONS_INIT",
                              opts->version);
    cf = conf_parse(yaml, len, source, err, sizeof(err));
    if (cf == NULL) {
        error_set_last_msg(err);
        return SHARD_ECONFIG;
    }
    rc = select_pool(cf, pool_name, source, &c);
    if (rc != SHARD_OK) {
        conf_free(cf);
        return rc;
    }
    shard_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL || (rc = pool_init(pool, cf, c, opts)) != SHARD_OK) {
        if (pool == NULL)
            conf_free(cf);
        shard_pool_free(pool);
        return error_set_last(SHARD_ENOMEM, "out of memory");
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
    rc = read_file(yaml_path, &yaml, &len);
    if (rc != SHARD_OK)
        return rc;
    rc = pool_open_source(out, yaml, len, yaml_path, pool_name, opts);
    free(yaml);
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
    rc = read_file(yaml_path, &yaml, &len);
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

SHARD_API void
shard_pool_free(shard_pool *pool)
{
    if (pool == NULL)
        return;
    /* A callback is running: finish delivering, then free (pool_release). */
    if (pool->engine.delivering > 0) {
        pool->free_pending = true;
        return;
    }
    pool_engine_shutdown(pool);
    if (pool->engine.delivering == 0)
        pool_release(pool);
}

void
pool_release(shard_pool *pool)
{
    ring_free(pool->ring);
    free(pool->live);
    free(pool->health);
    conf_free(pool->file);
    free(pool);
}

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
        return SHARD_EINVAL;
    if (key == NULL && keylen > 0)
        return pool_fail(pool, SHARD_EINVAL, "key is NULL");
    eject_readmit(pool);
    int index = route_server(&pool->rules, pool->ring, key ? key : "", keylen,
                             &pool->rng);
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
    return pool->conf->servers[index].identity;
}

SHARD_API const char *
shard_pool_server_addr(const shard_pool *pool, size_t index)
{
    if (pool == NULL || index >= pool->conf->server_count)
        return NULL;
    return pool->conf->servers[index].addr;
}
