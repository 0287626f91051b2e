/*
 * libshard: memcached commands on a `redis: false` pool, by name, as
 * twemproxy 0.5 serves them (the cache API, <shard/cache.h>, is the
 * portable way; this is every command, with memcached's own results).
 *
 * argv holds the words of the ASCII protocol without the byte count, the
 * value in its place; argvlen may be NULL when every word is a C string:
 *
 *   get KEY                            STRING (the value), or NIL (a miss)
 *   get KEY KEY [KEY ...]              ARRAY: per key STRING, or NIL
 *   gets KEY                           an ARRAY of the value (STRING), its
 *                                      flags and its cas unique (INTEGERs),
 *                                      or NIL
 *   gets KEY KEY [KEY ...]             ARRAY: per key what gets KEY gives
 *   set|add|replace|append|prepend KEY FLAGS EXPTIME VALUE
 *                                      STATUS "STORED" or "NOT_STORED"
 *   cas KEY FLAGS EXPTIME VALUE CAS    STATUS "STORED", "EXISTS" or
 *                                      "NOT_FOUND"
 *   incr|decr KEY DELTA                INTEGER (the new value, as an
 *                                      unsigned 64-bit number), or STATUS
 *                                      "NOT_FOUND"
 *   touch KEY EXPTIME                  STATUS "TOUCHED" or "NOT_FOUND"
 *   delete KEY                         STATUS "DELETED" or "NOT_FOUND"
 *   version                            STATUS: the version of the server of
 *                                      the key "placeholder", as twemproxy
 *   mset FLAGS EXPTIME KEY VALUE [KEY VALUE ...]
 *                                      libshard's: ARRAY, per key STATUS
 *                                      "STORED" or ERROR
 *
 * Names are lower-case, numbers decimal digits; EXPTIME is memcached's
 * (over 30 days: a Unix time). A get, gets or mset of several keys is
 * split per server, sent to every server before any reply is read, and
 * joined in key order; a key whose server failed gets an ERROR element
 * naming the server. A server's SERVER_ERROR, CLIENT_ERROR or ERROR is an
 * ERROR reply with its words.
 *
 * libshard refuses, with an ERROR reply and before sending anything, an
 * unknown command or a wrong number of words, a key that is empty, over
 * 250 bytes or holds a space or a control character, and a value over the
 * server's item size (memcached's default of 1 MiB until libshard has
 * connected to the server once and read its own). noreply is not taken:
 * every command waits for its answer.
 *
 * Returns SHARD_OK with *out set (free it with shard_reply_free()); or a
 * negative code when no answer could be had (shard_pool_errmsg() says
 * why), SHARD_EUNSUPPORTED on a Redis pool.
 */
#ifndef SHARD_MEMCACHED_H
#define SHARD_MEMCACHED_H

#include <shard/async.h>
#include <shard/common.h>
#include <shard/pool.h>
#include <shard/reply.h>

#ifdef __cplusplus
extern "C" {
#endif

SHARD_API int shard_mc_command_argv(shard_pool *pool, shard_reply **out,
                                    int argc, const char **argv,
                                    const size_t *argvlen);

/*
 * As shard_mc_command_argv, through the pool's event loop: the pool's
 * worker thread runs the command (libmemcached has no descriptor to
 * watch) and wakes the loop through an eventfd watched like a socket.
 * The callback contract of shard_command_async() holds.
 */
SHARD_API int shard_mc_command_async(shard_pool *pool, int argc,
                                     const char **argv, const size_t *argvlen,
                                     shard_reply_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
