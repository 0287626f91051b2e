/* Exponential reconnection back-off, capped. */
#include "backoff.h"

int64_t
backoff_failed(backoff *b, int64_t now_us, int64_t cap_us)
{
    int64_t wait = BACKOFF_FIRST_US;

    if (b->failures < 30)
        b->failures++;
    /* Doubling stops once past the cap: no overflow however long. */
    for (int i = 1; i < b->failures && wait < cap_us; i++)
        wait *= 2;
    if (wait > cap_us)
        wait = cap_us;
    b->next_try_us = now_us + wait;
    return wait;
}

void
backoff_reset(backoff *b)
{
    b->failures = 0;
    b->next_try_us = 0;
}

int64_t
backoff_remaining(const backoff *b, int64_t now_us)
{
    return b->next_try_us > now_us ? b->next_try_us - now_us : 0;
}
