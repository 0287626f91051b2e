/* The twelve key hash functions of twemproxy 0.5, bit for bit. */
#ifndef SHARD_LIB_HASH_H
#define SHARD_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

/* In twemproxy's order (HASH_CODEC), which is also the config's spelling. */
typedef enum hash_kind {
    HASH_ONE_AT_A_TIME,
    HASH_MD5,
    HASH_CRC16,
    HASH_CRC32,
    HASH_CRC32A,
    HASH_FNV1_64,
    HASH_FNV1A_64,
    HASH_FNV1_32,
    HASH_FNV1A_32,
    HASH_HSIEH,
    HASH_MURMUR,
    HASH_JENKINS,
    HASH_KIND_COUNT
} hash_kind;

/* The kind spelled exactly `name` (`len` bytes); -1 when there is none. */
int hash_kind_from_name(const char *name, size_t len);

/* The config spelling of `kind` ("fnv1a_64"...); NULL when out of range. */
const char *hash_kind_name(hash_kind kind);

/*
 * twemproxy's hash of `len` bytes, with its signed-char widening. An empty
 * key is hashed like any other (route.c maps it to 0); `key` may be NULL
 * when `len` is 0. 0 for a kind out of range.
 */
uint32_t hash_key(hash_kind kind, const char *key, size_t len);

/* The 16-byte MD5 digest, for ketama points. */
void hash_md5_digest(const char *data, size_t len, unsigned char digest[16]);

#endif
