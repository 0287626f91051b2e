/* mc_command: memcached words, key rules and sizes, without servers. */
#include <criterion/criterion.h>
#include <string.h>

#include "mc_command.h"

static char err[512];

/* Parses a NULL-terminated list of C strings. */
static int
parse(mc_cmd *cmd, const char **words)
{
    static size_t lens[32];
    int argc = 0;

    while (words[argc] != NULL) {
        lens[argc] = strlen(words[argc]);
        argc++;
    }
    err[0] = '\0';
    return mc_parse(cmd, argc, words, lens, false, err, sizeof(err));
}

Test(mc_command, every_twemproxy_command_parses)
{
    static const char *cmds[][8] = {
        {"get", "a", NULL},
        {"get", "a", "b", "c", NULL},
        {"gets", "a", "b", NULL},
        {"set", "k", "0", "0", "v", NULL},
        {"add", "k", "1", "60", "v", NULL},
        {"replace", "k", "0", "0", "v", NULL},
        {"append", "k", "0", "0", "v", NULL},
        {"prepend", "k", "0", "0", "v", NULL},
        {"cas", "k", "0", "0", "v", "42", NULL},
        {"incr", "k", "5", NULL},
        {"decr", "k", "5", NULL},
        {"touch", "k", "10", NULL},
        {"delete", "k", NULL},
        {"version", NULL},
    };
    mc_cmd cmd;

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        cr_expect_eq(parse(&cmd, cmds[i]), 0, "%s: %s", cmds[i][0], err);
}

Test(mc_command, fields_are_read_where_memcached_has_them)
{
    const char *cas[] = {"cas", "key", "7", "3600", "value", "99", NULL};
    const char *incr[] = {"incr", "n", "18446744073709551615", NULL};
    mc_cmd cmd;
    size_t len;

    cr_assert_eq(parse(&cmd, cas), 0, "%s", err);
    cr_expect_eq(cmd.op, MC_CAS);
    cr_expect_eq(cmd.flags, 7);
    cr_expect_eq(cmd.exptime, 3600);
    cr_expect_eq(cmd.number, 99);
    cr_expect_eq(cmd.nkeys, 1);
    cr_expect_eq(memcmp(mc_key(&cmd, 0, &len), "key", 3), 0);
    cr_expect_eq(memcmp(mc_value(&cmd, 0, &len), "value", 5), 0);
    cr_expect_eq(len, 5);
    cr_assert_eq(parse(&cmd, incr), 0, "%s", err);
    cr_expect_eq(cmd.number, UINT64_MAX);
    cr_expect_null(mc_value(&cmd, 0, &len));
}

Test(mc_command, mset_pairs_keys_with_their_values)
{
    const char *mset[] = {"mset", "0", "10", "a", "1", "bb", "22", NULL};
    mc_cmd cmd;
    size_t len;

    cr_assert_eq(parse(&cmd, mset), 0, "%s", err);
    cr_expect_eq(cmd.nkeys, 2);
    cr_expect_eq(cmd.exptime, 10);
    cr_expect_eq(memcmp(mc_key(&cmd, 1, &len), "bb", 2), 0);
    cr_expect_eq(memcmp(mc_value(&cmd, 1, &len), "22", 2), 0);
    const char *odd[] = {"mset", "0", "10", "a", "1", "b", NULL};
    cr_expect_neq(parse(&cmd, odd), 0);
}

Test(mc_command, names_are_lower_case_as_twemproxy_reads_them)
{
    const char *upper[] = {"GET", "a", NULL};
    const char *stats[] = {"stats", NULL};
    mc_cmd cmd;

    cr_expect_neq(parse(&cmd, upper), 0);
    cr_expect(strstr(err, "unknown memcached command 'GET'") != NULL, "%s",
              err);
    cr_expect_neq(parse(&cmd, stats), 0);
}

Test(mc_command, wrong_arity_says_the_usage)
{
    const char *set[] = {"set", "k", "0", "v", NULL};
    const char *del[] = {"delete", "k", "0", NULL};
    const char *get[] = {"get", NULL};
    mc_cmd cmd;

    cr_expect_neq(parse(&cmd, set), 0);
    cr_expect(strstr(err, "set key flags exptime value") != NULL, "%s", err);
    /* twemproxy rejects delete's time argument */
    cr_expect_neq(parse(&cmd, del), 0);
    cr_expect_neq(parse(&cmd, get), 0);
}

