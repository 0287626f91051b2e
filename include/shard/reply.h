/*
 * libshard: replies, as Redis sends them or as libshard makes them (an
 * ERROR naming a refused command, a joined split command). The cache API
 * and the async callbacks share this type with the Redis calls.
 */
#ifndef SHARD_REPLY_H
#define SHARD_REPLY_H

#include <shard/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reply types, numbered as in hiredis. */
enum shard_reply_type {
    SHARD_REPLY_STRING = 1,
    SHARD_REPLY_ARRAY = 2,
    SHARD_REPLY_INTEGER = 3,
    SHARD_REPLY_NIL = 4,
    SHARD_REPLY_STATUS = 5,
    SHARD_REPLY_ERROR = 6
};

/* A reply; opaque, read through the accessors below. */
typedef struct shard_reply shard_reply;

/* Its SHARD_REPLY_* type; 0 for NULL. */
SHARD_API int shard_reply_type(const shard_reply *r);
/*
 * String, status or error text (NUL-terminated too; `*len` bytes, binary
 * safe) owned by the reply; NULL otherwise. `len` may be NULL.
 */
SHARD_API const char *shard_reply_str(const shard_reply *r, size_t *len);
/* The value of an INTEGER reply; 0 otherwise. */
SHARD_API long long shard_reply_integer(const shard_reply *r);
/* Number of elements of an array; 0 otherwise. */
SHARD_API size_t shard_reply_len(const shard_reply *r);
/* Element `i` of an array, owned by it; NULL when out of range or not an
 * array. */
SHARD_API const shard_reply *shard_reply_at(const shard_reply *r, size_t i);
/* Frees a reply from a blocking call (never an async one); NULL is fine. */
SHARD_API void shard_reply_free(shard_reply *r);

#ifdef __cplusplus
}
#endif

#endif
