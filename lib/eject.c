/*
 * Ejection: each failure of a server counts; at server_failure_limit it
 * leaves the ring (the caller rebuilds it over the live servers, so ketama
 * point counts change too). After server_retry_timeout it returns on the
 * next placement, without a health check, exactly as twemproxy 0.5; or,
 * with server_probe, when it answers the probe the caller sends then. Any
 * answer from the server resets its count.
 */
#include "eject.h"

eject_policy
eject_policy_of(const conf_pool *c)
{
    eject_policy p = {
        .enabled = c->auto_eject_hosts,
        .failure_limit = c->server_failure_limit,
        .retry_us = (int64_t)c->server_retry_timeout_ms * 1000,
    };

    return p;
}

bool
eject_on_failure(struct server *s, const eject_policy *p, int64_t now_us,
                 int64_t wall_us)
{
    if (!p->enabled || !s->live)
        return false;
    if (++s->failures < (p->failure_limit > 0 ? p->failure_limit : 1))
        return false;
    s->failures = 0;
    s->ejections++;
    s->ejected_at_us = wall_us;
    s->next_retry_us = now_us + p->retry_us;
    if (s->next_retry_us == 0)
        s->next_retry_us = 1; /* 0 would read as "not ejected" */
    s->live = false;
    return true;
}

void
eject_on_answer(struct server *s)
{
    s->failures = 0;
}

bool
eject_retry_due(const struct server *s, int64_t now_us)
{
    return s->next_retry_us != 0 && s->next_retry_us <= now_us && !s->probing;
}

bool
eject_return_due(struct server *s, int64_t now_us)
{
    if (!eject_retry_due(s, now_us))
        return false;
    eject_return(s);
    return true;
}

void
eject_return(struct server *s)
{
    s->next_retry_us = 0;
    s->failures = 0;
    s->live = true;
}

void
eject_probe_failed(struct server *s, const eject_policy *p, int64_t now_us)
{
    s->next_retry_us = now_us + p->retry_us;
    if (s->next_retry_us == 0)
        s->next_retry_us = 1;
}

int64_t
eject_next_retry(const struct server *servers, size_t n)
{
    int64_t next = 0;

    for (size_t i = 0; i < n; i++) {
        int64_t t = servers[i].next_retry_us;
        if (t != 0 && !servers[i].probing && (next == 0 || t < next))
            next = t;
    }
    return next;
}
