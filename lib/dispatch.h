/* From an argv to a request in flight: command checks, routing, fan-out. */
#ifndef SHARD_LIB_DISPATCH_H
#define SHARD_LIB_DISPATCH_H

#include "command.h"
#include "engine.h"
#include "pool.h"

/* An argv with every length known (the caller's, or strlen'd). */
typedef struct dispatch_args {
    int argc;
    const char **argv;
    const size_t *argvlen;
    int retries;          /* a read-only command's retries (read_retries) */
    size_t *owned_len;    /* lengths we computed, freed by _done */
    size_t stack_len[16]; /* room for short commands */
} dispatch_args;

/* Checks the caller's arguments; SHARD_EINVAL with the pool message. */
int dispatch_args_init(shard_pool *pool, dispatch_args *a, int argc,
                       const char **argv, const size_t *argvlen);
void dispatch_args_done(dispatch_args *a);

/*
 * Routes and sends the command; the request may already be done (a local
 * reply, an ERROR reply for a refused command, a failure to connect).
 * Returns NULL with the pool message set when out of memory.
 */
request *dispatch_submit(shard_pool *pool, request_mode mode,
                         const dispatch_args *a);

/* Sends the command as it is to connection `c` (per-server, txn). */
request *dispatch_direct(shard_pool *pool, request_mode mode, conn *c,
                         const dispatch_args *a);

/*
 * NULL when the BY and GET patterns of SORT (or SORT_RO) read only keys
 * of `server`, the server of the sorted key; else the ERROR reply that
 * says which pattern does not. NULL for every other command.
 */
shard_reply *dispatch_sort_refusal(shard_pool *pool, const command_info *ci,
                                   const dispatch_args *a, int server);

/* Redis 7.0's ERROR for an unknown command, with its first arguments. */
shard_reply *dispatch_unknown_command(const dispatch_args *a);

/* A request already done with `reply` (an ERROR reply, say). */
request *dispatch_local(shard_pool *pool, request_mode mode,
                        shard_reply *reply);

/*
 * Runs the engine until the blocking request `r` is done, then hands its
 * reply to *out, or returns its failure with the pool message set. Frees
 * `r` either way.
 */
int dispatch_wait(shard_pool *pool, request *r, shard_reply **out);

/* The pool's connection to server `index` (pool_server_conn). */
conn *dispatch_pick(void *pool, int index);

#endif
