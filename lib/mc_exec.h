/*
 * One memcached server through libmemcached: a memcached_st of that one
 * server (libshard's ring chooses the server; libmemcached's distribution
 * never runs), its timeouts, what the server told of its item size, and
 * the execution of one command into a shard_reply. Only this module
 * includes libmemcached. A link is used by one thread at a time: the
 * caller's for blocking calls, the pool's worker for the others.
 */
#ifndef SHARD_LIB_MC_EXEC_H
#define SHARD_LIB_MC_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "mc_command.h"
#include "reply.h"

typedef struct mc_link mc_link;

/* What running a command came to. */
typedef struct mc_outcome {
    shard_reply *reply; /* the answer, when status is SHARD_OK (owned) */
    size_t reply_bytes; /* its size on the wire */
    int status;         /* SHARD_OK, or why no answer came */
    bool connected;     /* the link (re)connected for this command */
    bool eof;           /* the server closed the connection */
    char errmsg[256];   /* the failure, when status is not SHARD_OK */
} mc_outcome;

/*
 * A link to `target` (copied) with the pool's `timeout_ms` (<= 0: wait
 * forever) as connect, poll, send and receive timeouts; nothing is
 * connected yet. NULL when out of memory.
 */
mc_link *mc_link_new(const conn_target *target, int timeout_ms);

/* Closes and frees; NULL is fine. */
void mc_link_free(mc_link *l);

/*
 * A new `timeout_ms` (a reload's), from any thread: the link takes it at
 * its next command (connect and poll timeouts at once, send and receive
 * at its next connect).
 */
void mc_link_set_timeout(mc_link *l, int timeout_ms);

/*
 * Runs `cmd` (checked already) up to its reply: the whole exchange, or
 * for get and gets only the request, and then returns true: its reply is
 * read by mc_link_finish, so that several servers can be asked before
 * any is read. Connects first when needed (learning the server's item
 * size), and refuses values over it.
 */
bool mc_link_start(mc_link *l, const mc_cmd *cmd, mc_outcome *out);

/* Reads the reply of the get or gets that mc_link_start sent. */
void mc_link_finish(mc_link *l, const mc_cmd *cmd, mc_outcome *out);

/*
 * The largest value the server stores under a key of `keylen` bytes with
 * `flags`: from its item size once connected, else memcached's default.
 * Any thread may ask.
 */
size_t mc_link_value_max(const mc_link *l, size_t keylen, uint32_t flags);

/* Clears what an outcome holds (its reply). */
void mc_outcome_clear(mc_outcome *out);

#endif
