/* The clocks of the library, in microseconds. */
#ifndef SHARD_LIB_CLOCK_H
#define SHARD_LIB_CLOCK_H

#include <stdint.h>

/* Monotonic time: deadlines and retry times. */
int64_t clock_monotonic_us(void);

/* Wall-clock time since the epoch: what stats show (ejected_at). */
int64_t clock_wall_us(void);

#endif
