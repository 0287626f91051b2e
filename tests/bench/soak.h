/* Private to shard-soak: the state shared by the driver (shard-soak.c:
 * options, servers, faults, report) and the load (soak_load.c: requests
 * sent three ways and every reply checked), and what each gives the other. */
#ifndef SHARD_SOAK_H
#define SHARD_SOAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shard/adapters/libevent.h>
#include <shard/shard.h>

#include "harness.h"

#define SERVERS 4       /* redis-servers behind the pool */
#define KEY_COUNT 10000 /* keys of the load, preloaded */
#define KEY_MAX 16      /* "soak:NNNNN" and its NUL */
#define VALUE_MAX 48    /* "v:<key>:<generation>" and its NUL */
#define MGET_KEYS 10    /* keys per MGET */
#define PIPE_DEPTH 16   /* commands per pipeline */
#define IN_FLIGHT 32    /* async requests in flight, at most */
#define RING 1024       /* async request records, indexed by id % RING */
#define FAILED_KEPT 4   /* failed SET generations remembered per key */
#define MSG_MAX 200     /* room for one sample message */

/* Async submits per round: about as many requests as a round's blocking
 * share (3.25 on average), so that neither way drowns the other. */
#define ASYNC_PER_ROUND 4

/* Failure causes: slots 1..12 are the codes -1..-12 of shard/common.h. */
#define CAUSE_OTHER 0          /* a status code this program has no name for */
#define CAUSE_ERROR_REPLY 13   /* an ERROR reply */
#define CAUSE_ERROR_ELEMENT 14 /* an MGET with ERROR elements */
#define CAUSES 15              /* slots of soak.cause */

/* What a request does. */
typedef enum op_kind {
    OP_GET, /* GET key */
    OP_SET, /* SET key value */
    OP_MGET /* MGET of MGET_KEYS keys */
} op_kind;

/* How a request is sent; counted per way. */
typedef enum way {
    WAY_BLOCKING, /* shard_command_argv */
    WAY_PIPELINE, /* shard_append_argv, then shard_get_reply */
    WAY_ASYNC,    /* shard_command_async on the libevent adapter */
    WAYS          /* how many ways */
} way;

/* Where an async request id stands; one byte per id ever issued. */
typedef enum call_state {
    CALL_NONE,     /* never submitted, or the submit failed */
    CALL_AWAITED,  /* submitted, callback not yet run */
    CALL_ANSWERED, /* called back once */
} call_state;

/* One request as it was sent: what its reply is checked against. */
typedef struct request {
    op_kind op;           /* the command */
    int nkeys;            /* 1, or MGET_KEYS for an MGET */
    int keys[MGET_KEYS];  /* key indexes, in argument order */
    bool home[MGET_KEYS]; /* the key went to its home server (not ejected) */
    uint64_t floor[MGET_KEYS]; /* its acknowledged generation when sent: the
                                  oldest value a read may return */
    uint64_t gen;              /* SET: the generation it writes */
} request;

/* A slot of the async ring: the request behind an id still in flight. */
typedef struct async_slot {
    bool busy; /* awaiting its callback */
    request q; /* what was sent */
} async_slot;

/* What the load knows of one key. */
typedef struct key_state {
    uint64_t acked;   /* generation of the last acknowledged SET */
    uint64_t written; /* highest generation ever sent (acknowledged or not) */
    uint64_t failed[FAILED_KEPT]; /* the last SETs that failed: a server
                                     may still apply one late */
    int home; /* pool index of its server with every server live */
} key_state;

/* The kinds of faults, in the order the schedule takes them. */
typedef enum fault_kind {
    FAULT_PAUSE,   /* SIGSTOP, then SIGCONT */
    FAULT_KILL,    /* SIGKILL, down a while, restarted on its port */
    FAULT_RESTART, /* SIGTERM, restarted on its port at once */
    FAULT_KINDS    /* how many kinds */
} fault_kind;

