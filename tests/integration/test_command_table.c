/*
 * The command table against a real redis-server 7.0: every entry is known
 * to the server with the same arity, legacy key spec and write/blocking
 * flags; every command the server lists is in the table; command_keys()
 * finds the keys COMMAND GETKEYS finds and fails with the server's own
 * error messages.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "harness.h"

#define MAXARGS 32

static harness_server *server;
static redisContext *redis;

static void
setup(void)
{
    struct timeval tv = {5, 0};

    server = harness_redis_start(NULL);
    cr_assert_not_null(server, "redis-server did not start");
    redis = redisConnectWithTimeout("127.0.0.1", server->port, tv);
    cr_assert(redis != NULL && redis->err == 0, "connect to %s", server->addr);
}

static void
teardown(void)
{
    if (redis != NULL)
        redisFree(redis);
    harness_stop_all();
}

TestSuite(command_table, .init = setup, .fini = teardown, .timeout = 120);

/* Splits `line` on single spaces into a static argv; "''" is an empty
 * argument. */
static int
split(const char *line, const char **argv, size_t *lens)
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
    for (int i = 0; i < argc; i++) {
        lens[i] = strlen(argv[i]);
        if (strcmp(argv[i], "''") == 0)
            lens[i] = 0;
    }
    return argc;
}

static redisReply *
run(int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(redis, argc, argv, lens);

    cr_assert_not_null(r, "connection lost: %s", redis->errstr);
    return r;
}

static redisReply *
run_line(const char *line)
{
    const char *argv[MAXARGS];
    size_t lens[MAXARGS];
    int argc = split(line, argv, lens);

    return run(argc, argv, lens);
}

/* Whether the flag list of a COMMAND INFO entry holds `flag`. */
static bool
has_flag(const redisReply *flags, const char *flag)
{
    for (size_t i = 0; i < flags->elements; i++) {
        if (strcmp(flags->element[i]->str, flag) == 0)
            return true;
    }
    return false;
}

/*
 * Deliberate differences from the server's flags. The key specs have none:
 * the table keeps COMMAND INFO's legacy (first, last, step) verbatim, also
 * the 0 0 0 of numkeys commands, whose keys command_keys() finds (checked
 * against COMMAND GETKEYS below).
 */
static bool
write_differs(const char *name)
{
    /* scripts may write; the server leaves that to the script's flags */
    return strcmp(name, "eval") == 0 || strcmp(name, "evalsha") == 0 ||
           strcmp(name, "fcall") == 0;
}

static bool
blocking_differs(const char *name)
{
    /* WAIT blocks until replicas acknowledge or the timeout passes */
    return strcmp(name, "wait") == 0;
}

static void
expect_like_server(const command_info *ci)
{
    const char *argv[] = {"COMMAND", "INFO", ci->name};
    redisReply *r = run(3, argv, NULL);
    redisReply *e;

    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", ci->name);
    cr_assert_eq(r->elements, 1);
    e = r->element[0];
    cr_assert_eq(e->type, REDIS_REPLY_ARRAY, "server does not know '%s'",
                 ci->name);
    cr_expect_eq(e->element[1]->integer, ci->arity, "%s arity", ci->name);
    cr_expect_eq(e->element[3]->integer, ci->first_key, "%s first", ci->name);
    cr_expect_eq(e->element[4]->integer, ci->last_key, "%s last", ci->name);
    cr_expect_eq(e->element[5]->integer, ci->key_step, "%s step", ci->name);
    cr_expect_eq(has_flag(e->element[2], "write") != write_differs(ci->name),
                 (ci->flags & CMD_F_WRITE) != 0, "%s write flag", ci->name);
    cr_expect_eq(
        has_flag(e->element[2], "blocking") != blocking_differs(ci->name),
        (ci->flags & CMD_F_BLOCKING) != 0, "%s blocking flag", ci->name);
    freeReplyObject(r);
}

