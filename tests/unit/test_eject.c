/*
 * eject: twemproxy 0.5's failure accounting on servers (twemproxy-0.5.md
 * 3.5), driven with explicit times; no servers, no clock.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "eject.h"
#include "server.h"

#define NSERVERS 4
#define SEC 1000000LL           /* one second in microseconds */
#define WALL 1700000000000000LL /* a wall-clock time, far from `now` */

/* Config lines and run-time servers "127.0.0.1:700<i+1>", weight 1. */
static char names[NSERVERS][32];
static conf_server lines[NSERVERS];
static struct server servers[NSERVERS];

static void
setup(void)
{
    for (size_t i = 0; i < NSERVERS; i++) {
        int len =
            snprintf(names[i], sizeof(names[i]), "127.0.0.1:%zu", 7001 + i);
        lines[i] = (conf_server){.identity = names[i],
                                 .identity_len = (size_t)len,
                                 .addr = names[i],
                                 .host = "127.0.0.1",
                                 .port = (int)(7001 + i),
                                 .weight = 1};
        cr_assert_eq(server_init(&servers[i], i, &lines[i]), SHARD_OK);
    }
}

static void
teardown(void)
{
    for (size_t i = 0; i < NSERVERS; i++)
        server_release(&servers[i]);
}

TestSuite(eject, .init = setup, .fini = teardown);

static eject_policy
policy(bool enabled, int limit, int64_t retry_us)
{
    return (eject_policy){
        .enabled = enabled, .failure_limit = limit, .retry_us = retry_us};
}

/* `s` fresh from server_init: live, never failed, never ejected. */
static void
expect_untouched_health(const struct server *s)
{
    cr_expect(s->live);
    cr_expect_eq(s->next_retry_us, 0);
    cr_expect_eq(s->ejected_at_us, 0);
    cr_expect_eq(s->ejections, 0);
}

Test(eject, policy_is_read_from_the_pool_config)
{
    conf_pool c = {.auto_eject_hosts = true,
                   .server_failure_limit = 3,
                   .server_retry_timeout_ms = 2500};
    eject_policy p = eject_policy_of(&c);

    cr_expect(p.enabled);
    cr_expect_eq(p.failure_limit, 3);
    cr_expect_eq(p.retry_us, 2500 * SEC / 1000);

    /* The largest timeout twemproxy accepts must not overflow an int. */
    c.auto_eject_hosts = false;
    c.server_retry_timeout_ms = 2147483647;
    p = eject_policy_of(&c);
    cr_expect_not(p.enabled);
    cr_expect_eq(p.retry_us, 2147483647LL * 1000);
}

Test(eject, failures_below_the_limit_keep_the_server_live)
{
    eject_policy p = policy(true, 3, 2 * SEC);
    struct server *s = &servers[0];

    cr_expect_not(eject_on_failure(s, &p, 5 * SEC, WALL));
    cr_expect_eq(s->failures, 1);
    cr_expect_not(eject_on_failure(s, &p, 6 * SEC, WALL));
    cr_expect_eq(s->failures, 2);
    expect_untouched_health(s);
}

Test(eject, reaching_the_limit_ejects_and_schedules_the_retry)
{
    eject_policy p = policy(true, 3, 2 * SEC);
    struct server *s = &servers[1];

    cr_expect_not(eject_on_failure(s, &p, 1 * SEC, WALL - 5));
    cr_expect_not(eject_on_failure(s, &p, 2 * SEC, WALL - 4));
    cr_expect(eject_on_failure(s, &p, 5 * SEC, WALL));
    cr_expect_not(s->live);
    cr_expect_eq(s->ejections, 1);
    cr_expect_eq(s->failures, 0, "twemproxy zeroes the count on ejection");
    cr_expect_eq(s->next_retry_us, 7 * SEC, "now + retry, not first + retry");
    cr_expect_eq(s->ejected_at_us, WALL, "the wall time of the ejection");
    /* The other servers are not touched. */
    expect_untouched_health(&servers[0]);
    expect_untouched_health(&servers[2]);
}

