/*
 * What the two halves of the memcached harness share: fuzz_mc_server.c
 * answers for the servers at libmemcached's calls, fuzz_mc.c is the
 * application (commands, the cache API, the checks of what comes back).
 * Only one thread runs the script at a time (the caller, or the pool's
 * worker while the caller waits), which the servers' half checks.
 */
#ifndef SHARD_FUZZ_MC_H
#define SHARD_FUZZ_MC_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h" /* and lib/pool.h, which "pool.h" would not be */
#include "fuzz.h"

/* The most servers a pool of the harness has. */
#define FUZZ_MC_MAX_SERVERS 70

/* The keys and values a command stores, and its numbers. */
typedef struct stores {
    size_t n;            /* pairs */
    const char **keys;   /* key i */
    const size_t *klens; /* its length */
    const char **values; /* its value */
    const size_t *vlens; /* its length */
    uint32_t flags;      /* the flags every store carries */
    int64_t exptime;     /* the exptime; -1: not checked */
    bool number_set;     /* `number` is the incr/decr delta */
    uint64_t number;     /* the delta */
} stores;

/* The state of one input. */
typedef struct fuzz_mc_script {
    fuzz_bytes answers;    /* what the servers do */
    shard_pool *pool;      /* the input's pool */
    pthread_t main_thread; /* the application's */
    unsigned ring_changes; /* ejections and returns so far */
    unsigned routed_at;    /* ring_changes when the command was routed */
    bool all_right;        /* every server answered right so far */
    size_t main_calls;     /* calls to servers on the main thread */
    size_t data_calls;     /* commands to servers (not stats), any thread */
    stores expected;       /* of the current command (read by the worker) */
} fuzz_mc_script;

extern fuzz_mc_script script;

/* The servers' data: whether they hold a key (most keys, not all), and
 * the flags and cas of its item; its value is "v:" and the key. */
bool fuzz_mc_stored(const char *key, size_t len);
uint32_t fuzz_mc_flags_of(size_t len);
uint64_t fuzz_mc_cas_of(const char *key, size_t len);

/* memcached's rule for keys, written apart from mc_command.c's. */
bool fuzz_mc_valid_key(const char *key, size_t len);

/* The item size server `i`'s link learned (0: none yet), and whether the
 * server said it keeps no cas. */
uint64_t fuzz_mc_item_max(size_t i, bool *no_cas);

/* True on the application's thread. */
bool fuzz_mc_on_main(void);

/* Forgets every server's state (a new input). */
void fuzz_mc_servers_reset(void);

#endif
