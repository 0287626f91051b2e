/* fanout: joining per-server replies, without servers. */
#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>

#include "engine.h"
#include "fanout.h"
#include "refstr.h"

static engine eng;

/* A finished request over `nfrags` fragments, keys mapped by key_frag. */
/* Fragment `f` went to `addr` (copied into a refstr, as a server's is). */
static void
went_to(fragment *f, const char *addr)
{
    char *a = refstr_new(addr);

    cr_assert_not_null(a);
    fragment_set_addr(f, a);
    refstr_drop(a);
}

static request *
made_request(join_kind join, size_t nfrags, const int *key_frag, size_t nkeys)
{
    request *r = request_new(&eng, MODE_BLOCKING, nfrags);

    cr_assert_not_null(r);
    r->join = join;
    r->name = "mget";
    r->nkeys = nkeys;
    r->key_frag = malloc(nkeys * sizeof(int));
    memcpy(r->key_frag, key_frag, nkeys * sizeof(int));
    for (size_t j = 0; j < nfrags; j++) {
        r->frags[j].server = (int)j;
        went_to(&r->frags[j], j == 0 ? "10.0.0.1:6379" : "10.0.0.2:6379");
    }
    return r;
}

static shard_reply *
strings(size_t n, const char **values)
{
    shard_reply *a = reply_array(n);
    for (size_t i = 0; i < n; i++)
        a->element[i] = values[i] ? reply_string(SHARD_REPLY_STRING, values[i],
                                                 strlen(values[i]))
                                  : reply_new(SHARD_REPLY_NIL);
    return a;
}

static void
fail(fragment *f, int status, const char *msg)
{
    f->status = status;
    f->errmsg = strdup(msg);
}

Test(fanout, mget_values_follow_request_order)
{
    int key_frag[] = {1, 0, 1, 0, 1};
    const char *s0[] = {"b", NULL}, *s1[] = {"a", "c", "a"};
    request *r = made_request(JOIN_MGET, 2, key_frag, 5);

    r->frags[0].reply = strings(2, s0);
    r->frags[1].reply = strings(3, s1);
    fanout_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    const char *want[] = {"a", "b", "c", NULL, "a"};
    for (size_t i = 0; i < 5; i++) {
        const shard_reply *e = shard_reply_at(r->reply, i);
        if (want[i] == NULL)
            cr_expect_eq(shard_reply_type(e), SHARD_REPLY_NIL);
        else
            cr_expect_str_eq(shard_reply_str(e, NULL), want[i]);
    }
    request_free(r);
}

Test(fanout, mget_failed_server_gives_errors_for_its_keys_only)
{
    int key_frag[] = {0, 1, 0};
    const char *s0[] = {"x", "z"};
    request *r = made_request(JOIN_MGET, 2, key_frag, 3);

    r->frags[0].reply = strings(2, s0);
    fail(&r->frags[1], SHARD_ETIMEDOUT,
         "server '10.0.0.2:6379' timed out after 400 ms");
    fanout_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r->reply, 0), NULL), "x");
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r->reply, 2), NULL), "z");
    const shard_reply *e = shard_reply_at(r->reply, 1);
    cr_expect_eq(shard_reply_type(e), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(e, NULL), "10.0.0.2:6379 ") ||
              strstr(shard_reply_str(e, NULL), "'10.0.0.2:6379'"));
    request_free(r);
}

Test(fanout, mget_error_reply_is_copied_to_each_key_of_that_server)
{
    int key_frag[] = {0, 0, 1};
    const char *s1[] = {"v"};
    request *r = made_request(JOIN_MGET, 2, key_frag, 3);

    r->frags[0].reply = reply_error("NOAUTH Authentication required.");
    r->frags[1].reply = strings(1, s1);
    fanout_join(r);
    for (size_t i = 0; i < 2; i++)
        cr_expect_str_eq(shard_reply_str(shard_reply_at(r->reply, i), NULL),
                         "NOAUTH Authentication required.");
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r->reply, 2), NULL), "v");
    request_free(r);
}

Test(fanout, mget_short_array_is_an_error_not_a_crash)
{
    int key_frag[] = {0, 0};
    const char *s0[] = {"only"};
    request *r = made_request(JOIN_MGET, 1, key_frag, 2);

    r->frags[0].reply = strings(1, s0);
    fanout_join(r);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r->reply, 0), NULL),
                     "only");
    cr_expect_eq(shard_reply_type(shard_reply_at(r->reply, 1)),
                 SHARD_REPLY_ERROR);
    request_free(r);
}

