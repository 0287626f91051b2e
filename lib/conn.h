/*
 * A backend-neutral server connection: a socket the engine watches, the
 * fragments waiting on it in order, and a small table of operations that
 * a backend (conn_redis.c: Redis over hiredis) fills in, as hiredis'
 * redisContextFuncs or libcurl's connection filters. The engine, the
 * private poll loop and the servers only ever see this.
 */
#ifndef SHARD_LIB_CONN_H
#define SHARD_LIB_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shard/async.h>

#include "request.h"
#include "resp.h"
#include "stats.h"

typedef struct conn conn;

/* Where a connection goes. Its server owns it and may change it
 * (Sentinel): a connection reads it each time it connects. */
typedef struct conn_target {
    char *host; /* host name or address, or the unix socket path */
    int port;   /* 0 for a unix socket */
    char *addr; /* "host:port" or the path, for messages: a refstr, which
                   fragments hold (fragment_set_addr) */
} conn_target;

/*
 * Reports about a server, to the layer that keeps its health (the pool):
 * the first argument is `health_owner`, the second the server index.
 * Every entry is optional.
 */
typedef struct conn_health {
    /* A request to it failed with `status` (SHARD_OK for an -OOM, -BUSY
     * or -LOADING reply, which is delivered): counts towards ejection. */
    void (*failed)(void *owner, int server, int status, const char *why);
    /* It answered (any reply). */
    void (*answered)(void *owner, int server);
    /* Something the operator should hear of, though requests go on. */
    void (*warn)(void *owner, int server, const char *what);
    /* Before connecting: SHARD_OK, or a failure (its reason in `err`) when
     * connects to it are being spaced out. */
    int (*may_connect)(void *owner, int server, char *err, size_t errlen);
    /* A connection to it is up; connecting failed; one that was up closed. */
    void (*connected)(void *owner, int server);
    /* It answered -READONLY: it is no longer the master it was. */
    void (*not_master)(void *owner, int server);
    void (*connect_failed)(void *owner, int server, const char *why);
    void (*disconnected)(void *owner, int server, const char *why);
} conn_health;

/* What the connections of one engine share. */
typedef struct conn_env {
    shard_watch_fn watch;      /* the application's hook; NULL: private loop */
    void *watch_userdata;      /* passed to watch */
    const conn_health *health; /* reports about servers; NULL: none */
    void *health_owner;        /* passed to every report */
    bool closing;              /* the pool is being freed: not a failure */
    bool timed;                /* the pool has a timeout: keep the clocks */
    int64_t timeout_us;        /* ... which is this long */
    resp_buf scratch;          /* encoding space; one thread at a time */
} conn_env;

/* A backend: what the engine may ask of a connection. */
typedef struct conn_ops {
    const char *name;  /* "redis", for messages */
    bool own_timeouts; /* the backend enforces `timeout` itself (memcached:
                          libmemcached's): the engine keeps no deadline */
    /* Starts connecting (fd set, write interest for the handshake). */
    int (*connect)(conn *c, char *err, size_t errlen);
    /* Queues the command for `f`, answered in queue order; *bytes: its
     * size on the wire. */
    int (*send)(conn *c, fragment *f, int argc, const char **argv,
                const size_t *argvlen, size_t *bytes, char *err, size_t errlen);
    void (*read)(conn *c);  /* the socket is readable (or, idle, holds
                               bytes: a reply nobody asked for) */
    void (*write)(conn *c); /* the socket is writable */
    /* Closes now; every queued fragment fails (conn_fail_reason). */
    void (*close)(conn *c);
    bool (*connected)(const conn *c); /* connect(2) has completed */
    void (*destroy)(conn *c);         /* frees the backend (already closed) */
} conn_ops;

struct conn {
    const conn_ops *ops;       /* the backend */
    conn_env *env;             /* shared with the engine's connections */
    const conn_target *target; /* where it goes; owned by its server */
    server_stats *stats;       /* its server's counters; owned by it */
    int server;                /* server index in the pool */
    int fd;                    /* the socket; -1 while closed */
    int events;                /* SHARD_WATCH_* bits the backend wants */
    bool watched;              /* the application's hook knows the fd */
    void *watch_data;          /* the application's slot for this fd */
    fragment *head;            /* oldest fragment awaiting a reply */
    fragment *tail;            /* newest one */
    int close_status;          /* why we closed it (0: the peer did) */
    char close_msg[256];       /* ... in words */
    int64_t since_us;          /* with fragments waiting (and a timeout):
                                  the server's last progress, a reply,
                                  bytes written, or bytes read after the
                                  engine was away, which `timeout`
                                  measures from; idle: when the queue
                                  emptied, for the idle check; 0: neither
                                  since it connected */
    int64_t read_us;           /* when its socket was last read (with a
                                  timeout); 0: not since it connected */
    const fragment *expired;   /* the fragment it was closed for timing
                                  out; the others fail as collateral */
    bool lost_work;            /* a fragment failed since it connected, or
                                  the server broke the protocol: its close
                                  counts against the server */
    bool up;                   /* connected (the backend said so) and not
                                  closed since */
    uint64_t queued_bytes;     /* request bytes handed to the backend */
    uint64_t written_bytes;    /* ... of which left (or were dropped) */
    fragment *unsent;          /* first queued fragment whose bytes have
                                  not all left; NULL: none */
};

