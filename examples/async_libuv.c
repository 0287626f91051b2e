/*
 * async_libuv: libshard's async API on a libuv loop.
 *
 *   async_libuv CONFIG [POOL]
 *
 * The commands and callbacks are in async_demo.c; this file only runs
 * them on its loop.
 */
#include <stdio.h>

#include <uv.h>

#include <shard/adapters/libuv.h>
#include <shard/shard.h>

#include "async_demo.h"

static void
stop_loop(void *loop)
{
    uv_stop(loop);
}

int
main(int argc, char **argv)
{
    demo d = {.stop = stop_loop};
    uv_loop_t loop;
    shard_libuv *ad = NULL;
    int rc;

    if ((rc = demo_open(&d, argc, argv)) != 0)
        return rc;
    d.loop = &loop;
    if (uv_loop_init(&loop) != 0) {
        fprintf(stderr, "uv_loop_init failed\n");
        shard_pool_free(d.pool);
        return 1;
    }
    rc = shard_libuv_attach(d.pool, &ad, &loop);
    if (rc != SHARD_OK) {
        fprintf(stderr, "attach: %s\n", shard_strerror(rc));
        d.failed = 1;
        goto out;
    }
    d.sets_left = demo_submit_sets(&d);
    if (d.sets_left < KEY_COUNT)
        d.failed = 1;
    if (d.sets_left > 0)
        uv_run(&loop, UV_RUN_DEFAULT);
out:
    /* Anything still pending would get SHARD_ECLOSED here, so the adapter
     * goes after the pool. */
    shard_pool_free(d.pool);
    shard_libuv_detach(ad);
    /* libuv frees closed handles in its next run. */
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return d.failed ? 1 : 0;
}
