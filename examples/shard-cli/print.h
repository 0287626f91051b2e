/*
 * Replies printed as redis-cli 7 prints them: on a terminal quoted and
 * numbered ("1) \"v\"", "(integer) 1", "(nil)", "(error) ERR ..."), raw
 * otherwise (one value a line, nothing for nil), so that scripts written
 * against redis-cli read shard-cli's output the same way.
 */
#ifndef SHARD_CLI_PRINT_H
#define SHARD_CLI_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include <shard/shard.h>

/* Writes `r` to `out`, as redis-cli does with --no-raw (`tty`) or --raw;
 * `unsigned_ints` shows INTEGER replies as unsigned 64-bit numbers (a
 * memcached pool's incr and decr). */
int print_reply(FILE *out, const shard_reply *r, bool tty, bool unsigned_ints);

/* Writes `len` bytes of `s` to `out` quoted and escaped, as redis-cli
 * shows a string on a terminal ("a\x00b"). */
void print_quoted(FILE *out, const char *s, size_t len);

#endif
