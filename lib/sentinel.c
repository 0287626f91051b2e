/*
 * Sentinel. The lookups at open are plain blocking hiredis calls, as the
 * rest of open blocks (the config, DNS). After that everything runs on the
 * pool's engine: the subscription is a connection whose messages come to
 * on_message, and a question is an internal request on a second
 * connection, answered in ask_done. A switch swaps the server's address
 * strings; requests in flight hold the old address (a refstr) for their
 * messages.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "error.h"
#include "refstr.h"
#include "sentinel.h"
#include "sentinel_msg.h"

/* Questions about one master no closer together than this. */
#define ASK_SPACING_US 100000
/* A lost subscription moves on at most this often. */
#define RESUBSCRIBE_SPACING_US 1000000

static const char switch_channel[] = "+switch-master";
static const conn_redis_login no_login = {NULL, 0};

/* One question in flight: which master it is about. */
struct sentinel_ask {
    sentinel *st;
    size_t len;
    char name[]; /* the master's name: indices change with a reload */
};

/* The server whose master is `name`; -1 when none. */
static int
server_named(const sentinel *st, const char *name, size_t len)
{
    const health *h = st->health;

    for (size_t i = 0; i < h->conf->server_count; i++) {
        const struct server *s = &h->servers[i];
        if (s->identity_len == len && memcmp(s->identity, name, len) == 0)
            return (int)i;
    }
    return -1;
}

/*
 * Gives server `index` the address `host`:`port`. With `announce` (after
 * open): its connections to the old one close, requests in flight there
 * fail (reads may be retried), and the application hears of it. False
 * when the address is the same, or out of memory.
 */
static bool
move_server(sentinel *st, int index, const char *host, int port,
            const char *why, bool announce)
{
    struct server *s = &st->health->servers[index];
    char addr[300];

    if (s->target.port == port && strcmp(s->target.host, host) == 0)
        return false;
    error_format(addr, sizeof(addr), "%s:%d", host, port);
    char *new_host = strdup(host), *new_addr = refstr_new(addr);
    if (new_host == NULL || new_addr == NULL) {
        free(new_host);
        refstr_drop(new_addr);
        return false;
    }
    char was[300];
    error_format(was, sizeof(was), "%s", s->target.addr);
    /* Fragments that went to the old address hold it (refstr); the host
     * is only read to connect. */
    free(s->target.host);
    refstr_drop(s->target.addr);
    s->target.host = new_host;
    s->target.addr = new_addr;
    s->target.port = port;
    if (!announce)
        return true;
    char msg[ERROR_MAX], reason[ERROR_MAX];
    error_format(msg, sizeof(msg),
                 "server '%.*s' moved from '%s' to '%s' (Sentinel); the "
                 "request was in flight to the old master",
                 (int)s->identity_len, s->identity, was, addr);
    for (size_t i = 0; i < st->engine->nconns; i++) {
        conn *c = st->engine->conns[i];
        if (c->target == &s->target)
            conn_close(c, SHARD_ECONN, msg);
    }
    health_server_moved(st->health, index);
    STAT_ADD(*st->switches, 1);
    error_format(reason, sizeof(reason), "%s (was '%s')", why, was);
    health_event(st->health, SHARD_EVENT_SWITCHED, index, SHARD_OK, reason, 0);
    return true;
}

/* --- at open: blocking lookups ---------------------------------------------
 */

/* Asks sentinel `t` about every master not yet `found`. */
static void
lookup_on(sentinel *st, const conn_target *t, bool *found)
{
    struct timeval limit = {.tv_sec = st->timeout_ms / 1000,
                            .tv_usec = (st->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(t->host, t->port, limit);
    const health *h = st->health;

    if (c == NULL || c->err != 0 || redisSetTimeout(c, limit) != REDIS_OK) {
        redisFree(c);
        return;
    }
    for (size_t i = 0; i < h->conf->server_count; i++) {
        const struct server *s = &h->servers[i];
        if (found[i])
            continue;
        redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %b",
                                     s->identity, s->identity_len);
        sentinel_addr at;
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_STRING &&
            r->element[1]->type == REDIS_REPLY_STRING &&
            sentinel_read_addr(r->element[0]->str, r->element[0]->len,
                               r->element[1]->str, r->element[1]->len, &at)) {
            move_server(st, (int)i, at.host, at.port, "at open", false);
            found[i] = true;
        }
        freeReplyObject(r);
        if (c->err != 0)
            break;
    }
    redisFree(c);
}

