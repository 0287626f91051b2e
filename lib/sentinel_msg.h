/*
 * What Redis Sentinel says, read (pure): a master's address as the reply
 * to SENTINEL get-master-addr-by-name gives it, and a +switch-master
 * message. Sentinel's bytes are checked like any server's: a host must be
 * a plain name or address and a port a decimal number in 1-65535, or the
 * message is ignored.
 */
#ifndef SHARD_LIB_SENTINEL_MSG_H
#define SHARD_LIB_SENTINEL_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "reply.h"

/* A master's address, as Sentinel gives it. */
typedef struct sentinel_addr {
    char host[256]; /* NUL-terminated; no blank or control character */
    int port;       /* 1-65535 */
} sentinel_addr;

/*
 * The host and port strings (`hostlen`, `portlen` bytes) of an address:
 * false when the host is empty, longer than 255 bytes or holds a blank or
 * a control character, or the port is not 1-65535 in plain decimal.
 */
bool sentinel_read_addr(const char *host, size_t hostlen, const char *port,
                        size_t portlen, sentinel_addr *out);

/* The reply to SENTINEL get-master-addr-by-name: [host, port]. False for
 * anything else (a nil: Sentinel does not know the master). */
bool sentinel_read_master_reply(const shard_reply *r, sentinel_addr *out);

/*
 * The text of a +switch-master message, `len` bytes: "<name> <old host>
 * <old port> <new host> <new port>", one space between fields (Sentinel's
 * format). The name is left in the text (*name, *namelen); false when the
 * text is anything else.
 */
bool sentinel_read_switch(const char *text, size_t len, const char **name,
                          size_t *namelen, sentinel_addr *from,
                          sentinel_addr *to);

#endif
