/*
 * The Redis 7.0 command table (the 240 commands of redis-server 7.0.15) and
 * the parsing that finds a command's keys. No I/O.
 *
 * Routing policy, group by group:
 *
 * - PING: answered by libshard (ROUTE_LOCAL_PING), PONG or the argument;
 *   it works while every server is down, as in twemproxy.
 * - MGET; DEL UNLINK TOUCH EXISTS; MSET: split per server and joined
 *   (ROUTE_SPLIT_*). EXISTS is split too, where twemproxy counts only the
 *   first key's server.
 * - Every other command that names keys is ROUTE_KEYED: all its keys must
 *   live on one server (hash tags). This includes MSETNX, RENAME, SMOVE,
 *   BITOP, PFMERGE, SINTER..., the *STORE commands, EVAL/FCALL, OBJECT
 *   ENCODING, MEMORY USAGE, XINFO, XGROUP and the blocking commands (BLPOP,
 *   BLMOVE, BZPOPMIN, XREAD...), which carry CMD_F_BLOCKING. COPY's DB
 *   option is passed through: the same server, another database.
 * - ROUTE_KEYED with no key (EVAL with numkeys 0, OBJECT HELP...): the
 *   caller treats it as ROUTE_ANY_SERVER (command_route_of()).
 * - ECHO TIME LOLWUT COMMAND and the HELP of OBJECT MEMORY XINFO XGROUP
 *   SCRIPT: no key and no server state: ROUTE_ANY_SERVER.
 * - Pool-wide (ROUTE_POOLWIDE), sent to every server and joined by
 *   poolwide.c: SCAN (server after server, one per call), DBSIZE, KEYS,
 *   RANDOMKEY, FLUSHDB, FLUSHALL, SCRIPT LOAD, SCRIPT EXISTS, SCRIPT
 *   FLUSH.
 * - Rejected (ROUTE_REJECT), with the reason shown after "ERR 'name' ":
 *   - MULTI EXEC DISCARD WATCH UNWATCH (CMD_F_TXN): the transaction API
 *     sends them itself, on the one connection the transaction uses.
 *   - SUBSCRIBE PSUBSCRIBE SSUBSCRIBE and their UNSUBSCRIBEs: pub/sub
 *     needs a connection of its own. PUBLISH SPUBLISH would reach only the
 *     subscribers of one server; PUBSUB describes one server.
 *   - AUTH HELLO RESET QUIT CLIENT: libshard owns the connections; it does
 *     AUTH and SELECT itself from the config.
 *   - SELECT SWAPDB MOVE: the pool lives in one database (redis_db).
 *   - SYNC PSYNC REPLCONF: the replication protocol; MONITOR: turns the
 *     connection into a stream.
 *   - INFO CONFIG SAVE BGSAVE BGREWRITEAOF SHUTDOWN DEBUG LASTSAVE ROLE
 *     LATENCY SLOWLOG MODULE ACL SLAVEOF REPLICAOF FAILOVER PFSELFTEST
 *     PFDEBUG, MEMORY except USAGE: about one server, not the pool.
 *   - FUNCTION: must reach every server, one by one. SCRIPT KILL: stops
 *     the script of one server. SCRIPT DEBUG: a debugging session on one
 *     connection.
 *   - CLUSTER READONLY READWRITE ASKING RESTORE-ASKING: Redis Cluster.
 *   - MIGRATE: moves keys to a server the ring does not pick. Its keys
 *     (KEYS form too) are still found, for the caller's message.
 *   - WAIT: counts the replicas of one server (flagged blocking).
 *
 * Flags: CMD_F_WRITE is the server's "write" flag plus EVAL EVALSHA FCALL
 * (a script may write); CMD_F_BLOCKING is its "blocking" flag plus WAIT.
 *
 * Key specs are COMMAND INFO's legacy (first, last, step), verbatim; the
 * keys a legacy spec cannot express (numkeys, STREAMS, STORE) are found by
 * `keyfind`. The four containers whose subcommands take a key (OBJECT,
 * MEMORY, XINFO, XGROUP) carry their subcommands, and so does SCRIPT,
 * whose subcommands go different ways; the others are handled whole
 * (COMMAND is any-server, the rest are rejected).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "command.h"

/* Reject reasons: each reads after "ERR 'select' ". */
#define WHY_TXN "is only allowed through the transaction API"
#define WHY_PUBSUB                                                             \
    "needs a dedicated pub/sub connection, which a shard pool does not have"
#define WHY_PUBLISH                                                            \
    "would reach only the subscribers of one server; send it with "            \
    "shard_command_server()"
#define WHY_CONN "would change the connection state libshard manages"
#define WHY_DB "works across databases; a pool uses only its config's redis_db"
#define WHY_REPL "belongs to the replication protocol"
#define WHY_MONITOR "would turn a pooled connection into a monitor stream"
#define WHY_SERVER                                                             \
    "is server-specific; send it to one server with shard_command_server()"
#define WHY_SCRIPT                                                             \
    "manages server-side code; send it to every server with "                  \
    "shard_command_server()"
