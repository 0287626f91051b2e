/*
 * shard-cli: redis-cli for a twemproxy pool, through libshard.
 *
 *   shard-cli check FILE
 *   shard-cli -c FILE [-p POOL] locate KEY...
 *   shard-cli -c FILE [-p POOL] [-s INDEX] [-r N] [--raw] [COMMAND ARG...]
 *   shard-cli diff OLD.yml NEW.yml [-p POOL] [--keys FILE | --sample N]
 *
 * COMMAND is a Redis command, or on a memcached pool a memcached one in
 * the argv form of shard_mc_command_argv ("set k 0 0 v").
 *
 * This file reads the command line, opens the pool and sends commands;
 * shard-cli(1) is the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "print.h"

static const char usage_text[] =
    "usage: shard-cli check FILE\n"
    "       shard-cli -c FILE [-p POOL] locate [KEY...]\n"
    "       shard-cli -c FILE [-p POOL] [-s INDEX] [-r N] [--raw | --no-raw]\n"
    "                 [COMMAND [ARG...]]\n"
    "       shard-cli diff OLD.yml NEW.yml [-p POOL] "
    "[--keys FILE | --sample N]\n"
    "\n"
    "  check      validate FILE as `nutcracker -t` does, list its pools\n"
    "  locate     where each KEY goes: hashed part, server index, identity,\n"
    "             address (keys from stdin when none are given)\n"
    "  COMMAND    one command through the pool, printed as redis-cli\n"
    "             prints it: a Redis command, or on a memcached pool the\n"
    "             words of memcached's protocol without the byte count\n"
    "             (get K [K...], gets, set|add|replace|append|prepend K\n"
    "             FLAGS EXPTIME VALUE, cas ... CAS, incr|decr K N, touch K\n"
    "             EXPTIME, delete K, version, mset FLAGS EXPTIME K V...);\n"
    "             with none, a prompt (or one command a line of stdin)\n"
    "  diff       which keys change server between two configs\n"
    "\n"
    "  -c FILE    the nutcracker.yml\n"
    "  -p POOL    the pool (needed when the file has several)\n"
    "  -s INDEX   send the command to server INDEX only (INFO, DBSIZE...);\n"
    "             Redis pools only\n"
    "  -r N       run the command N times\n"
    "  --raw      raw replies (the default when stdout is not a terminal)\n"
    "  --no-raw   formatted replies, even when stdout is not a terminal\n"
    "\n"
    "See shard-cli(1).\n";

void
cli_warn(const char *fmt, ...)
{
    va_list ap;

    fputs("shard-cli: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static int
usage(void)
{
    fputs(usage_text, stderr);
    return CLI_USAGE;
}

/* A whole non-negative number, or -1. */
static long
parse_count(const char *s)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || n < 0)
        return -1;
    return n;
}

/* One command to the pool: on a memcached pool the words of its ASCII
 * protocol, as shard_mc_command_argv takes them (<shard/memcached.h>). */
static int
send_command(const cli *c, shard_reply **r, int argc, const char **argv,
             const size_t *argvlen)
{
    if (!c->conf->redis)
        return shard_mc_command_argv(c->pool, r, argc, argv, argvlen);
    if (c->server >= 0)
        return shard_command_server_argv(c->pool, (size_t)c->server, r, argc,
                                         argv, argvlen);
    return shard_command_argv(c->pool, r, argc, argv, argvlen);
}

int
run_command(const cli *c, int argc, const char **argv, const size_t *argvlen)
{
    shard_reply *r = NULL;
    int rc = send_command(c, &r, argc, argv, argvlen);

    if (rc != SHARD_OK) {
        cli_warn("%s: %s", shard_strerror(rc), shard_pool_errmsg(c->pool));
        return CLI_FAILED;
    }
    /* memcached's incr and decr answer unsigned 64-bit numbers. */
    print_reply(stdout, r, c->tty, !c->conf->redis);
    shard_reply_free(r);
    return CLI_OK;
}

