/*
 * A request and its fragments: one command from the application, split
 * into one fragment per server it goes to. Whoever submits a request
 * chooses how its fragments become one reply (its join function); the
 * engine chooses what happens once it is complete.
 */
#ifndef SHARD_LIB_REQUEST_H
#define SHARD_LIB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shard/async.h>

#include "reply.h"

typedef struct request request;
struct conn;
struct engine;

/* Which join a split request uses: fanout.c implements MGET, SUM and
 * MSET, poolwide.c the pool-wide ones (it uses SUM and MSET too). */
typedef enum join_kind {
    JOIN_SINGLE, /* one fragment: its reply is the request's */
    JOIN_MGET,   /* arrays joined in key order */
    JOIN_SUM,    /* integers summed */
    JOIN_MSET,   /* +OK when every part said OK */
    JOIN_SAME,   /* the reply every server gave, when all gave the same */
    JOIN_CONCAT, /* arrays concatenated in fragment order */
    JOIN_AND,    /* arrays of 0/1: 1 where every server said 1 */
    JOIN_ANY,    /* the first non-nil reply in fragment order */
    JOIN_SCAN    /* one server's SCAN reply, its cursor made the pool's */
} join_kind;

/* Where a SCAN request is in the pool's walk, as its cursor said when it
 * was sent (a reload may renumber servers meanwhile). */
typedef struct scan_position {
    uint64_t key;    /* the pool's cursor key (poolwide_scan_key) */
    size_t server;   /* the server it went to, in twemproxy order */
    size_t servers;  /* servers the walk covers */
    uint64_t cursor; /* the pool's cursor it came with */
} scan_position;

/* Who waits for a request and how it is handed over. */
typedef enum request_mode {
    MODE_BLOCKING,  /* a blocking call polls until `done` */
    MODE_PIPELINED, /* queued in the pool's pipeline until read */
    MODE_ASYNC,     /* `fn` is called from the delivery queue */
    MODE_INTERNAL   /* libshard's own (a probe, a retry): `internal_fn`
                       runs once it is done, outside any backend */
} request_mode;

/* A step of a request's life, set by the layer that owns it. */
typedef void (*request_fn)(request *r);

/* A copy of what a fragment sent, kept while it may be sent again. */
typedef struct fragment_args {
    int argc;
    const char **argv; /* into the same allocation */
    size_t *argvlen;
} fragment_args;

/* One part of a request, sent to one server connection. */
typedef struct fragment {
    request *req;          /* the request it belongs to */
    int server;            /* server index */
    const char *addr;      /* its server's address, for messages: a
                              refstr it holds (fragment_set_addr) */
    struct conn *conn;     /* where it waits for its reply; NULL when done */
    struct fragment *next; /* next in conn's FIFO of pending fragments */
    shard_reply *reply;    /* its reply once in (kept from the reader) */
    int status;            /* SHARD_OK, or why no reply came */
    char *errmsg;          /* text of a failure, owned */
    size_t cursor;         /* JOIN_MGET: next element to take */
    bool local;            /* answered by libshard (reply set), in its
                              connection's order, never sent */
    fragment_args *resend; /* owned copy of its command while a lost
                              connection or a timeout may retry it */
    int64_t sent_us;       /* monotonic time it was queued */
    uint64_t bytes;        /* its size on the wire */
    uint64_t end;          /* its connection's queued_bytes after it */
} fragment;

/* A fragment lost its connection or timed out and may be sent again. */
typedef void (*fragment_fn)(fragment *f);

struct request {
    struct engine *engine;  /* owner */
    request_mode mode;      /* see request_mode */
    join_kind join;         /* which join join_fn performs */
    request_fn join_fn;     /* fragments -> reply; NULL: the single one's */
    request_fn complete_fn; /* the owner's: runs once the reply is final */
    fragment_fn retry_fn;   /* takes a failed fragment that has
                               `resend` (the engine queues it) */
    fragment_fn resend_fn;  /* the submitter's: sends it again */
    request_fn internal_fn; /* MODE_INTERNAL: the submitter's; frees it */
    int retries;            /* how often each fragment may be retried */
    const char *name;       /* command name for messages (static) */
    shard_reply_fn fn;      /* MODE_ASYNC: the callback */
    void *userdata;         /* ... and its userdata */
    shard_pool *pool;       /* passed to fn */
    size_t nfrags;          /* fragments in frags */
    size_t pending;         /* fragments still waiting */
    fragment *frags;        /* `one`, or the array after the request */
    fragment one;           /* storage for the common single fragment */
    int *key_frag;          /* JOIN_MGET: fragment index of each key */
    size_t nkeys;           /* length of key_frag */
    scan_position scan;     /* JOIN_SCAN: where the pool's walk is */
    shard_reply *reply;     /* the joined reply when done */
    int status;             /* SHARD_OK or why there is no reply */
    char *errmsg;           /* text for a negative status, owned */
    bool done;              /* reply/status final */
    request *next;          /* in the delivery queue or the pipeline */
};

/*
 * A zeroed request with `nfrags` fragments, in one allocation; NULL when
 * out of memory. The owner sets engine, mode and complete_fn.
 */
request *request_alloc(size_t nfrags);

/* Frees the request, its fragments' replies and messages; NULL is fine. */
void request_free(request *r);

/*
 * Keeps a copy of fragment `f`'s command (its `argc` arguments) so that
 * it can be retried; false when out of memory (it will not be).
 */
bool fragment_keep_args(fragment *f, int argc, const char **argv,
                        const size_t *argvlen);

/* Drops the copy: the fragment will not be retried any more. */
void fragment_drop_args(fragment *f);

/*
 * Fragment `f` went to the server whose address is `addr` (a refstr): it
 * holds it, so its messages can name the server after a reload removed
 * it, and drops the address it held before.
 */
void fragment_set_addr(fragment *f, const char *addr);

/*
 * Fragment `f` got its reply (taken over) or failed with `status` and
 * `errmsg` (copied). When it was the last one, the request is joined and
 * its complete_fn runs. A fragment that keeps its command (`resend`) and
 * lost its connection or timed out goes to the request's retry_fn
 * instead, its failure recorded in case the retry cannot be made.
 */
void fragment_done(fragment *f, shard_reply *reply, int status,
                   const char *errmsg);

/* Finishes a one-fragment request at once with a local `reply` (taken
 * over; NULL means out of memory). */
void request_finish_local(request *r, shard_reply *reply);

/* The join of a one-fragment request: its reply or its failure. */
void request_join_single(request *r);

#endif
