/*
 * libshard: drive a pool's async API from a libev loop.
 *
 * Header-only glue over the hooks of <shard/async.h>: every function here
 * is `static inline`, so libshard never links libev and the application
 * compiles this file with its own libev (link it with -lev).
 *
 *     shard_libev *ad;
 *     if (shard_libev_attach(pool, &ad, EV_DEFAULT) != SHARD_OK) ...
 *     shard_command_async(pool, argc, argv, NULL, on_reply, data);
 *     ev_run(EV_DEFAULT, 0);       (ev_break() it once the replies are in)
 *     shard_pool_free(pool);       (pending callbacks get SHARD_ECLOSED)
 *     shard_libev_detach(ad);
 *
 * Or let the pool own the adapter, as hiredis' adapters are owned by
 * their context: shard_libev_attach(pool, NULL, ...), and shard_pool_free()
 * releases it (no detach).
 *
 * Order, with `out`: call shard_libev_detach() AFTER shard_pool_free(), before
 * the loop runs again: freeing the pool still calls the watch hook (to forget
 * its descriptors), and the adapter's timer may still be armed for it. A
 * pool freed inside one of its reply callbacks is freed for real when the
 * callback returns: detach once the loop has returned, never inside a
 * callback. To keep the pool but leave the loop: wait until
 * shard_pool_pending() is 0, call shard_pool_set_event_hooks(pool, NULL,
 * NULL, NULL), then detach.
 *
 * The pool keeps idle connections watched for reading, so the loop does
 * not run out of watchers by itself: stop it with ev_break(). Like the
 * pool, the adapter is used by one thread at a time.
 *
 * With both libev and libevent in one file, include the libev adapter (or
 * <ev.h>) before any libevent header, <event2/event.h> included: libevent
 * #defines EV_READ and EV_WRITE, which breaks the enum of the same names
 * in <ev.h> when it comes later.
 */
#ifndef SHARD_ADAPTERS_LIBEV_H
#define SHARD_ADAPTERS_LIBEV_H

#include <stdlib.h>
#include <string.h> /* ev_init uses memmove */

#include <ev.h>

#include <shard/async.h>

struct shard_libev;

/* One watched descriptor: the slot behind the watch hook's *watch_data. */
typedef struct shard_libev_watch {
    ev_io io;                       /* the descriptor's I/O watcher */
    int events;                     /* SHARD_WATCH_* bits it waits for */
    struct shard_libev *owner;      /* the adapter it belongs to */
    struct shard_libev_watch *prev; /* neighbours in owner->watches */
    struct shard_libev_watch *next;
} shard_libev_watch;

/* The adapter of one pool: its loop, its timer, its watched descriptors. */
typedef struct shard_libev {
    ev_timer timer;             /* the pool's single deadline */
    shard_pool *pool;           /* the pool the hooks call back into */
    struct ev_loop *loop;       /* the application's loop */
    shard_libev_watch *watches; /* live watchers, freed on detach */
    int owned; /* attached without `out`: the pool releases it */
} shard_libev;

static inline void
shard_libev_on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    shard_libev_watch *w = (shard_libev_watch *)io->data;
    int events = 0;

    (void)loop;
    if (revents & EV_READ)
        events |= SHARD_WATCH_READ;
    if (revents & EV_WRITE)
        events |= SHARD_WATCH_WRITE;
    if (revents & EV_ERROR) /* libev stopped the watcher: let the pool see */
        events = w->events;
    /* The pool may free this watcher in here; w is not touched after. */
    shard_pool_on_fd(w->owner->pool, io->fd, events);
}

static inline void
shard_libev_on_timer(struct ev_loop *loop, ev_timer *timer, int revents)
{
    shard_libev *ad = (shard_libev *)timer->data;

    (void)loop;
    (void)revents;
    shard_pool_on_timeout(ad->pool);
}

static inline void
shard_libev_forget(shard_libev_watch *w)
{
    shard_libev *ad = w->owner;

    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        ad->watches = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    ev_io_stop(ad->loop, &w->io);
    free(w);
}

static inline shard_libev_watch *
shard_libev_watch_new(shard_libev *ad, int fd)
{
    shard_libev_watch *w = (shard_libev_watch *)calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    ev_io_init(&w->io, shard_libev_on_io, fd, 0);
    w->io.data = w;
    w->owner = ad;
    w->next = ad->watches;
    if (ad->watches != NULL)
        ad->watches->prev = w;
    ad->watches = w;
    return w;
}