/* Opens the pool of -c and -p, and finds it in the file for display. */
static int
open_pool(cli *c)
{
    char err[512];
    const char *name;

    if (shard_pool_open(&c->pool, c->config, c->pool_name, NULL) != SHARD_OK) {
        cli_warn("%s", shard_last_error());
        return CLI_FAILED;
    }
    name = shard_pool_name(c->pool);
    if (conf_info_read(&c->info, c->config, err, sizeof(err)) != 0 ||
        (c->conf = conf_info_pool(&c->info, name)) == NULL) {
        cli_warn("%s", err[0] != '\0' ? err : "pool not found in the file");
        return CLI_FAILED;
    }
    return CLI_OK;
}

static void
close_pool(cli *c)
{
    shard_pool_free(c->pool);
    conf_info_free(&c->info);
}

/* Runs what follows the options: locate, a command, or the prompt. */
static int
run_pool(cli *c, int argc, char **argv)
{
    int status = CLI_OK;

    if (c->server >= 0 &&
        (size_t)c->server >= shard_pool_server_count(c->pool)) {
        cli_warn("-s %ld: pool '%s' has %zu servers", c->server, c->conf->name,
                 shard_pool_server_count(c->pool));
        return CLI_USAGE;
    }
    if (c->server >= 0 && !c->conf->redis &&
        (argc == 0 || strcmp(argv[0], "locate") != 0)) {
        cli_warn("-s %ld: pool '%s' is a memcached pool, whose commands go "
                 "to their key's server (libshard has no per-server "
                 "memcached call); leave -s out",
                 c->server, c->conf->name);
        return CLI_USAGE;
    }
    if (argc == 0)
        return repl_run(c);
    if (strcmp(argv[0], "locate") == 0)
        return locate_keys(c, argc - 1, argv + 1);
    for (long i = 0; i < c->repeat && status == CLI_OK; i++)
        status = run_command(c, argc, (const char **)argv, NULL);
    return status;
}

enum { OPT_RAW = 256, OPT_NO_RAW };

/* Reads the options before the command; returns the index of the first
 * argument after them, or -1 after printing why not. */
static int
parse_options(cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"pool", required_argument, NULL, 'p'},
        {"server", required_argument, NULL, 's'},
        {"repeat", required_argument, NULL, 'r'},
        {"raw", no_argument, NULL, OPT_RAW},
        {"no-raw", no_argument, NULL, OPT_NO_RAW},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    int opt;

    while ((opt = getopt_long(argc, argv, "+c:p:s:r:hv", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 'c':
            c->config = optarg;
            break;
        case 'p':
            c->pool_name = optarg;
            break;
        case 's':
            if ((c->server = parse_count(optarg)) < 0)
                return -1;
            break;
        case 'r':
            if ((c->repeat = parse_count(optarg)) < 0)
                return -1;
            break;
        case OPT_RAW:
            c->tty = false;
            break;
        case OPT_NO_RAW:
            c->tty = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(CLI_OK);
        case 'v':
            printf("shard-cli %s (libshard %s)\n", SHARD_VERSION_STRING,
                   shard_version());
            exit(CLI_OK);
        default:
            return -1;
        }
    }
    return optind;
}

int
main(int argc, char **argv)
{
    cli c = {0};
    int first, status;

    c.server = -1;
    c.repeat = 1;
    c.tty = isatty(STDOUT_FILENO);
    if ((first = parse_options(&c, argc, argv)) < 0)
        return usage();
    if (first < argc && strcmp(argv[first], "check") == 0) {
        if (argc - first == 2)
            return check_config(argv[first + 1]);
        return argc - first == 1 && c.config ? check_config(c.config) : usage();
    }
    if (first < argc && strcmp(argv[first], "diff") == 0)
        return diff_configs(c.pool_name, argc - first, argv + first);
    if (c.config == NULL)
        return usage();
    if ((status = open_pool(&c)) == CLI_OK)
        status = run_pool(&c, argc - first, argv + first);
    close_pool(&c);
    return status;
}
