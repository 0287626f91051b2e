/* libshard: export macro, error codes and options shared by every header. */
#ifndef SHARD_COMMON_H
#define SHARD_COMMON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SHARD_API __declspec(dllexport)
#elif defined(__GNUC__)
#define SHARD_API __attribute__((visibility("default")))
#else
#define SHARD_API
#endif

/*
 * Return codes. SHARD_OK is 0; every failure is negative. The list is
 * append-only: a value never changes meaning once released.
 */
enum shard_error {
    SHARD_OK = 0,
    SHARD_EINVAL = -1,        /* bad argument from the caller */
    SHARD_ENOMEM = -2,        /* out of memory */
    SHARD_ECONFIG = -3,       /* the YAML config is invalid */
    SHARD_ENOPOOL = -4,       /* no such pool in the config */
    SHARD_EIO = -5,           /* reading a file or a socket failed */
    SHARD_ETIMEDOUT = -6,     /* a server did not answer within `timeout` */
    SHARD_ECONN = -7,         /* connecting to a server failed or it closed */
    SHARD_ENOSERVER = -8,     /* every server of the pool is ejected */
    SHARD_EPROTO = -9,        /* a server sent something we cannot parse */
    SHARD_ECLOSED = -10,      /* the pool was freed with the request pending */
    SHARD_EUNSUPPORTED = -11, /* the operation does not apply to this pool */
    SHARD_ESTATE = -12,       /* the call is not valid in the current state */
    SHARD_ESERVER = -13       /* the server answered with an error (cache
                                 calls; the pool message quotes it) */
};

/* Log levels for shard_options.log_fn. */
enum shard_log_level {
    SHARD_LOG_ERROR = 0,
    SHARD_LOG_WARN = 1,
    SHARD_LOG_INFO = 2,
    SHARD_LOG_DEBUG = 3
};

typedef void (*shard_log_fn)(int level, const char *message, void *userdata);

/*
 * What happened to a server, for shard_options.event_fn. The list is
 * append-only, like the error codes.
 */
enum shard_event_type {
    SHARD_EVENT_CONNECTED = 1,  /* a connection to it is up */
    SHARD_EVENT_CONNECT_FAILED, /* connecting failed; delay_ms: until the
                                   next attempt (the back-off) */
    SHARD_EVENT_DISCONNECTED,   /* a connection that was up closed */
    SHARD_EVENT_EJECTED,        /* it left the ring (auto_eject_hosts);
                                   delay_ms: server_retry_timeout */
    SHARD_EVENT_RETURNED,       /* it is back in the ring */
    SHARD_EVENT_PROBE_OK,       /* it answered the probe (server_probe);
                                   SHARD_EVENT_RETURNED follows */
    SHARD_EVENT_PROBE_FAILED,   /* the probe got no answer; delay_ms: until
                                   the next probe */
    SHARD_EVENT_RELOADED,       /* the pool took a new configuration;
                                   server is SHARD_EVENT_POOL, identity and
                                   addr are "" */
    SHARD_EVENT_SWITCHED        /* Sentinel moved it to a new master: addr
                                   is the new address, reason says from
                                   where */
};

/* shard_event.server of an event about the whole pool. */
#define SHARD_EVENT_POOL ((size_t)-1)

/*
 * One event. Every pointer is the library's and valid only during the
 * callback.
 */
typedef struct shard_event {
    int type;             /* SHARD_EVENT_* */
    const char *pool;     /* the pool's name */
    size_t server;        /* the server's index (shard_pool_server_name) */
    const char *identity; /* what ketama hashes: its name or "host:port" */
    const char *addr;     /* where it is reached: "host:port" or a path */
    int status;           /* SHARD_OK, or the SHARD_E* code of a failure */
    const char *reason;   /* why, in words; "" when there is nothing to say */
    long delay_ms;        /* see the type; 0 otherwise */
} shard_event;

/*
 * Receives the pool's events, as they happen, on the thread that is using
 * the pool (inside a libshard call). It must not call libshard functions
 * on the same pool: record what it needs and return.
 */
typedef void (*shard_event_fn)(const shard_event *event, void *userdata);

#define SHARD_OPTIONS_VERSION 2

/*
 * Options for opening a pool. Start from SHARD_OPTIONS_INIT so that fields
 * added in later versions get their defaults.
 */
typedef struct shard_options {
    int version;         /* SHARD_OPTIONS_VERSION */
    shard_log_fn log_fn; /* NULL: the library logs nothing */
    void *log_userdata;  /* passed to log_fn */
    int log_level;       /* highest shard_log_level passed to log_fn:
                            WARN ejections, INFO failures and returns */
    /* Version 2. */
    shard_event_fn event_fn;  /* NULL: no events */
    void *event_userdata;     /* passed to event_fn */
    int watch_config;         /* non-zero: a pool opened from a file
                                 reloads it when it changes (looked at
                                 at most once a second, when a command
                                 is sent) */
    const char *stats_listen; /* "host:port" where a thread serves the
                                 pool's stats document as nutcracker's
                                 stats port does; NULL: none (read at
                                 open only) */
} shard_options;

#define SHARD_OPTIONS_INIT                                                     \
    {                                                                          \
        SHARD_OPTIONS_VERSION, NULL, NULL, SHARD_LOG_WARN, NULL, NULL, 0, NULL \
    }

/*
 * Fills `opts` with the defaults of options version `version` (pass
 * SHARD_OPTIONS_VERSION): the same as SHARD_OPTIONS_INIT, for callers that
 * cannot use a macro (FFI). SHARD_EINVAL when `opts` is NULL or `version`
 * is unknown to this library; shard_last_error() says which. Opening a
 * pool with an unknown version fails the same way.
 */
SHARD_API int shard_options_init(shard_options *opts, int version);

/* A static English description of a SHARD_* code; never NULL. */
SHARD_API const char *shard_strerror(int code);

/*
 * The detail of the last failure of a call that has no pool to carry it
 * (shard_pool_open failing, say), for the calling thread. Never NULL;
 * "" when there is none. Valid until the thread's next libshard call.
 */
SHARD_API const char *shard_last_error(void);

/* The library version as "MAJOR.MINOR.PATCH". */
SHARD_API const char *shard_version(void);

#ifdef __cplusplus
}
#endif

#endif
