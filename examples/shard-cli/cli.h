/*
 * shard-cli's parts, one file each: shard-cli.c reads the command line
 * and sends commands, inspect.c checks a file and locates keys, diff.c
 * compares two configs, repl.c reads commands from a prompt or stdin.
 */
#ifndef SHARD_CLI_CLI_H
#define SHARD_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <shard/shard.h>

#include "confinfo.h"

/* Exit statuses, as documented in shard-cli(1). */
enum cli_status {
    CLI_OK = 0,     /* done; for diff: no key moves */
    CLI_FAILED = 1, /* invalid config, no reply; for diff: keys move */
    CLI_USAGE = 2   /* bad command line; for diff: could not compare */
};

/* What the command line asked for, and the pool it is about. */
typedef struct cli {
    const char *config;    /* -c FILE */
    const char *pool_name; /* -p POOL, or NULL for a file's only pool */
    long server;           /* -s INDEX: send to that server only; -1 */
    long repeat;           /* -r N: run the command N times */
    bool tty;              /* replies as on a terminal (else raw) */
    shard_pool *pool;      /* the open pool */
    conf_info info;        /* the file, for display */
    const conf_pool *conf; /* the pool's entry in it */
} cli;

/* shard-cli check FILE */
int check_config(const char *path);

/* KEY... of `locate`: one line each; keys read from stdin when none. */
int locate_keys(const cli *c, int argc, char **argv);

/* shard-cli diff OLD NEW [-p POOL] [--keys FILE | --sample N]; `argv`
 * starts at "diff"; `pool_name` is a -p given before it, or NULL. */
int diff_configs(const char *pool_name, int argc, char **argv);

/* One command through the pool, its reply printed; CLI_FAILED when no
 * reply could be had. */
int run_command(const cli *c, int argc, const char **argv,
                const size_t *argvlen);

/* Commands from a prompt (stdin a terminal) or one a line from stdin. */
int repl_run(cli *c);

/* "shard-cli: " + the formatted message, on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
