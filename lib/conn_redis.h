/* A connection to a Redis server over a hiredis async context, with AUTH
 * then SELECT sent first on every (re)connect. */
#ifndef SHARD_LIB_CONN_REDIS_H
#define SHARD_LIB_CONN_REDIS_H

#include "conn.h"

/*
 * A closed connection to `target` for server index `server`, counting
 * into `stats` (both borrowed: they must outlive the connection); `auth`
 * (borrowed, NULL: none) and `db` (SELECT when > 0) are sent on every
 * connect. NULL when out of memory. Free it with conn_free().
 */
conn *conn_redis_new(conn_env *env, const conn_target *target,
                     server_stats *stats, int server, const char *auth, int db);

#endif
