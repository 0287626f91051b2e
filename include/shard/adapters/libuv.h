/*
 * libshard: drive a pool's async API from a libuv loop.
 *
 * Header-only glue over the hooks of <shard/async.h>: every function here
 * is `static inline`, so libshard never links libuv and the application
 * compiles this file with its own libuv.
 *
 *     shard_libuv *ad;
 *     if (shard_libuv_attach(pool, &ad, loop) != SHARD_OK) ...
 *     shard_command_async(pool, argc, argv, NULL, on_reply, data);
 *     uv_run(loop, UV_RUN_DEFAULT);   (uv_stop() it once the replies are in)
 *     shard_pool_free(pool);          (pending callbacks get SHARD_ECLOSED)
 *     shard_libuv_detach(ad);
 *     uv_run(loop, UV_RUN_NOWAIT);    (lets libuv finish closing handles)
 *
 * Or let the pool own the adapter, as hiredis' adapters are owned by
 * their context: shard_libuv_attach(pool, NULL, ...), and shard_pool_free()
 * releases it (no detach). Run the loop once more afterwards, so that libuv
 * finishes closing the handles.
 *
 * Order, with `out`: call shard_libuv_detach() AFTER shard_pool_free(), before
 * the loop runs again: freeing the pool still calls the watch hook (to forget
 * its descriptors), and the adapter's timer may still be armed for it. A
 * pool freed inside one of its reply callbacks is freed for real when the
 * callback returns: detach once the loop has returned, never inside a
 * callback. To keep the pool but leave the loop: wait until
 * shard_pool_pending() is 0, call shard_pool_set_event_hooks(pool, NULL,
 * NULL, NULL), then detach.
 *
 * libuv closes handles asynchronously: the adapter's memory is released
 * by the close callbacks, so run the loop once more after detaching (and
 * before uv_loop_close(), which fails while handles are still closing).
 * There is exactly one uv_poll_t per descriptor, as libuv requires.
 *
 * <uv.h> needs POSIX declarations: under a strict -std=c99, also define
 * _POSIX_C_SOURCE=200809L (or build with -std=gnu99), as for any libuv code.
 *
 * The pool keeps idle connections watched for reading, so the loop does
 * not run out of handles by itself: stop it with uv_stop(). Like the pool,
 * the adapter is used by one thread at a time.
 */
#ifndef SHARD_ADAPTERS_LIBUV_H
#define SHARD_ADAPTERS_LIBUV_H

#include <stdint.h>
#include <stdlib.h>

#include <uv.h>

#include <shard/async.h>

struct shard_libuv;

/* One watched descriptor: the slot behind the watch hook's *watch_data. */
typedef struct shard_libuv_watch {
    uv_poll_t poll;                 /* the descriptor's only poll handle */
    int fd;                         /* the descriptor */
    int events;                     /* SHARD_WATCH_* bits it waits for */
    struct shard_libuv *owner;      /* the adapter it belongs to */
    struct shard_libuv_watch *prev; /* neighbours in owner->watches */
    struct shard_libuv_watch *next;
} shard_libuv_watch;

/* The adapter of one pool: its loop, its timer, its watched descriptors. */
typedef struct shard_libuv {
    uv_timer_t timer;           /* the pool's single deadline */
    shard_pool *pool;           /* the pool the hooks call back into */
    uv_loop_t *loop;            /* the application's loop */
    shard_libuv_watch *watches; /* open poll handles, closed on detach */
    int handles;                /* handles not closed yet (timer, polls) */
    int detached;               /* free the adapter when handles is 0 */
    int in_timer;               /* inside the timer callback */
    int owned; /* attached without `out`: the pool releases it */
} shard_libuv;

/* A handle closed: the adapter goes once detached and the last is gone. */
static inline void
shard_libuv_release(shard_libuv *ad)
{
    ad->handles--;
    if (ad->detached && ad->handles == 0)
        free(ad);
}

static inline void
shard_libuv_on_poll_closed(uv_handle_t *handle)
{
    shard_libuv_watch *w = (shard_libuv_watch *)handle->data;
    shard_libuv *ad = w->owner;

    free(w);
    shard_libuv_release(ad);
}

static inline void
shard_libuv_on_timer_closed(uv_handle_t *handle)
{
    shard_libuv_release((shard_libuv *)handle->data);
}

static inline void
shard_libuv_on_poll(uv_poll_t *handle, int status, int uv_events)
{
    shard_libuv_watch *w = (shard_libuv_watch *)handle->data;
    int events = 0;

    if (status < 0) {
        /* A socket error (libuv says UV_EBADF and stops the handle): let
         * the pool try the I/O it waited for and find the error itself. */
        events = w->events;
    } else {
        if (uv_events & UV_READABLE)
            events |= SHARD_WATCH_READ;
        if (uv_events & UV_WRITABLE)
            events |= SHARD_WATCH_WRITE;
    }
    /* The pool may close this handle in here; w is not touched after. */
    shard_pool_on_fd(w->owner->pool, w->fd, events);
}

static inline void
shard_libuv_on_timer(uv_timer_t *handle)
{
    shard_libuv *ad = (shard_libuv *)handle->data;

    /* Even when detached in here, `ad` lives until its close callback. */
    ad->in_timer = 1;
    shard_pool_on_timeout(ad->pool);
    ad->in_timer = 0;
}