Test(eject, limit_zero_acts_as_one)
{
    eject_policy zero = policy(true, 0, SEC), one = policy(true, 1, SEC);

    cr_expect(eject_on_failure(&servers[0], &zero, 10 * SEC, WALL));
    cr_expect(eject_on_failure(&servers[1], &one, 10 * SEC, WALL));
    for (size_t i = 0; i < 2; i++) {
        cr_expect_not(servers[i].live);
        cr_expect_eq(servers[i].ejections, 1);
        cr_expect_eq(servers[i].next_retry_us, 11 * SEC);
    }
}

Test(eject, negative_limit_acts_as_one)
{
    eject_policy p = policy(true, -5, SEC);

    cr_expect(eject_on_failure(&servers[0], &p, 10 * SEC, WALL));
    cr_expect_not(servers[0].live);
}

Test(eject, disabled_policy_never_ejects)
{
    eject_policy p = policy(false, 1, SEC);
    struct server *s = &servers[2];

    for (int i = 0; i < 1000; i++)
        cr_expect_not(eject_on_failure(s, &p, i * SEC, WALL + i));
    expect_untouched_health(s);
}

Test(eject, an_answer_resets_the_failure_count)
{
    eject_policy p = policy(true, 3, SEC);
    struct server *s = &servers[0];

    cr_expect_not(eject_on_failure(s, &p, 1, WALL));
    cr_expect_not(eject_on_failure(s, &p, 2, WALL));
    eject_on_answer(s);
    cr_expect_eq(s->failures, 0);
    /* Two more failures are again below the limit of three... */
    cr_expect_not(eject_on_failure(s, &p, 3, WALL));
    cr_expect_not(eject_on_failure(s, &p, 4, WALL));
    cr_expect(s->live);
    /* ...and the third in a row ejects. */
    cr_expect(eject_on_failure(s, &p, 5, WALL));
    cr_expect_not(s->live);
}

Test(eject, return_happens_only_at_or_after_the_retry_time)
{
    eject_policy p = policy(true, 1, 3 * SEC);
    struct server *s = &servers[3];

    cr_assert(eject_on_failure(s, &p, 10 * SEC, WALL));
    cr_expect_not(eject_return_due(s, 10 * SEC));
    cr_expect_not(eject_return_due(s, 13 * SEC - 1));
    cr_expect_not(s->live, "not back one microsecond early");
    cr_expect_eq(s->next_retry_us, 13 * SEC, "an early check changes nothing");

    cr_expect(eject_return_due(s, 13 * SEC));
    cr_expect(s->live);
    cr_expect_eq(s->next_retry_us, 0);
    cr_expect_eq(s->ejections, 1, "the history stays");
    cr_expect_eq(s->ejected_at_us, WALL);
    cr_expect_not(eject_return_due(s, 20 * SEC), "already back");
}

Test(eject, a_late_check_returns_the_server_too)
{
    eject_policy p = policy(true, 1, 3 * SEC);
    struct server *s = &servers[0];

    cr_assert(eject_on_failure(s, &p, 10 * SEC, WALL));
    cr_expect(eject_return_due(s, 3600 * SEC));
    cr_expect(s->live);
}

Test(eject, a_live_server_never_returns)
{
    cr_expect_not(eject_return_due(&servers[0], 0));
    cr_expect_not(eject_return_due(&servers[0], 1000 * SEC));
    expect_untouched_health(&servers[0]);
}

Test(eject, returned_server_with_limit_one_is_ejected_by_its_next_failure)
{
    eject_policy p = policy(true, 1, 3 * SEC);
    struct server *s = &servers[1];

    cr_assert(eject_on_failure(s, &p, 10 * SEC, WALL));
    cr_assert(eject_return_due(s, 13 * SEC));
    /* No health check: the first request to it fails and ejects it again. */
    cr_expect(eject_on_failure(s, &p, 14 * SEC, WALL + 4 * SEC));
    cr_expect_not(s->live);
    cr_expect_eq(s->ejections, 2);
    cr_expect_eq(s->next_retry_us, 17 * SEC);
    cr_expect_eq(s->ejected_at_us, WALL + 4 * SEC);
}

