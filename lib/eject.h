/*
 * Failure accounting on servers, as twemproxy 0.5 does it
 * (auto_eject_hosts; twemproxy-0.5.md 3.5). Pure: the caller passes the
 * time and rebuilds the topology when a server leaves or returns.
 */
#ifndef SHARD_LIB_EJECT_H
#define SHARD_LIB_EJECT_H

#include <stdbool.h>
#include <stdint.h>

#include "conf_pool.h"
#include "server.h"

/* A pool's ejection settings. */
typedef struct eject_policy {
    bool enabled;      /* auto_eject_hosts */
    int failure_limit; /* server_failure_limit; 0 behaves like 1 */
    int64_t retry_us;  /* server_retry_timeout, in microseconds */
} eject_policy;

/* The policy of pool config `c`. */
eject_policy eject_policy_of(const conf_pool *c);

/*
 * Counts a failure of `s` at monotonic time `now_us` (`wall_us` for
 * ejected_at). True when `s` leaves the ring now: it has failed
 * failure_limit times in a row, ejection is on and it was live.
 */
bool eject_on_failure(struct server *s, const eject_policy *p, int64_t now_us,
                      int64_t wall_us);

/* `s` answered: its count of consecutive failures starts again. */
void eject_on_answer(struct server *s);

/*
 * True when `s` is ejected, no probe of it is out and its retry time has
 * come by `now_us`.
 */
bool eject_retry_due(const struct server *s, int64_t now_us);

/*
 * Returns `s` to the ring when its retry is due (twemproxy's lazy return:
 * no probe, the next request finds out). True when it did.
 */
bool eject_return_due(struct server *s, int64_t now_us);

/* Returns `s` to the ring now (it answered a probe). */
void eject_return(struct server *s);

/* The probe of `s` failed at `now_us`: the next one after retry_us. */
void eject_probe_failed(struct server *s, const eject_policy *p,
                        int64_t now_us);

/* The earliest retry time among `n` servers, not counting those being
 * probed; 0 when there is none. */
int64_t eject_next_retry(const struct server *servers, size_t n);

#endif
