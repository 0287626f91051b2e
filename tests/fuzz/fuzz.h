/*
 * What the libFuzzer harnesses share: a reader that takes values off the
 * front of an input (0 once it is used up, so every input is valid), and
 * a check that names what broke before it aborts, which libFuzzer reports
 * as a crash and saves the input of.
 */
#ifndef SHARD_FUZZ_H
#define SHARD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <shard/reply.h>

#include "conf_pool.h"
#include "server.h"
#include "topology.h"

/* libFuzzer's entry point: each harness defines it. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The part of an input not consumed yet. */
typedef struct fuzz_bytes {
    const uint8_t *data; /* next byte */
    size_t len;          /* bytes left */
} fuzz_bytes;

/* The next byte; 0 when none is left. */
uint8_t fuzz_byte(fuzz_bytes *in);

/* The next 8 bytes as a little-endian number (zeros past the end). */
uint64_t fuzz_u64(fuzz_bytes *in);

/* Aborts with "file:line: check failed: what: <message>". */
void fuzz_fail(const char *file, int line, const char *what, const char *fmt,
               ...) __attribute__((noreturn, format(printf, 4, 5)));

/* An invariant of the code under test; its message says what was seen. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond))                                                           \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                 \
    } while (0)

/* `r` reads back as a well-formed reply through every public accessor,
 * element by element. */
void fuzz_check_reply(const shard_reply *r);

/*
 * A pool's servers and topology, without connections: what pool.c and
 * health.c build at open (servers from the config lines, the ring over
 * the live ones).
 */
typedef struct fuzz_topo {
    const conf_pool *conf;  /* the pool's config; outlives it */
    struct server *servers; /* conf->server_count */
    topology *topo;         /* over the servers live at the last build */
} fuzz_topo;

/* Every server live. */
void fuzz_topo_open(fuzz_topo *t, const conf_pool *conf);

/* A new snapshot after servers left or returned (health.c's refresh). */
void fuzz_topo_rebuild(fuzz_topo *t);

/*
 * topology_locate(), checked: -1 exactly when no server is live, else a
 * server that is live (`rng` as the pool's, for random distribution).
 */
int fuzz_topo_locate(const fuzz_topo *t, const char *key, size_t len,
                     uint64_t *rng);

void fuzz_topo_close(fuzz_topo *t);

#endif
