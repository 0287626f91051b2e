/* Logging through the application's callback: one `if` when it is off. */
#ifndef SHARD_LIB_LOG_H
#define SHARD_LIB_LOG_H

#include <shard/common.h>

struct shard_pool;

/* Formats and hands one message to the pool's log_fn. */
void log_emit(const struct shard_pool *pool, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs when the application asked for `level`; reads as
 * "<object> '<name>' <event>: <reason>". */
#define POOL_LOG(pool, level, ...)                                             \
    do {                                                                       \
        if ((pool)->opts.log_fn != NULL && (level) <= (pool)->opts.log_level)  \
            log_emit((pool), (level), __VA_ARGS__);                            \
    } while (0)

#endif
