/*
 * memcached commands as libshard takes them: an argv of the ASCII
 * protocol's words without the byte count ("set k 0 60 value"), checked
 * as twemproxy 0.5 checks them (section 5 of its notes): lower-case
 * names, keys of 1 to 250 bytes without spaces or control characters.
 * Pure: no I/O; the memcached backend and the dispatcher share it.
 */
#ifndef SHARD_LIB_MC_COMMAND_H
#define SHARD_LIB_MC_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The longest key memcached takes. */
#define MC_KEY_MAX 250

/* Expiry times above this many seconds (30 days) are Unix times. */
#define MC_RELATIVE_EXPTIME_MAX 2592000

/* memcached's default item size, assumed until a server tells its own. */
#define MC_DEFAULT_ITEM_MAX 1048576

typedef enum mc_op {
    MC_GET,     /* get key... */
    MC_GETS,    /* gets key... (values with flags and cas) */
    MC_SET,     /* set key flags exptime value */
    MC_ADD,     /* add key flags exptime value */
    MC_REPLACE, /* replace key flags exptime value */
    MC_APPEND,  /* append key flags exptime value */
    MC_PREPEND, /* prepend key flags exptime value */
    MC_CAS,     /* cas key flags exptime value cas */
    MC_INCR,    /* incr key delta */
    MC_DECR,    /* decr key delta */
    MC_TOUCH,   /* touch key exptime */
    MC_DELETE,  /* delete key */
    MC_VERSION, /* version (to the placeholder key's server) */
    MC_MSET,    /* libshard's: mset flags exptime key value [key value]... */
    MC_PROBE    /* libshard's: the health probe ("PING" from health.c) */
} mc_op;

/* One parsed command; the strings point into the argv it came from. */
typedef struct mc_cmd {
    mc_op op;              /* what it is */
    const char *name;      /* its name, for messages (static) */
    const char **argv;     /* the argv (keys and values are read there) */
    const size_t *argvlen; /* their lengths */
    int first_key;         /* argv index of the first key (0: none) */
    int stride;            /* argv positions from one key to the next */
    size_t nkeys;          /* keys */
    int value_at;          /* argv index of a single-key value (0: none) */
    uint32_t flags;        /* the client flags stored with a value */
    int64_t exptime;       /* memcached's expiry (relative or Unix time) */
    uint64_t number;       /* incr/decr delta, or cas's unique */
    bool bare;             /* get/gets of one key answers the value (or
                              nil) itself, not an array of one */
} mc_cmd;

/*
 * Parses `argc` words. 0 on success; else -1 with the reason in `err`
 * ("ERR ..."), as libshard's refusal of the command: nothing is sent.
 * Keys and numbers are checked unless `trusted` (an argv that libshard
 * built from one it checked).
 */
int mc_parse(mc_cmd *cmd, int argc, const char **argv, const size_t *argvlen,
             bool trusted, char *err, size_t errlen);

/* Key `i` of the command and its length. */
const char *mc_key(const mc_cmd *cmd, size_t i, size_t *len);

/* The value stored with key `i` (set-like commands and mset); NULL when
 * the command stores nothing. */
const char *mc_value(const mc_cmd *cmd, size_t i, size_t *len);

/* True for the commands that read values (get, gets). */
bool mc_is_read(mc_op op);

/* True for the commands that store a value (set ... cas, mset). */
bool mc_is_store(mc_op op);

/*
 * 0 when `key` is a memcached key; else -1 with the reason in `err`,
 * naming it `what` ("key 3").
 */
int mc_key_check(const char *key, size_t len, const char *what, char *err,
                 size_t errlen);

/*
 * The largest value memcached 1.6 stores under a key of `keylen` bytes
 * with `flags` when its item size is `item_max` (`cas`: the server keeps
 * cas uniques, as by default): an item holds a 48-byte header, the cas,
 * the key and its NUL, the value and its CRLF, and the flags when not 0.
 * 0 when even an empty value does not fit.
 */
size_t mc_value_max(size_t item_max, bool cas, size_t keylen, uint32_t flags);

/*
 * memcached's exptime for a time to live of `ttl_seconds` (0: none) at
 * Unix time `now`: relative up to 30 days, an absolute Unix time beyond,
 * since memcached reads larger numbers as one; at most INT32_MAX, the last
 * time memcached takes (a longer ttl keeps the value until then).
 */
int64_t mc_exptime(unsigned ttl_seconds, time_t now);

/* Bytes the command takes on the wire (ASCII protocol), for the stats. */
size_t mc_request_bytes(const mc_cmd *cmd);

/* Bytes of decimal digits of `v`. */
size_t mc_digits(uint64_t v);

#endif
