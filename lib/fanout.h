/* Split a multi-key request per server, and join the replies. */
#ifndef SHARD_LIB_FANOUT_H
#define SHARD_LIB_FANOUT_H

#include <stddef.h>

#include "engine.h"

/* The connection to use for server `index` (round robin, say). */
typedef conn *(*fanout_pick_fn)(void *ctx, int index);

/* A request split over the servers of its keys. */
typedef struct fanout_plan {
    join_kind join;   /* JOIN_MGET, JOIN_SUM or JOIN_MSET */
    const char *name; /* command name for messages */
    int argc;         /* the original command */
    const char **argv;
    const size_t *argvlen;
    const int *positions;  /* argv index of each key */
    const int *key_server; /* server of each key */
    size_t nkeys;          /* keys in positions / key_server */
    size_t server_count;   /* servers in the pool */
    int retries;           /* how often each fragment may be retried */
    fragment_fn resend_fn; /* how, when retries > 0 */
    shard_pool *pool;      /* the request's pool, for resend_fn */
} fanout_plan;

/*
 * Creates the request, one fragment per involved server in server order,
 * and sends every fragment (MSET keys travel with their values) before any
 * reply is read. NULL when out of memory.
 */
request *fanout_send(engine *e, request_mode mode, const fanout_plan *plan,
                     fanout_pick_fn pick, void *ctx);

/* Sets r->reply or r->status/errmsg from the finished fragments (the
 * join function of every request fanout_send makes). */
void fanout_join(request *r);

#endif
