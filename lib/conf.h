/* nutcracker.yml -> validated pool configs, with twemproxy 0.5's rules. */
#ifndef SHARD_LIB_CONF_H
#define SHARD_LIB_CONF_H

#include <stddef.h>

#include "conf_pool.h"

/* conf_parse_flags() flags. */
#define CONF_NO_DNS 1u /* never resolve a host (the reload path) */

/*
 * Parses `len` bytes of YAML. `source` names the text in messages (the
 * file path, or "<string>"). On failure returns NULL and writes a message
 * naming the source, line, pool and directive into `err` (`errlen` bytes).
 * Resolves each pool's listen host, as twemproxy does at load time.
 */
conf_file *conf_parse(const char *yaml, size_t len, const char *source,
                      char *err, size_t errlen);

/* As conf_parse, with CONF_* `flags`. */
conf_file *conf_parse_flags(const char *yaml, size_t len, const char *source,
                            unsigned flags, char *err, size_t errlen);

#endif
