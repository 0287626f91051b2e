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

/*
 * A message of a subscriber's channel: the array Redis sends
 * ("subscribe"/"message", channel, payload), valid during the call; NULL
 * when the connection is gone (the subscription with it).
 */
typedef void (*conn_message_fn)(void *ctx, const shard_reply *message);

/*
 * A closed connection to `target` that, once connected (conn_preconnect),
 * subscribes to `channel` (borrowed) and hands each message to `fn` with
 * `ctx`. It belongs to no server (index -1) and sends no AUTH. NULL when
 * out of memory.
 */
conn *conn_redis_subscriber(conn_env *env, const conn_target *target,
                            server_stats *stats, const char *channel,
                            conn_message_fn fn, void *ctx);

#endif
