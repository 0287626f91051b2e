/* Private to the test harness: the server record and start request shared
 * by harness.c (temp dir, ports, files, server configs) and harness_proc.c
 * (spawning, readiness checks, stopping), and the functions each gives the
 * other. Tests include harness.h only. */
#ifndef SHARD_TEST_HARNESS_PROC_H
#define SHARD_TEST_HARNESS_PROC_H

#include "harness.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MAX_ARGS 16 /* argv slots for a server command line */

/* A server together with what only the harness needs to know about it. */
typedef struct server_rec {
    harness_server pub;      /* what tests see; first member, so casts work */
    pid_t owner;             /* the process that forked it */
    bool reaped;             /* waited for already: pid is no longer ours */
    int status;              /* wait status once reaped */
    int stats_port;          /* nutcracker's stats port */
    char host[64];           /* TCP address it listens on */
    char log[PATH_MAX];      /* the server's own log file */
    char out[PATH_MAX];      /* its redirected stdout and stderr */
    char password[128];      /* requirepass of a redis, "" when none */
    struct server_rec *next; /* every server started by this process */
} server_rec;

/* What to start: one of the kinds with its settings. */
typedef struct start_spec {
    harness_kind kind;            /* which server */
    const char *host;             /* listen address, "127.0.0.1" or "::1" */
    int port;                     /* a fixed port, or 0 for a free one */
    bool unix_socket;             /* redis on a unix socket only */
    const char *extra_conf;       /* extra redis.conf lines, or NULL;
                                     memcached: its -I item size */
    const char *yaml_path;        /* nutcracker config (absolute) */
    const harness_server *master; /* sentinel: the master to watch */
    const char *master_name;      /* sentinel: the name to give it */
} start_spec;

/* A command line under construction; the strings are harness-owned. */
typedef struct cmdline {
    const char *argv[MAX_ARGS + 1]; /* NULL-terminated */
    int argc;                       /* used slots */
    bool ok;                        /* false once any piece failed */
} cmdline;

/* From harness.c. */

/* Registers the atexit handler that stops servers and removes the temp dir. */
void register_atexit(void);

/* snprintf that reports truncation as failure. */
bool fmt_into(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The absolute path of program `name`, or NULL. */
const char *find_program(const char *name);

/* "redis", "memcached", ...: for directory names and messages. */
const char *kind_name(harness_kind kind);

/* A record with a fresh directory of its own; NULL on failure. */
server_rec *server_rec_new(harness_kind kind);

/* Picks the address of one attempt and builds its command line. */
bool server_prepare(server_rec *rec, const start_spec *spec, cmdline *cmd);

/* From harness_proc.c. */

/* CLOCK_MONOTONIC in milliseconds. */
long monotonic_ms(void);

#endif