Test(mc_command, numbers_are_decimal_digits_in_range)
{
    const char *neg[] = {"set", "k", "-1", "0", "v", NULL};
    const char *big[] = {"set", "k", "4294967296", "0", "v", NULL};
    const char *ok[] = {"set", "k", "4294967295", "0", "v", NULL};
    const char *hex[] = {"incr", "k", "0x10", NULL};
    mc_cmd cmd;

    cr_expect_neq(parse(&cmd, neg), 0);
    cr_expect_neq(parse(&cmd, big), 0);
    cr_expect(strstr(err, "flags") != NULL, "%s", err);
    cr_expect_eq(parse(&cmd, ok), 0, "%s", err);
    cr_expect_neq(parse(&cmd, hex), 0);
}

Test(mc_command, keys_are_1_to_250_bytes_without_spaces_or_controls)
{
    char key[252];
    mc_cmd cmd;

    memset(key, 'k', sizeof(key));
    cr_expect_eq(mc_key_check(key, 250, "key", err, sizeof(err)), 0);
    cr_expect_neq(mc_key_check(key, 251, "key", err, sizeof(err)), 0);
    cr_expect(strstr(err, "251 bytes") != NULL, "%s", err);
    cr_expect_neq(mc_key_check(key, 0, "key", err, sizeof(err)), 0);
    cr_expect_neq(mc_key_check("a b", 3, "key", err, sizeof(err)), 0);
    cr_expect(strstr(err, "a space") != NULL, "%s", err);
    cr_expect_neq(mc_key_check("a\nb", 3, "key", err, sizeof(err)), 0);
    cr_expect(strstr(err, "control character") != NULL, "%s", err);
    cr_expect_neq(mc_key_check("a\x7f", 2, "key", err, sizeof(err)), 0);
    cr_expect_neq(mc_key_check("a\0b", 3, "key", err, sizeof(err)), 0);
    /* UTF-8 is fine: memcached only splits on spaces */
    cr_expect_eq(mc_key_check("\xc3\xa9t\xc3\xa9", 5, "key", err, sizeof(err)),
                 0);
    const char *get[] = {"get", "ok", "not ok", NULL};
    cr_expect_neq(parse(&cmd, get), 0);
    cr_expect(strstr(err, "key 2 of 'get'") != NULL, "%s", err);
}

/* Measured against memcached 1.6.18 -I 1m (cas on): the largest value
 * it stored under keys of 1, 100 and 250 bytes. */
Test(mc_command, value_max_is_what_memcached_stores)
{
    cr_expect_eq(mc_value_max(1048576, true, 1, 0), 1048516);
    cr_expect_eq(mc_value_max(1048576, true, 100, 0), 1048417);
    cr_expect_eq(mc_value_max(1048576, true, 250, 0), 1048267);
    cr_expect_eq(mc_value_max(1048576, true, 1, 5), 1048512);
    cr_expect_eq(mc_value_max(1048576, false, 1, 0), 1048524);
    cr_expect_eq(mc_value_max(40, true, 1, 0), 0);
}

Test(mc_command, long_ttls_become_unix_times)
{
    cr_expect_eq(mc_exptime(0, 1700000000), 0);
    cr_expect_eq(mc_exptime(60, 1700000000), 60);
    cr_expect_eq(mc_exptime(2592000, 1700000000), 2592000);
    cr_expect_eq(mc_exptime(2592001, 1700000000), 1700000000LL + 2592001);
}

Test(mc_command, ttls_past_2038_stop_at_memcacheds_last_exptime)
{
    /* memcached refuses an exptime over INT32_MAX ("bad command line") */
    cr_expect_eq(mc_exptime(UINT32_MAX, 1700000000), INT32_MAX);
    cr_expect_eq(mc_exptime(INT32_MAX - 1700000000u, 1700000000), INT32_MAX);
    cr_expect_eq(mc_exptime(INT32_MAX - 1700000001u, 1700000000),
                 INT32_MAX - 1);
}

Test(mc_command, request_bytes_count_the_wire)
{
    const char *get[] = {"get", "a", "bcd", NULL};
    const char *set[] = {"set", "key", "0", "60", "hello", NULL};
    mc_cmd cmd;

    cr_assert_eq(parse(&cmd, get), 0);
    cr_expect_eq(mc_request_bytes(&cmd), strlen("get a bcd\r\n"));
    cr_assert_eq(parse(&cmd, set), 0);
    cr_expect_eq(mc_request_bytes(&cmd), strlen("set key 0 60 5\r\nhello\r\n"));
}
