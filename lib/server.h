/*
 * One run-time object per server of a pool (twemproxy's struct server):
 * its identity and order, its address, its health and ejection state, and
 * its connections. Ejection (eject.c), the ring (topology.c) and the
 * request path read it; stats and the probe will hang their state here.
 */
#ifndef SHARD_LIB_SERVER_H
#define SHARD_LIB_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backoff.h"
#include "conf_pool.h"
#include "conn.h"

struct server {
    size_t index;            /* position in twemproxy's order */
    const char *identity;    /* what ketama hashes (the config's string) */
    size_t identity_len;     /* its length in bytes */
    uint32_t weight;         /* > 0 */
    conn_target target;      /* where it is reached; owned, may change */
    bool live;               /* in the ring now */
    int failures;            /* consecutive failures since the last answer */
    int64_t next_retry_us;   /* monotonic time it may return; 0: live */
    int64_t ejected_at_us;   /* wall clock of the last ejection, 0: never */
    uint64_t ejections;      /* how many times it was ejected */
    conn *conn;              /* the pool's connection to it, made on first
                                use; the engine owns it */
    bool warned;             /* its warning was logged (once per server) */
    bool probing;            /* server_probe: a PING is out; it returns to
                                the ring when answered */
    backoff reconnect;       /* spacing of connects after failed ones */
    char connect_error[128]; /* why the last connect failed */
    server_stats stats;      /* live counters (read by the stats port) */
};

/*
 * Sets up server `index` from its config line `cs` (which must outlive
 * it): live, no connection yet. SHARD_ENOMEM when its address cannot be
 * copied.
 */
int server_init(struct server *s, size_t index, const conf_server *cs);

/* Frees what the server owns (not its connection: the engine's). */
void server_release(struct server *s);

#endif
