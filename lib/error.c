/* Error codes to text, and the per-thread message for calls without a pool. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <shard/common.h>
#include <shard/version.h>

#include "error.h"

static _Thread_local char last_error[ERROR_MAX];

SHARD_API const char *
shard_strerror(int code)
{
    switch (code) {
    case SHARD_OK:
        return "success";
    case SHARD_EINVAL:
        return "invalid argument";
    case SHARD_ENOMEM:
        return "out of memory";
    case SHARD_ECONFIG:
        return "invalid configuration";
    case SHARD_ENOPOOL:
        return "no such pool in the configuration";
    case SHARD_EIO:
        return "input/output error";
    case SHARD_ETIMEDOUT:
        return "server timed out";
    case SHARD_ECONN:
        return "server connection failed";
    case SHARD_ENOSERVER:
        return "no live server in the pool";
    case SHARD_EPROTO:
        return "protocol error";
    case SHARD_ECLOSED:
        return "pool closed";
    case SHARD_EUNSUPPORTED:
        return "not supported by this pool";
    case SHARD_ESTATE:
        return "not valid in the current state";
    case SHARD_ESERVER:
        return "the server answered with an error";
    default:
        return "unknown error";
    }
}

SHARD_API const char *
shard_last_error(void)
{
    return last_error;
}

SHARD_API const char *
shard_version(void)
{
    return SHARD_VERSION_STRING;
}

void
error_format(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (len == 0)
        return;
    va_start(ap, fmt);
    if (vsnprintf(buf, len, fmt, ap) < 0)
        buf[0] = '\0';
    va_end(ap);
}

int
error_set_last(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(last_error, sizeof(last_error), fmt, ap) < 0)
        last_error[0] = '\0';
    va_end(ap);
    return code;
}

void
error_set_last_msg(const char *msg)
{
    error_format(last_error, sizeof(last_error), "%s", msg);
}
