/* poolwide: the SCAN cursor and the joins of pool-wide commands, without
 * servers. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "engine.h"
#include "poolwide.h"
#include "refstr.h"

#define CURSOR_MAX (((uint64_t)1 << POOLWIDE_CURSOR_BITS) - 1)

static engine eng;
static char err[512];

static conf_server three[] = {
    {.identity = "a", .identity_len = 1, .addr = "10.0.0.1:6379"},
    {.identity = "b", .identity_len = 1, .addr = "10.0.0.2:6379"},
    {.identity = "c", .identity_len = 1, .addr = "10.0.0.3:6379"},
};

/* Where each server of a pool is reached now: the same for all here. */
static struct server live[POOLWIDE_MAX_SERVERS];

/* Fragment `f` went to `addr` (copied into a refstr, as a server's is). */
static void
went_to(fragment *f, const char *addr)
{
    char *a = refstr_new(addr);

    cr_assert_not_null(a);
    fragment_set_addr(f, a);
    refstr_drop(a);
}

static void
setup(void)
{
    for (size_t i = 0; i < POOLWIDE_MAX_SERVERS; i++)
        live[i].target.addr = "10.0.0.1:6379";
}

TestSuite(poolwide, .init = setup);

/* The cursor for `cursor` on `server`, reached where `live` says. */
static uint64_t
cursor_of(uint64_t key, size_t server, uint64_t cursor)
{
    return poolwide_cursor_make(key, server, live[server].target.addr, cursor);
}

static conf_pool
pool_of(conf_server *servers, size_t n, int db)
{
    conf_pool c = {.servers = servers, .server_count = n, .redis_db = db};
    return c;
}

static bool
read_text(uint64_t key, size_t n, const char *s, size_t *server,
          uint64_t *cursor)
{
    return poolwide_cursor_read(key, live, n, s, strlen(s), server, cursor, err,
                                sizeof(err));
}

static bool
read_value(uint64_t key, size_t n, uint64_t v, size_t *server, uint64_t *cursor)
{
    char text[32];

    snprintf(text, sizeof(text), "%" PRIu64, v);
    return read_text(key, n, text, server, cursor);
}

/* --- the cursor ----------------------------------------------------------- */

Test(poolwide, cursor_carries_the_server_in_its_high_bits)
{
    conf_pool c = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&c);
    uint64_t v = cursor_of(key, 2, 77);

    cr_expect_eq(v >> 52, 2);
    cr_expect_eq(v & CURSOR_MAX, 77);
    cr_expect_eq(cursor_of(key, 0, 0), 0, "0 is the start");
    cr_expect_neq(cursor_of(key, 1, 0), 0);
}

Test(poolwide, cursor_round_trips_every_server_and_cursor_edge)
{
    conf_pool c = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&c);
    const uint64_t cursors[] = {0, 1, 2, 12345, CURSOR_MAX - 1, CURSOR_MAX};
    size_t server;
    uint64_t cursor;

    for (size_t s = 0; s < POOLWIDE_MAX_SERVERS; s += 97) {
        for (size_t i = 0; i < sizeof(cursors) / sizeof(cursors[0]); i++) {
            uint64_t v = cursor_of(key, s, cursors[i]);
            cr_assert(
                read_value(key, POOLWIDE_MAX_SERVERS, v, &server, &cursor),
                "%zu/%" PRIu64 ": %s", s, cursors[i], err);
            cr_expect_eq(server, s);
            cr_expect_eq(cursor, cursors[i]);
        }
    }
    cr_assert(read_text(key, 3, "0", &server, &cursor));
    cr_expect_eq(server, 0);
    cr_expect_eq(cursor, 0);
}

Test(poolwide, cursor_of_a_server_beyond_the_pool_is_refused)
{
    conf_pool c = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&c);
    size_t server;
    uint64_t cursor;

    /* Well made, check and all, but for a fourth server. */
    cr_expect_not(read_value(key, 3, cursor_of(key, 3, 9), &server, &cursor));
    cr_expect(strncmp(err, "ERR invalid cursor: ", 20) == 0, "%s", err);
    cr_expect(read_value(key, 4, cursor_of(key, 3, 9), &server, &cursor));
}

