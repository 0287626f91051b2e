/* Split a multi-key request per server, and join the replies. */
#ifndef SHARD_LIB_FANOUT_H
#define SHARD_LIB_FANOUT_H

#include <stdbool.h>
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

/* The parts of the join other joins share (poolwide.c). */

/* True when fragment `f` got no reply at all. */
bool fanout_fragment_failed(const fragment *f);

/*
 * An ERROR reply "ERR <name> failed on 1 of 3 servers (<why>; ...); the
 * others succeeded" listing the fragments for which `ok` is false (a
 * JOIN_SUM request adds " with a count of <done>"; when every fragment
 * failed, the sentence ends after the list).
 */
shard_reply *fanout_partial_failure(request *r, bool (*ok)(const fragment *),
                                    long long done);

/*
 * When no fragment got a reply, fails `r` as one key would (the first
 * failure's code, a message naming every server) and returns true; false,
 * with `r` untouched, otherwise.
 */
bool fanout_join_total_failure(request *r);

#endif
