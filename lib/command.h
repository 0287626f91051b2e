/*
 * The Redis 7.0 command table: arity, key positions and how libshard routes
 * each command over a pool of shards. Pure data and parsing, no I/O.
 *
 * A caller handles one request like this:
 *
 *     ci = command_find(argc, argv, argvlen);    NULL: unknown command
 *     n = command_keys(ci, argc, argv, argvlen, pos, max, err, errlen);
 *     if n < 0: reply err (a malformed command)
 *     if n > max: retry with room for n positions
 *     switch (command_route_of(ci, n)) ...
 *
 * command_find() resolves container commands (OBJECT, MEMORY, XINFO,
 * XGROUP) to their subcommand entry, whose route, flags and key spec are
 * the ones that apply. command_route_of() turns a ROUTE_KEYED command that
 * named no key into ROUTE_ANY_SERVER: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO,
 * FCALL and FCALL_RO with numkeys 0, and OBJECT HELP, XINFO HELP, XGROUP
 * HELP. Such a script cannot be routed by key; sending it to the server of
 * "placeholder" (as twemproxy does for COMMAND) is the caller's choice.
 *
 * For ROUTE_KEYED the caller checks that every key lives on one server and
 * otherwise replies an error naming the command and the servers.
 */
#ifndef SHARD_LIB_COMMAND_H
#define SHARD_LIB_COMMAND_H

#include <stddef.h>

typedef enum command_route {
    ROUTE_KEYED,      /* every key must live on one server; sent there */
    ROUTE_SPLIT_MGET, /* MGET: split per server, values joined in order */
    ROUTE_SPLIT_SUM,  /* DEL UNLINK TOUCH EXISTS: split, integers summed */
    ROUTE_SPLIT_MSET, /* MSET: pairs split per server, +OK when all OK */
    ROUTE_LOCAL_PING, /* PING: answered by libshard without a server */
    ROUTE_ANY_SERVER, /* no key, same answer anywhere: sent to the server
                         the key "placeholder" maps to, as twemproxy does */
    ROUTE_POOLWIDE,   /* about the whole pool (SCAN DBSIZE KEYS FLUSHDB
                         SCRIPT LOAD ...): every server, joined by
                         poolwide.c */
    ROUTE_REJECT      /* makes no sense on a shard pool: error reply */
} command_route;

#define CMD_F_WRITE (1u << 0)    /* may modify data (EVAL, FCALL too) */
#define CMD_F_BLOCKING (1u << 1) /* may block the connection */
#define CMD_F_TXN (1u << 2)      /* MULTI EXEC DISCARD WATCH UNWATCH */
#define CMD_F_NUMKEYS (1u << 3)  /* key count given by a numkeys argument */
#define CMD_F_CONN_STATE                                                       \
    (1u << 4) /* changes the state of its connection:                          \
                 never on a shared one */

/* How command_keys() finds the keys the legacy range does not give. */
typedef enum command_keyfind {
    KEYFIND_RANGE,      /* first_key..last_key by key_step, nothing else */
    KEYFIND_EVAL,       /* EVAL*: numkeys at keyfind_arg, keys follow */
    KEYFIND_FCALL,      /* FCALL*: as EVAL, with FCALL's messages */
    KEYFIND_ZSETOP,     /* ZUNION ZINTER ZDIFF (STORE) ZINTERCARD */
    KEYFIND_SINTERCARD, /* SINTERCARD numkeys key... [LIMIT n] */
    KEYFIND_MPOP,       /* LMPOP BLMPOP ZMPOP BZMPOP: a direction follows */
    KEYFIND_STREAMS,    /* XREAD XREADGROUP: first half after STREAMS */
    KEYFIND_SORT,       /* SORT: plus the last STORE destination */
    KEYFIND_GEORADIUS,  /* plus every STORE/STOREDIST destination */
    KEYFIND_MIGRATE,    /* the key at 3, or the keys after KEYS */
    KEYFIND_CONTAINER   /* keys and arity come from the subcommand */
} command_keyfind;

