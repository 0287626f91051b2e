/*
 * The pool handle and its whole lifecycle: open (config, servers,
 * topology, engine, connections), health (ejection and return), deferred
 * and final free. The API modules (redis_api.c, txn.c, async.c) sit on
 * top of it; nothing here calls them.
 */
#ifndef SHARD_LIB_POOL_H
#define SHARD_LIB_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include <shard/pool.h>

#include "command.h"
#include "conf.h"
#include "conn_redis.h"
#include "eject.h"
#include "engine.h"
#include "error.h"
#include "health.h"
#include "sentinel.h"
#include "server.h"
#include "stats_doc.h"
#include "stats_port.h"
#include "topology.h"

/* A server a reload removed, kept while connections still point at it
 * (reload_sweep frees it). */
typedef struct retired_server {
    struct server server;        /* moved out of the pool's array */
    char *identity;              /* its own copy: the old config is gone */
    struct retired_server *next; /* in pool->retired */
} retired_server;

/*
 * A handle that keeps its own connection on the pool's engine (a
 * transaction), embedded in it: freeing the pool cuts the link (pool and
 * conn become NULL) and the handle stays valid until its own free.
 */
typedef struct pool_child {
    struct shard_pool *pool; /* NULL once the pool is freed */
    conn *conn;              /* its connection; NULL once the pool is freed */
    struct pool_child *next; /* in pool->children */
} pool_child;

struct shard_pool {
    conf_file *file;        /* the whole parsed config (owns the strings) */
    const conf_pool *conf;  /* this pool inside `file` */
    shard_options opts;     /* copy of the caller's options */
    struct server *servers; /* conf->server_count, in twemproxy order */
    topology *topo;         /* the current snapshot; swapped whole */
    uint64_t rng;           /* random distribution state */
    char errmsg[ERROR_MAX]; /* shard_pool_errmsg() */
    engine engine;          /* requests in flight, for every API */
    request *pipe_head;     /* oldest pipelined request not yet read */
    request *pipe_tail;     /* newest one */
    pool_child *children;   /* open transactions (their own conns) */
    health health;          /* ejection, return, probes, events */
    int64_t opened_us;      /* monotonic time of open, for uptime */
    stats_port *stats_port; /* shard_options.stats_listen's thread */
    conn_redis_login login; /* redis_auth and redis_db, owned */
    sentinel *sentinel;     /* with `sentinels:`; NULL otherwise */
    command_cache commands; /* the commands it saw last */
    pthread_mutex_t servers_lock;   /* held to swap `servers` (a reload)
                                       and to read them on another thread */
    struct retired_server *retired; /* servers a reload removed: kept while
                                       connections still use them */
    char *watch_path;               /* shard_options.watch_config: the file */
    int64_t watch_next_us;          /* when to look at it next */
    struct stat watch_stat;         /* what it was at the last look */
    struct mc_worker *mc_worker;    /* memcached pools: the worker thread */
    bool free_pending;              /* freed from inside a callback: later */
};

/* Sets the pool's message; returns `code`. */
int pool_fail(shard_pool *pool, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A new connection to server `index` on the pool's engine (which owns
 * it), closed until first used: Redis or memcached as the pool is; NULL
 * when out of memory. For handles that need a connection of their own
 * (transactions).
 */
conn *pool_conn_new(shard_pool *pool, int index);

/*
 * The pool's connection to server `index`, made on first use (one per
 * server: Redis keeps a connection's commands in order, so a key's
 * commands keep theirs whatever server_connections says). NULL when out
 * of memory.
 */
conn *pool_server_conn(shard_pool *pool, int index);

/* The server of `key` on the current topology; -1 when none is live. */
int pool_locate(shard_pool *pool, const char *key, size_t len);

/*
 * The arguments every call checks first: SHARD_EINVAL when `pool` is NULL
 * (shard_last_error() says so) or `arg` is (the pool's message names it,
 * `what`); SHARD_OK otherwise.
 */
int pool_check_arg(shard_pool *pool, const void *arg, const char *what);

/*
 * Reads the whole file `path` into *out (malloc'd, *len bytes). SHARD_EIO
 * or SHARD_ENOMEM with shard_last_error() set.
 */
int pool_read_file(const char *path, char **out, size_t *len);

/* What the stats documents read of the pool (any thread). */
stats_view pool_stats_view(const shard_pool *pool);

/* After a public call: a free requested inside a callback happens now. */
void pool_settle(shard_pool *pool);

/* Links a child to the pool (the pool frees its connection on close). */
void pool_child_add(shard_pool *pool, pool_child *child);

/* Unlinks a child before it is freed. */
void pool_child_remove(shard_pool *pool, pool_child *child);

#endif
