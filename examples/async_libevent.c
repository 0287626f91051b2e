/*
 * async_libevent: libshard's async API on a libevent loop.
 *
 *   async_libevent CONFIG [POOL]
 *
 * The commands and callbacks are in async_demo.c; this file only runs
 * them on its loop.
 */
#include <stdio.h>

#include <event2/event.h>

#include <shard/adapters/libevent.h>
#include <shard/shard.h>

#include "async_demo.h"

static void
stop_loop(void *loop)
{
    event_base_loopbreak(loop);
}

int
main(int argc, char **argv)
{
    demo d = {.stop = stop_loop};
    struct event_base *base = NULL;
    shard_libevent *ad = NULL;
    int rc;

    if ((rc = demo_open(&d, argc, argv)) != 0)
        return rc;
    d.loop = base = event_base_new();
    rc = base ? shard_libevent_attach(d.pool, &ad, base) : SHARD_ENOMEM;
    if (rc != SHARD_OK) {
        fprintf(stderr, "attach: %s\n", shard_strerror(rc));
        d.failed = 1;
        goto out;
    }
    d.sets_left = demo_submit_sets(&d);
    if (d.sets_left < KEY_COUNT)
        d.failed = 1;
    if (d.sets_left > 0)
        event_base_dispatch(base);
out:
    /* Anything still pending would get SHARD_ECLOSED here, so the adapter
     * goes after the pool. */
    shard_pool_free(d.pool);
    shard_libevent_detach(ad);
    if (base != NULL)
        event_base_free(base);
    return d.failed ? 1 : 0;
}
