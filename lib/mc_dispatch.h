/*
 * From a memcached argv to a request in flight: the command's checks (a
 * refusal is an ERROR reply, and nothing is sent), routing on the pool's
 * ring, and the split of multi-key gets and msets per server.
 */
#ifndef SHARD_LIB_MC_DISPATCH_H
#define SHARD_LIB_MC_DISPATCH_H

#include "dispatch.h"

/*
 * Routes and sends the command; the request may already be done (a
 * refusal, a failure to connect). A blocking request's inline work is
 * answered before this returns, so that dispatch_wait only waits for what
 * runs on the worker. NULL with the pool message set when out of memory.
 */
request *mc_dispatch_submit(shard_pool *pool, request_mode mode,
                            const dispatch_args *a);

#endif
