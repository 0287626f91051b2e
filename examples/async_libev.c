/*
 * async_libev: libshard's async API on a libev loop.
 *
 *   async_libev CONFIG [POOL]
 *
 * The commands and callbacks are in async_demo.c; this file only runs
 * them on its loop.
 */
#include <stdio.h>

#include <ev.h>

#include <shard/adapters/libev.h>
#include <shard/shard.h>

#include "async_demo.h"

static void
stop_loop(void *loop)
{
    ev_break(loop, EVBREAK_ALL);
}

int
main(int argc, char **argv)
{
    demo d = {.stop = stop_loop};
    struct ev_loop *loop = NULL;
    shard_libev *ad = NULL;
    int rc;

    if ((rc = demo_open(&d, argc, argv)) != 0)
        return rc;
    d.loop = loop = ev_loop_new(EVFLAG_AUTO);
    rc = loop ? shard_libev_attach(d.pool, &ad, loop) : SHARD_ENOMEM;
    if (rc != SHARD_OK) {
        fprintf(stderr, "attach: %s\n", shard_strerror(rc));
        d.failed = 1;
        goto out;
    }
    d.sets_left = demo_submit_sets(&d);
    if (d.sets_left < KEY_COUNT)
        d.failed = 1;
    if (d.sets_left > 0)
        ev_run(loop, 0);
out:
    /* Anything still pending would get SHARD_ECLOSED here, so the adapter
     * goes after the pool. */
    shard_pool_free(d.pool);
    shard_libev_detach(ad);
    if (loop != NULL)
        ev_loop_destroy(loop);
    return d.failed ? 1 : 0;
}
