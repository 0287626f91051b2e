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
    SHARD_ESTATE = -12        /* the call is not valid in the current state */
};

/* Log levels for shard_options.log_fn. */
enum shard_log_level {
    SHARD_LOG_ERROR = 0,
    SHARD_LOG_WARN = 1,
    SHARD_LOG_INFO = 2,
    SHARD_LOG_DEBUG = 3
};

typedef void (*shard_log_fn)(int level, const char *message, void *userdata);

#define SHARD_OPTIONS_VERSION 1

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
} shard_options;

#define SHARD_OPTIONS_INIT                                                     \
    {                                                                          \
        SHARD_OPTIONS_VERSION, NULL, NULL, SHARD_LOG_WARN                      \
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