/* Sets up the neutral part of a backend's connection (closed, empty),
 * counting into `stats`. */
void conn_init(conn *c, const conn_ops *ops, conn_env *env,
               const conn_target *target, server_stats *stats, int server);

/*
 * Queues a command for fragment `f` (connecting first when needed). On
 * failure returns a negative SHARD_E* code with the reason in `err`, and
 * nothing is queued.
 */
int conn_send(conn *c, fragment *f, int argc, const char **argv,
              const size_t *argvlen, char *err, size_t errlen);

/*
 * Closes the connection now: every pending fragment fails with `status`
 * (collateral ones, whose own deadline has not passed, with SHARD_ECONN)
 * and the message `msg`.
 */
void conn_close(conn *c, int status, const char *msg);

/* Closes (failing what is pending with SHARD_ECLOSED) and frees. */
void conn_free(conn *c);

/*
 * Answers fragment `f` with `reply` (taken over) in the connection's
 * order: at once when nothing is pending, else right after the fragments
 * queued before it, so that its callback keeps its place (a refusal
 * inside a transaction, say).
 */
void conn_answer_local(conn *c, fragment *f, shard_reply *reply);

/* The socket is ready for SHARD_WATCH_* `events`. */
void conn_handle(conn *c, int events);

/*
 * True when the server has owed this connection progress for `limit_us`
 * by `now_us`: the pool's `timeout` has run out.
 */
bool conn_expired(const conn *c, int64_t now_us, int64_t limit_us);

/*
 * Lets the connection catch up before it is declared timed out: reads
 * what has arrived and writes what it can, without waiting (the engine
 * may have been kept from running by the application).
 */
void conn_catch_up(conn *c);

/* True once the socket's connect(2) has completed. */
bool conn_is_connected(const conn *c);

/* Connects now if not connected (preconnect); failures are ignored. */
void conn_preconnect(conn *c);

/* --- for backends --------------------------------------------------------- */

/* The backend now waits for `events` (SHARD_WATCH_* bits). */
void conn_set_events(conn *c, int events);

/* Appends `f` to the queue of fragments awaiting replies. */
void conn_push(conn *c, fragment *f);

/* Takes the oldest fragment off the queue; NULL when empty. */
fragment *conn_pop(conn *c);

/*
 * Finishes fragment `f`, just popped, with its reply (`reply_bytes` on
 * the wire) or failure (as fragment_done), then the local answers queued
 * right behind it.
 */
void conn_complete(conn *c, fragment *f, shard_reply *reply, size_t reply_bytes,
                   int status, const char *errmsg);

/*
 * The socket is gone (the backend has let go of it): stops watching it,
 * and reports the server failed for `why` unless the pool closed it.
 * `eof`: the server closed it (else an error did, or we).
 */
void conn_gone(conn *c, const char *why, bool eof);

/* The backend moved `n` request bytes to the server: it is not silent. */
void conn_wrote(conn *c, size_t n);

/* The connection is up (connect and handshake sent): reported once. */
void conn_connected(conn *c);

/*
 * The server broke the protocol (a reply nobody asked for): closes the
 * connection as conn_close does, and counts it against the server even
 * when no fragment was waiting.
 */
void conn_fault(conn *c, int status, const char *msg);

/* Health reports about the connection's server. */
void conn_server_failed(conn *c, int status, const char *why);
void conn_server_answered(conn *c);
void conn_server_warn(conn *c, const char *what);
void conn_server_not_master(conn *c);

/*
 * When we closed the connection (conn_close), the status and message for
 * fragment `f`, which got no reply; false when the peer or the network
 * closed it, for the backend to say why.
 */
bool conn_fail_reason(const conn *c, const fragment *f, int *status, char *msg,
                      size_t len);

#endif
