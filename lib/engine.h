/*
 * The engine: requests in flight, their fragments on connections,
 * deadlines, and delivery of finished requests. The blocking API runs it
 * on a private poll() loop (loop.c); the async API lets the application's
 * event loop drive it through the watch and timer hooks. It knows
 * connections only through conn.h, never a backend.
 */
#ifndef SHARD_LIB_ENGINE_H
#define SHARD_LIB_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <shard/async.h>

#include "conn.h"
#include "reply.h"
#include "request.h"

typedef struct engine engine;

/* The application's loop, set by shard_pool_set_event_hooks. */
typedef struct engine_hooks {
    shard_watch_fn watch;     /* fd interest changes */
    shard_timer_fn timer;     /* next deadline */
    shard_cleanup_fn cleanup; /* the pool lets go of the hooks; optional */
    void *userdata;           /* for all three */
} engine_hooks;

/* Records why a request failed, for the application to read. */
typedef void (*engine_note_fn)(void *owner, int status, const char *msg);

struct engine {
    conn **conns;           /* every connection, server and transaction */
    size_t nconns;          /* in conns */
    size_t conns_cap;       /* allocated */
    conn_env env;           /* shared with every connection */
    engine_hooks hooks;     /* the application's loop, if any */
    long timer_ms;          /* last timeout given to hooks.timer */
    request *deliver_head;  /* finished async requests to call back */
    request *deliver_tail;  /* ... its tail */
    size_t async_pending;   /* async requests not yet called back */
    int timeout_ms;         /* the pool's timeout; <= 0: none */
    int delivering;         /* depth of callback delivery */
    engine_note_fn note;    /* told a failed async request's reason before
                               its callback runs (the pool's message) */
    void *note_owner;       /* passed to note */
    request *internal_head; /* finished MODE_INTERNAL requests */
    request *internal_tail; /* ... its tail */
    fragment **retry;       /* failed fragments to send again, in order */
    size_t nretry;          /* in retry */
    size_t retry_cap;       /* allocated */
    pool_stats stats;       /* the pool's counters (stats document) */
};

void engine_init(engine *e, int timeout_ms);

/*
 * Fails every pending request with SHARD_ECLOSED, delivers, frees every
 * connection, cancels the application's timer and lets go of its hooks
 * (their cleanup runs).
 */
void engine_shutdown(engine *e);

/* True once engine_shutdown has begun. */
bool engine_closing(const engine *e);

/* The engine takes over `c` (freed by engine_shutdown or _remove_conn). */
int engine_add_conn(engine *e, conn *c);
/* Forgets `c` without freeing it. */
void engine_remove_conn(engine *e, conn *c);

/*
 * Replaces the application's hooks: the old loop forgets the descriptors
 * in use and its cleanup runs; the new one learns them.
 */
void engine_set_hooks(engine *e, const engine_hooks *hooks);

/* A request of this engine with `nfrags` fragments; NULL when out of
 * memory. The submitter sets its join. */
request *request_new(engine *e, request_mode mode, size_t nfrags);

/*
 * Sends fragment `f` to `c`, its deadline starting now. On failure the
 * fragment is finished at once with the reason (the request may then be
 * done). When its request may be retried, the fragment keeps a copy of
 * the command first.
 */
void engine_send(engine *e, fragment *f, conn *c, int argc, const char **argv,
                 const size_t *argvlen);

/*
 * libshard's own work, deferred out of the backends (whose replies must
 * outlive their callbacks): finishes the MODE_INTERNAL requests that are
 * done (their internal_fn), and sends again the fragments that lost their
 * connection or timed out and may be retried (their request's
 * resend_fn). Runs before async callbacks are delivered.
 */
void engine_run_deferred_work(engine *e);

/* engine_run_deferred_work, when there is any: the common case is one
 * test, inline. */
static inline void
engine_run_deferred(engine *e)
{
    if (e->internal_head != NULL || e->nretry > 0)
        engine_run_deferred_work(e);
}

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

/* Runs the private poll() loop until `r` is done (loop.c). */
int engine_wait(engine *e, request *r);

#endif
