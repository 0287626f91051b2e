/* The pool handle: one config, its ring, and (later) its engine. */
#ifndef SHARD_LIB_POOL_H
#define SHARD_LIB_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include <shard/pool.h>

#include "conf.h"
#include "error.h"
#include "ring.h"
#include "route.h"

struct shard_pool {
    conf_file *file;          /* the whole parsed config (owns the strings) */
    const conf_pool *conf;    /* this pool inside `file` */
    route_rules rules;        /* hash, tag and distribution */
    ring *ring;               /* current ring over the live servers */
    bool *live;               /* per server: in the ring now */
    uint64_t rng;             /* random distribution state */
    shard_options opts;       /* copy of the caller's options */
    char errmsg[ERROR_MAX];   /* shard_pool_errmsg() */
};

/* Sets the pool's message; returns `code`. */
int pool_fail(shard_pool *pool, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
