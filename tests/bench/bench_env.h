/* Private to shard-async-bench and shard-procs-bench: the servers, keys,
 * clocks and medians both run on. Four redis-servers on loopback, one
 * nutcracker over them, the YAML file both nutcracker and libshard read,
 * and 10,000 keys preloaded each on its own server. */
#ifndef SHARD_BENCH_ENV_H
#define SHARD_BENCH_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shard/shard.h>

#include "harness.h"

#define ENV_SERVERS 4       /* redis-servers behind the pool */
#define ENV_KEYS 10000      /* keys preloaded */
#define ENV_KEY_MAX 24      /* room for one key and its NUL */
#define ENV_VALUE_LEN 32    /* bytes per value */
#define ENV_TIMEOUT_MS 5000 /* pool and hiredis timeout: fail, never hang */
#define ENV_MAX_ROUNDS 1000 /* sanity bound on --rounds */
#define ENV_SEED 0x9e3779b97f4a7c15ULL /* the same key sequence every run */

/* Servers, the pool's file and the keys. */
typedef struct bench_env {
    harness_server *shards[ENV_SERVERS]; /* the pool's redis-servers */
    harness_server *nut;                 /* nutcracker over `shards` */
    int nut_port;                        /* where nutcracker listens */
    const char *yaml;                    /* the file both of them read */
    shard_pool *pool;                    /* opened on `yaml` */
    char keys[ENV_KEYS][ENV_KEY_MAX];    /* "bench:NNNNNN" */
    size_t key_len[ENV_KEYS];            /* their lengths */
    char value[ENV_VALUE_LEN];           /* what every key holds */
} bench_env;

/* Command-line settings shared by both benches. */
typedef struct bench_args {
    int rounds;     /* rounds of every cell */
    double seconds; /* length of one run */
} bench_args;

/*
 * Starts the servers and nutcracker, opens env->pool and preloads every key
 * on the server the pool puts it on. `prog` prefixes messages. False (and
 * a message on stderr) on failure; bench_env_stop() cleans up either way.
 */
bool bench_env_start(bench_env *env, const char *prog);

/* Frees the pool and stops every server. */
void bench_env_stop(bench_env *env);

/* The next key index of the sequence kept in *rng (xorshift). */
int bench_next_key(uint64_t *rng);

/* CLOCK_MONOTONIC, ns. */
uint64_t bench_now_ns(void);

/* This process's CPU time, user + system (getrusage), ns. */
uint64_t bench_self_cpu_ns(void);

/* Context switches of this process so far, voluntary and involuntary
 * (getrusage). */
long bench_self_switches(void);

/* Process `pid`'s CPU time, utime + stime of /proc/PID/stat, ns (clock-tick
 * resolution, 10 ms); 0 when unknown. */
uint64_t bench_proc_cpu_ns(pid_t pid);

/* Sorts `v` and returns its median; negative when n is 0. */
double bench_median(double *v, int n);

/* (max - min) / median of `v` in percent (sorts it); negative when n is 0. */
double bench_spread(double *v, int n);

/*
 * Parses --rounds N, --seconds S and --quick (quick_rounds of quick_seconds
 * unless given); `defaults` holds the figures without --quick. False on a
 * bad command line.
 */
bool bench_parse_args(bench_args *out, int argc, char **argv,
                      bench_args defaults, bench_args quick);

#endif
