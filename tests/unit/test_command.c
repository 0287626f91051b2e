/* command: the Redis 7.0 table, its routing policy and key positions. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

#define MAXARGS 64

static char err[256];
static int pos[MAXARGS];

/* Splits `line` on single spaces into argv; the words live in a static
 * buffer until the next call. */
static int
split(const char *line, const char **argv)
{
    static char buf[1024];
    size_t len = strlen(line);
    int argc = 0;

    cr_assert_lt(len, sizeof(buf));
    memcpy(buf, line, len + 1);
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == ' ') {
            buf[i] = '\0';
        } else if (i == 0 || buf[i - 1] == '\0') {
            cr_assert_lt(argc, MAXARGS);
            argv[argc++] = &buf[i];
        }
    }
    return argc;
}

/* command_keys() of `line`, through command_find(). */
static int
keys_of(const char *line)
{
    const char *argv[MAXARGS];
    int argc = split(line, argv);
    const command_info *ci = command_find(argc, argv, NULL);

    cr_assert_not_null(ci, "unknown: %s", line);
    memset(pos, -1, sizeof(pos));
    return command_keys(ci, argc, argv, NULL, pos, MAXARGS, err, sizeof(err));
}

/* `line` has exactly the keys at the argv indexes in `want` (-1 ended). */
static void
expect_keys(const char *line, const int *want)
{
    int n = keys_of(line);
    int nwant = 0;

    while (want[nwant] >= 0)
        nwant++;
    cr_assert_eq(n, nwant, "%s: %d keys, want %d (%s)", line, n, nwant, err);
    for (int i = 0; i < n; i++)
        cr_expect_eq(pos[i], want[i], "%s: key %d at %d, want %d", line, i,
                     pos[i], want[i]);
}

#define EXPECT_KEYS(line, ...) expect_keys(line, (const int[]){__VA_ARGS__, -1})

static void
expect_error(const char *line, const char *msg)
{
    int n = keys_of(line);

    cr_assert_eq(n, -1, "%s: accepted with %d keys", line, n);
    cr_expect_str_eq(err, msg, "%s", line);
}

static command_route
route_of(const char *line)
{
    const char *argv[MAXARGS];
    int argc = split(line, argv);
    const command_info *ci = command_find(argc, argv, NULL);
    int n = command_keys(ci, argc, argv, NULL, pos, MAXARGS, err, sizeof(err));

    cr_assert_geq(n, 0, "%s: %s", line, err);
    return command_route_of(ci, n);
}

Test(command, lookup_ignores_ascii_case)
{
    const command_info *get = command_lookup("get", 3);

    cr_assert_not_null(get);
    cr_expect_str_eq(get->name, "get");
    cr_expect_eq(command_lookup("GET", 3), get);
    cr_expect_eq(command_lookup("gEt", 3), get);
    cr_expect_str_eq(command_lookup("XREADGROUP", 10)->name, "xreadgroup");
    cr_expect_str_eq(command_lookup("Restore-Asking", 14)->name,
                     "restore-asking");
    cr_expect_str_eq(command_lookup("EVALSHA_RO", 10)->name, "evalsha_ro");
}

Test(command, lookup_of_unknown_name_is_null)
{
    cr_expect_null(command_lookup("gets", 4));
    cr_expect_null(command_lookup("ge", 2));
    cr_expect_null(command_lookup("", 0));
    cr_expect_null(command_lookup("g\0t", 3));
    cr_expect_null(command_lookup("get\0", 4));
    cr_expect_null(command_lookup("aaa", 3));
    cr_expect_null(command_lookup("zzzz", 4));
    cr_expect_null(command_lookup("object|encoding", 15));
    cr_expect_null(command_lookup("G\xc9T", 3));
    cr_expect_null(command_lookup(NULL, 0));
}

Test(command, lookup_reads_only_len_bytes)
{
    cr_expect_str_eq(command_lookup("getrange", 3)->name, "get");
    cr_expect_str_eq(command_lookup("MSETNX", 4)->name, "mset");
}

