/*
 * A typed line split into arguments as redis-cli splits them: blanks
 * between arguments, "double quotes" with \n \r \t \b \a \xHH escapes
 * (any other escaped character stands for itself), 'single quotes' with
 * only \'. A closing quote must end its argument.
 */
#ifndef SHARD_CLI_ARGS_H
#define SHARD_CLI_ARGS_H

#include <stddef.h>

/* The arguments of one line. */
typedef struct line_args {
    int argc;     /* how many */
    char **argv;  /* argc of them and NULL (none for an empty line);
                     each NUL-terminated too (binary safe through lens) */
    size_t *lens; /* their lengths */
} line_args;

/* Splits `line` into `a` (freed with args_free); -1 for unbalanced
 * quotes or out of memory, and then `a` holds nothing. */
int split_line(const char *line, line_args *a);

/* Frees what split_line put in `a`. */
void args_free(line_args *a);

#endif
