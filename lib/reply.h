/* shard_reply: built directly by hiredis' reader, or by libshard itself. */
#ifndef SHARD_LIB_REPLY_H
#define SHARD_LIB_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include <shard/reply.h>

/*
 * The first six fields have redisReply's layout: hiredis' async code reads
 * the objects our reader functions build as redisReply (reply.c checks
 * the layout at compile time).
 */
struct shard_reply {
    int type;                     /* SHARD_REPLY_* */
    long long integer;            /* INTEGER */
    size_t len;                   /* length of str */
    char *str;                    /* STRING, STATUS, ERROR; NUL-terminated */
    size_t elements;              /* ARRAY length */
    struct shard_reply **element; /* ARRAY items; a moved-out item is NULL */
    bool kept;                    /* taken by the engine: hiredis keeps off */
    size_t room;                  /* ARRAY: slots allocated in element; the
                                     reader grows it as items arrive, so
                                     that it is `elements` once complete */
};

/* Reader functions for a hiredis context (struct redisReplyObjectFunctions). */
void *reply_reader_functions(void);

shard_reply *reply_new(int type);
shard_reply *reply_string(int type, const char *s, size_t len);
shard_reply *reply_integer(long long value);
shard_reply *reply_array(size_t elements);
/* An ERROR reply with printf-style text ("ERR ..."). */
shard_reply *reply_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/* A deep copy (for an error shared by several keys). */
shard_reply *reply_copy(const shard_reply *r);

/* How many bytes `r` took in RESP2, as a server sent it. */
size_t reply_resp_size(const shard_reply *r);

#endif
