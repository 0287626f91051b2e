/* The pool's log callback: the library itself never prints. */
#include <stdarg.h>
#include <stdio.h>

#include "error.h"
#include "log.h"

void
log_emit(const shard_options *opts, int level, const char *fmt, ...)
{
    char message[ERROR_MAX];
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(message, sizeof(message), fmt, ap) < 0)
        message[0] = '\0';
    va_end(ap);
    opts->log_fn(level, message, opts->log_userdata);
}
