/* nutcracker.yml -> validated pool configs, with twemproxy 0.5's rules. */
#ifndef SHARD_LIB_CONF_H
#define SHARD_LIB_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "ring.h"

/* One line of a pool's `servers:` sequence. */
typedef struct conf_server {
    char *identity; /* what ketama hashes and stats are keyed by */
    size_t identity_len;
    char *addr;      /* "host:port" or the unix socket path */
    char *host;      /* host part, or the socket path */
    int port;        /* 0 for a unix socket */
    uint32_t weight; /* > 0 */
    unsigned line;   /* 1-based line in the YAML, for messages */
} conf_server;

/* One pool with every directive resolved to its value or default. */
typedef struct conf_pool {
    char *name;                  /* the top-level key */
    char *listen;                /* as written; validated, unused */
    hash_kind hash;              /* default fnv1a_64 */
    char hash_tag[2];            /* the two delimiters, when has_hash_tag */
    bool has_hash_tag;           /* hash_tag was set */
    dist_kind distribution;      /* default ketama */
    int timeout_ms;              /* <= 0: no timeout (default -1) */
    int backlog;                 /* default 512, unused */
    int client_connections;      /* always 0, as twemproxy overwrites it */
    bool redis;                  /* false: memcached */
    bool tcpkeepalive;           /* default false */
    char *redis_auth;            /* NULL when unset */
    int redis_db;                /* default 0 */
    bool preconnect;             /* default false */
    bool auto_eject_hosts;       /* default false */
    int server_connections;      /* default 1, never 0 */
    int server_retry_timeout_ms; /* default 30000 */
    int server_failure_limit;    /* default 2 */
    conf_server *servers;        /* sorted as twemproxy sorts them */
    size_t server_count;
    unsigned line; /* line of the pool's name */
} conf_pool;

/* Every pool of one file, sorted by name as twemproxy sorts them. */
typedef struct conf_file {
    conf_pool *pools;
    size_t pool_count;
} conf_file;

/*
 * Parses `len` bytes of YAML. `source` names the text in messages (the
 * file path, or "<string>"). On failure returns NULL and writes a message
 * naming the source, line, pool and directive into `err` (`errlen` bytes).
 */
conf_file *conf_parse(const char *yaml, size_t len, const char *source,
                      char *err, size_t errlen);

void conf_free(conf_file *cf);

/* The pool called `name`; with `name` NULL, the only pool (else NULL). */
const conf_pool *conf_find_pool(const conf_file *cf, const char *name);

#endif