/* --- the subscription ------------------------------------------------------
 */

/* "+switch-master <name> <old ip> <old port> <new ip> <new port>". */
static void
on_message(void *ctx, const shard_reply *m)
{
    sentinel *st = ctx;
    char why[ERROR_MAX];
    const char *name;
    size_t namelen;
    sentinel_addr from, to;

    if (m == NULL) {
        st->resubscribe = true;
        return;
    }
    if (m->type != SHARD_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != SHARD_REPLY_STRING ||
        strcmp(m->element[0]->str, "message") != 0 ||
        m->element[2]->type != SHARD_REPLY_STRING)
        return;
    if (!sentinel_read_switch(m->element[2]->str, m->element[2]->len, &name,
                              &namelen, &from, &to))
        return;
    int index = server_named(st, name, namelen);
    if (index < 0)
        return;
    error_format(why, sizeof(why), "+switch-master from %s:%d", from.host,
                 from.port);
    move_server(st, index, to.host, to.port, why, true);
}

static void
drop_conn(sentinel *st, conn **c)
{
    if (*c == NULL)
        return;
    engine_remove_conn(st->engine, *c);
    conn_free(*c);
    *c = NULL;
}

/* Subscribes on the current sentinel; one that cannot even be connected
 * to is left at the next tick. */
static void
subscribe(sentinel *st)
{
    drop_conn(st, &st->sub);
    st->sub = conn_redis_subscriber(&st->engine->env, &st->addrs[st->current],
                                    &st->stats, switch_channel, on_message, st);
    if (st->sub == NULL || engine_add_conn(st->engine, st->sub) != SHARD_OK) {
        if (st->sub != NULL)
            conn_free(st->sub);
        st->sub = NULL;
        st->resubscribe = true;
        return;
    }
    conn_preconnect(st->sub);
    if (st->sub->fd < 0)
        st->resubscribe = true;
}

/* --- questions -------------------------------------------------------------
 */

static void
ask_done(request *r)
{
    struct sentinel_ask *a = r->userdata;
    sentinel *st = a->st;
    sentinel_addr at;

    if (!engine_closing(st->engine)) {
        int index = server_named(st, a->name, a->len);
        if (r->status == SHARD_OK &&
            sentinel_read_master_reply(r->reply, &at)) {
            if (index >= 0)
                move_server(st, index, at.host, at.port,
                            "SENTINEL get-master-addr-by-name", true);
        } else if (r->status != SHARD_OK && st->count > 1) {
            /* That sentinel is gone: the next questions go to another. */
            st->current = (st->current + 1) % st->count;
            st->query->target = &st->addrs[st->current];
            st->resubscribe = true;
        }
    }
    free(a);
    request_free(r);
}

static void
ask(sentinel *st, int index)
{
    const struct server *s = &st->health->servers[index];
    int64_t now = clock_monotonic_us();

    if ((size_t)index >= st->asked_len ||
        (st->asked_us[index] != 0 &&
         now - st->asked_us[index] < ASK_SPACING_US))
        return;
    st->asked_us[index] = now;
    if (st->query == NULL) {
        st->query = conn_redis_new(&st->engine->env, &st->addrs[st->current],
                                   &st->stats, -1, &no_login);
        if (st->query == NULL ||
            engine_add_conn(st->engine, st->query) != SHARD_OK) {
            if (st->query != NULL)
                conn_free(st->query);
            st->query = NULL;
            return;
        }
    }
    struct sentinel_ask *a = malloc(sizeof(*a) + s->identity_len + 1);
    request *r = request_new(st->engine, MODE_INTERNAL, 1);
    if (a == NULL || r == NULL) {
        free(a);
        request_free(r);
        return;
    }
    a->st = st;
    a->len = s->identity_len;
    memcpy(a->name, s->identity, s->identity_len + 1);
    r->userdata = a;
    r->internal_fn = ask_done;
    r->name = "sentinel";
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", a->name};
    const size_t lens[] = {8, 23, a->len};
    engine_send(st->engine, &r->frags[0], st->query, 3, argv, lens);
}

