/* Logging through the application's callback: one `if` when it is off. */
#ifndef SHARD_LIB_LOG_H
#define SHARD_LIB_LOG_H

#include <shard/common.h>

/* Formats and hands one message to `opts->log_fn`. */
void log_emit(const shard_options *opts, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Logs through the options `opts` when the application asked for `level`;
 * messages read as "<object> '<name>' <event>: <reason>".
 */
#define LOG(opts, level, ...)                                                  \
    do {                                                                       \
        if ((opts)->log_fn != NULL && (level) <= (opts)->log_level)            \
            log_emit((opts), (level), __VA_ARGS__);                            \
    } while (0)

#endif
