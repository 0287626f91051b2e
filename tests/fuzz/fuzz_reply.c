/*
 * Replies: arbitrary bytes from a server through hiredis' reader, which
 * builds libshard's reply objects with reply.c's functions, as a Redis
 * connection does. Every reply is read back through the public accessors,
 * deep-copied (as the MGET join copies an error), measured (as the stats
 * count it), and released through the reader's own free function, kept
 * or not, as hiredis' async code does after a callback. Sentinel's
 * readers (sentinel_msg.c) read each one as a master's address and each
 * string as a +switch-master message.
 *
 * Input: one byte, the size of the pieces the rest is fed in (0: at once),
 * as a socket delivers a reply in pieces; then the bytes.
 */
#include <hiredis/hiredis.h>
#include <string.h>

#include "fuzz.h"
#include "request.h" /* lib/reply.h: "reply.h" would be <shard/reply.h> */
#include "sentinel_msg.h"

static bool
same_reply(const shard_reply *a, const shard_reply *b)
{
    if (a->type != b->type || a->integer != b->integer || a->len != b->len ||
        a->elements != b->elements)
        return false;
    if ((a->str == NULL) != (b->str == NULL) ||
        (a->str != NULL && memcmp(a->str, b->str, a->len + 1) != 0))
        return false;
    for (size_t i = 0; i < a->elements; i++) {
        if (!same_reply(a->element[i], b->element[i]))
            return false;
    }
    return true;
}

static void
check_addr(const sentinel_addr *a)
{
    size_t len = strlen(a->host);

    FUZZ_CHECK(len > 0 && len < sizeof(a->host), "a host of %zu bytes", len);
    for (size_t i = 0; i < len; i++)
        FUZZ_CHECK((unsigned char)a->host[i] > ' ' && a->host[i] != 0x7f,
                   "a blank or control character in a host");
    FUZZ_CHECK(a->port >= 1 && a->port <= 65535, "port %d", a->port);
}

/* Sentinel's readers on any reply: what they accept is well formed. */
static void
read_as_sentinel(const shard_reply *r)
{
    sentinel_addr at, from, to;
    const char *name;
    size_t namelen;

    if (sentinel_read_master_reply(r, &at))
        check_addr(&at);
    if (r->str == NULL ||
        !sentinel_read_switch(r->str, r->len, &name, &namelen, &from, &to))
        return;
    FUZZ_CHECK(name == r->str && namelen > 0 && namelen < r->len,
               "a name outside the message");
    FUZZ_CHECK(memchr(name, ' ', namelen) == NULL, "a blank in the name");
    check_addr(&from);
    check_addr(&to);
}

/* What happens to a reply in libshard: kept by the engine (the reader's
 * free leaves it), read, copied, freed; the copy freed by the reader. */
static void
use_reply(redisReader *reader, shard_reply *r)
{
    r->kept = true;
    reader->fn->freeObject(r);
    fuzz_check_reply(r);
    read_as_sentinel(r);
    for (size_t i = 0; i < r->elements; i++)
        read_as_sentinel(r->element[i]);
    FUZZ_CHECK(reply_resp_size(r) >= 3, "a reply of %zu bytes",
               reply_resp_size(r)); /* what the stats count */
    shard_reply *copy = reply_copy(r);
    FUZZ_CHECK(copy != NULL, "copy failed");
    FUZZ_CHECK(same_reply(r, copy), "copy differs");
    reader->fn->freeObject(copy);
    shard_reply_free(r);
}

/* Takes every complete reply; false once the reader failed. */
static bool
drain(redisReader *reader)
{
    void *r;

    for (;;) {
        if (redisReaderGetReply(reader, &r) != REDIS_OK) {
            FUZZ_CHECK(reader->err != 0 && reader->errstr[0] != '\0',
                       "reader failed without a reason");
            return false;
        }
        if (r == NULL)
            return true;
        use_reply(reader, r);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in = {data, size};
    size_t piece = fuzz_byte(&in);
    redisReader *reader = redisReaderCreateWithFunctions(
        (redisReplyObjectFunctions *)reply_reader_functions());

    FUZZ_CHECK(reader != NULL, "no reader");
    if (piece == 0)
        piece = in.len > 0 ? in.len : 1;
    while (in.len > 0) {
        size_t n = in.len < piece ? in.len : piece;
        if (redisReaderFeed(reader, (const char *)in.data, n) != REDIS_OK ||
            !drain(reader))
            break;
        in.data += n;
        in.len -= n;
    }
    redisReaderFree(reader);
    return 0;
}