static void
master_lost(void *ctx, int index)
{
    ask(ctx, index);
}

void
sentinel_ask_all(sentinel *st)
{
    size_t n = st->health->conf->server_count;

    if (n != st->asked_len) {
        int64_t *grown = calloc(n ? n : 1, sizeof(*grown));
        if (grown == NULL)
            return;
        free(st->asked_us);
        st->asked_us = grown;
        st->asked_len = n;
    }
    for (size_t i = 0; i < n; i++) {
        st->asked_us[i] = 0;
        ask(st, (int)i);
    }
}

void
sentinel_tick(sentinel *st)
{
    if (!st->resubscribe)
        return;
    int64_t now = clock_monotonic_us();
    if (st->next_resubscribe_us > now)
        return;
    st->next_resubscribe_us = now + RESUBSCRIBE_SPACING_US;
    st->resubscribe = false;
    st->current = (st->current + 1) % st->count;
    if (st->query != NULL) {
        conn_close(st->query, SHARD_ECLOSED, "moving to another sentinel");
        st->query->target = &st->addrs[st->current];
    }
    subscribe(st);
    /* What happened while nobody listened. */
    sentinel_ask_all(st);
}

conn_target *
sentinel_targets_new(const conf_pool *conf)
{
    size_t n = conf->sentinel_count;
    conn_target *t = calloc(n > 0 ? n : 1, sizeof(*t));

    for (size_t i = 0; t != NULL && i < n; i++) {
        const conf_server *cs = &conf->sentinels[i];
        t[i].port = cs->port;
        t[i].host = strdup(cs->host);
        t[i].addr = refstr_new(cs->addr);
        if (t[i].host == NULL || t[i].addr == NULL) {
            sentinel_targets_free(t, n);
            return NULL;
        }
    }
    return t;
}

void
sentinel_targets_free(conn_target *t, size_t count)
{
    for (size_t i = 0; t != NULL && i < count; i++) {
        free(t[i].host);
        refstr_drop(t[i].addr);
    }
    free(t);
}

/* The same sentinels in the same order. */
static bool
same_targets(const conn_target *a, size_t na, const conn_target *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (a[i].port != b[i].port || strcmp(a[i].host, b[i].host) != 0)
            return false;
    }
    return true;
}

void
sentinel_retarget(sentinel *st, conn_target *targets, size_t count)
{
    if (same_targets(st->addrs, st->count, targets, count)) {
        sentinel_targets_free(targets, count);
        return;
    }
    /* Off the old targets before they are freed; questions in flight
     * fail, and every master is asked again (sentinel_ask_all). */
    drop_conn(st, &st->sub);
    if (st->query != NULL) {
        conn_close(st->query, SHARD_ECLOSED, "the sentinels changed (reload)");
        st->query->target = &targets[0];
    }
    sentinel_targets_free(st->addrs, st->count);
    st->addrs = targets;
    st->count = count;
    st->current = 0;
    subscribe(st);
}

int
sentinel_init(sentinel *st, const conf_pool *conf, health *h, engine *e,
              uint64_t *switches, char *err, size_t errlen)
{
    memset(st, 0, sizeof(*st));
    st->health = h;
    st->engine = e;
    st->switches = switches;
    st->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 1000;
    st->addrs = sentinel_targets_new(conf);
    st->count = st->addrs != NULL ? conf->sentinel_count : 0;
    st->asked_us = calloc(conf->server_count, sizeof(*st->asked_us));
    bool *found = calloc(conf->server_count, sizeof(*found));
    if (st->addrs == NULL || st->asked_us == NULL || found == NULL) {
        free(found);
        error_format(err, errlen, "out of memory for the sentinels");
        return SHARD_ENOMEM;
    }
    st->asked_len = conf->server_count;
    for (size_t k = 0; k < st->count; k++) {
        size_t missing = 0;
        for (size_t i = 0; i < conf->server_count; i++)
            missing += !found[i];
        if (missing == 0)
            break;
        lookup_on(st, &st->addrs[k], found);
    }
    free(found);
    h->master_lost = master_lost;
    h->master_ctx = st;
    subscribe(st);
    return SHARD_OK;
}

void
sentinel_release(sentinel *st)
{
    sentinel_targets_free(st->addrs, st->count);
    free(st->asked_us);
    memset(st, 0, sizeof(*st));
}
