/* The pool handle: one config, its ring, and (later) its engine. */
#ifndef SHARD_LIB_POOL_H
#define SHARD_LIB_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <shard/pool.h>

#include "conf.h"
#include "eject.h"
#include "engine.h"
#include "error.h"
#include "ring.h"
#include "route.h"

struct shard_pool {
    conf_file *file;         /* the whole parsed config (owns the strings) */
    const conf_pool *conf;   /* this pool inside `file` */
    route_rules rules;       /* hash, tag and distribution */
    ring *ring;              /* current ring over the live servers */
    bool *live;              /* per server: in the ring now */
    server_health *health;   /* per server: failures and ejection */
    int64_t next_rebuild_us; /* earliest return of an ejected server */
    uint64_t rng;            /* random distribution state */
    shard_options opts;      /* copy of the caller's options */
    char errmsg[ERROR_MAX];  /* shard_pool_errmsg() */
    engine engine;           /* requests in flight, for every API */
    conn **conns;            /* server i, connection k: [i * per + k] */
    size_t conns_per_server; /* server_connections */
    size_t *next_conn;       /* round robin position per server */
    request *pipe_head;      /* oldest pipelined request not yet read */
    request *pipe_tail;      /* newest one */
    struct shard_txn *txns;  /* open transactions (their own conns) */
    bool free_pending;       /* freed from inside a callback: later */
};

/* Rebuilds the ring over the servers marked live. */
int pool_build_ring(shard_pool *pool);

/* Creates the server connections (connecting when `preconnect`). */
int pool_engine_init(shard_pool *pool);

/* Fails what is pending with SHARD_ECLOSED and frees the connections. */
void pool_engine_shutdown(shard_pool *pool);

/* Checks an async submit: a Redis pool, a callback, event hooks set. */
int pool_check_async(shard_pool *pool, shard_reply_fn fn);

/* Counts an async request in and arms the timer; ENOMEM when r is NULL. */
int pool_track_async(shard_pool *pool, request *r, shard_reply_fn fn,
                     void *userdata);

/* The pool is being freed: its transactions lose their connections. */
void txn_pool_closing(shard_pool *pool);

/* Frees the pool for real once no callback is running. */
void pool_release(shard_pool *pool);

/* Sets the pool's message; returns `code`. */
int pool_fail(shard_pool *pool, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
