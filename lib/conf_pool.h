/*
 * One pool's configuration: the types every module reads, and the
 * directive values checked the way twemproxy 0.5 checks them.
 */
#ifndef SHARD_LIB_CONF_POOL_H
#define SHARD_LIB_CONF_POOL_H

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
    bool named;      /* the line gave a name (the identity) */
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
    /* libshard's own (nutcracker refuses them as unknown directives): */
    bool server_probe;    /* PING an ejected server before its
                             return; default false */
    int read_retries;     /* retries of a read-only command after a
                             lost connection or a timeout; default 0 */
    conf_server *servers; /* sorted as twemproxy sorts them */
    size_t server_count;
    /* libshard's own (twemproxy's unmerged Sentinel branch's format): */
    conf_server *sentinels; /* "host:port[:weight]" lines, in order; then
                               each server's name is its master's name in
                               Sentinel */
    size_t sentinel_count;
    unsigned line; /* line of the pool's name */
} conf_pool;

/* Every pool of one file, sorted by name as twemproxy sorts them. */
typedef struct conf_file {
    conf_pool *pools;
    size_t pool_count;
} conf_file;

/* A pool while its directives are read. */
typedef struct conf_builder {
    conf_pool pool;      /* filled in as directives arrive */
    unsigned set_mask;   /* bit per directive already set (duplicates) */
    size_t server_cap;   /* allocated length of pool.servers */
    size_t sentinel_cap; /* ... of pool.sentinels */
    bool no_dns;         /* check `listen` without resolving its host */
    unsigned lines[32];  /* line of each directive set, by set_mask bit */
} conf_builder;

/*
 * Starts pool `name` (taken over: freed with the pool) at `line`. With
 * `no_dns` the listen host is checked for shape only, never resolved (a
 * reload must not block on DNS; libshard never listens anyway).
 */
void conf_builder_init(conf_builder *b, char *name, unsigned line, bool no_dns);

/*
 * Sets directive `key` from `value` (`len` bytes, one sequence item for
 * servers). Returns NULL, or twemproxy's reason ("is a duplicate", "is not
 * a valid hash", ...), to be shown after `directive "key"`.
 */
const char *conf_builder_set(conf_builder *b, const char *key,
                             const char *value, size_t len, unsigned line);

/*
 * Applies defaults and the pool checks of conf_validate_pool; sorts the
 * servers. Returns NULL when valid, else a message (maybe written into
 * `buf`) and in *line the line it is about: the directive's, or the
 * pool's name's.
 */
const char *conf_builder_finish(conf_builder *b, unsigned *line, char *buf,
                                size_t len);

/* Frees a pool that will not be finished. */
void conf_builder_discard(conf_builder *b);

/* Appends a finished pool (moved, not copied). False when out of memory. */
bool conf_file_add_pool(conf_file *cf, conf_pool *pool);

/* The checks across pools (none, same listen, same name); sorts by name. */
bool conf_file_validate(conf_file *cf, const char *source, char *err,
                        size_t errlen);

void conf_free(conf_file *cf);

/* The pool called `name`; with `name` NULL, the only pool (else NULL). */
const conf_pool *conf_find_pool(const conf_file *cf, const char *name);

#endif