/* One fault of the schedule and what the load saw of it. */
typedef struct fault {
    fault_kind kind;    /* what was done */
    int server;         /* pool index of the server it was done to */
    uint64_t start_ns;  /* SIGSTOP, SIGKILL or SIGTERM sent */
    uint64_t end_ns;    /* SIGCONT sent or the server answering; 0: on */
    uint64_t served_ns; /* first success on one of its keys after end_ns */
    uint64_t back_ns;   /* the same, sent to the server itself */
    uint64_t failures;  /* keys of its own that failed, start to recovery */
    bool cut;           /* ended early, by the end of the run */
} fault;

/* Everything the run needs and counts. */
typedef struct soak {
    /* settings, from the command line */
    double seconds;         /* run length; 0: until `requests` */
    uint64_t requests;      /* requests to issue; 0: until `seconds` */
    bool eject;             /* auto_eject_hosts with a 500 ms retry */
    int timeout_ms;         /* the pool's timeout, ms */
    int fault_every_ms;     /* from one fault's start to the next's */
    const char **directive; /* extra pool lines, verbatim */
    int directives;         /* how many */
    uint64_t seed;          /* key and command choices */

    /* servers and the pool */
    harness_server *srv[SERVERS]; /* by pool index; replaced on restart */
    int port[SERVERS];            /* their ports, kept for the report */
    shard_pool *pool;             /* over srv[] */
    struct event_base *base;      /* drives the async requests */
    shard_libevent *ad;           /* the adapter, detached after the free */
    bool freeing;                 /* inside shard_pool_free() */
    bool broken;                  /* a server could not be restarted */

    /* keys */
    char key[KEY_COUNT][KEY_MAX]; /* "soak:NNNNN" */
    size_t key_len[KEY_COUNT];    /* their lengths */
    key_state ks[KEY_COUNT];      /* generations and homes */
    uint64_t gen;                 /* last generation handed out */
    uint64_t rng;                 /* xorshift state */

    /* async requests */
    async_slot ring[RING]; /* requests in flight by id % RING */
    uint8_t *calls;        /* call_state by id */
    size_t calls_cap;      /* room in `calls` */
    uint64_t next_id;      /* the next async id (ids start at 1) */
    size_t pending;        /* submitted and not yet called back */

    /* counts */
    uint64_t issued;                 /* requests issued, every way */
    uint64_t issued_by[WAYS];        /* per way */
    uint64_t done;                   /* requests finished, answered or failed */
    uint64_t failed;                 /* of them without a full answer */
    uint64_t cause[CAUSES];          /* failures by cause */
    char cause_msg[CAUSES][MSG_MAX]; /* first message of each cause */
    uint64_t reads;                  /* keys read (GETs and MGET elements) */
    uint64_t current;                /* read the generation acknowledged
                                        when sent, or a later acked one */
    uint64_t ahead;                  /* read a newer, unacknowledged one */
    uint64_t late;                   /* read an older one that had failed */
    uint64_t stale;                  /* read an older acknowledged one */
    uint64_t misses;                 /* read nil */
    uint64_t crossed;                /* a reply that is not this request's */
    uint64_t lost;                   /* never answered nor called back */
    uint64_t doubled;                /* answered or called back twice */
    uint64_t stray;                  /* callbacks of unknown ids (in doubled) */
    uint64_t overdue;                /* still pending after the drain */
    uint64_t ejections;              /* log: servers ejected */
    uint64_t returns;                /* log: servers back in the ring */

    /* faults */
    fault *faults;           /* every fault so far */
    size_t nfaults;          /* how many */
    size_t faults_cap;       /* room */
    int active;              /* index of the fault going on, or -1 */
    int open_fault[SERVERS]; /* per server, its fault not yet recovered */
    uint64_t next_fault_ns;  /* when the next fault may start */
} soak;

/* From shard-soak.c. */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);

/* For the fault accounting: a request on `key` succeeded or failed;
 * `home`: it was sent to the key's own server. */
void fault_note(soak *s, int key, bool home, bool ok, uint64_t now);

/* From soak_load.c. */

/* Names the keys and sets each one's first generation; false on failure. */
bool load_preload(soak *s);

/* One round: tops the async requests up, one blocking GET, SET, MGET or
 * pipeline, then lets the event loop run without waiting. */
void load_round(soak *s);

/* Runs the loop until every async request is called back or `ms` pass. */
void load_drain(soak *s, long ms);

/* After shard_pool_free(): async ids never called back, now lost. */
void load_count_lost(soak *s);

#endif