Test(command, table_is_sorted_lower_case_and_found_by_lookup)
{
    cr_assert_eq(command_count(), 240, "Redis 7.0.15 has 240 commands");
    cr_expect_null(command_at(command_count()));
    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);

        for (const char *c = ci->name; *c; c++)
            cr_expect(!(*c >= 'A' && *c <= 'Z'), "%s", ci->name);
        if (i > 0)
            cr_expect_lt(strcmp(command_at(i - 1)->name, ci->name), 0,
                         "%s before %s", command_at(i - 1)->name, ci->name);
        cr_expect_eq(command_lookup(ci->name, strlen(ci->name)), ci);
    }
}

Test(command, subcommands_are_sorted_and_named_after_their_container)
{
    int containers = 0;

    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);
        size_t len = strlen(ci->name);

        if (ci->nsubs == 0)
            continue;
        containers++;
        cr_expect_eq(ci->keyfind, KEYFIND_CONTAINER);
        for (size_t j = 0; j < ci->nsubs; j++) {
            const command_info *sub = &ci->subs[j];
            const char *short_name = sub->name + len + 1;

            cr_expect(strncmp(sub->name, ci->name, len) == 0 &&
                          sub->name[len] == '|',
                      "%s", sub->name);
            cr_expect_eq(command_subcommand(ci, short_name, strlen(short_name)),
                         sub);
            if (j > 0)
                cr_expect_lt(strcmp(ci->subs[j - 1].name, sub->name), 0);
        }
    }
    cr_expect_eq(containers, 5, "OBJECT MEMORY XINFO XGROUP SCRIPT");
}

Test(command, reject_reasons_read_after_the_command_name)
{
    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);
        const char *why = ci->reject_reason;

        if (ci->route != ROUTE_REJECT) {
            cr_expect_null(why, "%s has a reason but is not rejected",
                           ci->name);
            continue;
        }
        cr_assert_not_null(why, "%s", ci->name);
        cr_expect(why[0] >= 'a' && why[0] <= 'z', "%s: %s", ci->name, why);
        cr_expect_neq(why[strlen(why) - 1], '.', "%s: %s", ci->name, why);
        cr_expect_lt(strlen(why), 100, "%s: %s", ci->name, why);
    }
}

Test(command, split_and_local_commands_follow_the_policy)
{
    cr_expect_eq(command_lookup("mget", 4)->route, ROUTE_SPLIT_MGET);
    cr_expect_eq(command_lookup("mset", 4)->route, ROUTE_SPLIT_MSET);
    cr_expect_eq(command_lookup("del", 3)->route, ROUTE_SPLIT_SUM);
    cr_expect_eq(command_lookup("unlink", 6)->route, ROUTE_SPLIT_SUM);
    cr_expect_eq(command_lookup("touch", 5)->route, ROUTE_SPLIT_SUM);
    cr_expect_eq(command_lookup("exists", 6)->route, ROUTE_SPLIT_SUM);
    cr_expect_eq(command_lookup("ping", 4)->route, ROUTE_LOCAL_PING);
    cr_expect_eq(command_lookup("echo", 4)->route, ROUTE_ANY_SERVER);
    cr_expect_eq(command_lookup("time", 4)->route, ROUTE_ANY_SERVER);
    cr_expect_eq(command_lookup("lolwut", 6)->route, ROUTE_ANY_SERVER);
    cr_expect_eq(command_lookup("command", 7)->route, ROUTE_ANY_SERVER);
}

Test(command, multi_key_commands_are_keyed)
{
    const char *names[] = {"msetnx", "rename", "smove", "bitop", "pfmerge",
                           "sinter", "lmove",  "blpop", "eval",  "fcall",
                           "copy",   "lcs",    "xread", "sort",  "zunion"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const command_info *ci = command_lookup(names[i], strlen(names[i]));

        cr_expect_eq(ci->route, ROUTE_KEYED, "%s", names[i]);
    }
}

Test(command, every_command_with_a_key_and_no_reason_is_keyed_or_split)
{
    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);

        if (ci->first_key == 0 && ci->keyfind == KEYFIND_RANGE)
            continue;
        if (ci->route == ROUTE_REJECT || ci->keyfind == KEYFIND_CONTAINER)
            continue;
        cr_expect(ci->route == ROUTE_KEYED || ci->route == ROUTE_SPLIT_MGET ||
                      ci->route == ROUTE_SPLIT_SUM ||
                      ci->route == ROUTE_SPLIT_MSET,
                  "%s", ci->name);
    }
}