typedef struct command_info {
    const char *name;          /* lower-case; "object|encoding" for subs */
    int arity;                 /* N: exactly N args with the name, -N: >= N */
    int first_key;             /* legacy key spec of COMMAND INFO: 0 = none */
    int last_key;              /* -1 = last argument, -2 = second to last */
    int key_step;              /* distance between keys (MSET: 2) */
    command_route route;       /* where libshard sends it */
    unsigned flags;            /* CMD_F_* */
    const char *reject_reason; /* ROUTE_REJECT: reads after "ERR 'name' " */
    command_keyfind keyfind;   /* keys beyond the legacy range */
    int keyfind_arg; /* numkeys index (NUMKEYS kinds) or first option index
                        (SORT, GEORADIUS) */
    const struct command_info *subs; /* container: its subcommands */
    size_t nsubs;                    /* how many subs */
} command_info;

/*
 * The entry for the command named by `len` bytes at `name`, matched without
 * regard to ASCII case; NULL when Redis 7.0 has no such command. Returns
 * the container entry for OBJECT, MEMORY, XINFO and XGROUP.
 */
const command_info *command_lookup(const char *name, size_t len);

/* The subcommand `name` of `container`; NULL when it has none such. */
const command_info *command_subcommand(const command_info *container,
                                       const char *name, size_t len);

/* The last commands looked up, by name length and first letter; zeroed
 * at first. One per pool: a pool is used by one thread at a time. */
#define COMMAND_CACHE_SLOTS 16
typedef struct command_cache {
    const command_info *slot[COMMAND_CACHE_SLOTS];
} command_cache;

/*
 * command_lookup() through `cache`: a name looked up before in its slot
 * costs one comparison instead of a binary search.
 */
const command_info *command_lookup_cached(command_cache *cache,
                                          const char *name, size_t len);

/*
 * The entry that applies to argv: the subcommand entry when argv[0] is a
 * container and argv[1] one of its subcommands, else command_lookup() of
 * argv[0]. NULL when argv[0] is unknown or argc < 1. `argvlen` may be NULL
 * when every argument is NUL-terminated.
 */
/* As command_find, looking argv[0] up through `cache`. */
const command_info *command_find_cached(command_cache *cache, int argc,
                                        const char *const *argv,
                                        const size_t *argvlen);

const command_info *command_find(int argc, const char *const *argv,
                                 const size_t *argvlen);

/*
 * Checks the arity of argv against `ci` (a container entry is resolved to
 * its subcommand) and stores the argv indexes of its keys, in argv order,
 * in `positions` (room for `max`). Returns the number of keys, which may be
 * more than `max` (then the caller retries with a bigger array), or -1 with
 * Redis's own error message in `err` ("ERR wrong number of arguments for
 * 'get' command"). numkeys 0 is valid for EVAL and FCALL (no key); the
 * commands where Redis wants at least one key get Redis's error. SORT
 * BY/GET patterns name keys only a server can expand; they are not
 * reported. `argvlen` may be NULL.
 */
int command_keys(const command_info *ci, int argc, const char *const *argv,
                 const size_t *argvlen, int *positions, int max, char *err,
                 size_t errlen);

/* ci->route, except ROUTE_ANY_SERVER for a ROUTE_KEYED command with no
 * key (`nkeys` from command_keys()). */
command_route command_route_of(const command_info *ci, int nkeys);

/*
 * The argv indexes of the BY and GET patterns of SORT or SORT_RO (`ci`),
 * in argv order, into `positions` (room for `max`); returns how many
 * there are (maybe more than `max`), 0 for other commands. A pattern
 * names keys only the server expands (each element put in place of its
 * '*'), so command_keys() does not report them.
 */
int command_sort_patterns(const command_info *ci, int argc,
                          const char *const *argv, const size_t *argvlen,
                          int *positions, int max);

/* Iteration over the top-level commands, in name order. */
size_t command_count(void);
const command_info *command_at(size_t i);

#endif
