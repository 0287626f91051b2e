/*
 * The engine: requests in flight, their fragments on server connections,
 * deadlines, and delivery of finished requests. The blocking API runs it on
 * a private poll() loop (loop.c); the async API lets the application's
 * event loop drive it through the watch and timer hooks.
 */
#ifndef SHARD_LIB_ENGINE_H
#define SHARD_LIB_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <shard/async.h>

#include "conn_redis.h"
#include "reply.h"

typedef struct request request;
typedef struct engine engine;

/* How a finished request is joined from its fragments. */
typedef enum join_kind {
    JOIN_SINGLE, /* one fragment: its reply is the request's */
    JOIN_MGET,   /* arrays joined in key order */
    JOIN_SUM,    /* integers summed */
    JOIN_MSET    /* +OK when every part said OK */
} join_kind;

/* One part of a request, sent to one server connection. */
typedef struct fragment {
    request *req;          /* the request it belongs to */
    int server;            /* server index */
    const char *addr;      /* its address, for messages */
    conn *conn;            /* where it waits for its reply; NULL when done */
    struct fragment *next; /* next in conn's FIFO of pending fragments */
    int64_t deadline_us;   /* monotonic time it times out; 0: never */
    shard_reply *reply;    /* its reply once in (kept from hiredis) */
    int status;            /* SHARD_OK, or why no reply came */
    char *errmsg;          /* text of a failure, owned */
    size_t cursor;         /* JOIN_MGET: next element to take */
} fragment;

/* Who waits for a request and how it is handed over. */
typedef enum request_mode {
    MODE_BLOCKING,  /* a blocking call polls until `done` */
    MODE_PIPELINED, /* queued in the pool's pipeline until read */
    MODE_ASYNC      /* `fn` is called from the delivery queue */
} request_mode;

struct request {
    engine *engine;     /* owner */
    request_mode mode;  /* see request_mode */
    join_kind join;     /* how fragments become one reply */
    const char *name;   /* command name for messages (static) */
    shard_reply_fn fn;  /* MODE_ASYNC: the callback */
    void *userdata;     /* ... and its userdata */
    shard_pool *pool;   /* passed to fn */
    size_t nfrags;      /* fragments in frags */
    size_t pending;     /* fragments still waiting */
    fragment *frags;    /* `one`, or an allocated array */
    fragment one;       /* storage for the common single fragment */
    int *key_frag;      /* JOIN_MGET: fragment index of each key */
    size_t nkeys;       /* length of key_frag */
    shard_reply *reply; /* the joined reply when done */
    int status;         /* SHARD_OK or why there is no reply */
    char *errmsg;       /* text for a negative status, owned */
    bool done;          /* reply/status final */
    request *next;      /* in the delivery queue or the pipeline */
};

/* Hooks set by shard_pool_set_event_hooks. */
typedef struct engine_hooks {
    shard_watch_fn watch; /* fd interest changes */
    shard_timer_fn timer; /* next deadline */
    void *userdata;       /* for both */
} engine_hooks;

/* Where the engine reports server health (the pool's ejection logic). */
typedef struct engine_health {
    void (*failed)(void *owner, int server, const char *why); /* failed */
    void (*ok)(void *owner, int server); /* a server answered */
    void *owner;                         /* passed to both */
} engine_health;

struct engine {
    conn **conns;          /* every connection, server and transaction */
    size_t nconns;         /* in conns */
    size_t conns_cap;      /* allocated */
    char *scratch;         /* a command's RESP text while it is queued */
    size_t scratch_cap;    /* allocated bytes of scratch */
    engine_hooks hooks;    /* the application's loop, if any */
    long timer_ms;         /* last timeout given to hooks.timer */
    request *deliver_head; /* finished async requests to call back */
    request *deliver_tail; /* ... its tail */
    size_t async_pending;  /* async requests not yet called back */
    int timeout_ms;        /* the pool's timeout; <= 0: none */
    engine_health health;  /* failure and success reports, optional */
    int delivering;        /* depth of callback delivery */
    bool closing;          /* the pool is being freed */
};

/* Reports that server `index` failed (a connection closed on error). */
void engine_server_failed(engine *e, int index, const char *why);
/* Reports that server `index` answered. */
void engine_server_ok(engine *e, int index);

/* Monotonic clock in microseconds. */
int64_t engine_now_us(void);

void engine_init(engine *e, int timeout_ms);
/* Fails every pending request with SHARD_ECLOSED, delivers, closes all. */
void engine_shutdown(engine *e);

int engine_add_conn(engine *e, conn *c);
void engine_remove_conn(engine *e, conn *c);

/* A request with `nfrags` fragments (zeroed), or NULL when out of memory. */
request *request_new(engine *e, request_mode mode, size_t nfrags);
void request_free(request *r);

/*
 * Sends fragment `f` to `c`. On failure the fragment is finished at once
 * with the reason (the request may then be done).
 */
void engine_send(engine *e, fragment *f, conn *c, int argc, const char **argv,
                 const size_t *argvlen);

/* Finishes a request at submit time (local reply or refusal). */
void engine_finish_local(request *r, shard_reply *reply);

/* A fragment got its reply or failed; joins the request when all are in. */
void engine_fragment_done(fragment *f, shard_reply *reply, int status,
                          const char *errmsg);

/* Fails the fragments whose deadline passed (closing their connection). */
void engine_check_deadlines(engine *e);

/* Milliseconds until the next deadline; -1 none; 0 work is waiting. */
long engine_next_timeout_ms(const engine *e);

/* Calls back finished async requests. */
void engine_deliver(engine *e);

/* Tells the application's timer hook about the next deadline. */
void engine_update_timer(engine *e);

/* An fd of a connection is ready (SHARD_WATCH_* bits). */
void engine_on_fd(engine *e, int fd, int events);

/*
 * The RESP encoding of argv in e->scratch (grown as needed); its length,
 * or 0 when out of memory. Valid until the next call.
 */
size_t engine_format(engine *e, int argc, const char **argv,
                     const size_t *argvlen);

/* Runs the private poll() loop until `r` is done (loop.c). */
int engine_wait(engine *e, request *r);

#endif
