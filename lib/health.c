/*
 * Server health. Connections report failures and answers (twemproxy's
 * accounting, eject.c), connects and disconnects; ejection and return
 * swap in a new topology. libshard adds, when configured, a PING before an
 * ejected server returns (server_probe), and always spaces out connects to
 * a server that refuses them (backoff.c). Every change is logged and told
 * to the application's event callback.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "health.h"
#include "log.h"

/* Reconnection spacing stops growing here (or at server_retry_timeout). */
#define BACKOFF_CAP_US 1000000

void
health_event(health *h, int type, int index, int status, const char *reason,
             int64_t delay_us)
{
    const struct server *s = index >= 0 ? &h->servers[index] : NULL;
    shard_event ev = {
        .type = type,
        .pool = h->conf->name,
        .server = s != NULL ? s->index : SHARD_EVENT_POOL,
        .identity = s != NULL ? s->identity : "",
        .addr = s != NULL ? s->target.addr : "",
        .status = status,
        .reason = reason != NULL ? reason : "",
        .delay_ms = (long)((delay_us + 999) / 1000),
    };

    if (h->opts->event_fn != NULL)
        h->opts->event_fn(&ev, h->opts->event_userdata);
}

static void
emit(health *h, int type, const struct server *s, int status,
     const char *reason, int64_t delay_us)
{
    health_event(h, type, (int)s->index, status, reason, delay_us);
}

/* Builds a topology from the config and the servers' state now, and
 * swaps it in. */
static int
topology_refresh(health *h)
{
    route_rules rules = topology_rules_of(h->conf);
    topology *t = topology_build(&rules, h->servers, h->conf->server_count);

    if (t == NULL)
        return SHARD_ENOMEM; /* the old snapshot stays: placement holds */
    topology_free(*h->topo);
    *h->topo = t;
    return SHARD_OK;
}

/* --- what connections report ---------------------------------------------- */

static void
on_failed(void *owner, int index, int status, const char *why)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return;
    struct server *s = &h->servers[index];
    int limit = h->eject.failure_limit > 0 ? h->eject.failure_limit : 1;

    LOG(h->opts, SHARD_LOG_INFO, "server '%s' failed: %s", s->target.addr, why);
    if (!eject_on_failure(s, &h->eject, clock_monotonic_us(), clock_wall_us()))
        return;
    LOG(h->opts, SHARD_LOG_WARN,
        "server '%s' ejected after %d failure(s): %s; back in %d ms",
        s->target.addr, limit, why, h->conf->server_retry_timeout_ms);
    STAT_ADD(s->stats.ejections, 1);
    STAT_SET(s->stats.ejected_at_us, s->ejected_at_us);
    (void)topology_refresh(h);
    emit(h, SHARD_EVENT_EJECTED, s, status, why, h->eject.retry_us);
}

static void
on_answered(void *owner, int index)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return;
    eject_on_answer(&h->servers[index]);
}

/* Logged once per server: the operator needs to hear it, not every time. */
static void
on_warn(void *owner, int index, const char *what)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return;
    struct server *s = &h->servers[index];

    if (s->warned)
        return;
    s->warned = true;
    LOG(h->opts, SHARD_LOG_WARN, "server '%s' %s", s->target.addr, what);
}

/* `why` without a leading "server '<addr>' ", which messages add again. */
static const char *
bare_reason(const struct server *s, const char *why)
{
    size_t n = strlen(s->target.addr);

    if (strncmp(why, "server '", 8) == 0 &&
        strncmp(why + 8, s->target.addr, n) == 0 &&
        strncmp(why + 8 + n, "' ", 2) == 0)
        return why + 8 + n + 2;
    return why;
}

/* Connects to a server that refused the last ones wait their turn: the
 * request fails at once instead of costing it a connect. */
static int
may_connect(void *owner, int index, char *err, size_t errlen)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return SHARD_OK;
    struct server *s = &h->servers[index];
    int64_t wait = backoff_remaining(&s->reconnect, clock_monotonic_us());

    if (wait == 0)
        return SHARD_OK;
    error_format(err, errlen,
                 "server '%s' is down: %d connect%s failed in a row (last: "
                 "%s); next attempt in %lld ms",
                 s->target.addr, s->reconnect.failures,
                 s->reconnect.failures == 1 ? "" : "s", s->connect_error,
                 (long long)((wait + 999) / 1000));
    return SHARD_ECONN;
}

static void
tell_master_lost(health *h, int index)
{
    if (h->master_lost != NULL)
        h->master_lost(h->master_ctx, index);
}

static void
on_connected(void *owner, int index)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return;
    struct server *s = &h->servers[index];

    backoff_reset(&s->reconnect);
    emit(h, SHARD_EVENT_CONNECTED, s, SHARD_OK, "", 0);
}

static void
on_connect_failed(void *owner, int index, const char *why)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return;
    struct server *s = &h->servers[index];
    int64_t cap =
        h->eject.retry_us < BACKOFF_CAP_US ? h->eject.retry_us : BACKOFF_CAP_US;
    int64_t wait = backoff_failed(&s->reconnect, clock_monotonic_us(), cap);

    STAT_ADD(s->stats.connect_failures, 1);
    error_format(s->connect_error, sizeof(s->connect_error), "%s",
                 bare_reason(s, why));
    LOG(h->opts, SHARD_LOG_INFO,
        "server '%s' connect failed: %s; next attempt in %lld ms",
        s->target.addr, s->connect_error, (long long)((wait + 999) / 1000));
    emit(h, SHARD_EVENT_CONNECT_FAILED, s, SHARD_ECONN, s->connect_error, wait);
    tell_master_lost(h, index);
}