Test(command_table, every_entry_matches_command_info)
{
    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);

        expect_like_server(ci);
        for (size_t j = 0; j < ci->nsubs; j++)
            expect_like_server(&ci->subs[j]);
    }
}

/* Every subcommand the server lists for `e` is in the table's container. */
static void
expect_all_subcommands(const command_info *ci, const redisReply *e)
{
    const redisReply *subs = e->element[9];
    size_t skip = strlen(ci->name) + 1;

    cr_expect_eq(subs->elements, ci->nsubs, "%s subcommands", ci->name);
    for (size_t i = 0; i < subs->elements; i++) {
        const char *name = subs->element[i]->element[0]->str + skip;

        cr_expect_not_null(command_subcommand(ci, name, strlen(name)),
                           "table lacks '%s'",
                           subs->element[i]->element[0]->str);
    }
}

Test(command_table, every_server_command_is_in_the_table)
{
    redisReply *r = run_line("COMMAND");

    cr_assert_eq(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const char *name = e->element[0]->str;
        const command_info *ci = command_lookup(name, strlen(name));

        cr_expect_not_null(ci, "table lacks '%s'", name);
        if (ci != NULL && ci->nsubs > 0)
            expect_all_subcommands(ci, e);
    }
    cr_expect_eq(r->elements, command_count(), "server %zu, table %zu",
                 r->elements, command_count());
    freeReplyObject(r);
}

/* Commands with every kind of key layout; each key name is distinct. */
static const char *const key_samples[] = {
    "get k1",
    "set k1 v EX 10",
    "mget k1 k2 k3",
    "mset k1 v1 k2 v2 k3 v3",
    "msetnx k1 v1 k2 v2",
    "del k1 k2",
    "exists k1 k2 k3",
    "bitop AND d k1 k2",
    "blpop k1 k2 0",
    "brpoplpush k1 k2 0",
    "lcs k1 k2",
    "rename k1 k2",
    "smove k1 k2 m",
    "pfmerge d k1 k2",
    "copy k1 k2 REPLACE",
    "eval s 0",
    "eval s 2 k1 k2 a1 a2",
    "evalsha_ro s 1 k1 a1",
    "fcall f 2 k1 k2 a1",
    "zunionstore d 2 k1 k2 WEIGHTS 1 2",
    "zinterstore d 1 k1",
    "zdiffstore d 2 k1 k2",
    "zunion 2 k1 k2 WITHSCORES",
    "zintercard 2 k1 k2 LIMIT 3",
    "sintercard 2 k1 k2 LIMIT 3",
    "lmpop 2 k1 k2 LEFT COUNT 2",
    "blmpop 0 2 k1 k2 RIGHT",
    "zmpop 1 k1 MIN",
    "bzmpop 0 2 k1 k2 MAX",
    "xread COUNT 2 BLOCK 0 STREAMS k1 k2 0 0",
    "xread count 1 streams streams k1 0 0",
    "xreadgroup GROUP g c NOACK STREAMS k1 k2 > >",
    "sort k1 BY w_* LIMIT 0 10 GET # STORE d",
    "sort k1 limit store 1",
    "sort k1 store d1 store d2",
    "sort_ro k1 ALPHA",
    "georadius k1 15 37 200 km STORE d",
    "georadius k1 15 37 200 km STORE d1 STOREDIST d2",
    "georadiusbymember k1 m 200 km STOREDIST d",
    "geosearchstore d k1 FROMMEMBER m BYRADIUS 1 km",
    "object encoding k1",
    "object help",
    "memory usage k1 SAMPLES 5",
    "xinfo stream k1 FULL",
    "xinfo consumers k1 g",
    "xgroup create k1 g $ MKSTREAM",
    "xgroup help",
    "migrate h 1 k1 0 5",
    "migrate h 1 '' 0 5 AUTH pw KEYS k1 k2",
    "watch k1 k2",
};

