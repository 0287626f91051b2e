/* A connection to a Redis server over a hiredis async context, with AUTH
 * then SELECT sent first on every (re)connect. */
#ifndef SHARD_LIB_CONN_REDIS_H
#define SHARD_LIB_CONN_REDIS_H

#include "conn.h"

/* What every (re)connect of a pool's Redis connections sends first; the
 * pool owns it and may change it (a reload): the next connect uses it. */
typedef struct conn_redis_login {
    char *auth; /* redis_auth, NULL: none */
    int db;     /* redis_db: SELECT when > 0 */
} conn_redis_login;

/*
 * A closed connection to `target` for server index `server`, counting
 * into `stats`, logging in with `login` (all borrowed: they must outlive
 * the connection). NULL when out of memory. Free it with conn_free().
 */
conn *conn_redis_new(conn_env *env, const conn_target *target,
                     server_stats *stats, int server,
                     const conn_redis_login *login);

#endif
