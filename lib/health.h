/*
 * A pool's server health: what its connections report (failures,
 * answers, connects), ejection and return as twemproxy 0.5 does them,
 * libshard's additions (the probe, reconnection spacing), and the events
 * the application hears of all this. The pool embeds one and lends it
 * what it keeps: config, options, servers, topology, engine.
 */
#ifndef SHARD_LIB_HEALTH_H
#define SHARD_LIB_HEALTH_H

#include <shard/common.h>

#include "conf_pool.h"
#include "eject.h"
#include "engine.h"
#include "server.h"
#include "topology.h"

/* The connection of server `index` that the probe uses (made if needed). */
typedef conn *(*health_conn_fn)(void *owner, int index);

typedef struct health {
    const conf_pool *conf;      /* the pool's config */
    const shard_options *opts;  /* log and event callbacks */
    struct server *servers;     /* conf->server_count, in twemproxy order */
    topology **topo;            /* the pool's current snapshot: swapped here */
    engine *engine;             /* where probes are sent */
    eject_policy eject;         /* auto_eject_hosts and its limits */
    size_t probes;              /* server_probe PINGs out now */
    health_conn_fn server_conn; /* the probe's connection */
    void *owner;                /* passed to server_conn */
    /* Sentinel's: server `index` lost its master (closed, refused, or
     * -READONLY); NULL without sentinels. */
    void (*master_lost)(void *ctx, int index);
    void *master_ctx; /* passed to master_lost */
} health;

/*
 * Sets up `h` over what the pool lends it (all must outlive it), points
 * the engine's connection reports at it and builds the first topology.
 * SHARD_ENOMEM when it cannot.
 */
int health_init(health *h, const conf_pool *conf, const shard_options *opts,
                struct server *servers, topology **topo, engine *e,
                health_conn_fn server_conn, void *owner);

/*
 * A reload: the pool's new config and servers (kept servers keep their
 * state) and `t`, their topology (taken over), swapped in.
 */
void health_reconfigure(health *h, const conf_pool *conf,
                        struct server *servers, topology *t);

/*
 * Server `index` now has a new address (Sentinel): its back-off starts
 * over and, ejected, it returns to the ring at once.
 */
void health_server_moved(health *h, int index);

/*
 * Tells the application (shard_options.event_fn) about server `index`, or
 * the whole pool when `index` is negative.
 */
void health_event(health *h, int type, int index, int status,
                  const char *reason, int64_t delay_us);

/*
 * Before every placement: ejected servers whose retry time has come
 * return to the ring (a new topology), or with server_probe get a PING
 * and return when it is answered.
 */
void health_readmit_work(health *h);

/* health_readmit_work when a probe is out or a return is scheduled: the
 * common case is two tests, inline. */
static inline void
health_readmit(health *h)
{
    if (h->probes > 0 || (*h->topo)->next_return_us != 0)
        health_readmit_work(h);
}

#endif