Test(fanout, sum_adds_integers_and_names_failed_servers)
{
    int key_frag[] = {0, 1};
    request *r = made_request(JOIN_SUM, 2, key_frag, 2);

    r->name = "del";
    r->frags[0].reply = reply_integer(3);
    r->frags[1].reply = reply_integer(4);
    fanout_join(r);
    cr_expect_eq(shard_reply_integer(r->reply), 7);
    request_free(r);

    r = made_request(JOIN_SUM, 2, key_frag, 2);
    r->name = "del";
    r->frags[0].reply = reply_integer(3);
    fail(&r->frags[1], SHARD_ECONN,
         "server '10.0.0.2:6379' closed the "
         "connection");
    fanout_join(r);
    const char *s = shard_reply_str(r->reply, NULL);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR);
    cr_expect(strstr(s, "del failed on 1 of 2 servers") != NULL, "%s", s);
    cr_expect(strstr(s, "10.0.0.2:6379") != NULL, "%s", s);
    cr_expect(strstr(s, "count of 3") != NULL, "%s", s);
    request_free(r);
}

/* Every server answered, none as the command wants: no "others". */
Test(fanout, a_sum_every_server_answered_wrongly_names_no_others)
{
    int key_frag[] = {0, 1};
    request *r = made_request(JOIN_SUM, 2, key_frag, 2);

    r->name = "del";
    r->frags[0].reply = reply_string(SHARD_REPLY_STRING, "x", 1);
    r->frags[1].reply = reply_string(SHARD_REPLY_STATUS, "OK", 2);
    fanout_join(r);
    const char *s = shard_reply_str(r->reply, NULL);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR);
    cr_expect(strstr(s, "del failed on 2 of 2 servers") != NULL, "%s", s);
    cr_expect(strstr(s, "others") == NULL, "%s", s);
    request_free(r);
}

Test(fanout, sum_past_64_bits_is_an_error_not_undefined_behaviour)
{
    int key_frag[] = {0, 1, 0};
    request *r = made_request(JOIN_SUM, 2, key_frag, 3);

    r->name = "exists";
    r->frags[0].reply = reply_integer(LLONG_MAX);
    r->frags[1].reply = reply_integer(1);
    fanout_join(r);
    cr_assert_eq(r->status, SHARD_OK);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(r->reply, NULL), "exists") != NULL);
    request_free(r);

    r = made_request(JOIN_SUM, 2, key_frag, 3);
    r->frags[0].reply = reply_integer(LLONG_MIN);
    r->frags[1].reply = reply_integer(-1);
    fanout_join(r);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR);
    request_free(r);
}

Test(fanout, mset_is_ok_only_when_every_part_is)
{
    int key_frag[] = {0, 1};
    request *r = made_request(JOIN_MSET, 2, key_frag, 2);

    r->name = "mset";
    r->frags[0].reply = reply_string(SHARD_REPLY_STATUS, "OK", 2);
    r->frags[1].reply = reply_string(SHARD_REPLY_STATUS, "OK", 2);
    fanout_join(r);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_STATUS);
    request_free(r);

    r = made_request(JOIN_MSET, 2, key_frag, 2);
    r->name = "mset";
    r->frags[0].reply = reply_string(SHARD_REPLY_STATUS, "OK", 2);
    r->frags[1].reply = reply_error("OOM command not allowed");
    fanout_join(r);
    cr_expect_eq(shard_reply_type(r->reply), SHARD_REPLY_ERROR);
    cr_expect(strstr(shard_reply_str(r->reply, NULL), "OOM") != NULL);
    request_free(r);
}

Test(fanout, single_failure_becomes_the_request_status)
{
    int key_frag[] = {0};
    request *r = made_request(JOIN_SINGLE, 1, key_frag, 1);

    fail(&r->frags[0], SHARD_ETIMEDOUT, "server 'x' timed out after 5 ms");
    fanout_join(r);
    cr_expect_eq(r->status, SHARD_ETIMEDOUT);
    cr_expect_str_eq(r->errmsg, "server 'x' timed out after 5 ms");
    cr_expect_null(r->reply);
    request_free(r);
}
