/*
 * What shard-cli shows about a nutcracker.yml that libshard's API does not
 * tell: the pools a file holds, and each pool's hash, distribution,
 * hash_tag, protocol and server weights. Read only for display, after
 * shard_config_check() accepted the file; where keys go is always asked
 * of libshard.
 */
#ifndef SHARD_CLI_CONFINFO_H
#define SHARD_CLI_CONFINFO_H

#include <stdbool.h>
#include <stddef.h>

/* One server line of a pool, as written. */
typedef struct conf_server {
    char *addr;   /* "host:port" or the socket path, as libshard gives it */
    char *weight; /* the weight as written */
} conf_server;

/* One pool of the file, with twemproxy's defaults filled in. */
typedef struct conf_pool {
    char *name;           /* the pool's name */
    char *hash;           /* "fnv1a_64" when absent */
    char *distribution;   /* "ketama" when absent */
    char *hash_tag;       /* two bytes, or NULL when absent */
    bool redis;           /* redis: true (false means memcached) */
    conf_server *servers; /* the server lines, in file order */
    size_t server_count;  /* how many */
} conf_pool;

/* The pools of one file, in file order. */
typedef struct conf_info {
    conf_pool *pools; /* the pools */
    size_t count;     /* how many */
} conf_info;

/*
 * Reads `path`. Returns 0, or -1 with a message in `err` (the file cannot
 * be read or parsed; shard_config_check() says more).
 */
int conf_info_read(conf_info *info, const char *path, char *err, size_t errlen);

/* The pool called `name`, or NULL. */
const conf_pool *conf_info_pool(const conf_info *info, const char *name);

/* The weight written for the server reached at `addr`, or NULL. */
const char *conf_pool_weight(const conf_pool *pool, const char *addr);

/*
 * The part of `key` that is hashed under `hash_tag` (NULL: none), as
 * twemproxy 0.5 takes it: between the first tag start and the first tag
 * end after it, when that is not empty; else the whole key.
 */
void conf_hashed_part(const char *hash_tag, const char *key, size_t len,
                      const char **part, size_t *partlen);

void conf_info_free(conf_info *info);

#endif
