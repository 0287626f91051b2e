/* sentinel_msg: Sentinel's replies and +switch-master messages, read. */
#include <criterion/criterion.h>
#include <string.h>

#include "sentinel_msg.h"

static bool
read_switch(const char *text, sentinel_addr *from, sentinel_addr *to,
            char *name, size_t namemax)
{
    const char *n;
    size_t len;

    if (!sentinel_read_switch(text, strlen(text), &n, &len, from, to))
        return false;
    cr_assert_lt(len, namemax);
    memcpy(name, n, len);
    name[len] = '\0';
    return true;
}

Test(sentinel_msg, a_switch_gives_name_and_both_addresses)
{
    sentinel_addr from, to;
    char name[64];

    cr_assert(read_switch("shard-a 127.0.0.1 7001 ::1 7002", &from, &to, name,
                          sizeof(name)));
    cr_expect_str_eq(name, "shard-a");
    cr_expect_str_eq(from.host, "127.0.0.1");
    cr_expect_eq(from.port, 7001);
    cr_expect_str_eq(to.host, "::1");
    cr_expect_eq(to.port, 7002);
}

Test(sentinel_msg, a_switch_of_another_shape_is_ignored)
{
    static const char *const bad[] = {
        "",
        "m 127.0.0.1 7001 127.0.0.1",         /* four fields */
        "m 127.0.0.1 7001 127.0.0.1 7002 x",  /* six */
        "m 127.0.0.1 7001 127.0.0.1 7002 ",   /* a trailing blank */
        "m  127.0.0.1 7001 127.0.0.1 7002",   /* two blanks */
        "m 127.0.0.1 7001 127.0.0.1 0",       /* port 0 */
        "m 127.0.0.1 7001 127.0.0.1 65536",   /* past 65535 */
        "m 127.0.0.1 7001 127.0.0.1 -7002",   /* a sign */
        "m 127.0.0.1 7001 127.0.0.1 7002abc", /* not a number */
        "m 127.0.0.1 7001 127.0.0.1 99999999999999999999", /* overflow */
        "m 127.0.0.1 x 127.0.0.1 7002",                    /* old port */
    };
    sentinel_addr from, to;
    char name[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_not(read_switch(bad[i], &from, &to, name, sizeof(name)),
                      "accepted \"%s\"", bad[i]);
}

Test(sentinel_msg, hosts_are_plain_and_bounded)
{
    char host[300];
    sentinel_addr at;

    cr_expect(sentinel_read_addr("10.0.0.1", 8, "6379", 4, &at));
    cr_expect_str_eq(at.host, "10.0.0.1");
    cr_expect_not(sentinel_read_addr("", 0, "6379", 4, &at));
    cr_expect_not(sentinel_read_addr("a\tb", 3, "6379", 4, &at));
    cr_expect_not(sentinel_read_addr("a\0b", 3, "6379", 4, &at), "a NUL");
    memset(host, 'h', sizeof(host));
    cr_expect(sentinel_read_addr(host, 255, "1", 1, &at));
    cr_expect_eq(strlen(at.host), 255);
    cr_expect_not(sentinel_read_addr(host, 256, "1", 1, &at), "too long");
    cr_expect(sentinel_read_addr("h", 1, "65535", 5, &at));
    cr_expect_not(sentinel_read_addr("h", 1, "065535", 6, &at));
}

Test(sentinel_msg, the_master_reply_is_a_pair_of_strings)
{
    shard_reply *r = reply_array(2);
    sentinel_addr at;

    r->element[0] = reply_string(SHARD_REPLY_STRING, "127.0.0.1", 9);
    r->element[1] = reply_string(SHARD_REPLY_STRING, "6380", 4);
    cr_assert(sentinel_read_master_reply(r, &at));
    cr_expect_str_eq(at.host, "127.0.0.1");
    cr_expect_eq(at.port, 6380);
    shard_reply_free(r->element[1]);
    r->element[1] = reply_integer(6380);
    cr_expect_not(sentinel_read_master_reply(r, &at), "a port as an integer");
    shard_reply_free(r);
    r = reply_new(SHARD_REPLY_NIL);
    cr_expect_not(sentinel_read_master_reply(r, &at), "an unknown master");
    shard_reply_free(r);
    cr_expect_not(sentinel_read_master_reply(NULL, &at));
}
