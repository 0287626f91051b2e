/*
 * shard-cli with no command: a prompt with line editing and history
 * (libedit's readline interface) when stdin is a terminal, else one
 * command a line of stdin, as redis-cli reads them. Lines are split as
 * redis-cli splits them (args.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <editline/readline.h>

#include "args.h"
#include "cli.h"

#define HISTORY_LINES 1000 /* lines kept in the history file */

static void
print_help(const cli *c)
{
    if (c->conf->redis)
        printf("Type a Redis command (it goes through the pool), or:\n");
    else
        printf("Type a memcached command, as its words without the byte "
               "count (it goes\n"
               "through the pool): get KEY [KEY...], gets KEY [KEY...],\n"
               "set|add|replace|append|prepend KEY FLAGS EXPTIME VALUE,\n"
               "cas KEY FLAGS EXPTIME VALUE CAS, incr|decr KEY DELTA,\n"
               "touch KEY EXPTIME, delete KEY, version,\n"
               "mset FLAGS EXPTIME KEY VALUE [KEY VALUE...]; or:\n");
    printf("  locate KEY...   where the keys go\n"
           "  servers         the pool's servers\n"
           "  quit, exit      leave\n");
}

static void
print_servers(const cli *c)
{
    for (size_t i = 0; i < shard_pool_server_count(c->pool); i++)
        printf("%zu) %s at %s\n", i + 1, shard_pool_server_name(c->pool, i),
               shard_pool_server_addr(c->pool, i));
}

/* Runs one line. Returns 1 to stop, else the line's status. */
static int
run_line(cli *c, const char *line)
{
    line_args a;
    int status = CLI_OK;

    if (split_line(line, &a) != 0) {
        printf("Invalid argument(s)\n");
        return CLI_FAILED;
    }
    if (a.argc == 0)
        return CLI_OK;
    if (strcasecmp(a.argv[0], "quit") == 0 ||
        strcasecmp(a.argv[0], "exit") == 0)
        status = -1;
    else if (strcasecmp(a.argv[0], "help") == 0)
        print_help(c);
    else if (strcasecmp(a.argv[0], "servers") == 0)
        print_servers(c);
    else if (strcasecmp(a.argv[0], "locate") == 0)
        status = locate_keys(c, a.argc - 1, a.argv + 1);
    else
        status = run_command(c, a.argc, (const char **)a.argv, a.lens);
    args_free(&a);
    return status;
}

static char *
history_path(void)
{
    const char *env = getenv("SHARD_CLI_HISTFILE");
    const char *home = getenv("HOME");
    char *path;

    if (env != NULL)
        return env[0] != '\0' ? strdup(env) : NULL;
    if (home == NULL || home[0] == '\0')
        return NULL;
    if ((path = malloc(strlen(home) + sizeof("/.shard_cli_history"))) == NULL)
        return NULL;
    snprintf(path, strlen(home) + sizeof("/.shard_cli_history"),
             "%s/.shard_cli_history", home);
    return path;
}

static int
repl_prompt(cli *c)
{
    char prompt[256], *line, *hist = history_path();
    int status = CLI_OK;

    rl_readline_name = "shard-cli";
    rl_bind_key('\t', rl_insert); /* no file-name completion */
    stifle_history(HISTORY_LINES);
    if (hist != NULL)
        read_history(hist);
    if (c->server >= 0)
        snprintf(prompt, sizeof(prompt), "%s[%ld]> ", c->conf->name, c->server);
    else
        snprintf(prompt, sizeof(prompt), "%s> ", c->conf->name);
    while (status >= 0 && (line = readline(prompt)) != NULL) {
        if (line[strspn(line, " \t")] != '\0') {
            add_history(line);
            if (hist != NULL)
                write_history(hist);
        }
        status = run_line(c, line);
        free(line);
        fflush(stdout);
    }
    free(hist);
    return CLI_OK;
}

static int
repl_stdin(cli *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int status = CLI_OK, s = CLI_OK;

    while (s >= 0 && (len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if ((s = run_line(c, line)) > 0)
            status = CLI_FAILED;
    }
    free(line);
    return status;
}

int
repl_run(cli *c)
{
    return isatty(STDIN_FILENO) ? repl_prompt(c) : repl_stdin(c);
}