Test(poolwide, a_cursor_inside_a_server_that_moved_is_refused_its_start_not)
{
    conf_pool c = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&c);
    uint64_t inside = cursor_of(key, 1, 5000), start = cursor_of(key, 1, 0);
    size_t server;
    uint64_t cursor;

    /* A Sentinel switch: server 1 is another process now. */
    live[1].target.addr = "10.0.0.9:6379";
    cr_expect_not(read_value(key, 3, inside, &server, &cursor),
                  "another process would read that server cursor");
    cr_expect(strstr(err, "a server that moved") != NULL, "%s", err);
    cr_expect(read_value(key, 3, start, &server, &cursor), "%s", err);
    cr_expect_eq(server, 1);
    cr_expect_eq(cursor, 0);
}

Test(poolwide, every_one_bit_damage_is_refused)
{
    conf_pool c = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&c);
    const uint64_t cursors[] = {1, 4096, 999999, CURSOR_MAX};
    size_t server;
    uint64_t cursor;

    for (size_t s = 0; s < 3; s++) {
        for (size_t i = 0; i < sizeof(cursors) / sizeof(cursors[0]); i++) {
            uint64_t v = cursor_of(key, s, cursors[i]);
            for (int bit = 0; bit < 64; bit++) {
                uint64_t bad = v ^ ((uint64_t)1 << bit);
                cr_expect_not(
                    bad != 0 && read_value(key, 3, bad, &server, &cursor),
                    "%" PRIu64 " (bit %d of %" PRIu64 ") passed", bad, bit, v);
            }
        }
    }
}

Test(poolwide, random_numbers_are_not_cursors)
{
    conf_pool c = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&c), x = 42;
    int accepted = 0;
    size_t server;
    uint64_t cursor;

    for (int i = 0; i < 200000; i++) {
        x ^= x << 13; /* xorshift64: the same numbers on every run */
        x ^= x >> 7;
        x ^= x << 17;
        /* On a real server of the pool: only the check can refuse it. */
        uint64_t v = (x & ~((uint64_t)0xfff << 52)) | ((x % 3) << 52);
        accepted += read_value(key, 3, v, &server, &cursor);
    }
    /* 16 check bits: about 3 in 200,000. */
    cr_expect_leq(accepted, 12, "%d random numbers passed", accepted);
}

Test(poolwide, key_changes_with_servers_addresses_order_and_db)
{
    conf_server renamed[3], moved[3], swapped[3];
    conf_pool base = pool_of(three, 3, 0);
    uint64_t key = poolwide_scan_key(&base);

    memcpy(renamed, three, sizeof(three));
    renamed[1].identity = "x";
    memcpy(moved, three, sizeof(three));
    moved[2].addr = "10.0.0.3:6380";
    swapped[0] = three[1];
    swapped[1] = three[0];
    swapped[2] = three[2];
    conf_pool other[] = {pool_of(renamed, 3, 0), pool_of(moved, 3, 0),
                         pool_of(swapped, 3, 0), pool_of(three, 2, 0),
                         pool_of(three, 3, 1)};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        cr_expect_neq(poolwide_scan_key(&other[i]), key, "config %zu", i);
    conf_pool same = pool_of(three, 3, 0);
    cr_expect_eq(poolwide_scan_key(&same), key);
    /* Fixed: a cursor from another process of the same config works. */
    cr_expect_eq(poolwide_scan_key(&same), 0xbf9f0752dd51803fULL,
                 "key %" PRIx64 " changed: old cursors would be refused",
                 poolwide_scan_key(&same));
}

Test(poolwide, only_decimal_numbers_are_cursors)
{
    const char *bad[] = {"",   "-1",  "+1",  " 1",
                         "1 ", "0x1", "1e3", "18446744073709551616"};
    size_t server;
    uint64_t cursor;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_expect_not(read_text(1, 3, bad[i], &server, &cursor), "'%s'",
                      bad[i]);
        cr_expect_str_eq(err, "ERR invalid cursor");
    }
    cr_expect_not(poolwide_cursor_read(1, live, 3, "1\0", 2, &server, &cursor,
                                       err, sizeof(err)));
}

/* --- the command table ---------------------------------------------------- */

static void
expect_join_iff_poolwide(const command_info *ci)
{
    bool poolwide = ci->route == ROUTE_POOLWIDE;

    cr_expect_eq(poolwide_join_of(ci->name) != JOIN_SINGLE, poolwide, "%s",
                 ci->name);
}

Test(poolwide, every_pool_wide_entry_of_the_table_has_a_join)
{
    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);
        if (ci->nsubs == 0)
            expect_join_iff_poolwide(ci);
        for (size_t j = 0; j < ci->nsubs; j++)
            expect_join_iff_poolwide(&ci->subs[j]);
    }
}