static inline void
shard_libuv_forget(shard_libuv_watch *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        w->owner->watches = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    /* uv_close stops polling now; the memory goes in the callback. */
    uv_close((uv_handle_t *)&w->poll, shard_libuv_on_poll_closed);
}

static inline shard_libuv_watch *
shard_libuv_watch_new(shard_libuv *ad, int fd)
{
    shard_libuv_watch *w = (shard_libuv_watch *)calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    if (uv_poll_init(ad->loop, &w->poll, fd) != 0) {
        free(w);
        return NULL;
    }
    w->poll.data = w;
    w->fd = fd;
    w->owner = ad;
    w->next = ad->watches;
    if (ad->watches != NULL)
        ad->watches->prev = w;
    ad->watches = w;
    ad->handles++;
    return w;
}

static inline void
shard_libuv_watch_fd(int fd, int events, void **watch_data, void *userdata)
{
    shard_libuv *ad = (shard_libuv *)userdata;
    shard_libuv_watch *w = (shard_libuv_watch *)*watch_data;
    int uv_events = 0;

    if (events == SHARD_WATCH_NONE) {
        if (w != NULL)
            shard_libuv_forget(w);
        *watch_data = NULL;
        return;
    }
    if (w == NULL) {
        /* Out of memory, or the descriptor already has a poll handle
         * elsewhere: it goes unwatched and its requests end through the
         * pool's timeout. The hook cannot report it. */
        w = shard_libuv_watch_new(ad, fd);
        if (w == NULL)
            return;
        *watch_data = w;
    }
    if (events & SHARD_WATCH_READ)
        uv_events |= UV_READABLE;
    if (events & SHARD_WATCH_WRITE)
        uv_events |= UV_WRITABLE;
    w->events = events;
    /* Also when unchanged: it restarts a handle stopped by an error. */
    uv_poll_start(&w->poll, uv_events, shard_libuv_on_poll);
}

static inline void
shard_libuv_set_timer(long timeout_ms, void *userdata)
{
    shard_libuv *ad = (shard_libuv *)userdata;

    if (timeout_ms < 0) {
        uv_timer_stop(&ad->timer);
        return;
    }
    /* libuv before 1.45 runs a timer re-armed with 0 from its own callback
     * again at once, without polling: wait 1 ms instead, so that a pool
     * asking for 0 over and over cannot starve the descriptors. */
    if (timeout_ms == 0 && ad->in_timer)
        timeout_ms = 1;
    uv_timer_start(&ad->timer, shard_libuv_on_timer, (uint64_t)timeout_ms, 0);
}

/*
 * Stops the adapter's timer and poll handles and closes them; NULL is
 * fine. The memory goes when libuv has run the close callbacks (run the
 * loop once more). Call it after shard_pool_free(pool), or after clearing
 * the pool's hooks while nothing is pending (see the top of this file).
 */
static inline void
shard_libuv_detach(shard_libuv *ad)
{
    if (ad == NULL)
        return;
    while (ad->watches != NULL)
        shard_libuv_forget(ad->watches);
    ad->detached = 1;
    uv_close((uv_handle_t *)&ad->timer, shard_libuv_on_timer_closed);
}

/*
 * The pool let go of its hooks (it was freed, or its hooks replaced or
 * cleared): an adapter the pool owns is released now; one the application
 * holds stays until its shard_libuv_detach().
 */
static inline void
shard_libuv_cleanup(void *userdata)
{
    shard_libuv *ad = (shard_libuv *)userdata;

    ad->pool = NULL;
    if (ad->owned)
        shard_libuv_detach(ad);
}

/*
 * Makes `loop` drive `pool`: sets the pool's event hooks and returns the
 * adapter in *out, for shard_libuv_detach() after shard_pool_free(). With
 * `out` NULL the pool owns the adapter instead and releases it itself
 * when it is freed or its hooks are replaced: nothing to detach. Call it
 * before the first async command. Returns SHARD_OK, SHARD_EINVAL, SHARD_ENOMEM,
 * or the error of shard_pool_set_event_hooks() (then *out is NULL, and the
 * adapter's timer is freed on the loop's next run).
 */
static inline int
shard_libuv_attach(shard_pool *pool, shard_libuv **out, uv_loop_t *loop)
{
    shard_libuv *ad;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (pool == NULL || loop == NULL)
        return shard_pool_set_error(pool, SHARD_EINVAL,
                                    pool == NULL ? "pool is NULL"
                                                 : "the libuv loop is NULL");
    ad = (shard_libuv *)calloc(1, sizeof(*ad));
    if (ad == NULL)
        return shard_pool_set_error(pool, SHARD_ENOMEM,
                                    "out of memory for the libuv adapter");
    ad->pool = pool;
    ad->loop = loop;
    uv_timer_init(loop, &ad->timer);
    ad->timer.data = ad;
    ad->handles = 1;
    rc = shard_pool_set_event_hooks(pool, shard_libuv_watch_fd,
                                    shard_libuv_set_timer, ad);
    if (rc != SHARD_OK) {
        shard_libuv_detach(ad);
        return rc;
    }
    /* Cannot fail: the hooks were just set. */
    (void)shard_pool_set_event_cleanup(pool, shard_libuv_cleanup);
    ad->owned = out == NULL;
    if (out != NULL)
        *out = ad;
    return SHARD_OK;
}

#endif