#define WHY_SCRIPT_KILL                                                        \
    "stops the script running on one server; send it to that server with "     \
    "shard_command_server()"
#define WHY_CLUSTER "is a Redis Cluster command; a shard pool is not a cluster"
#define WHY_MIGRATE "moves keys to a server the pool's placement does not pick"
#define WHY_WAIT                                                               \
    "waits for the replicas of one server; send it with "                      \
    "shard_command_server()"

/* Short names for the table only. */
#define W CMD_F_WRITE
#define B CMD_F_BLOCKING
#define T CMD_F_TXN
#define NK CMD_F_NUMKEYS
#define CS CMD_F_CONN_STATE

/* clang-format off */
#define CMD(n, a, f, l, s, route, fl)                                          \
    {n, a, f, l, s, route, fl, NULL, KEYFIND_RANGE, 0, NULL, 0}
#define REJ(n, a, f, l, s, fl, why)                                            \
    {n, a, f, l, s, ROUTE_REJECT, fl, why, KEYFIND_RANGE, 0, NULL, 0}
#define FIND(n, a, f, l, s, fl, kind, arg)                                     \
    {n, a, f, l, s, ROUTE_KEYED, fl, NULL, kind, arg, NULL, 0}
#define ALL(n, a, fl)                                                          \
    {n, a, 0, 0, 0, ROUTE_POOLWIDE, fl, NULL, KEYFIND_RANGE, 0, NULL, 0}
#define CONTAINER(n, a, route, why, subs)                                      \
    {n, a, 0, 0, 0, route, 0, why, KEYFIND_CONTAINER, 0, subs,                 \
     sizeof(subs) / sizeof(subs[0])}

