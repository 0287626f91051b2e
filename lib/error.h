/* Error messages: per-pool buffers and the thread-local last error. */
#ifndef SHARD_LIB_ERROR_H
#define SHARD_LIB_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Room for one message; longer ones are cut. */
#define ERROR_MAX 512

/* Formats into the calling thread's shard_last_error() buffer; returns code. */
int error_set_last(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Copies `msg` into the thread's last-error buffer. */
void error_set_last_msg(const char *msg);

/* snprintf that never fails the caller: truncates, always terminates. */
void error_format(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
