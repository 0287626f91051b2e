/*
 * Reconnection spacing for one server: after a failed connect the next
 * attempt waits 10 ms, then twice as long after each further failure, up
 * to a cap; a connect that succeeds starts it over. Pure: the caller
 * passes the clock.
 */
#ifndef SHARD_LIB_BACKOFF_H
#define SHARD_LIB_BACKOFF_H

#include <stdint.h>

/* The first wait after a failed connect, in microseconds. */
#define BACKOFF_FIRST_US 10000

typedef struct backoff {
    int failures;        /* failed connects in a row */
    int64_t next_try_us; /* monotonic time of the next attempt; 0: now */
} backoff;

/*
 * A connect failed at `now_us`: returns the wait before the next attempt
 * (at most `cap_us`; 0 spaces nothing) and records when that is.
 */
int64_t backoff_failed(backoff *b, int64_t now_us, int64_t cap_us);

/* A connect succeeded: the next failure waits the first delay again. */
void backoff_reset(backoff *b);

/* Microseconds still to wait at `now_us` before connecting; 0: go. */
int64_t backoff_remaining(const backoff *b, int64_t now_us);

#endif
