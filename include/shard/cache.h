/*
 * libshard: one cache API for Redis and memcached pools.
 *
 * The same calls give the same results on a pool with `redis: true` and
 * one with `redis: false`; docs/guide.md lists the command each call
 * sends to each backend. Keys go where twemproxy 0.5 puts them.
 *
 * Ownership: keys and values belong to the caller and are read during the
 * call only; they are binary safe (their lengths are given). A reply put
 * in *out belongs to the caller until shard_reply_free(). A reply passed
 * to a callback belongs to libshard and is valid during the callback.
 *
 * Returns: SHARD_OK, or a negative code when no answer could be had, and
 * then shard_pool_errmsg() says why (and *out is NULL):
 *   SHARD_EINVAL   a bad argument: NULL pointers, and on a memcached pool
 *                  a key memcached cannot take (empty, over 250 bytes, a
 *                  space or a control character) or a value over the
 *                  server's item size; nothing was sent.
 *   SHARD_ESERVER  the server answered with an error (a Redis -ERR, a
 *                  memcached SERVER_ERROR or CLIENT_ERROR), quoted in the
 *                  pool message.
 *   SHARD_ETIMEDOUT, SHARD_ECONN, SHARD_ENOSERVER ...  as everywhere.
 * *out never holds an ERROR reply, except as elements of shard_mget and
 * shard_mset results: a key whose server failed gets an ERROR element
 * naming that server, and the other keys their results.
 *
 * ttl_seconds: 0 keeps a value without expiry. memcached reads an expiry
 * over 30 days as a Unix time; libshard converts longer ones, so a ttl
 * means the same on both backends (up to memcached's last expiry time,
 * 2038-01-19, which longer ones are cut to on memcached pools).
 *
 * A pool is used by one thread at a time (<shard/pool.h>).
 */
#ifndef SHARD_CACHE_H
#define SHARD_CACHE_H

#include <stdint.h>

#include <shard/async.h>
#include <shard/common.h>
#include <shard/pool.h>
#include <shard/reply.h>

#ifdef __cplusplus
extern "C" {
#endif

/* *out: SHARD_REPLY_STRING (the value) or SHARD_REPLY_NIL (a miss) */
SHARD_API int shard_get(shard_pool *pool, shard_reply **out, const char *key,
                        size_t keylen);

/* *out: an array of nkeys elements, in order: STRING, NIL, or ERROR
   naming the failed server for keys it could not read */
SHARD_API int shard_mget(shard_pool *pool, shard_reply **out, size_t nkeys,
                         const char **keys, const size_t *keylens);

/* ttl_seconds 0: no expiry */
SHARD_API int shard_set(shard_pool *pool, const char *key, size_t keylen,
                        const char *value, size_t valuelen,
                        unsigned ttl_seconds);

/*
 * Sets `n` keys (keys[i] to values[i]), each on its server, all with
 * `ttl_seconds`. *out: an array of n elements, in order: STATUS "OK", or
 * ERROR naming the failed server (or quoting its error) for keys not
 * stored. Keys are independent: some may be stored and others not.
 */
SHARD_API int shard_mset(shard_pool *pool, shard_reply **out, size_t n,
                         const char **keys, const size_t *keylens,
                         const char **values, const size_t *valuelens,
                         unsigned ttl_seconds);

/* Stores only if `key` holds nothing: *stored is 1 when it did, 0 when the
   key already existed (then nothing changed). */
SHARD_API int shard_add(shard_pool *pool, int *stored, const char *key,
                        size_t keylen, const char *value, size_t valuelen,
                        unsigned ttl_seconds);

/* SHARD_OK whether or not the key existed */
SHARD_API int shard_delete(shard_pool *pool, const char *key, size_t keylen);

/*
 * Counters, with memcached's meaning on both backends: the key must hold
 * a decimal number (set it first); incr adds `delta`, decr subtracts it
 * and stops at 0; the expiry is kept. *out: SHARD_REPLY_INTEGER (the new
 * value) or SHARD_REPLY_NIL (no such key: nothing is created). A value
 * that is not a decimal number gives SHARD_ESERVER. `delta` is at most
 * 2^63 - 1 (SHARD_EINVAL beyond).
 * The backends agree for values written as plain decimal numbers from 0
 * to 2^63 - 1 and results in that range. Beyond it they differ, as the
 * servers do: memcached counts in unsigned 64 bits and wraps past 2^64 -
 * 1, Redis answers an error (SHARD_ESERVER) past 2^63 - 1; memcached
 * also takes leading blanks and zeros (" 5", "007"), Redis refuses them.
 * And memcached rewrites a number that a decr shortened in place, padded
 * with spaces ("100" decr 95 reads back as "5  " through shard_get, as
 * through twemproxy or libmemcached; memcached's protocol.txt,
 * incr/decr); Redis holds "5". Parse counters read with shard_get with
 * strtoull or the like, which stop at a space.
 */
SHARD_API int shard_incr(shard_pool *pool, shard_reply **out, const char *key,
                         size_t keylen, uint64_t delta);
SHARD_API int shard_decr(shard_pool *pool, shard_reply **out, const char *key,
                         size_t keylen, uint64_t delta);

/* Gives an existing key a new expiry (0: none): *found is 1 when the key
   existed, 0 when not (nothing is created). */
SHARD_API int shard_touch(shard_pool *pool, int *found, const char *key,
                          size_t keylen, unsigned ttl_seconds);

/*
 * The async forms: the same arguments without the output, the result in
 * the callback, through the pool's event loop (shard_pool_set_event_hooks
 * first). A call that returns SHARD_OK runs `fn` exactly once, never
 * inside the call, also when the pool is freed (SHARD_ECLOSED); one that
 * returns an error never runs it. The callback gets what the blocking
 * call would put in *out: for get, mget, mset, incr and decr that reply;
 * for set and delete STATUS "OK"; for add and touch INTEGER 1 or 0 (stored
 * or found); and a failure as NULL with the negative code.
 */
SHARD_API int shard_get_async(shard_pool *pool, const char *key, size_t keylen,
                              shard_reply_fn fn, void *userdata);
SHARD_API int shard_mget_async(shard_pool *pool, size_t nkeys,
                               const char **keys, const size_t *keylens,
                               shard_reply_fn fn, void *userdata);
SHARD_API int shard_set_async(shard_pool *pool, const char *key, size_t keylen,
                              const char *value, size_t valuelen,
                              unsigned ttl_seconds, shard_reply_fn fn,
                              void *userdata);
SHARD_API int shard_mset_async(shard_pool *pool, size_t n, const char **keys,
                               const size_t *keylens, const char **values,
                               const size_t *valuelens, unsigned ttl_seconds,
                               shard_reply_fn fn, void *userdata);
SHARD_API int shard_add_async(shard_pool *pool, const char *key, size_t keylen,
                              const char *value, size_t valuelen,
                              unsigned ttl_seconds, shard_reply_fn fn,
                              void *userdata);
SHARD_API int shard_delete_async(shard_pool *pool, const char *key,
                                 size_t keylen, shard_reply_fn fn,
                                 void *userdata);
SHARD_API int shard_incr_async(shard_pool *pool, const char *key, size_t keylen,
                               uint64_t delta, shard_reply_fn fn,
                               void *userdata);
SHARD_API int shard_decr_async(shard_pool *pool, const char *key, size_t keylen,
                               uint64_t delta, shard_reply_fn fn,
                               void *userdata);
SHARD_API int shard_touch_async(shard_pool *pool, const char *key,
                                size_t keylen, unsigned ttl_seconds,
                                shard_reply_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
