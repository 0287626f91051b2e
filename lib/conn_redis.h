/* One connection to a Redis server: a hiredis async context driven by the
 * engine, with AUTH then SELECT sent first on every (re)connect. */
#ifndef SHARD_LIB_CONN_REDIS_H
#define SHARD_LIB_CONN_REDIS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

struct engine;
struct fragment;
struct redisAsyncContext;

typedef struct conn {
    struct engine *engine;        /* owner */
    const conf_server *server;    /* where it goes (addr for messages) */
    int server_index;             /* index in the pool */
    const char *auth;             /* redis_auth, or NULL */
    int db;                       /* redis_db; SELECT when > 0 */
    struct redisAsyncContext *ac; /* NULL while not connected */
    int fd;                       /* socket of ac, -1 without one */
    int events;                   /* SHARD_WATCH_* bits hiredis wants */
    bool watched;                 /* the application's hook knows the fd */
    void *watch_data;             /* the application's slot for this fd */
    struct fragment *head;        /* oldest fragment awaiting a reply */
    struct fragment *tail;        /* newest one */
    int close_status;             /* why we closed it (0: hiredis did) */
    char close_msg[256];          /* ... in words */
} conn;

conn *conn_new(struct engine *e, const conf_server *server, int index,
               const char *auth, int db);
/* Closes (failing what is pending with SHARD_ECLOSED) and frees. */
void conn_free(conn *c);

/*
 * Queues a command for fragment `f` (connecting first when needed). On
 * failure returns a negative SHARD_E* code with the reason in `err`, and
 * nothing is queued.
 */
int conn_send(conn *c, struct fragment *f, int argc, const char **argv,
              const size_t *argvlen, char *err, size_t errlen);

/*
 * Closes the connection now: every pending fragment fails with `status`
 * (collateral ones, whose own deadline has not passed, with SHARD_ECONN)
 * and the message `msg`.
 */
void conn_close(conn *c, int status, const char *msg);

/* The socket is ready for SHARD_WATCH_* `events`. */
void conn_handle(conn *c, int events);

/* True once the socket's connect(2) has completed. */
bool conn_is_connected(const conn *c);

/* Connects now if not connected (preconnect); failures are ignored. */
void conn_preconnect(conn *c);

#endif
