/* reply: libshard's reply objects as hiredis' reader builds them. */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <string.h>

#include "request.h" /* lib/reply.h: "reply.h" would be <shard/reply.h> */

static redisReader *
reader_new(void)
{
    redisReader *rd = redisReaderCreateWithFunctions(reply_reader_functions());

    cr_assert_not_null(rd);
    return rd;
}

/* Feeds `resp` and returns the one complete reply it makes. */
static shard_reply *
read_one(redisReader *rd, const char *resp)
{
    void *out = NULL;

    cr_assert_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(rd, &out), REDIS_OK, "%s", rd->errstr);
    cr_assert_not_null(out);
    return out;
}

Test(reply, announced_array_length_costs_nothing_until_items_arrive)
{
    redisReader *rd = reader_new();
    static const char resp[] = "*1000000000\r\n:1\r\n:2\r\n";
    void *out = NULL;

    cr_assert_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(rd, &out), REDIS_OK, "%s", rd->errstr);
    cr_assert_null(out);
    /* The array being read: room for the items that came, not a billion
     * pointers (8 GB) allocated at once. */
    const shard_reply *partial = rd->reply;
    cr_assert_not_null(partial);
    cr_expect_eq(partial->elements, 1000000000);
    cr_expect_leq(partial->room, 8);
    cr_expect_eq(partial->element[1]->integer, 2);
    redisReaderFree(rd); /* frees the partial array */
}

Test(reply, array_grown_item_by_item_reads_back_whole)
{
    redisReader *rd = reader_new();
    char resp[512] = "*20\r\n";

    for (int i = 0; i < 20; i++)
        snprintf(resp + strlen(resp), sizeof(resp) - strlen(resp), ":%d\r\n",
                 i);
    shard_reply *r = read_one(rd, resp);
    cr_assert_eq(shard_reply_len(r), 20);
    cr_expect_eq(r->room, 20);
    for (size_t i = 0; i < 20; i++)
        cr_expect_eq(shard_reply_integer(shard_reply_at(r, i)), (long long)i);
    cr_expect_null(shard_reply_at(r, 20));
    shard_reply *copy = reply_copy(r);
    cr_expect_eq(shard_reply_integer(shard_reply_at(copy, 19)), 19);
    shard_reply_free(copy);
    shard_reply_free(r);
    redisReaderFree(rd);
}

Test(reply, nested_and_empty_arrays_read_back)
{
    redisReader *rd = reader_new();
    shard_reply *r =
        read_one(rd, "*3\r\n*2\r\n$1\r\na\r\n$-1\r\n*0\r\n+OK\r\n");

    cr_assert_eq(shard_reply_len(r), 3);
    const shard_reply *inner = shard_reply_at(r, 0);
    cr_expect_str_eq(shard_reply_str(shard_reply_at(inner, 0), NULL), "a");
    cr_expect_eq(shard_reply_type(shard_reply_at(inner, 1)), SHARD_REPLY_NIL);
    cr_expect_eq(shard_reply_len(shard_reply_at(r, 1)), 0);
    cr_expect_null(shard_reply_at(shard_reply_at(r, 1), 0));
    cr_expect_str_eq(shard_reply_str(shard_reply_at(r, 2), NULL), "OK");
    shard_reply_free(r);
    redisReaderFree(rd);
}

Test(reply, array_cut_by_a_protocol_error_is_freed)
{
    redisReader *rd = reader_new();
    static const char resp[] = "*5\r\n:1\r\n$1\r\nx\r\n?bad\r\n";
    void *out = NULL;

    cr_assert_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    cr_expect_eq(redisReaderGetReply(rd, &out), REDIS_ERR);
    cr_expect_null(out);
    redisReaderFree(rd); /* LeakSanitizer checks the partial array went */
}
