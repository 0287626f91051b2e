/*
 * libshard: drive a pool's async API from a libevent 2 event_base.
 *
 * Header-only glue over the hooks of <shard/async.h>: every function here
 * is `static inline`, so libshard never links libevent and the application
 * compiles this file with its own libevent.
 *
 *     shard_libevent *ad;
 *     if (shard_libevent_attach(pool, &ad, base) != SHARD_OK) ...
 *     shard_command_async(pool, argc, argv, NULL, on_reply, data);
 *     event_base_dispatch(base);   (break it once the replies are in)
 *     shard_pool_free(pool);       (pending callbacks get SHARD_ECLOSED)
 *     shard_libevent_detach(ad);
 *
 * Or let the pool own the adapter, as hiredis' adapters are owned by
 * their context: shard_libevent_attach(pool, NULL, ...), and shard_pool_free()
 * releases it (no detach).
 *
 * Order, with `out`: call shard_libevent_detach() AFTER shard_pool_free(),
 * before the loop runs again: freeing the pool still calls the watch hook (to
 * forget its descriptors), and the adapter's timer may still be armed for it. A
 * pool freed inside one of its reply callbacks is freed for real when the
 * callback returns: detach once the loop has returned, never inside a
 * callback. To keep the pool but leave the loop: wait until
 * shard_pool_pending() is 0, call shard_pool_set_event_hooks(pool, NULL,
 * NULL, NULL), then detach.
 *
 * The pool keeps idle connections watched for reading, so the loop does
 * not run out of events by itself: stop it with event_base_loopbreak().
 * Like the pool, the adapter is used by one thread at a time.
 *
 * With both libev and libevent in one file, include the libev adapter (or
 * <ev.h>) before any libevent header, <event2/event.h> included: libevent
 * #defines EV_READ and EV_WRITE, which breaks the enum of the same names
 * in <ev.h> when it comes later.
 */
#ifndef SHARD_ADAPTERS_LIBEVENT_H
#define SHARD_ADAPTERS_LIBEVENT_H

#include <stdlib.h>

#include <event2/event.h>

#include <shard/async.h>

struct shard_libevent;

/* One watched descriptor: the slot behind the watch hook's *watch_data. */
typedef struct shard_libevent_watch {
    struct event *ev;                  /* persistent read/write event */
    int events;                        /* SHARD_WATCH_* bits it waits for */
    struct shard_libevent *owner;      /* the adapter it belongs to */
    struct shard_libevent_watch *prev; /* neighbours in owner->watches */
    struct shard_libevent_watch *next;
} shard_libevent_watch;

/* The adapter of one pool: its loop, its timer, its watched descriptors. */
typedef struct shard_libevent {
    shard_pool *pool;              /* the pool the hooks call back into */
    struct event_base *base;       /* the application's loop */
    struct event *timer;           /* the pool's single deadline */
    shard_libevent_watch *watches; /* live watchers, freed on detach */
    int owned; /* attached without `out`: the pool releases it */
} shard_libevent;

static inline short
shard_libevent_flags(int events)
{
    short flags = EV_PERSIST;

    if (events & SHARD_WATCH_READ)
        flags |= EV_READ;
    if (events & SHARD_WATCH_WRITE)
        flags |= EV_WRITE;
    return flags;
}

static inline void
shard_libevent_on_event(evutil_socket_t fd, short what, void *arg)
{
    shard_libevent *ad = (shard_libevent *)arg;
    int events = 0;

    if (what & EV_READ)
        events |= SHARD_WATCH_READ;
    if (what & EV_WRITE)
        events |= SHARD_WATCH_WRITE;
    /* The pool may free this watcher (or the adapter's pool) in here;
     * nothing is touched afterwards. */
    shard_pool_on_fd(ad->pool, (int)fd, events);
}

static inline void
shard_libevent_on_timer(evutil_socket_t fd, short what, void *arg)
{
    shard_libevent *ad = (shard_libevent *)arg;

    (void)fd;
    (void)what;
    shard_pool_on_timeout(ad->pool);
}

static inline void
shard_libevent_unlink(shard_libevent_watch *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        w->owner->watches = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
}

static inline void
shard_libevent_forget(shard_libevent_watch *w)
{
    shard_libevent_unlink(w);
    event_free(w->ev);
    free(w);
}

