/*
 * backoff: reconnection spacing after failed connects, driven with
 * explicit times.
 */
#include <criterion/criterion.h>

#include "backoff.h"

#define MS 1000LL /* one millisecond in microseconds */

Test(backoff, a_server_never_refused_is_tried_at_once)
{
    backoff b = {0};

    cr_expect_eq(backoff_remaining(&b, 5 * MS), 0);
}

Test(backoff, waits_double_from_10_ms_up_to_the_cap)
{
    backoff b = {0};
    int64_t now = 1000 * MS;
    const int64_t want[] = {10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000};

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int64_t wait = backoff_failed(&b, now, 1000 * MS);
        cr_expect_eq(wait, want[i] * MS, "failure %zu: %lld us", i + 1,
                     (long long)wait);
        cr_expect_eq(backoff_remaining(&b, now), wait);
        cr_expect_eq(backoff_remaining(&b, now + wait), 0);
        now += wait;
    }
}

Test(backoff, a_cap_below_the_first_wait_is_the_wait)
{
    backoff b = {0};

    cr_expect_eq(backoff_failed(&b, 0, 4 * MS), 4 * MS);
    cr_expect_eq(backoff_failed(&b, 0, 4 * MS), 4 * MS);
}

Test(backoff, a_zero_cap_spaces_nothing)
{
    backoff b = {0};

    cr_expect_eq(backoff_failed(&b, 7 * MS, 0), 0);
    cr_expect_eq(backoff_remaining(&b, 7 * MS), 0);
}

Test(backoff, a_success_starts_over)
{
    backoff b = {0};

    for (int i = 0; i < 5; i++)
        backoff_failed(&b, 0, 1000 * MS);
    backoff_reset(&b);
    cr_expect_eq(backoff_remaining(&b, 0), 0);
    cr_expect_eq(backoff_failed(&b, 0, 1000 * MS), 10 * MS);
}

Test(backoff, thousands_of_failures_do_not_overflow)
{
    backoff b = {0};
    int64_t wait = 0;

    for (int i = 0; i < 100000; i++)
        wait = backoff_failed(&b, 0, INT64_MAX / 4);
    cr_expect_gt(wait, 0);
    cr_expect_leq(wait, INT64_MAX / 4);
}