/* Subcommands, sorted; arity and key positions count the container name. */
static const command_info memory_subs[] = {
    REJ("memory|doctor", 2, 0, 0, 0, 0, WHY_SERVER),
    CMD("memory|help", 2, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    REJ("memory|malloc-stats", 2, 0, 0, 0, 0, WHY_SERVER),
    REJ("memory|purge", 2, 0, 0, 0, 0, WHY_SERVER),
    REJ("memory|stats", 2, 0, 0, 0, 0, WHY_SERVER),
    CMD("memory|usage", -3, 2, 2, 1, ROUTE_KEYED, 0),
};

static const command_info object_subs[] = {
    CMD("object|encoding", 3, 2, 2, 1, ROUTE_KEYED, 0),
    CMD("object|freq", 3, 2, 2, 1, ROUTE_KEYED, 0),
    CMD("object|help", 2, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    CMD("object|idletime", 3, 2, 2, 1, ROUTE_KEYED, 0),
    CMD("object|refcount", 3, 2, 2, 1, ROUTE_KEYED, 0),
};

static const command_info script_subs[] = {
    REJ("script|debug", 3, 0, 0, 0, 0, WHY_CONN),
    ALL("script|exists", -3, 0),
    ALL("script|flush", -2, 0),
    CMD("script|help", 2, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    REJ("script|kill", 2, 0, 0, 0, 0, WHY_SCRIPT_KILL),
    ALL("script|load", 3, 0),
};

static const command_info xgroup_subs[] = {
    CMD("xgroup|create", -5, 2, 2, 1, ROUTE_KEYED, W),
    CMD("xgroup|createconsumer", 5, 2, 2, 1, ROUTE_KEYED, W),
    CMD("xgroup|delconsumer", 5, 2, 2, 1, ROUTE_KEYED, W),
    CMD("xgroup|destroy", 4, 2, 2, 1, ROUTE_KEYED, W),
    CMD("xgroup|help", 2, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    CMD("xgroup|setid", -5, 2, 2, 1, ROUTE_KEYED, W),
};

static const command_info xinfo_subs[] = {
    CMD("xinfo|consumers", 4, 2, 2, 1, ROUTE_KEYED, 0),
    CMD("xinfo|groups", 3, 2, 2, 1, ROUTE_KEYED, 0),
    CMD("xinfo|help", 2, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    CMD("xinfo|stream", -3, 2, 2, 1, ROUTE_KEYED, 0),
};

/* Sorted by name (strcmp): command_lookup() searches it by halves. */
static const command_info commands[] = {
    REJ("acl", -2, 0, 0, 0, 0, WHY_SERVER),
    CMD("append", 3, 1, 1, 1, ROUTE_KEYED, W),
    REJ("asking", 1, 0, 0, 0, 0, WHY_CLUSTER),
    REJ("auth", -2, 0, 0, 0, CS, WHY_CONN),
    REJ("bgrewriteaof", 1, 0, 0, 0, 0, WHY_SERVER),
    REJ("bgsave", -1, 0, 0, 0, 0, WHY_SERVER),
    CMD("bitcount", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("bitfield", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("bitfield_ro", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("bitop", -4, 2, -1, 1, ROUTE_KEYED, W),
    CMD("bitpos", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("blmove", 6, 1, 2, 1, ROUTE_KEYED, W | B),
    FIND("blmpop", -5, 0, 0, 0, W | B | NK, KEYFIND_MPOP, 2),
    CMD("blpop", -3, 1, -2, 1, ROUTE_KEYED, W | B),
    CMD("brpop", -3, 1, -2, 1, ROUTE_KEYED, W | B),
    CMD("brpoplpush", 4, 1, 2, 1, ROUTE_KEYED, W | B),
    FIND("bzmpop", -5, 0, 0, 0, W | B | NK, KEYFIND_MPOP, 2),
    CMD("bzpopmax", -3, 1, -2, 1, ROUTE_KEYED, W | B),
    CMD("bzpopmin", -3, 1, -2, 1, ROUTE_KEYED, W | B),
    REJ("client", -2, 0, 0, 0, CS, WHY_CONN),
    REJ("cluster", -2, 0, 0, 0, 0, WHY_CLUSTER),
    CMD("command", -1, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    REJ("config", -2, 0, 0, 0, 0, WHY_SERVER),
    CMD("copy", -3, 1, 2, 1, ROUTE_KEYED, W),
    ALL("dbsize", 1, 0),
    REJ("debug", -2, 0, 0, 0, 0, WHY_SERVER),
    CMD("decr", 2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("decrby", 3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("del", -2, 1, -1, 1, ROUTE_SPLIT_SUM, W),
    REJ("discard", 1, 0, 0, 0, T | CS, WHY_TXN),
    CMD("dump", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("echo", 2, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    FIND("eval", -3, 0, 0, 0, W | NK, KEYFIND_EVAL, 2),
    FIND("eval_ro", -3, 0, 0, 0, NK, KEYFIND_EVAL, 2),
    FIND("evalsha", -3, 0, 0, 0, W | NK, KEYFIND_EVAL, 2),
    FIND("evalsha_ro", -3, 0, 0, 0, NK, KEYFIND_EVAL, 2),
    REJ("exec", 1, 0, 0, 0, T | CS, WHY_TXN),
    CMD("exists", -2, 1, -1, 1, ROUTE_SPLIT_SUM, 0),
    CMD("expire", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("expireat", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("expiretime", 2, 1, 1, 1, ROUTE_KEYED, 0),
    REJ("failover", -1, 0, 0, 0, 0, WHY_SERVER),
    FIND("fcall", -3, 0, 0, 0, W | NK, KEYFIND_FCALL, 2),
    FIND("fcall_ro", -3, 0, 0, 0, NK, KEYFIND_FCALL, 2),
    ALL("flushall", -1, W),
    ALL("flushdb", -1, W),
    REJ("function", -2, 0, 0, 0, 0, WHY_SCRIPT),
    CMD("geoadd", -5, 1, 1, 1, ROUTE_KEYED, W),
    CMD("geodist", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("geohash", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("geopos", -2, 1, 1, 1, ROUTE_KEYED, 0),
    FIND("georadius", -6, 1, 1, 1, W, KEYFIND_GEORADIUS, 6),
    CMD("georadius_ro", -6, 1, 1, 1, ROUTE_KEYED, 0),
    FIND("georadiusbymember", -5, 1, 1, 1, W, KEYFIND_GEORADIUS, 5),
    CMD("georadiusbymember_ro", -5, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("geosearch", -7, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("geosearchstore", -8, 1, 2, 1, ROUTE_KEYED, W),
    CMD("get", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("getbit", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("getdel", 2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("getex", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("getrange", 4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("getset", 3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("hdel", -3, 1, 1, 1, ROUTE_KEYED, W),
    REJ("hello", -1, 0, 0, 0, CS, WHY_CONN),
    CMD("hexists", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hget", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hgetall", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hincrby", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("hincrbyfloat", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("hkeys", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hlen", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hmget", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hmset", -4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("hrandfield", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hscan", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hset", -4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("hsetnx", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("hstrlen", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("hvals", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("incr", 2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("incrby", 3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("incrbyfloat", 3, 1, 1, 1, ROUTE_KEYED, W),
    REJ("info", -1, 0, 0, 0, 0, WHY_SERVER),
    ALL("keys", 2, 0),
    REJ("lastsave", 1, 0, 0, 0, 0, WHY_SERVER),
    REJ("latency", -2, 0, 0, 0, 0, WHY_SERVER),
    CMD("lcs", -3, 1, 2, 1, ROUTE_KEYED, 0),
    CMD("lindex", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("linsert", 5, 1, 1, 1, ROUTE_KEYED, W),
    CMD("llen", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("lmove", 5, 1, 2, 1, ROUTE_KEYED, W),
    FIND("lmpop", -4, 0, 0, 0, W | NK, KEYFIND_MPOP, 1),
    CMD("lolwut", -1, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    CMD("lpop", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("lpos", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("lpush", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("lpushx", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("lrange", 4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("lrem", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("lset", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("ltrim", 4, 1, 1, 1, ROUTE_KEYED, W),
    CONTAINER("memory", -2, ROUTE_REJECT, WHY_SERVER, memory_subs),
    CMD("mget", -2, 1, -1, 1, ROUTE_SPLIT_MGET, 0),
    {"migrate", -6, 3, 3, 1, ROUTE_REJECT, W, WHY_MIGRATE, KEYFIND_MIGRATE, 6,
     NULL, 0},
    REJ("module", -2, 0, 0, 0, 0, WHY_SERVER),
    REJ("monitor", 1, 0, 0, 0, CS, WHY_MONITOR),
    REJ("move", 3, 1, 1, 1, W, WHY_DB),
    CMD("mset", -3, 1, -1, 2, ROUTE_SPLIT_MSET, W),
    CMD("msetnx", -3, 1, -1, 2, ROUTE_KEYED, W),
    REJ("multi", 1, 0, 0, 0, T | CS, WHY_TXN),
    CONTAINER("object", -2, ROUTE_KEYED, NULL, object_subs),
    CMD("persist", 2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("pexpire", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("pexpireat", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("pexpiretime", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("pfadd", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("pfcount", -2, 1, -1, 1, ROUTE_KEYED, 0),
    REJ("pfdebug", 3, 2, 2, 1, W, WHY_SERVER),
    CMD("pfmerge", -2, 1, -1, 1, ROUTE_KEYED, W),
    REJ("pfselftest", 1, 0, 0, 0, 0, WHY_SERVER),
    CMD("ping", -1, 0, 0, 0, ROUTE_LOCAL_PING, 0),
    CMD("psetex", 4, 1, 1, 1, ROUTE_KEYED, W),
    REJ("psubscribe", -2, 0, 0, 0, CS, WHY_PUBSUB),
    REJ("psync", -3, 0, 0, 0, CS, WHY_REPL),
    CMD("pttl", 2, 1, 1, 1, ROUTE_KEYED, 0),
    REJ("publish", 3, 0, 0, 0, 0, WHY_PUBLISH),
    REJ("pubsub", -2, 0, 0, 0, 0, WHY_SERVER),
    REJ("punsubscribe", -1, 0, 0, 0, CS, WHY_PUBSUB),
    REJ("quit", -1, 0, 0, 0, CS, WHY_CONN),
    ALL("randomkey", 1, 0),
    REJ("readonly", 1, 0, 0, 0, 0, WHY_CLUSTER),
    REJ("readwrite", 1, 0, 0, 0, 0, WHY_CLUSTER),
    CMD("rename", 3, 1, 2, 1, ROUTE_KEYED, W),
    CMD("renamenx", 3, 1, 2, 1, ROUTE_KEYED, W),
    REJ("replconf", -1, 0, 0, 0, CS, WHY_REPL),
    REJ("replicaof", 3, 0, 0, 0, 0, WHY_SERVER),
    REJ("reset", 1, 0, 0, 0, CS, WHY_CONN),
    CMD("restore", -4, 1, 1, 1, ROUTE_KEYED, W),
    REJ("restore-asking", -4, 1, 1, 1, W, WHY_CLUSTER),
    REJ("role", 1, 0, 0, 0, 0, WHY_SERVER),
    CMD("rpop", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("rpoplpush", 3, 1, 2, 1, ROUTE_KEYED, W),
    CMD("rpush", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("rpushx", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("sadd", -3, 1, 1, 1, ROUTE_KEYED, W),
    REJ("save", 1, 0, 0, 0, 0, WHY_SERVER),
    ALL("scan", -2, 0),
    CMD("scard", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CONTAINER("script", -2, ROUTE_REJECT, WHY_SCRIPT, script_subs),
    CMD("sdiff", -2, 1, -1, 1, ROUTE_KEYED, 0),
    CMD("sdiffstore", -3, 1, -1, 1, ROUTE_KEYED, W),
    REJ("select", 2, 0, 0, 0, CS, WHY_DB),
    CMD("set", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("setbit", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("setex", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("setnx", 3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("setrange", 4, 1, 1, 1, ROUTE_KEYED, W),
    REJ("shutdown", -1, 0, 0, 0, 0, WHY_SERVER),
    CMD("sinter", -2, 1, -1, 1, ROUTE_KEYED, 0),
    FIND("sintercard", -3, 0, 0, 0, NK, KEYFIND_SINTERCARD, 1),
    CMD("sinterstore", -3, 1, -1, 1, ROUTE_KEYED, W),
    CMD("sismember", 3, 1, 1, 1, ROUTE_KEYED, 0),
    REJ("slaveof", 3, 0, 0, 0, 0, WHY_SERVER),
    REJ("slowlog", -2, 0, 0, 0, 0, WHY_SERVER),
    CMD("smembers", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("smismember", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("smove", 4, 1, 2, 1, ROUTE_KEYED, W),
    FIND("sort", -2, 1, 1, 1, W, KEYFIND_SORT, 2),
    CMD("sort_ro", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("spop", -2, 1, 1, 1, ROUTE_KEYED, W),
    REJ("spublish", 3, 1, 1, 1, 0, WHY_PUBLISH),
    CMD("srandmember", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("srem", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("sscan", -3, 1, 1, 1, ROUTE_KEYED, 0),
    REJ("ssubscribe", -2, 1, -1, 1, CS, WHY_PUBSUB),
    CMD("strlen", 2, 1, 1, 1, ROUTE_KEYED, 0),
    REJ("subscribe", -2, 0, 0, 0, CS, WHY_PUBSUB),
    CMD("substr", 4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("sunion", -2, 1, -1, 1, ROUTE_KEYED, 0),
    CMD("sunionstore", -3, 1, -1, 1, ROUTE_KEYED, W),
    REJ("sunsubscribe", -1, 1, -1, 1, CS, WHY_PUBSUB),
    REJ("swapdb", 3, 0, 0, 0, W, WHY_DB),
    REJ("sync", 1, 0, 0, 0, CS, WHY_REPL),
    CMD("time", 1, 0, 0, 0, ROUTE_ANY_SERVER, 0),
    CMD("touch", -2, 1, -1, 1, ROUTE_SPLIT_SUM, 0),
    CMD("ttl", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("type", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("unlink", -2, 1, -1, 1, ROUTE_SPLIT_SUM, W),
    REJ("unsubscribe", -1, 0, 0, 0, CS, WHY_PUBSUB),
    REJ("unwatch", 1, 0, 0, 0, T | CS, WHY_TXN),
    REJ("wait", 3, 0, 0, 0, B, WHY_WAIT),
    REJ("watch", -2, 1, -1, 1, T | CS, WHY_TXN),
    CMD("xack", -4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("xadd", -5, 1, 1, 1, ROUTE_KEYED, W),
    CMD("xautoclaim", -6, 1, 1, 1, ROUTE_KEYED, W),
    CMD("xclaim", -6, 1, 1, 1, ROUTE_KEYED, W),
    CMD("xdel", -3, 1, 1, 1, ROUTE_KEYED, W),
    CONTAINER("xgroup", -2, ROUTE_KEYED, NULL, xgroup_subs),
    CONTAINER("xinfo", -2, ROUTE_KEYED, NULL, xinfo_subs),
    CMD("xlen", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("xpending", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("xrange", -4, 1, 1, 1, ROUTE_KEYED, 0),
    FIND("xread", -4, 0, 0, 0, B, KEYFIND_STREAMS, 1),
    FIND("xreadgroup", -7, 0, 0, 0, W | B, KEYFIND_STREAMS, 1),
    CMD("xrevrange", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("xsetid", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("xtrim", -4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zadd", -4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zcard", 2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zcount", 4, 1, 1, 1, ROUTE_KEYED, 0),
    FIND("zdiff", -3, 0, 0, 0, NK, KEYFIND_ZSETOP, 1),
    FIND("zdiffstore", -4, 1, 1, 1, W | NK, KEYFIND_ZSETOP, 2),
    CMD("zincrby", 4, 1, 1, 1, ROUTE_KEYED, W),
    FIND("zinter", -3, 0, 0, 0, NK, KEYFIND_ZSETOP, 1),
    FIND("zintercard", -3, 0, 0, 0, NK, KEYFIND_ZSETOP, 1),
    FIND("zinterstore", -4, 1, 1, 1, W | NK, KEYFIND_ZSETOP, 2),
    CMD("zlexcount", 4, 1, 1, 1, ROUTE_KEYED, 0),
    FIND("zmpop", -4, 0, 0, 0, W | NK, KEYFIND_MPOP, 1),
    CMD("zmscore", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zpopmax", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zpopmin", -2, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zrandmember", -2, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrange", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrangebylex", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrangebyscore", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrangestore", -5, 1, 2, 1, ROUTE_KEYED, W),
    CMD("zrank", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrem", -3, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zremrangebylex", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zremrangebyrank", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zremrangebyscore", 4, 1, 1, 1, ROUTE_KEYED, W),
    CMD("zrevrange", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrevrangebylex", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrevrangebyscore", -4, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zrevrank", 3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zscan", -3, 1, 1, 1, ROUTE_KEYED, 0),
    CMD("zscore", 3, 1, 1, 1, ROUTE_KEYED, 0),
    FIND("zunion", -3, 0, 0, 0, NK, KEYFIND_ZSETOP, 1),
    FIND("zunionstore", -4, 1, 1, 1, W | NK, KEYFIND_ZSETOP, 2),
};
/* clang-format on */

#undef CMD
#undef REJ
#undef FIND
#undef ALL
#undef CONTAINER
#undef W
#undef B
#undef T
#undef NK
#undef CS

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The positions found so far; counts past `max` without storing. */
typedef struct keyset {
    int *pos; /* caller's array */
    int max;  /* its room */
    int n;    /* keys found, may exceed max */
} keyset;

/* What a numkeys argument may hold, with Redis's messages for each
 * command family. A message may use the command name once ("%s"). */
typedef struct numkeys_rule {
    const char *not_int;  /* numkeys is not an integer */
    long long min;        /* fewest keys allowed */
    const char *too_few;  /* numkeys < min */
    const char *too_many; /* numkeys names more keys than there are args */
    int after;            /* arguments that must follow the keys */
} numkeys_rule;

#define ERR_NOT_INT "ERR value is not an integer or out of range"
#define ERR_TOO_MANY "ERR Number of keys can't be greater than number of args"
#define ERR_NUMKEYS_POS "ERR numkeys should be greater than 0"
#define ERR_SYNTAX "ERR syntax error"

static const numkeys_rule numkeys_rules[] = {
    [KEYFIND_EVAL] = {ERR_NOT_INT, 0, "ERR Number of keys can't be negative",
                      ERR_TOO_MANY, 0},
    [KEYFIND_FCALL] = {"ERR Bad number of keys provided", 0,
                       "ERR Number of keys can't be negative", ERR_TOO_MANY, 0},
    [KEYFIND_ZSETOP] = {ERR_NOT_INT, 1,
                        "ERR at least 1 input key is needed for '%s' command",
                        ERR_SYNTAX, 0},
    [KEYFIND_SINTERCARD] = {ERR_NUMKEYS_POS, 1, ERR_NUMKEYS_POS, ERR_TOO_MANY,
                            0},
    [KEYFIND_MPOP] = {ERR_NUMKEYS_POS, 1, ERR_NUMKEYS_POS, ERR_SYNTAX, 1},
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static unsigned char
fold(char c)
{
    unsigned char u = (unsigned char)c;

    return (u >= 'A' && u <= 'Z') ? (unsigned char)(u - 'A' + 'a') : u;
}

/* strcmp() of the lower-cased `len` bytes at `s` against `name`. */
static int
fold_cmp(const char *s, size_t len, const char *name)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char a = fold(s[i]);
        unsigned char b = (unsigned char)name[i];

        if (b == '\0')
            return 1;
        if (a != b)
            return a < b ? -1 : 1;
    }
    return name[len] == '\0' ? 0 : -1;
}

const command_info *
command_lookup(const char *name, size_t len)
{
    size_t lo = 0;
    size_t hi = NCOMMANDS;

    if (name == NULL)
        return NULL;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = fold_cmp(name, len, commands[mid].name);

        if (c == 0)
            return &commands[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const command_info *
command_subcommand(const command_info *container, const char *name, size_t len)
{
    size_t skip;

    if (container == NULL || container->nsubs == 0 || name == NULL)
        return NULL;
    skip = strlen(container->name) + 1; /* "object|" */
    for (size_t i = 0; i < container->nsubs; i++) {
        if (fold_cmp(name, len, container->subs[i].name + skip) == 0)
            return &container->subs[i];
    }
    return NULL;
}

static size_t
arg_len(const char *const *argv, const size_t *argvlen, int i)
{
    return argvlen != NULL ? argvlen[i] : strlen(argv[i]);
}

/* Whether argv[i] is `word` (lower-case), ignoring ASCII case. */
static bool
arg_is(const char *const *argv, const size_t *argvlen, int i, const char *word)
{
    size_t len = arg_len(argv, argvlen, i);

    return len == strlen(word) && fold_cmp(argv[i], len, word) == 0;
}

const command_info *
command_lookup_cached(command_cache *cache, const char *name, size_t len)
{
    if (name == NULL || len == 0)
        return command_lookup(name, len);
    unsigned at = (unsigned)(len + fold(name[0])) % COMMAND_CACHE_SLOTS;
    const command_info *ci = cache->slot[at];
    if (ci != NULL && fold_cmp(name, len, ci->name) == 0)
        return ci;
    ci = command_lookup(name, len);
    if (ci != NULL)
        cache->slot[at] = ci;
    return ci;
}

/* The subcommand entry of argv when `ci` is a container. */
static const command_info *
resolve_sub(const command_info *ci, int argc, const char *const *argv,
            const size_t *argvlen)
{
    if (ci == NULL || ci->nsubs == 0 || argc < 2)
        return ci;
    const command_info *sub =
        command_subcommand(ci, argv[1], arg_len(argv, argvlen, 1));
    return sub != NULL ? sub : ci;
}

const command_info *
command_find_cached(command_cache *cache, int argc, const char *const *argv,
                    const size_t *argvlen)
{
    if (argc < 1 || argv == NULL)
        return NULL;
    return resolve_sub(
        command_lookup_cached(cache, argv[0], arg_len(argv, argvlen, 0)), argc,
        argv, argvlen);
}

const command_info *
command_find(int argc, const char *const *argv, const size_t *argvlen)
{
    if (argc < 1 || argv == NULL)
        return NULL;
    return resolve_sub(command_lookup(argv[0], arg_len(argv, argvlen, 0)), argc,
                       argv, argvlen);
}

/*
 * Parses an integer the way Redis's string2ll() does: an optional '-',
 * then "0" or digits without a leading zero; no '+', no spaces.
 */
static bool
parse_ll(const char *s, size_t len, long long *out)
{
    bool neg = len > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    unsigned long long v = 0;
    unsigned long long limit =
        neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;

    if (len == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (i >= len || s[i] < '1' || s[i] > '9')
        return false;
    for (; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (s[i] < '0' || s[i] > '9' || v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = neg ? (long long)(0 - v) : (long long)v;
    return true;
}

static void
keyset_add(keyset *ks, int i)
{
    if (ks->n < ks->max)
        ks->pos[ks->n] = i;
    ks->n++;
}

static bool
arity_ok(const command_info *ci, int argc)
{
    bool ok = ci->arity >= 0 ? argc == ci->arity : argc >= -ci->arity;

    if (ok && ci->route == ROUTE_LOCAL_PING)
        ok = argc <= 2; /* PING [message] */
    if (ok && ci->key_step > 1 && ci->last_key < 0) {
        /* MSET MSETNX: the keys' range must hold whole key/value pairs */
        int span = argc + ci->last_key + 1 - ci->first_key;

        ok = span % ci->key_step == 0;
    }
    return ok;
}

/* The keys of the legacy spec: first_key..last_key by key_step. */
static void
range_keys(const command_info *ci, int argc, keyset *ks)
{
    int last = ci->last_key < 0 ? argc + ci->last_key : ci->last_key;

    if (ci->first_key <= 0 || ci->key_step <= 0)
        return;
    if (last > argc - 1)
        last = argc - 1;
    for (int i = ci->first_key; i <= last; i += ci->key_step)
        keyset_add(ks, i);
}

/* numkeys at argv[keyfind_arg], then that many keys. */
static int
numkeys_keys(const command_info *ci, int argc, const char *const *argv,
             const size_t *argvlen, keyset *ks, char *err, size_t errlen)
{
    const numkeys_rule *rule = &numkeys_rules[ci->keyfind];
    int at = ci->keyfind_arg;
    long long num;

    if (!parse_ll(argv[at], arg_len(argv, argvlen, at), &num)) {
        set_err(err, errlen, rule->not_int, ci->name);
        return -1;
    }
    if (num < rule->min) {
        set_err(err, errlen, rule->too_few, ci->name);
        return -1;
    }
    if (num > (long long)argc - at - 1 - rule->after) {
        set_err(err, errlen, rule->too_many, ci->name);
        return -1;
    }
    for (int i = 0; i < (int)num; i++)
        keyset_add(ks, at + 1 + i);
    return 0;
}

/* The index of XREAD's STREAMS option, skipping the options before it;
 * -1 when there is none. */
static int
streams_at(int argc, const char *const *argv, const size_t *argvlen)
{
    for (int i = 1; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "streams"))
            return i;
        if (arg_is(argv, argvlen, i, "block") ||
            arg_is(argv, argvlen, i, "count"))
            i++;
        else if (arg_is(argv, argvlen, i, "group"))
            i += 2;
        else if (!arg_is(argv, argvlen, i, "noack"))
            return -1;
    }
    return -1;
}

/* XREAD XREADGROUP: STREAMS key... id..., as many ids as keys. */
static int
streams_keys(int argc, const char *const *argv, const size_t *argvlen,
             keyset *ks, char *err, size_t errlen)
{
    int at = streams_at(argc, argv, argvlen);
    int rest = argc - at - 1;

    if (at < 0 || rest == 0) {
        set_err(err, errlen, ERR_SYNTAX);
        return -1;
    }
    if (rest % 2 != 0) {
        set_err(err, errlen,
                "ERR Unbalanced XREAD list of streams: for each stream key "
                "an ID or '$' must be specified.");
        return -1;
    }
    for (int i = 0; i < rest / 2; i++)
        keyset_add(ks, at + 1 + i);
    return 0;
}

/* SORT key [BY p] [LIMIT o c] [GET p]... [STORE dest]: the last STORE. */
static void
sort_keys(const command_info *ci, int argc, const char *const *argv,
          const size_t *argvlen, keyset *ks)
{
    int dest = 0;

    for (int i = ci->keyfind_arg; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "limit"))
            i += 2;
        else if (arg_is(argv, argvlen, i, "by") ||
                 arg_is(argv, argvlen, i, "get"))
            i++;
        else if (arg_is(argv, argvlen, i, "store") && i + 1 < argc)
            dest = ++i;
    }
    if (dest > 0)
        keyset_add(ks, dest);
}

int
command_sort_patterns(const command_info *ci, int argc, const char *const *argv,
                      const size_t *argvlen, int *positions, int max)
{
    int n = 0;

    /* The first letter first: this runs for every keyed command. */
    if (ci->name[0] != 's' ||
        (strcmp(ci->name, "sort") != 0 && strcmp(ci->name, "sort_ro") != 0))
        return 0;
    for (int i = 2; i < argc; i++) {
        if (arg_is(argv, argvlen, i, "limit")) {
            i += 2;
        } else if ((arg_is(argv, argvlen, i, "by") ||
                    arg_is(argv, argvlen, i, "get")) &&
                   i + 1 < argc) {
            if (n < max)
                positions[n] = i + 1;
            n++;
            i++;
        } else if (arg_is(argv, argvlen, i, "store")) {
            i++;
        }
    }
    return n;
}

/*
 * GEORADIUS[BYMEMBER] ... [STORE dest] [STOREDIST dest]: every destination.
 * Redis writes to the last one, but its key specs (and so Redis Cluster)
 * name the first STORE and the first STOREDIST: all must share a server.
 */
static void
georadius_keys(const command_info *ci, int argc, const char *const *argv,
               const size_t *argvlen, keyset *ks)
{
    for (int i = ci->keyfind_arg; i < argc - 1; i++) {
        if (arg_is(argv, argvlen, i, "store") ||
            arg_is(argv, argvlen, i, "storedist"))
            keyset_add(ks, ++i);
    }
}

/*
 * MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw]
 * [AUTH2 user pw] [KEYS key...]: replaces the legacy key when KEYS is used.
 */
static int
migrate_keys(const command_info *ci, int argc, const char *const *argv,
             const size_t *argvlen, keyset *ks, char *err, size_t errlen)
{
    int i = ci->keyfind_arg;

    for (; i < argc && !arg_is(argv, argvlen, i, "keys"); i++) {
        if (arg_is(argv, argvlen, i, "auth"))
            i++;
        else if (arg_is(argv, argvlen, i, "auth2"))
            i += 2;
    }
    if (i >= argc) {
        range_keys(ci, argc, ks);
        return 0;
    }
    if (arg_len(argv, argvlen, 3) > 0) {
        set_err(err, errlen,
                "ERR When using MIGRATE KEYS option, the key argument must be "
                "set to the empty string");
        return -1;
    }
    for (i++; i < argc; i++)
        keyset_add(ks, i);
    return 0;
}

/* Redis's reply to an unknown subcommand: "... 'foo'. Try OBJECT HELP." */
static void
unknown_subcommand(const command_info *ci, const char *sub, size_t len,
                   char *err, size_t errlen)
{
    char shown[129];
    char upper[32];
    size_t n = 0;
    size_t u = 0;

    for (; n < len && n < sizeof(shown) - 1 && sub[n] != '\0'; n++)
        shown[n] = (sub[n] == '\r' || sub[n] == '\n') ? ' ' : sub[n];
    shown[n] = '\0';
    for (; u < sizeof(upper) - 1 && ci->name[u] != '\0'; u++) {
        char c = ci->name[u];

        upper[u] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
    }
    upper[u] = '\0';
    set_err(err, errlen, "ERR unknown subcommand '%s'. Try %s HELP.", shown,
            upper);
}

/* The keys of a command that is not a container; -1 when malformed. */
static int
find_keys(const command_info *ci, int argc, const char *const *argv,
          const size_t *argvlen, keyset *ks, char *err, size_t errlen)
{
    if (ci->keyfind == KEYFIND_MIGRATE)
        return migrate_keys(ci, argc, argv, argvlen, ks, err, errlen);
    range_keys(ci, argc, ks);
    switch (ci->keyfind) {
    case KEYFIND_EVAL:
    case KEYFIND_FCALL:
    case KEYFIND_ZSETOP:
    case KEYFIND_SINTERCARD:
    case KEYFIND_MPOP:
        return numkeys_keys(ci, argc, argv, argvlen, ks, err, errlen);
    case KEYFIND_STREAMS:
        return streams_keys(argc, argv, argvlen, ks, err, errlen);
    case KEYFIND_SORT:
        sort_keys(ci, argc, argv, argvlen, ks);
        return 0;
    case KEYFIND_GEORADIUS:
        georadius_keys(ci, argc, argv, argvlen, ks);
        return 0;
    case KEYFIND_RANGE:
    case KEYFIND_MIGRATE:
    case KEYFIND_CONTAINER:
        break;
    }
    return 0;
}

int
command_keys(const command_info *ci, int argc, const char *const *argv,
             const size_t *argvlen, int *positions, int max, char *err,
             size_t errlen)
{
    keyset ks = {positions, positions != NULL && max > 0 ? max : 0, 0};
    const command_info *sub;

    if (err != NULL && errlen > 0)
        err[0] = '\0'; /* no vsnprintf for nothing: this runs per command */
    if (!arity_ok(ci, argc)) {
        set_err(err, errlen, "ERR wrong number of arguments for '%s' command",
                ci->name);
        return -1;
    }
    if (ci->keyfind == KEYFIND_CONTAINER && ci->nsubs > 0) {
        size_t len = arg_len(argv, argvlen, 1);

        sub = command_subcommand(ci, argv[1], len);
        if (sub == NULL) {
            unknown_subcommand(ci, argv[1], len, err, errlen);
            return -1;
        }
        return command_keys(sub, argc, argv, argvlen, positions, max, err,
                            errlen);
    }
    if (find_keys(ci, argc, argv, argvlen, &ks, err, errlen) < 0)
        return -1;
    return ks.n;
}

command_route
command_route_of(const command_info *ci, int nkeys)
{
    if (ci->route == ROUTE_KEYED && nkeys == 0)
        return ROUTE_ANY_SERVER;
    return ci->route;
}

size_t
command_count(void)
{
    return NCOMMANDS;
}

const command_info *
command_at(size_t i)
{
    return i < NCOMMANDS ? &commands[i] : NULL;
}