Test(eject, returned_server_needs_the_full_limit_again)
{
    eject_policy p = policy(true, 2, SEC);
    struct server *s = &servers[1];

    cr_assert_not(eject_on_failure(s, &p, 1 * SEC, WALL));
    cr_assert(eject_on_failure(s, &p, 2 * SEC, WALL));
    cr_assert(eject_return_due(s, 3 * SEC));
    cr_expect_not(eject_on_failure(s, &p, 4 * SEC, WALL));
    cr_expect(s->live, "one failure after return is below the limit of two");
    cr_expect(eject_on_failure(s, &p, 5 * SEC, WALL));
    cr_expect_eq(s->ejections, 2);
}

Test(eject, failures_of_an_ejected_server_do_not_eject_it_again)
{
    eject_policy p = policy(true, 1, 30 * SEC);
    struct server *s = &servers[2];

    cr_assert(eject_on_failure(s, &p, 10 * SEC, WALL));
    for (int i = 1; i <= 10; i++)
        cr_expect_not(eject_on_failure(s, &p, (10 + i) * SEC, WALL + i * SEC));
    cr_expect_eq(s->ejections, 1);
    cr_expect_eq(s->failures, 0);
    cr_expect_eq(s->next_retry_us, 40 * SEC, "the retry is not pushed back");
    cr_expect_eq(s->ejected_at_us, WALL);
}

Test(eject, next_retry_is_the_earliest_among_ejected_servers)
{
    eject_policy p = policy(true, 1, 5 * SEC);

    cr_expect_eq(eject_next_retry(servers, NSERVERS), 0, "none ejected");
    cr_expect_eq(eject_next_retry(servers, 0), 0, "no servers");

    cr_assert(eject_on_failure(&servers[3], &p, 10 * SEC, WALL));
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 15 * SEC);
    cr_assert(eject_on_failure(&servers[1], &p, 2 * SEC, WALL));
    cr_assert(eject_on_failure(&servers[0], &p, 20 * SEC, WALL));
    /* Retries by index: 25 s, 7 s, none, 15 s. */
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 7 * SEC,
                 "the earliest, not the first or the last in the array");
    cr_expect_eq(eject_next_retry(servers, 1), 25 * SEC, "only the first n");

    cr_assert(eject_return_due(&servers[1], 7 * SEC));
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 15 * SEC);
    cr_assert(eject_return_due(&servers[3], 25 * SEC));
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 25 * SEC);
    cr_assert(eject_return_due(&servers[0], 25 * SEC));
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 0, "all back");
}

Test(eject, a_server_being_probed_is_never_due_nor_counted_next)
{
    eject_policy p = policy(true, 1, 10 * SEC);

    cr_assert(eject_on_failure(&servers[1], &p, 100 * SEC, WALL));
    cr_assert(eject_on_failure(&servers[2], &p, 105 * SEC, WALL));
    cr_expect(eject_retry_due(&servers[1], 110 * SEC));
    servers[1].probing = true;
    cr_expect_not(eject_retry_due(&servers[1], 200 * SEC));
    cr_expect_not(eject_return_due(&servers[1], 200 * SEC));
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 115 * SEC);
    cr_expect_not(servers[1].live);
}

Test(eject, a_failed_probe_waits_another_retry_timeout)
{
    eject_policy p = policy(true, 1, 10 * SEC);

    cr_assert(eject_on_failure(&servers[0], &p, 100 * SEC, WALL));
    eject_probe_failed(&servers[0], &p, 112 * SEC);
    cr_expect_not(eject_retry_due(&servers[0], 121 * SEC));
    cr_expect(eject_retry_due(&servers[0], 122 * SEC));
    cr_expect_not(servers[0].live);
    cr_expect_eq(servers[0].ejections, 1, "a failed probe is no ejection");
}

Test(eject, an_answered_probe_returns_the_server)
{
    eject_policy p = policy(true, 2, 10 * SEC);

    eject_on_failure(&servers[3], &p, 100 * SEC, WALL);
    cr_assert(eject_on_failure(&servers[3], &p, 101 * SEC, WALL));
    eject_return(&servers[3]);
    cr_expect(servers[3].live);
    cr_expect_eq(servers[3].next_retry_us, 0);
    cr_expect_eq(eject_next_retry(servers, NSERVERS), 0);
    cr_expect_not(eject_on_failure(&servers[3], &p, 102 * SEC, WALL),
                  "the full limit applies again");
}
