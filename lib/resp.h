/* RESP encoding of a command: "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n". */
#ifndef SHARD_LIB_RESP_H
#define SHARD_LIB_RESP_H

#include <stddef.h>

/* A reusable output buffer: grown as needed, never shrunk. */
typedef struct resp_buf {
    char *data; /* the last encoding; NULL until the first */
    size_t cap; /* allocated bytes */
} resp_buf;

/*
 * Encodes argv (`argvlen[i]` bytes each) into `b`. Returns the length of
 * the encoding at b->data, or 0 when out of memory (b is then unchanged).
 * Valid until the next call on `b`.
 */
size_t resp_format(resp_buf *b, int argc, const char **argv,
                   const size_t *argvlen);

/* Frees the buffer's memory; `b` may be reused afterwards. */
void resp_buf_free(resp_buf *b);

#endif