static inline shard_libevent_watch *
shard_libevent_watch_new(shard_libevent *ad, int fd)
{
    shard_libevent_watch *w = (shard_libevent_watch *)calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    w->ev = event_new(ad->base, fd, EV_PERSIST, shard_libevent_on_event, ad);
    if (w->ev == NULL) {
        free(w);
        return NULL;
    }
    w->owner = ad;
    w->next = ad->watches;
    if (ad->watches != NULL)
        ad->watches->prev = w;
    ad->watches = w;
    return w;
}

static inline void
shard_libevent_watch_fd(int fd, int events, void **watch_data, void *userdata)
{
    shard_libevent *ad = (shard_libevent *)userdata;
    shard_libevent_watch *w = (shard_libevent_watch *)*watch_data;

    if (events == SHARD_WATCH_NONE) {
        if (w != NULL)
            shard_libevent_forget(w);
        *watch_data = NULL;
        return;
    }
    if (w == NULL) {
        /* Out of memory: the descriptor goes unwatched and its requests
         * end through the pool's timeout. The hook cannot report it. */
        w = shard_libevent_watch_new(ad, fd);
        if (w == NULL)
            return;
        *watch_data = w;
    } else if (w->events == events) {
        return;
    }
    event_del(w->ev);
    event_assign(w->ev, ad->base, fd, shard_libevent_flags(events),
                 shard_libevent_on_event, ad);
    w->events = events;
    event_add(w->ev, NULL);
}

static inline void
shard_libevent_set_timer(long timeout_ms, void *userdata)
{
    shard_libevent *ad = (shard_libevent *)userdata;
    struct timeval tv;

    if (timeout_ms < 0) {
        evtimer_del(ad->timer);
        return;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    /* Adding a pending timer reschedules it. */
    evtimer_add(ad->timer, &tv);
}

/*
 * Stops the adapter's timer and watchers and frees it; NULL is fine. Call
 * it after shard_pool_free(pool), or after clearing the pool's hooks while
 * nothing is pending (see the top of this file).
 */
static inline void
shard_libevent_detach(shard_libevent *ad)
{
    if (ad == NULL)
        return;
    while (ad->watches != NULL)
        shard_libevent_forget(ad->watches);
    event_free(ad->timer);
    free(ad);
}

/*
 * The pool let go of its hooks (it was freed, or its hooks replaced or
 * cleared): an adapter the pool owns is released now; one the application
 * holds stays until its shard_libevent_detach().
 */
static inline void
shard_libevent_cleanup(void *userdata)
{
    shard_libevent *ad = (shard_libevent *)userdata;

    ad->pool = NULL;
    if (ad->owned)
        shard_libevent_detach(ad);
}

/*
 * Makes `base` drive `pool`: sets the pool's event hooks and returns the
 * adapter in *out, for shard_libevent_detach() after shard_pool_free(). With
 * `out` NULL the pool owns the adapter instead and releases it itself
 * when it is freed or its hooks are replaced: nothing to detach. Call it
 * before the first async command. Returns SHARD_OK, SHARD_EINVAL, SHARD_ENOMEM,
 * or the error of shard_pool_set_event_hooks() (then *out is NULL).
 */
static inline int
shard_libevent_attach(shard_pool *pool, shard_libevent **out,
                      struct event_base *base)
{
    shard_libevent *ad;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (pool == NULL || base == NULL)
        return shard_pool_set_error(pool, SHARD_EINVAL,
                                    pool == NULL ? "pool is NULL"
                                                 : "the libevent loop is NULL");
    ad = (shard_libevent *)calloc(1, sizeof(*ad));
    if (ad == NULL)
        return shard_pool_set_error(pool, SHARD_ENOMEM,
                                    "out of memory for the libevent adapter");
    ad->pool = pool;
    ad->base = base;
    ad->timer = evtimer_new(base, shard_libevent_on_timer, ad);
    if (ad->timer == NULL) {
        free(ad);
        return shard_pool_set_error(pool, SHARD_ENOMEM,
                                    "out of memory for the libevent timer");
    }
    rc = shard_pool_set_event_hooks(pool, shard_libevent_watch_fd,
                                    shard_libevent_set_timer, ad);
    if (rc != SHARD_OK) {
        shard_libevent_detach(ad);
        return rc;
    }
    /* Cannot fail: the hooks were just set. */
    (void)shard_pool_set_event_cleanup(pool, shard_libevent_cleanup);
    ad->owned = out == NULL;
    if (out != NULL)
        *out = ad;
    return SHARD_OK;
}

#endif