static void
expect_keys_like_server(const char *line)
{
    const char *argv[MAXARGS + 2] = {"COMMAND", "GETKEYS"};
    size_t lens[MAXARGS + 2] = {7, 7};
    int argc = split(line, argv + 2, lens + 2);
    const command_info *ci = command_find(argc, argv + 2, lens + 2);
    int pos[MAXARGS];
    char err[256];
    int n;
    redisReply *r;

    cr_assert_not_null(ci, "%s", line);
    n = command_keys(ci, argc, argv + 2, lens + 2, pos, MAXARGS, err,
                     sizeof(err));
    cr_assert_geq(n, 0, "%s: %s", line, err);
    r = run(argc + 2, argv, lens);
    if (r->type == REDIS_REPLY_ERROR) {
        cr_expect_eq(n, 0, "%s: server says %s", line, r->str);
        freeReplyObject(r);
        return;
    }
    cr_assert_eq(r->type, REDIS_REPLY_ARRAY, "%s", line);
    cr_assert_eq((int)r->elements, n, "%s: server %zu keys, table %d", line,
                 r->elements, n);
    for (int i = 0; i < n; i++)
        cr_expect_str_eq(r->element[i]->str, argv[2 + pos[i]], "%s: key %d",
                         line, i);
    freeReplyObject(r);
}

Test(command_table, key_positions_match_command_getkeys)
{
    for (size_t i = 0; i < sizeof(key_samples) / sizeof(key_samples[0]); i++)
        expect_keys_like_server(key_samples[i]);
}

/* Malformed commands: the server's reply and ours are the same error. */
static const char *const bad_samples[] = {
    "get",
    "get a b",
    "mset a",
    "mset a b c",
    "ping a b",
    "echo",
    "eval return 3 a",
    "eval return x a",
    "eval return -1 a",
    "eval return 01 a",
    "fcall f 3 a",
    "fcall f x a",
    "fcall f -1 a",
    "zunionstore d 0 a",
    "zunionstore d 3 a",
    "zunionstore d x a",
    "zunion 0 a",
    "zintercard 3 a",
    "sintercard 0 a",
    "sintercard 3 a",
    "lmpop 2 a b",
    "lmpop 0 a left",
    "zmpop 3 a min",
    "xread streams a b c",
    "xread count 1 a b",
    "xread count 1 streams",
    "xreadgroup group g c streams a b c",
    "object foo",
    "Xinfo Bar a",
    "object encoding",
    "memory usage",
    "xgroup help x",
    "migrate 127.0.0.1 1 k 0 5 keys a b",
};

static void
expect_error_like_server(const char *line)
{
    const char *argv[MAXARGS];
    size_t lens[MAXARGS];
    int argc = split(line, argv, lens);
    const command_info *ci = command_find(argc, argv, lens);
    int pos[MAXARGS];
    char err[256];
    redisReply *r;

    cr_assert_not_null(ci, "%s", line);
    cr_assert_eq(
        command_keys(ci, argc, argv, lens, pos, MAXARGS, err, sizeof(err)), -1,
        "%s accepted", line);
    r = run(argc, argv, lens);
    cr_assert_eq(r->type, REDIS_REPLY_ERROR, "%s: server accepts it", line);
    cr_expect_str_eq(err, r->str, "%s", line);
    freeReplyObject(r);
}

Test(command_table, malformed_commands_get_the_server_message)
{
    /* FCALL checks that the function exists before its numkeys */
    const char *load[] = {"FUNCTION", "LOAD",
                          "#!lua name=t\n"
                          "redis.register_function('f', function() end)"};
    redisReply *r = run(3, load, NULL);

    cr_assert_eq(r->type, REDIS_REPLY_STRING, "FUNCTION LOAD: %s", r->str);
    freeReplyObject(r);
    for (size_t i = 0; i < sizeof(bad_samples) / sizeof(bad_samples[0]); i++)
        expect_error_like_server(bad_samples[i]);
}
