/*
 * libshard: the asynchronous API, driven by the application's event loop.
 *
 * The engine tells the application which file descriptors to watch and when
 * its next deadline is, through two hooks; the application calls back into
 * the engine when a descriptor is ready or the deadline passes (the model
 * of libcurl's multi socket interface). include/shard/adapters/ has
 * header-only glue for libevent, libuv and libev.
 */
#ifndef SHARD_ASYNC_H
#define SHARD_ASYNC_H

#include <shard/common.h>
#include <shard/pool.h>
#include <shard/reply.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Events for the watch hook and shard_pool_on_fd(). */
#define SHARD_WATCH_NONE 0  /* stop watching the descriptor */
#define SHARD_WATCH_READ 1  /* readable */
#define SHARD_WATCH_WRITE 2 /* writable */

/*
 * Watch `fd` for `events` (SHARD_WATCH_* bits; NONE means forget it). Called
 * whenever the set changes. `*watch_data` is a slot the application may use
 * for its own watcher of that descriptor: NULL the first time, kept until
 * the call with SHARD_WATCH_NONE, after which the engine forgets it.
 */
typedef void (*shard_watch_fn)(int fd, int events, void **watch_data,
                               void *userdata);

/*
 * Call shard_pool_on_timeout() in `timeout_ms` milliseconds (0: as soon as
 * possible), replacing any earlier request; -1 cancels the timer.
 */
typedef void (*shard_timer_fn)(long timeout_ms, void *userdata);

/*
 * The pool lets go of the hooks' `userdata`: called once, when
 * shard_pool_free() is done with the loop or the hooks are replaced or
 * cleared. An adapter releases itself here (hiredis' ev.cleanup).
 */
typedef void (*shard_cleanup_fn)(void *userdata);

/*
 * Called once per async command: with the reply (valid only during the
 * call) and SHARD_OK, or with NULL and a negative SHARD_E* code (timeout,
 * connection failure, SHARD_ECLOSED when the pool is freed first). A split
 * command whose servers partly failed still gets SHARD_OK: an MGET with
 * ERROR elements for the lost keys, a DEL or MSET with an ERROR reply
 * naming the failed servers.
 */
typedef void (*shard_reply_fn)(shard_pool *pool, const shard_reply *reply,
                               int status, void *userdata);

/*
 * Hands the pool to an event loop. Set before the first async command;
 * setting them again (or to NULL) is allowed only while nothing is pending.
 */
SHARD_API int shard_pool_set_event_hooks(shard_pool *pool, shard_watch_fn watch,
                                         shard_timer_fn timer, void *userdata);

/*
 * Sets the cleanup of the hooks set last (NULL: none), called as
 * shard_cleanup_fn says. SHARD_EINVAL (pool message set) when no hooks are
 * set. Adapters set it so that the pool can release them.
 */
SHARD_API int shard_pool_set_event_cleanup(shard_pool *pool,
                                           shard_cleanup_fn cleanup);

/*
 * Records `message` as the reason a call on `pool` failed with `code`, and
 * returns `code`: for adapters and other glue compiled into the
 * application, so that their failures read like libshard's own. With
 * `pool` NULL it sets shard_last_error() instead.
 */
SHARD_API int shard_pool_set_error(shard_pool *pool, int code,
                                   const char *message);

/* The application's loop saw `events` (SHARD_WATCH_* bits) on `fd`. */
SHARD_API void shard_pool_on_fd(shard_pool *pool, int fd, int events);

/* The timer requested through shard_timer_fn fired. */
SHARD_API void shard_pool_on_timeout(shard_pool *pool);

/*
 * Submits a command, routed and split as shard_command_argv(). Returns
 * SHARD_OK and later calls `fn` exactly once; or returns a negative code
 * and never calls it. `fn` never runs inside this call.
 */
SHARD_API int shard_command_async(shard_pool *pool, int argc, const char **argv,
                                  const size_t *argvlen, shard_reply_fn fn,
                                  void *userdata);

/* As shard_txn_command_argv() (<shard/redis.h>), completed through the
 * event loop. */
struct shard_txn;
SHARD_API int shard_txn_command_async(struct shard_txn *txn, int argc,
                                      const char **argv, const size_t *argvlen,
                                      shard_reply_fn fn, void *userdata);

/* Number of async commands submitted and not yet called back. */
SHARD_API size_t shard_pool_pending(const shard_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