Test(command, state_and_keyspace_commands_are_rejected)
{
    const char *names[] = {
        "select",       "swapdb",       "move",       "multi",
        "exec",         "discard",      "watch",      "unwatch",
        "subscribe",    "psubscribe",   "ssubscribe", "unsubscribe",
        "punsubscribe", "sunsubscribe", "publish",    "spublish",
        "monitor",      "sync",         "psync",      "replconf",
        "auth",         "hello",        "reset",      "quit",
        "client",       "info",         "config",     "save",
        "bgsave",       "shutdown",     "debug",      "slaveof",
        "replicaof",    "failover",     "cluster",    "readonly",
        "readwrite",    "asking",       "acl",        "module",
        "function",     "latency",      "slowlog",    "memory",
        "wait",         "migrate",      "lastsave"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const command_info *ci = command_lookup(names[i], strlen(names[i]));

        cr_assert_not_null(ci, "%s", names[i]);
        cr_expect_eq(ci->route, ROUTE_REJECT, "%s", names[i]);
    }
}

Test(command, keyspace_commands_and_script_load_are_pool_wide)
{
    const char *names[] = {
        "scan 0",         "SCAN 7 COUNT 5", "dbsize",
        "keys *",         "randomkey",      "flushdb",
        "flushall ASYNC", "script load s",  "script EXISTS a b",
        "SCRIPT flush"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_expect_eq(route_of(names[i]), ROUTE_POOLWIDE, "%s", names[i]);
    cr_expect_eq(route_of("script kill"), ROUTE_REJECT);
    cr_expect_eq(route_of("script debug yes"), ROUTE_REJECT);
    cr_expect_eq(route_of("script help"), ROUTE_ANY_SERVER);
    cr_expect_eq(command_lookup("script", 6)->route, ROUTE_REJECT,
                 "fails safe unresolved");
    cr_expect_eq(command_lookup("flushdb", 7)->flags & CMD_F_WRITE,
                 CMD_F_WRITE);
    cr_expect_eq(keys_of("scan 0 MATCH k* COUNT 10"), 0);
    cr_expect_eq(keys_of("keys *"), 0);
}

Test(command, flags_mark_transactions_blocking_and_writes)
{
    const char *txn[] = {"multi", "exec", "discard", "watch", "unwatch"};
    const char *blocking[] = {"blpop",  "brpop",      "brpoplpush", "blmove",
                              "blmpop", "bzpopmin",   "bzpopmax",   "bzmpop",
                              "xread",  "xreadgroup", "wait"};
    unsigned ntxn = 0;
    unsigned nblocking = 0;

    for (size_t i = 0; i < sizeof(txn) / sizeof(txn[0]); i++)
        cr_expect(command_lookup(txn[i], strlen(txn[i]))->flags & CMD_F_TXN);
    for (size_t i = 0; i < sizeof(blocking) / sizeof(blocking[0]); i++)
        cr_expect(command_lookup(blocking[i], strlen(blocking[i]))->flags &
                      CMD_F_BLOCKING,
                  "%s", blocking[i]);
    for (size_t i = 0; i < command_count(); i++) {
        ntxn += (command_at(i)->flags & CMD_F_TXN) != 0;
        nblocking += (command_at(i)->flags & CMD_F_BLOCKING) != 0;
    }
    cr_expect_eq(ntxn, 5);
    cr_expect_eq(nblocking, 11);
    cr_expect(command_lookup("set", 3)->flags & CMD_F_WRITE);
    cr_expect(command_lookup("eval", 4)->flags & CMD_F_WRITE);
    cr_expect_not(command_lookup("get", 3)->flags & CMD_F_WRITE);
    cr_expect_not(command_lookup("eval_ro", 7)->flags & CMD_F_WRITE);
    cr_expect(command_lookup("zunionstore", 11)->flags & CMD_F_NUMKEYS);
}

Test(command, wrong_arity_gets_redis_message)
{
    expect_error("GET", "ERR wrong number of arguments for 'get' command");
    expect_error("get a b", "ERR wrong number of arguments for 'get' command");
    expect_error("MGET", "ERR wrong number of arguments for 'mget' command");
    expect_error("mset a", "ERR wrong number of arguments for 'mset' command");
    expect_error("mset a b c",
                 "ERR wrong number of arguments for 'mset' command");
    expect_error("msetnx a b c",
                 "ERR wrong number of arguments for 'msetnx' command");
    expect_error("ping a b",
                 "ERR wrong number of arguments for 'ping' command");
    expect_error("echo", "ERR wrong number of arguments for 'echo' command");
    expect_error("object",
                 "ERR wrong number of arguments for 'object' command");
    expect_error("object encoding",
                 "ERR wrong number of arguments for 'object|encoding' command");
    expect_error("OBJECT ENCODING a b",
                 "ERR wrong number of arguments for 'object|encoding' command");
    expect_error("memory usage",
                 "ERR wrong number of arguments for 'memory|usage' command");
    expect_error("xgroup help x",
                 "ERR wrong number of arguments for 'xgroup|help' command");
}

Test(command, empty_argv_is_an_arity_error)
{
    const command_info *get = command_lookup("get", 3);

    cr_expect_eq(command_keys(get, 0, NULL, NULL, pos, 4, err, sizeof(err)),
                 -1);
    cr_expect_str_eq(err, "ERR wrong number of arguments for 'get' command");
    cr_expect_null(command_find(0, NULL, NULL));
}

Test(command, single_key_commands_have_their_key_at_one)
{
    EXPECT_KEYS("GET k", 1);
    EXPECT_KEYS("set k v EX 10 NX", 1);
    EXPECT_KEYS("hset h f v f2 v2", 1);
    EXPECT_KEYS("expire k 10 NX", 1);
}

Test(command, ranges_cover_every_key)
{
    EXPECT_KEYS("MGET a b c", 1, 2, 3);
    EXPECT_KEYS("mget a", 1);
    EXPECT_KEYS("del a b", 1, 2);
    EXPECT_KEYS("MSET a 1 b 2 c 3", 1, 3, 5);
    EXPECT_KEYS("msetnx a 1 b 2", 1, 3);
    EXPECT_KEYS("bitop and dest a b", 2, 3, 4);
    EXPECT_KEYS("blpop a b c 0", 1, 2, 3);
    EXPECT_KEYS("rename a b", 1, 2);
    EXPECT_KEYS("lmove a b left right", 1, 2);
    EXPECT_KEYS("smove a b m", 1, 2);
    EXPECT_KEYS("sinterstore d a b", 1, 2, 3);
}

Test(command, keyless_commands_have_no_key)
{
    cr_expect_eq(keys_of("ping"), 0);
    cr_expect_eq(keys_of("PING hello"), 0);
    cr_expect_eq(keys_of("echo x"), 0);
    cr_expect_eq(keys_of("time"), 0);
    cr_expect_eq(keys_of("command info get"), 0);
    cr_expect_eq(keys_of("lolwut version 5"), 0);
}

Test(command, eval_numkeys_zero_has_no_key_and_routes_to_any_server)
{
    cr_expect_eq(keys_of("EVAL return 0"), 0);
    cr_expect_eq(route_of("eval return 0"), ROUTE_ANY_SERVER);
    cr_expect_eq(route_of("fcall f 0 arg"), ROUTE_ANY_SERVER);
    cr_expect_eq(route_of("eval return 1 a"), ROUTE_KEYED);
}

Test(command, eval_numkeys_names_the_keys)
{
    EXPECT_KEYS("EVAL s 2 a b x y", 3, 4);
    EXPECT_KEYS("evalsha sha 1 a", 3);
    EXPECT_KEYS("eval_ro s 3 a b c", 3, 4, 5);
    EXPECT_KEYS("FCALL f 2 a b arg", 3, 4);
    EXPECT_KEYS("fcall_ro f 1 a", 3);
}

Test(command, eval_numkeys_errors_are_redis_errors)
{
    expect_error("eval s 3 a b",
                 "ERR Number of keys can't be greater than number of args");
    expect_error("eval s x a", "ERR value is not an integer or out of range");
    expect_error("eval s +1 a", "ERR value is not an integer or out of range");
    expect_error("eval s 01 a", "ERR value is not an integer or out of range");
    expect_error("eval s -0 a", "ERR value is not an integer or out of range");
    expect_error("eval s 1a a", "ERR value is not an integer or out of range");
    expect_error("eval s 99999999999999999999 a",
                 "ERR value is not an integer or out of range");
    expect_error("eval s 9223372036854775807 a",
                 "ERR Number of keys can't be greater than number of args");
    expect_error("eval s -1 a", "ERR Number of keys can't be negative");
    expect_error("eval s -9223372036854775808 a",
                 "ERR Number of keys can't be negative");
    expect_error("eval s", "ERR wrong number of arguments for 'eval' command");
    expect_error("fcall f x a", "ERR Bad number of keys provided");
    expect_error("fcall f -1 a", "ERR Number of keys can't be negative");
    expect_error("fcall f 2 a",
                 "ERR Number of keys can't be greater than number of args");
}

Test(command, zset_operations_find_destination_and_sources)
{
    EXPECT_KEYS("ZUNIONSTORE d 2 a b WEIGHTS 1 2", 1, 3, 4);
    EXPECT_KEYS("zinterstore d 1 a AGGREGATE max", 1, 3);
    EXPECT_KEYS("zdiffstore d 2 a b", 1, 3, 4);
    EXPECT_KEYS("zunion 2 a b WITHSCORES", 2, 3);
    EXPECT_KEYS("zinter 3 a b c", 2, 3, 4);
    EXPECT_KEYS("zdiff 1 a", 2);
    EXPECT_KEYS("zintercard 2 a b LIMIT 5", 2, 3);
}

Test(command, zset_operations_need_one_key)
{
    expect_error("zunionstore d 0 a",
                 "ERR at least 1 input key is needed for 'zunionstore' "
                 "command");
    expect_error("ZUNION 0 a",
                 "ERR at least 1 input key is needed for 'zunion' command");
    expect_error("zinter -1 a",
                 "ERR at least 1 input key is needed for 'zinter' command");
    expect_error("zunionstore d 3 a", "ERR syntax error");
    expect_error("zunionstore d x a",
                 "ERR value is not an integer or out of range");
}

Test(command, xread_keys_are_the_first_half_after_streams)
{
    EXPECT_KEYS("XREAD COUNT 2 BLOCK 0 STREAMS a b 0 0", 6, 7);
    EXPECT_KEYS("xread streams a $", 2);
    EXPECT_KEYS("xread count 1 streams streams a 0 0", 4, 5);
    EXPECT_KEYS("XREADGROUP GROUP streams c NOACK STREAMS s >", 6);
    EXPECT_KEYS("xreadgroup group g c count 5 block 10 streams a b > >", 9, 10);
    expect_error("xread streams a b c",
                 "ERR Unbalanced XREAD list of streams: for each stream key "
                 "an ID or '$' must be specified.");
    expect_error("xread count 1 a b", "ERR syntax error");
    expect_error("xread count 1 streams", "ERR syntax error");
    expect_error("xread streams a",
                 "ERR wrong number of arguments for 'xread' command");
}

Test(command, sort_store_adds_the_destination)
{
    EXPECT_KEYS("sort k", 1);
    EXPECT_KEYS("SORT k BY w_* LIMIT 0 10 GET # ALPHA STORE d", 1, 11);
    EXPECT_KEYS("sort k store d1 store d2", 1, 5);
    EXPECT_KEYS("sort k get store", 1);
    EXPECT_KEYS("sort k limit store 1 desc", 1);
    EXPECT_KEYS("sort k store", 1);
    EXPECT_KEYS("sort_ro k store d", 1);
}

Test(command, georadius_store_adds_the_destination)
{
    EXPECT_KEYS("GEORADIUS k 15 37 200 km", 1);
    EXPECT_KEYS("GEORADIUS k 15 37 200 km STORE d", 1, 7);
    EXPECT_KEYS("georadius k 15 37 200 km storedist d ASC", 1, 7);
    /* Redis writes the last destination; its key specs name the first */
    EXPECT_KEYS("georadius k 15 37 200 km store d1 storedist d2", 1, 7, 9);
    EXPECT_KEYS("georadius k 15 37 200 km store d1 store d2", 1, 7, 9);
    EXPECT_KEYS("georadius k 15 37 200 km withdist store", 1);
    EXPECT_KEYS("georadiusbymember k m 200 km STOREDIST d", 1, 6);
    EXPECT_KEYS("georadius_ro k 15 37 200 km store d", 1);
    EXPECT_KEYS("geosearchstore d k FROMMEMBER m BYRADIUS 1 km", 1, 2);
}

Test(command, mpop_numkeys_is_followed_by_a_direction)
{
    EXPECT_KEYS("LMPOP 2 a b LEFT COUNT 3", 2, 3);
    EXPECT_KEYS("lmpop 1 a right", 2);
    EXPECT_KEYS("BLMPOP 0 2 a b RIGHT", 3, 4);
    EXPECT_KEYS("zmpop 1 z MIN", 2);
    EXPECT_KEYS("bzmpop 1.5 2 y z MAX COUNT 2", 3, 4);
    expect_error("lmpop 2 a b", "ERR syntax error");
    expect_error("lmpop 0 a left", "ERR numkeys should be greater than 0");
    expect_error("lmpop x a left", "ERR numkeys should be greater than 0");
    expect_error("blmpop 0 3 a left", "ERR syntax error");
    expect_error("lmpop 1 a", "ERR wrong number of arguments for 'lmpop' "
                              "command");
}

Test(command, sintercard_counts_its_keys)
{
    EXPECT_KEYS("SINTERCARD 2 a b LIMIT 1", 2, 3);
    EXPECT_KEYS("sintercard 1 a", 2);
    expect_error("sintercard 0 a", "ERR numkeys should be greater than 0");
    expect_error("sintercard x a", "ERR numkeys should be greater than 0");
    expect_error("sintercard 3 a",
                 "ERR Number of keys can't be greater than number of args");
}

Test(command, containers_resolve_their_subcommand)
{
    const char *argv[] = {"MEMORY", "usage", "k"};
    const command_info *memory = command_lookup("memory", 6);

    EXPECT_KEYS("OBJECT ENCODING k", 2);
    EXPECT_KEYS("object freq k", 2);
    EXPECT_KEYS("memory usage k SAMPLES 5", 2);
    EXPECT_KEYS("XINFO STREAM s FULL COUNT 10", 2);
    EXPECT_KEYS("xinfo consumers s g", 2);
    EXPECT_KEYS("XGROUP CREATE s g $ MKSTREAM", 2);
    EXPECT_KEYS("xgroup setid s g 0", 2);
    cr_expect_eq(keys_of("object help"), 0);
    cr_expect_eq(route_of("object help"), ROUTE_ANY_SERVER);
    cr_expect_eq(route_of("xinfo help"), ROUTE_ANY_SERVER);
    cr_expect_eq(route_of("object encoding k"), ROUTE_KEYED);
    cr_expect_eq(route_of("memory usage k"), ROUTE_KEYED);
    cr_expect_eq(route_of("memory doctor"), ROUTE_REJECT);
    cr_expect_eq(memory->route, ROUTE_REJECT, "fails safe unresolved");
    cr_expect_str_eq(command_find(3, argv, NULL)->name, "memory|usage");
    cr_expect_eq(command_keys(memory, 3, argv, NULL, pos, 4, err, sizeof(err)),
                 1, "the container entry resolves too");
    cr_expect_eq(pos[0], 2);
}

Test(command, unknown_subcommand_gets_redis_message)
{
    const char *argv[] = {"object", "bad\r\nsub", "k"};
    const command_info *object = command_lookup("object", 6);

    expect_error("object foo",
                 "ERR unknown subcommand 'foo'. Try OBJECT HELP.");
    expect_error("XINFO Foo a",
                 "ERR unknown subcommand 'Foo'. Try XINFO HELP.");
    cr_expect_str_eq(
        command_find(2, (const char *[]){"object", "foo"}, NULL)->name,
        "object");
    cr_expect_eq(command_keys(object, 3, argv, NULL, pos, 4, err, sizeof(err)),
                 -1);
    cr_expect_str_eq(err, "ERR unknown subcommand 'bad  sub'. Try OBJECT HELP.",
                     "no CR LF inside an error reply");
}

Test(command, too_small_array_gets_the_count)
{
    enum { NKEYS = 10000 };
    const char **argv = calloc(NKEYS + 1, sizeof(*argv));
    size_t *lens = calloc(NKEYS + 1, sizeof(*lens));
    int *big = calloc(NKEYS, sizeof(*big));
    int small[17];
    const command_info *mget = command_lookup("mget", 4);

    cr_assert(argv && lens && big);
    argv[0] = "mget";
    lens[0] = 4;
    for (int i = 1; i <= NKEYS; i++) {
        argv[i] = "key";
        lens[i] = 3;
    }
    small[16] = -7;
    cr_expect_eq(
        command_keys(mget, NKEYS + 1, argv, lens, small, 16, err, sizeof(err)),
        NKEYS);
    for (int i = 0; i < 16; i++)
        cr_expect_eq(small[i], i + 1);
    cr_expect_eq(small[16], -7, "nothing written past max");
    cr_expect_eq(command_keys(mget, NKEYS + 1, argv, lens, NULL, 0, NULL, 0),
                 NKEYS);
    cr_expect_eq(
        command_keys(mget, NKEYS + 1, argv, lens, big, NKEYS, err, sizeof(err)),
        NKEYS);
    cr_expect_eq(big[NKEYS - 1], NKEYS);
    free(argv);
    free(lens);
    free(big);
}

Test(command, arguments_are_binary_safe)
{
    const char *argv[] = {"EVAL\0junk", "s", "2\0", "a\0b", "c"};
    size_t lens[] = {4, 1, 1, 3, 1};
    const command_info *ci = command_find(5, argv, lens);

    cr_assert_not_null(ci);
    cr_expect_str_eq(ci->name, "eval");
    cr_expect_eq(command_keys(ci, 5, argv, lens, pos, 4, err, sizeof(err)), 2);
    cr_expect_eq(pos[0], 3);
    cr_expect_eq(pos[1], 4);
}

Test(command, a_small_error_buffer_is_cut_not_overrun)
{
    const char *argv[] = {"get"};
    char small[8];

    memset(small, 'x', sizeof(small));
    cr_expect_eq(
        command_keys(command_lookup("get", 3), 1, argv, NULL, pos, 4, small, 5),
        -1);
    cr_expect_str_eq(small, "ERR ");
    cr_expect_eq(small[5], 'x');
}

Test(command, migrate_keys_form_replaces_the_legacy_key)
{
    const char *argv[] = {"MIGRATE", "h",    "1",    "",  "0", "5",
                          "AUTH",    "keys", "KEYS", "a", "b"};
    const command_info *ci = command_lookup("migrate", 7);

    EXPECT_KEYS("migrate h 1 k 0 5", 3);
    EXPECT_KEYS("migrate h 1 k 0 5 COPY REPLACE", 3);
    cr_expect_eq(command_keys(ci, 11, argv, NULL, pos, 4, err, sizeof(err)), 2,
                 "%s", err);
    cr_expect_eq(pos[0], 9);
    cr_expect_eq(pos[1], 10);
    expect_error("migrate h 1 x 0 5 KEYS a b",
                 "ERR When using MIGRATE KEYS option, the key argument must "
                 "be set to the empty string");
    cr_expect_eq(ci->route, ROUTE_REJECT);
}

Test(command, sort_patterns_are_the_by_and_get_arguments)
{
    const char *argv[] = {"SORT", "l", "LIMIT", "0",   "10",  "BY", "w_*",
                          "GET",  "#", "STORE", "dst", "get", "d_*"};
    int at[8];
    const command_info *ci = command_find(13, argv, NULL);

    cr_assert_not_null(ci);
    cr_assert_eq(command_sort_patterns(ci, 13, argv, NULL, at, 8), 3);
    cr_expect_eq(at[0], 6);
    cr_expect_eq(at[1], 8);
    cr_expect_eq(at[2], 12);
    cr_expect_eq(command_sort_patterns(ci, 13, argv, NULL, at, 1), 3,
                 "the count is whole even when `max` is short");
    const char *get[] = {"GET", "by"};
    cr_expect_eq(
        command_sort_patterns(command_find(2, get, NULL), 2, get, NULL, at, 8),
        0);
}
