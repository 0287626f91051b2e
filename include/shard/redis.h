/* libshard: Redis commands, blocking and pipelined, and their replies. */
#ifndef SHARD_REDIS_H
#define SHARD_REDIS_H

#include <shard/common.h>
#include <shard/pool.h>
#include <shard/reply.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Sends one command and waits for its reply. `argv[i]` holds `argvlen[i]`
 * bytes (binary safe); `argvlen` may be NULL when every argument is a C
 * string. The command goes to the server of its key; MGET, DEL, UNLINK,
 * TOUCH, EXISTS and MSET are split across servers and joined.
 *
 * Returns SHARD_OK with *out set, also when the reply is of type ERROR (a
 * Redis error, or libshard refusing the command: wrong arity, keys on
 * several servers, ...). A negative return means no answer could be had
 * (timeout, connection failure...): *out is NULL and shard_pool_errmsg()
 * says why. Free the reply with shard_reply_free().
 */
SHARD_API int shard_command_argv(shard_pool *pool, shard_reply **out, int argc,
                                 const char **argv, const size_t *argvlen);

/*
 * printf-style helper over shard_command_argv, with hiredis' format
 * ("SET %s %b", key, value, len). Returns NULL on failure; then
 * shard_pool_errmsg() says why.
 */
SHARD_API shard_reply *shard_command(shard_pool *pool, const char *fmt, ...);

/*
 * Pipelining: append commands, then read their replies in the same order
 * with shard_get_reply(). Appended commands are sent as soon as the engine
 * runs, every server in parallel. An append that fails queues nothing.
 */
SHARD_API int shard_append_argv(shard_pool *pool, int argc, const char **argv,
                                const size_t *argvlen);

/* The reply to the oldest appended command; SHARD_ESTATE when none. */
SHARD_API int shard_get_reply(shard_pool *pool, shard_reply **out);

/*
 * Sends a command to server `index` as it is, with no key check: for
 * commands that concern one server (INFO, DBSIZE, KEYS, SCAN, FLUSHDB...).
 */
SHARD_API int shard_command_server_argv(shard_pool *pool, size_t index,
                                        shard_reply **out, int argc,
                                        const char **argv,
                                        const size_t *argvlen);

/* printf-style helper over shard_command_server_argv; NULL on failure. */
SHARD_API shard_reply *shard_command_server(shard_pool *pool, size_t index,
                                            const char *fmt, ...);

/*
 * Transactions and WATCH on one server. A transaction owns its own
 * connection to the server of `key`, so nothing else the application sends
 * lands inside it. Every command sent through it must have its keys on that
 * server (else an ERROR reply); MULTI, EXEC, DISCARD, WATCH and UNWATCH are
 * allowed here and only here.
 */
typedef struct shard_txn shard_txn;

SHARD_API int shard_txn_begin(shard_pool *pool, shard_txn **out,
                              const char *key, size_t keylen);
SHARD_API int shard_txn_command_argv(shard_txn *txn, shard_reply **out,
                                     int argc, const char **argv,
                                     const size_t *argvlen);
/* Index of the server the transaction runs on. */
SHARD_API int shard_txn_server(const shard_txn *txn);
/* Closes the transaction's connection; an open MULTI is discarded. */
SHARD_API void shard_txn_free(shard_txn *txn);

#ifdef __cplusplus
}
#endif

#endif