/* --- joins ---------------------------------------------------------------- */

static const char *const addrs[] = {"10.0.0.1:6379", "10.0.0.2:6379",
                                    "10.0.0.3:6379"};

static request *
made_request(join_kind join, const char *name, size_t nfrags)
{
    request *r = request_new(&eng, MODE_BLOCKING, nfrags);

    cr_assert_not_null(r);
    r->join = join;
    r->name = name;
    for (size_t j = 0; j < nfrags; j++) {
        r->frags[j].server = (int)j;
        went_to(&r->frags[j], addrs[j]);
    }
    return r;
}

static shard_reply *
string(const char *s)
{
    return reply_string(SHARD_REPLY_STRING, s, strlen(s));
}

static shard_reply *
strings(size_t n, const char *const *values)
{
    shard_reply *a = reply_array(n);

    for (size_t i = 0; i < n; i++)
        a->element[i] = string(values[i]);
    return a;
}

static shard_reply *
flags(size_t n, const int *values)
{
    shard_reply *a = reply_array(n);

    for (size_t i = 0; i < n; i++)
        a->element[i] = reply_integer(values[i]);
    return a;
}

static void
fail(fragment *f, int status, const char *msg)
{
    f->status = status;
    f->errmsg = strdup(msg);
}

static const char *
text(const shard_reply *r)
{
    const char *s = shard_reply_str(r, NULL);
    return s != NULL ? s : "(none)";
}

Test(poolwide, keys_are_concatenated_server_after_server)
{
    const char *a[] = {"x", "y"}, *c[] = {"z"};
    request *r = made_request(JOIN_CONCAT, "keys", 3);

    r->frags[0].reply = strings(2, a);
    r->frags[1].reply = reply_array(0);
    r->frags[2].reply = strings(1, c);
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_assert_eq(shard_reply_len(r->reply), 3);
    cr_expect_str_eq(text(shard_reply_at(r->reply, 0)), "x");
    cr_expect_str_eq(text(shard_reply_at(r->reply, 2)), "z");
    request_free(r);
}

Test(poolwide, script_exists_is_true_only_where_every_server_says_so)
{
    const int a[] = {1, 1, 0}, b[] = {1, 0, 0};
    request *r = made_request(JOIN_AND, "script|exists", 2);

    r->frags[0].reply = flags(3, a);
    r->frags[1].reply = flags(3, b);
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_assert_eq(shard_reply_len(r->reply), 3);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r->reply, 0)), 1);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r->reply, 1)), 0);
    cr_expect_eq(shard_reply_integer(shard_reply_at(r->reply, 2)), 0);
    request_free(r);
}

Test(poolwide, script_load_needs_every_server_to_agree)
{
    request *r = made_request(JOIN_SAME, "script|load", 2);

    r->frags[0].reply = string("abc");
    r->frags[1].reply = string("abd");
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR);
    cr_expect(strstr(text(r->reply), "answered differently") != NULL, "%s",
              text(r->reply));
    request_free(r);
    r = made_request(JOIN_SAME, "script|load", 2);
    r->frags[0].reply = string("abc");
    r->frags[1].reply = string("abc");
    poolwide_join(r);
    cr_expect_str_eq(text(r->reply), "abc");
    request_free(r);
}

Test(poolwide, the_same_error_everywhere_is_the_answer_verbatim)
{
    request *r = made_request(JOIN_MSET, "flushdb", 3);

    for (size_t j = 0; j < 3; j++)
        r->frags[j].reply = reply_error("ERR syntax error");
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_expect_str_eq(text(r->reply), "ERR syntax error");
    request_free(r);
}

Test(poolwide, a_failed_server_is_named_with_what_the_others_did)
{
    request *r = made_request(JOIN_SUM, "dbsize", 3);

    r->frags[0].reply = reply_integer(4);
    fail(&r->frags[1], SHARD_ECONN, "server '10.0.0.2:6379' refused");
    r->frags[2].reply = reply_integer(5);
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_expect_str_eq(text(r->reply),
                     "ERR dbsize failed on 1 of 3 servers (server "
                     "'10.0.0.2:6379' refused); the others succeeded with a "
                     "count of 9");
    request_free(r);
}

