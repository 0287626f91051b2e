/*
 * Ejection (auto_eject_hosts): each failure of a server counts; at
 * server_failure_limit it leaves the ring, which is rebuilt at once over
 * the live servers (so ketama point counts change too). After
 * server_retry_timeout it returns on the next placement, without a health
 * check, exactly as twemproxy 0.5 (twemproxy-0.5.md 3.5). Any answer from
 * the server resets its count.
 */
#include <stdlib.h>
#include <sys/time.h>

#include "eject.h"
#include "log.h"
#include "pool.h"

static int64_t
wall_clock_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* The earliest retry time of an ejected server, 0 when none is ejected. */
static int64_t
next_rebuild(const shard_pool *pool)
{
    int64_t next = 0;

    for (size_t i = 0; i < pool->conf->server_count; i++) {
        int64_t t = pool->health[i].next_retry_us;
        if (t != 0 && (next == 0 || t < next))
            next = t;
    }
    return next;
}

static void
rebuild(shard_pool *pool)
{
    /* Out of memory keeps the old ring: placement stays consistent. */
    (void)pool_build_ring(pool);
    pool->next_rebuild_us = next_rebuild(pool);
}

static void
on_failed(void *owner, int server, const char *why)
{
    shard_pool *pool = owner;
    server_health *h = &pool->health[server];
    const char *addr = pool->conf->servers[server].addr;
    int limit = pool->conf->server_failure_limit;

    POOL_LOG(pool, SHARD_LOG_INFO, "server '%s' failed: %s", addr, why);
    if (!pool->conf->auto_eject_hosts || !pool->live[server])
        return;
    /* A limit of 0 behaves like 1 in twemproxy. */
    if (++h->failures < (limit > 0 ? limit : 1))
        return;
    POOL_LOG(pool, SHARD_LOG_WARN,
             "server '%s' ejected after %d failure(s): %s; back in %d ms", addr,
             h->failures, why, pool->conf->server_retry_timeout_ms);
    h->failures = 0;
    h->ejections++;
    h->ejected_at_us = wall_clock_us();
    h->next_retry_us =
        engine_now_us() + (int64_t)pool->conf->server_retry_timeout_ms * 1000;
    pool->live[server] = false;
    rebuild(pool);
}

static void
on_ok(void *owner, int server)
{
    shard_pool *pool = owner;

    pool->health[server].failures = 0;
}

int
eject_init(shard_pool *pool)
{
    pool->health = calloc(pool->conf->server_count, sizeof(*pool->health));
    if (pool->health == NULL)
        return SHARD_ENOMEM;
    pool->engine.health.failed = on_failed;
    pool->engine.health.ok = on_ok;
    pool->engine.health.owner = pool;
    return SHARD_OK;
}

void
eject_readmit(shard_pool *pool)
{
    int64_t now;

    if (pool->next_rebuild_us == 0 ||
        (now = engine_now_us()) < pool->next_rebuild_us)
        return;
    for (size_t i = 0; i < pool->conf->server_count; i++) {
        server_health *h = &pool->health[i];
        if (h->next_retry_us != 0 && h->next_retry_us <= now) {
            h->next_retry_us = 0;
            pool->live[i] = true;
            POOL_LOG(pool, SHARD_LOG_INFO,
                     "server '%s' back in the ring: retry time reached",
                     pool->conf->servers[i].addr);
        }
    }
    rebuild(pool);
}