static void
on_not_master(void *owner, int index)
{
    health *h = owner;

    if (index >= 0)
        tell_master_lost(h, index);
}

static void
on_disconnected(void *owner, int index, const char *why)
{
    health *h = owner;

    if (index < 0) /* a server a reload removed */
        return;
    struct server *s = &h->servers[index];

    emit(h, SHARD_EVENT_DISCONNECTED, s, SHARD_ECONN, bare_reason(s, why), 0);
    tell_master_lost(h, index);
}

static const conn_health reports = {
    .failed = on_failed,
    .answered = on_answered,
    .warn = on_warn,
    .may_connect = may_connect,
    .connected = on_connected,
    .connect_failed = on_connect_failed,
    .disconnected = on_disconnected,
    .not_master = on_not_master,
};

/* --- return: blind, or after a probe ---------------------------------------
 */

static void
returned(health *h, struct server *s, const char *why)
{
    LOG(h->opts, SHARD_LOG_INFO, "server '%s' back in the ring: %s",
        s->target.addr, why);
    emit(h, SHARD_EVENT_RETURNED, s, SHARD_OK, why, 0);
}

/* The probe's PING is answered or failed: the server returns, or waits
 * another server_retry_timeout. Runs deferred (engine_run_deferred). */
static void
probe_finish(request *r)
{
    health *h = r->userdata;
    int index = r->frags[0].server; /* -1: a reload removed it */
    const shard_reply *reply = r->reply;
    char why[ERROR_MAX];

    h->probes--;
    if (engine_closing(h->engine) || index < 0) {
        request_free(r);
        return;
    }
    struct server *s = &h->servers[index];
    s->probing = false;
    if (r->status == SHARD_OK && reply->type != SHARD_REPLY_ERROR) {
        eject_return(s);
        emit(h, SHARD_EVENT_PROBE_OK, s, SHARD_OK, "answered PING", 0);
        returned(h, s, "answered the probe");
    } else {
        if (r->status == SHARD_OK)
            error_format(why, sizeof(why), "replied to PING: %s", reply->str);
        else
            error_format(why, sizeof(why), "%s", bare_reason(s, r->errmsg));
        eject_probe_failed(s, &h->eject, clock_monotonic_us());
        STAT_ADD(s->stats.probe_failures, 1);
        LOG(h->opts, SHARD_LOG_INFO,
            "server '%s' probe failed: %s; next probe in %d ms", s->target.addr,
            why, h->conf->server_retry_timeout_ms);
        emit(h, SHARD_EVENT_PROBE_FAILED, s,
             r->status != SHARD_OK ? r->status : SHARD_EPROTO, why,
             h->eject.retry_us);
    }
    request_free(r);
    (void)topology_refresh(h);
}

/* A PING on the server's own connection, answered whenever the engine
 * next runs; the server stays out of the ring meanwhile. */
static void
probe_start(health *h, struct server *s)
{
    static const char *const argv[] = {"PING"};
    static const size_t len[] = {4};
    request *r = request_new(h->engine, MODE_INTERNAL, 1);

    if (r == NULL) {
        eject_probe_failed(s, &h->eject, clock_monotonic_us());
        return;
    }
    s->probing = true;
    h->probes++;
    STAT_ADD(s->stats.probes, 1);
    r->userdata = h;
    r->frags[0].server = (int)s->index; /* also when no connection is made */
    r->name = "ping";
    engine_send(h->engine, &r->frags[0],
                h->server_conn(h->owner, (int)s->index), 1, (const char **)argv,
                len);
    r->internal_fn = probe_finish;
}

/* Replies to probes that came while the engine was not running. */
static void
probes_catch_up(health *h)
{
    for (size_t i = 0; h->probes > 0 && i < h->conf->server_count; i++) {
        struct server *s = &h->servers[i];
        if (s->probing && s->conn != NULL)
            conn_catch_up(s->conn);
    }
}

void
health_readmit_work(health *h)
{
    int64_t now, due;

    if (h->probes > 0) {
        probes_catch_up(h);
        engine_run_deferred(h->engine);
    }
    due = (*h->topo)->next_return_us;
    if (due == 0 || (now = clock_monotonic_us()) < due)
        return;
    for (size_t i = 0; i < h->conf->server_count; i++) {
        struct server *s = &h->servers[i];
        if (!eject_retry_due(s, now))
            continue;
        if (h->conf->server_probe) {
            probe_start(h, s);
        } else {
            eject_return(s);
            returned(h, s, "retry time reached");
        }
    }
    (void)topology_refresh(h);
}

void
health_server_moved(health *h, int index)
{
    struct server *s = &h->servers[index];

    backoff_reset(&s->reconnect);
    s->failures = 0;
    if (s->live || s->probing)
        return;
    eject_return(s);
    returned(h, s, "moved to a new master by Sentinel");
    (void)topology_refresh(h);
}

void
health_reconfigure(health *h, const conf_pool *conf, struct server *servers,
                   topology *t)
{
    h->conf = conf;
    h->servers = servers;
    h->eject = eject_policy_of(conf);
    topology_free(*h->topo);
    *h->topo = t;
}

int
health_init(health *h, const conf_pool *conf, const shard_options *opts,
            struct server *servers, topology **topo, engine *e,
            health_conn_fn server_conn, void *owner)
{
    *h = (health){
        .conf = conf,
        .opts = opts,
        .servers = servers,
        .topo = topo,
        .engine = e,
        .eject = eject_policy_of(conf),
        .server_conn = server_conn,
        .owner = owner,
    };
    e->env.health = &reports;
    e->env.health_owner = h;
    return topology_refresh(h);
}