Test(poolwide, randomkey_takes_the_first_key_and_is_nil_only_when_all_are)
{
    request *r = made_request(JOIN_ANY, "randomkey", 3);

    r->frags[0].reply = reply_new(SHARD_REPLY_NIL);
    r->frags[1].reply = string("k2");
    r->frags[2].reply = string("k3");
    poolwide_join(r);
    cr_expect_str_eq(text(r->reply), "k2");
    request_free(r);
    r = made_request(JOIN_ANY, "randomkey", 2);
    r->frags[0].reply = reply_new(SHARD_REPLY_NIL);
    fail(&r->frags[1], SHARD_ETIMEDOUT, "server '10.0.0.2:6379' timed out");
    poolwide_join(r);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR,
                 "nil while a server may hold keys");
    request_free(r);
}

/* A SCAN request on `server` of three, as poolwide_send makes it. */
static request *
scan_request(size_t server, uint64_t sent, uint64_t *key)
{
    conf_pool c = pool_of(three, 3, 0);
    request *r = made_request(JOIN_SCAN, "scan", 1);

    *key = poolwide_scan_key(&c);
    r->scan = (scan_position){
        *key, server, 3,
        poolwide_cursor_make(*key, server, addrs[server], sent)};
    r->frags[0].server = (int)server;
    went_to(&r->frags[0], addrs[server]);
    return r;
}

static shard_reply *
scan_reply(const char *cursor, size_t nkeys)
{
    const char *k[] = {"a", "b", "c"};
    shard_reply *a = reply_array(2);

    a->element[0] = string(cursor);
    a->element[1] = strings(nkeys, k);
    return a;
}

static uint64_t
joined_cursor(request *r)
{
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_OK, "%s", r->errmsg);
    cr_assert_eq(shard_reply_len(r->reply), 2);
    return strtoull(text(shard_reply_at(r->reply, 0)), NULL, 10);
}

Test(poolwide, scan_cursor_moves_within_a_server_then_to_the_next)
{
    uint64_t key;
    request *r = scan_request(1, 5, &key);

    r->frags[0].reply = scan_reply("88", 3);
    cr_expect_eq(joined_cursor(r), poolwide_cursor_make(key, 1, addrs[1], 88));
    cr_expect_eq(shard_reply_len(shard_reply_at(r->reply, 1)), 3);
    request_free(r);
    r = scan_request(1, 88, &key);
    r->frags[0].reply = scan_reply("0", 1);
    cr_expect_eq(joined_cursor(r), cursor_of(key, 2, 0));
    request_free(r);
    r = scan_request(2, 7, &key);
    r->frags[0].reply = scan_reply("0", 0);
    cr_expect_eq(joined_cursor(r), 0, "the last server is done: the end");
    request_free(r);
}

Test(poolwide, scan_failure_gives_cursors_to_resume_and_to_skip)
{
    uint64_t key;
    request *r = scan_request(1, 40, &key);
    char want[128];

    fail(&r->frags[0], SHARD_ETIMEDOUT, "server '10.0.0.2:6379' timed out");
    poolwide_join(r);
    cr_assert_eq(r->status, SHARD_ETIMEDOUT);
    cr_expect(strstr(r->errmsg, "at server '10.0.0.2:6379', 2 of 3") != NULL,
              "%s", r->errmsg);
    snprintf(want, sizeof(want),
             "send cursor %" PRIu64 " again to resume there, or %" PRIu64
             " to skip that server",
             poolwide_cursor_make(key, 1, addrs[1], 40), cursor_of(key, 2, 0));
    cr_expect(strstr(r->errmsg, want) != NULL, "%s", r->errmsg);
    request_free(r);
}

Test(poolwide, scan_refuses_replies_it_cannot_carry)
{
    char big[32];
    uint64_t key;

    snprintf(big, sizeof(big), "%" PRIu64, CURSOR_MAX + 1);
    const char *cursors[] = {big, "x", "-3"};
    for (size_t i = 0; i < sizeof(cursors) / sizeof(cursors[0]); i++) {
        request *r = scan_request(0, 0, &key);
        r->frags[0].reply = scan_reply(cursors[i], 1);
        poolwide_join(r);
        cr_expect_eq(r->status, SHARD_EPROTO, "%s", cursors[i]);
        cr_expect_null(r->reply);
        request_free(r);
    }
    request *r = scan_request(0, 0, &key);
    r->frags[0].reply = string("not an array");
    poolwide_join(r);
    cr_expect_eq(r->status, SHARD_EPROTO);
    request_free(r);
    r = scan_request(0, 0, &key);
    r->frags[0].reply = reply_error("LOADING Redis is loading");
    poolwide_join(r);
    cr_expect_str_eq(text(r->reply), "LOADING Redis is loading",
                     "a server's error is its own");
    request_free(r);
}
