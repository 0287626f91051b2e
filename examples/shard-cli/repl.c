/*
 * shard-cli with no command: a prompt with line editing and history
 * (libedit's readline interface) when stdin is a terminal, else one
 * command a line of stdin, as redis-cli reads them. Lines are split as
 * redis-cli splits them: blanks between arguments, "double quotes" with
 * \n \r \t \b \a \xHH escapes, 'single quotes' with only \'.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"

#define HISTORY_LINES 1000 /* lines kept in the history file */

/* The arguments of one line. */
typedef struct line_args {
    int argc;     /* how many */
    char **argv;  /* each NUL-terminated too (binary safe through lens) */
    size_t *lens; /* their lengths */
} line_args;

/* One argument being built. */
typedef struct arg_buf {
    char *data;  /* the bytes */
    size_t len;  /* used */
    size_t cap;  /* allocated */
    bool failed; /* out of memory */
} arg_buf;

static void
buf_put(arg_buf *b, char ch)
{
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        char *data = realloc(b->data, cap);
        if (data == NULL) {
            b->failed = true;
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    b->data[b->len++] = ch;
    b->data[b->len] = '\0';
}

static int
hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char
unescape(char ch)
{
    switch (ch) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return ch;
    }
}

/* Inside "...": returns the position after the closing quote, or NULL. */
static const char *
read_double_quoted(const char *p, arg_buf *b)
{
    for (; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == 'x' && hex_value(p[2]) >= 0 &&
            hex_value(p[3]) >= 0) {
            buf_put(b, (char)(hex_value(p[2]) * 16 + hex_value(p[3])));
            p += 3;
        } else if (p[0] == '\\' && p[1] != '\0') {
            buf_put(b, unescape(*++p));
        } else if (*p == '"') {
            /* The closing quote must end the argument. */
            return p[1] == '\0' || isspace((unsigned char)p[1]) ? p + 1 : NULL;
        } else {
            buf_put(b, *p);
        }
    }
    return NULL;
}

/* Inside '...': returns the position after the closing quote, or NULL. */
static const char *
read_single_quoted(const char *p, arg_buf *b)
{
    for (; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] == '\'') {
            buf_put(b, *++p);
        } else if (*p == '\'') {
            return p[1] == '\0' || isspace((unsigned char)p[1]) ? p + 1 : NULL;
        } else {
            buf_put(b, *p);
        }
    }
    return NULL;
}

/* One argument starting at `p`; returns where it ends, or NULL. */
static const char *
read_arg(const char *p, arg_buf *b)
{
    while (*p != '\0' && !isspace((unsigned char)*p)) {
        if (*p == '"')
            p = read_double_quoted(p + 1, b);
        else if (*p == '\'')
            p = read_single_quoted(p + 1, b);
        else
            buf_put(b, *p++);
        if (p == NULL)
            return NULL;
    }
    buf_put(b, '\0'); /* an empty "" is still an argument */
    b->len--;
    return p;
}

static void
args_free(line_args *a)
{
    for (int i = 0; i < a->argc; i++)
        free(a->argv[i]);
    free(a->argv);
    free(a->lens);
    memset(a, 0, sizeof(*a));
}

static int
args_push(line_args *a, arg_buf *b)
{
    char **argv = realloc(a->argv, ((size_t)a->argc + 2) * sizeof(*argv));
    size_t *lens;

    if (argv == NULL)
        return -1;
    a->argv = argv;
    lens = realloc(a->lens, ((size_t)a->argc + 1) * sizeof(*lens));
    if (lens == NULL)
        return -1;
    a->lens = lens;
    argv[a->argc] = b->data;
    lens[a->argc++] = b->len;
    argv[a->argc] = NULL;
    return 0;
}

/* Splits `line`; -1 for unbalanced quotes (or out of memory). */
static int
split_line(const char *line, line_args *a)
{
    const char *p = line;

    memset(a, 0, sizeof(*a));
    for (;;) {
        arg_buf b = {0};
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            return 0;
        p = read_arg(p, &b);
        if (p == NULL || b.failed || args_push(a, &b) != 0) {
            free(b.data);
            args_free(a);
            return -1;
        }
    }
}

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
