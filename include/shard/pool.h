/* libshard: open a pool from a twemproxy config and place keys on it. */
#ifndef SHARD_POOL_H
#define SHARD_POOL_H

#include <shard/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A pool of servers read from one pool of a nutcracker.yml. A pool is used
 * by one thread at a time, like a hiredis context; several pools may be
 * used from several threads.
 */
typedef struct shard_pool shard_pool;

/*
 * Opens pool `pool_name` of the config file `yaml_path`. `pool_name` may be
 * NULL when the file holds exactly one pool; `opts` may be NULL. On failure
 * *out is NULL and shard_last_error() says why (file, line, pool and
 * directive for config errors).
 */
SHARD_API int shard_pool_open(shard_pool **out, const char *yaml_path,
                              const char *pool_name, const shard_options *opts);

/* As shard_pool_open, with the YAML text in memory (`len` bytes). */
SHARD_API int shard_pool_open_string(shard_pool **out, const char *yaml,
                                     size_t len, const char *pool_name,
                                     const shard_options *opts);

/*
 * Checks the config file as `nutcracker -t` does, every pool of it:
 * SHARD_OK, or SHARD_ECONFIG / SHARD_EIO with shard_last_error() set.
 */
SHARD_API int shard_config_check(const char *yaml_path);

/*
 * Takes a new configuration live: the pool's own pool (same name) of the
 * file `yaml_path`, validated completely first. On success the new
 * servers and placement are swapped in at once: requests already sent
 * finish where they went, connections to servers in both configs are
 * kept, those to removed servers close once their requests are done, and
 * every key goes where a nutcracker started on the new file puts it. On
 * failure nothing changed: SHARD_ECONFIG (bad YAML, no pool of that name,
 * or a change of `redis:`, which needs a new pool), SHARD_EIO, or
 * SHARD_ENOMEM, with shard_pool_errmsg() saying why. Never resolves a host
 * name. May be called from an async callback.
 */
SHARD_API int shard_pool_reload(shard_pool *pool, const char *yaml_path);

/* As shard_pool_reload, with the YAML text in memory (`len` bytes). */
SHARD_API int shard_pool_reload_string(shard_pool *pool, const char *yaml,
                                       size_t len);

/* Frees the pool; NULL is fine. */
SHARD_API void shard_pool_free(shard_pool *pool);

/* The message of the pool's last failure; "" when there is none. */
SHARD_API const char *shard_pool_errmsg(const shard_pool *pool);

/* The pool's name as written in the config. */
SHARD_API const char *shard_pool_name(const shard_pool *pool);

/*
 * The index of the server that `key` goes to now, as twemproxy 0.5 would
 * choose it, or a negative SHARD_E* code. With `distribution: random` each
 * call may return a different live server.
 */
SHARD_API int shard_pool_locate(shard_pool *pool, const char *key,
                                size_t keylen);

/* Number of servers in the pool, ejected ones included. */
SHARD_API size_t shard_pool_server_count(const shard_pool *pool);

/*
 * The identity twemproxy hashes for server `index` (its name, or
 * "host:port", or "host" for port 11211, or "path:" for a unix socket);
 * NULL when `index` is out of range. Servers are indexed in twemproxy's
 * order: sorted by identity, shorter first.
 */
SHARD_API const char *shard_pool_server_name(const shard_pool *pool,
                                             size_t index);

/* Where server `index` is reached: "host:port" or the socket path. */
SHARD_API const char *shard_pool_server_addr(const shard_pool *pool,
                                             size_t index);

#ifdef __cplusplus
}
#endif

#endif