static inline void
shard_libev_watch_fd(int fd, int events, void **watch_data, void *userdata)
{
    shard_libev *ad = (shard_libev *)userdata;
    shard_libev_watch *w = (shard_libev_watch *)*watch_data;
    int ev_events = 0;

    if (events == SHARD_WATCH_NONE) {
        if (w != NULL)
            shard_libev_forget(w);
        *watch_data = NULL;
        return;
    }
    if (w == NULL) {
        /* Out of memory: the descriptor goes unwatched and its requests
         * end through the pool's timeout. The hook cannot report it. */
        w = shard_libev_watch_new(ad, fd);
        if (w == NULL)
            return;
        *watch_data = w;
    } else if (w->events == events && ev_is_active(&w->io)) {
        return;
    }
    if (events & SHARD_WATCH_READ)
        ev_events |= EV_READ;
    if (events & SHARD_WATCH_WRITE)
        ev_events |= EV_WRITE;
    /* An active watcher cannot be changed: stop, set, start. */
    ev_io_stop(ad->loop, &w->io);
    ev_io_set(&w->io, fd, ev_events);
    w->events = events;
    ev_io_start(ad->loop, &w->io);
}

static inline void
shard_libev_set_timer(long timeout_ms, void *userdata)
{
    shard_libev *ad = (shard_libev *)userdata;

    ev_timer_stop(ad->loop, &ad->timer);
    if (timeout_ms < 0)
        return;
    /* Measured from the loop's cached time, so it may fire a little
     * early, never late; the pool then asks again for what is left. */
    ev_timer_set(&ad->timer, (ev_tstamp)timeout_ms / 1000.0, 0.0);
    ev_timer_start(ad->loop, &ad->timer);
}

/*
 * Stops the adapter's timer and watchers and frees it; NULL is fine. Call
 * it after shard_pool_free(pool), or after clearing the pool's hooks while
 * nothing is pending (see the top of this file).
 */
static inline void
shard_libev_detach(shard_libev *ad)
{
    if (ad == NULL)
        return;
    while (ad->watches != NULL)
        shard_libev_forget(ad->watches);
    ev_timer_stop(ad->loop, &ad->timer);
    free(ad);
}

/*
 * The pool let go of its hooks (it was freed, or its hooks replaced or
 * cleared): an adapter the pool owns is released now; one the application
 * holds stays until its shard_libev_detach().
 */
static inline void
shard_libev_cleanup(void *userdata)
{
    shard_libev *ad = (shard_libev *)userdata;

    ad->pool = NULL;
    if (ad->owned)
        shard_libev_detach(ad);
}

/*
 * Makes `loop` drive `pool`: sets the pool's event hooks and returns the
 * adapter in *out, for shard_libev_detach() after shard_pool_free(). With
 * `out` NULL the pool owns the adapter instead and releases it itself
 * when it is freed or its hooks are replaced: nothing to detach. Call it
 * before the first async command. Returns SHARD_OK, SHARD_EINVAL, SHARD_ENOMEM,
 * or the error of shard_pool_set_event_hooks() (then *out is NULL).
 */
static inline int
shard_libev_attach(shard_pool *pool, shard_libev **out, struct ev_loop *loop)
{
    shard_libev *ad;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (pool == NULL || loop == NULL)
        return shard_pool_set_error(pool, SHARD_EINVAL,
                                    pool == NULL ? "pool is NULL"
                                                 : "the libev loop is NULL");
    ad = (shard_libev *)calloc(1, sizeof(*ad));
    if (ad == NULL)
        return shard_pool_set_error(pool, SHARD_ENOMEM,
                                    "out of memory for the libev adapter");
    ad->pool = pool;
    ad->loop = loop;
    ev_timer_init(&ad->timer, shard_libev_on_timer, 0.0, 0.0);
    ad->timer.data = ad;
    rc = shard_pool_set_event_hooks(pool, shard_libev_watch_fd,
                                    shard_libev_set_timer, ad);
    if (rc != SHARD_OK) {
        shard_libev_detach(ad);
        return rc;
    }
    /* Cannot fail: the hooks were just set. */
    (void)shard_pool_set_event_cleanup(pool, shard_libev_cleanup);
    ad->owned = out == NULL;
    if (out != NULL)
        *out = ad;
    return SHARD_OK;
}

#endif
