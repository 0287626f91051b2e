/*
 * Pool-wide commands: SCAN over every server, DBSIZE, KEYS, RANDOMKEY,
 * FLUSHDB, FLUSHALL, SCRIPT LOAD, SCRIPT EXISTS, SCRIPT FLUSH. Which join
 * each uses, the per-server sub-commands (every server gets its own before
 * any reply is read), the pool's SCAN cursor and the joins. The cursor and
 * the joins do no I/O.
 */
#ifndef SHARD_LIB_POOLWIDE_H
#define SHARD_LIB_POOLWIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf_pool.h"
#include "engine.h"
#include "fanout.h"
#include "server.h"

/*
 * The pool's SCAN cursor, an unsigned 64-bit decimal as Redis' own:
 *
 *   bits 63..52  the server it is on, in twemproxy order (12 bits)
 *   bits 51..36  a check of the pool's servers, the index and the server
 *                cursor, and inside a server where it is reached (16
 *                bits; poolwide_cursor_make)
 *   bits 35..0   that server's own SCAN cursor (36 bits)
 *
 * "0" starts the walk at server 0 and ends it after the last server.
 */
#define POOLWIDE_SERVER_BITS 12
#define POOLWIDE_CHECK_BITS 16
#define POOLWIDE_CURSOR_BITS 36
#define POOLWIDE_MAX_SERVERS ((size_t)1 << POOLWIDE_SERVER_BITS)

/* One pool-wide command to send. */
typedef struct poolwide_plan {
    const char *name; /* the command table's name ("scan", "script|load") */
    int argc;         /* the command as the application gave it */
    const char **argv;
    const size_t *argvlen;
    const conf_pool *conf;        /* servers in twemproxy order, redis_db */
    const struct server *servers; /* their state: RANDOMKEY asks live ones */
    uint64_t random;              /* RANDOMKEY: whose answer comes first */
    int retries;           /* read_retries; only read-only commands use it */
    fragment_fn resend_fn; /* sends a fragment again to its own server */
    shard_pool *pool;      /* the request's pool, for resend_fn */
} poolwide_plan;

/* The join of pool-wide command `name`; JOIN_SINGLE when it is none. */
join_kind poolwide_join_of(const char *name);

/*
 * Creates the request and sends it: SCAN to the server its cursor is on,
 * RANDOMKEY to every live server, the others to every server of the
 * config, ejected or not. A malformed or foreign SCAN cursor gives a
 * request already done with an ERROR reply. NULL when out of memory.
 */
request *poolwide_send(engine *e, request_mode mode, const poolwide_plan *p,
                       fanout_pick_fn pick, void *ctx);

/* The join function of every request poolwide_send makes. */
void poolwide_join(request *r);

/*
 * The key that checks a pool's cursors: a hash of its servers' identities
 * and addresses in twemproxy order and of redis_db. The same config gives
 * the same key in every process.
 */
uint64_t poolwide_scan_key(const conf_pool *conf);

/*
 * The pool cursor for `server_cursor` on `server` (below the limits),
 * whose address is `addr`: a cursor inside a server (not 0) is valid only
 * while the server is reached there (a Sentinel switch changes it; the
 * server's cursor means nothing to another process). `addr` is not read
 * for a server cursor of 0.
 */
uint64_t poolwide_cursor_make(uint64_t key, size_t server, const char *addr,
                              uint64_t server_cursor);

/*
 * Reads the pool cursor of `len` bytes at `s` for a pool whose key is
 * `key` and whose `server_count` servers are `servers` (where each is
 * now): the server it is on and that server's cursor. False, with
 * Redis's "ERR invalid cursor" and the reason in `err`, when it is not a
 * number or was not made by this config's pool, or a server it points
 * inside has moved.
 */
bool poolwide_cursor_read(uint64_t key, const struct server *servers,
                          size_t server_count, const char *s, size_t len,
                          size_t *server, uint64_t *server_cursor, char *err,
                          size_t errlen);

#endif
