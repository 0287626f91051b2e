/*
 * A stats port as nutcracker's (`-s`): a thread that listens on a TCP
 * address and, to each client that connects, writes one document and
 * closes; whatever the client sends is ignored.
 */
#ifndef SHARD_LIB_STATS_PORT_H
#define SHARD_LIB_STATS_PORT_H

#include <stddef.h>

typedef struct stats_port stats_port;

/* Makes the document, malloc'd (NULL when out of memory); runs on the
 * port's thread. */
typedef char *(*stats_render_fn)(void *ctx, size_t *len);

/*
 * Listens on `addr` ("host:port"; "[v6]:port" or "v6:port" too) and
 * serves `render`'s documents from a thread of its own. NULL with the
 * reason in `err` when the address is malformed or cannot be bound.
 */
stats_port *stats_port_start(const char *addr, stats_render_fn render,
                             void *ctx, char *err, size_t errlen);

/* Stops the thread (waiting for a document being written) and frees. */
void stats_port_stop(stats_port *p);

#endif
