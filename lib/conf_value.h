/* Directive values of one pool, checked the way twemproxy 0.5 checks them. */
#ifndef SHARD_LIB_CONF_VALUE_H
#define SHARD_LIB_CONF_VALUE_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* A pool while its directives are read. */
typedef struct conf_builder {
    conf_pool pool;    /* filled in as directives arrive */
    unsigned set_mask; /* bit per directive already set (duplicates) */
    size_t server_cap; /* allocated length of pool.servers */
} conf_builder;

/* Starts pool `name` (taken over: freed with the pool) at `line`. */
void conf_builder_init(conf_builder *b, char *name, unsigned line);

/*
 * Sets directive `key` from `value` (`len` bytes, one sequence item for
 * servers). Returns NULL, or twemproxy's reason ("is a duplicate", "is not
 * a valid hash", ...), to be shown after `directive "key"`.
 */
const char *conf_builder_set(conf_builder *b, const char *key,
                             const char *value, size_t len, unsigned line);

/*
 * Applies defaults and the pool checks of conf_validate_pool; sorts the
 * servers. Returns NULL when valid, else a message written into `buf`.
 */
const char *conf_builder_finish(conf_builder *b, char *buf, size_t len);

/* Frees a pool that will not be finished. */
void conf_builder_discard(conf_builder *b);

/* Appends a finished pool (moved, not copied). False when out of memory. */
bool conf_file_add_pool(conf_file *cf, conf_pool *pool);

/* The checks across pools (none, same listen, same name); sorts by name. */
bool conf_file_validate(conf_file *cf, const char *source, char *err,
                        size_t errlen);

#endif
