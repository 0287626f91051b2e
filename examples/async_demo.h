/*
 * What the three async examples share: the commands they send and the
 * callbacks that print the replies. Each example only brings its loop.
 *
 * Sets a few keys, then (from the last SET's callback) reads one back with
 * GET and all of them, plus a missing one, with an MGET that the pool
 * splits across its servers. Prints each reply as it arrives and stops
 * the loop once every callback ran.
 */
#ifndef SHARD_EXAMPLES_ASYNC_DEMO_H
#define SHARD_EXAMPLES_ASYNC_DEMO_H

#include <shard/shard.h>

#define KEY_COUNT 4

struct demo;

/* One command in flight: the userdata of its callback. */
typedef struct call {
    struct demo *d; /* the shared state */
    char what[64];  /* how to print it */
    int is_set;     /* a SET (else a read) */
} call;

/* What every callback shares. */
typedef struct demo {
    shard_pool *pool;         /* where the commands go */
    void (*stop)(void *loop); /* ends the application's loop */
    void *loop;               /* passed to stop */
    call sets[KEY_COUNT];     /* the SETs */
    call get, mget;           /* the reads */
    int sets_left;            /* SET replies still to come */
    int reads_left;           /* GET and MGET replies still to come */
    int failed;               /* some command had no answer */
} demo;

/* Opens the pool named on the command line (CONFIG [POOL]) into d->pool:
 * 0, or the exit status after printing why. */
int demo_open(demo *d, int argc, char **argv);

/*
 * Submits the SETs; the rest follows from their callbacks, and d->stop runs
 * once every reply is in. Returns how many SETs went out.
 */
int demo_submit_sets(demo *d);

#endif
