/*
 * Stats documents. The JSON follows nutcracker 0.5 (twemproxy-0.5.md
 * section 7): top-level service fields, one object per pool keyed by its
 * name, in it one object per server keyed by its identity. libshard's
 * additions are numbers beside nutcracker's, never objects: collectors
 * take every object inside a pool for a server, and every top-level
 * object for a pool. Built with jansson.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "stats_doc.h"
#include "version.h"

/* The figures of one server, read once. */
typedef struct server_figures {
    uint64_t eof, err, timedout, connections, ejected_at, requests,
        request_bytes, responses, response_bytes, in_queue, in_queue_bytes,
        out_queue, out_queue_bytes, ejections, connect_failures, probes,
        probe_failures;
    latency_summary since_open, window;
} server_figures;

/* a - b, or 0 when a counter read a moment earlier makes it negative. */
static uint64_t
gap(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

static void
read_server(const server_stats *st, int64_t now_s, server_figures *f)
{
    uint64_t written = STAT_GET(st->frags_written);
    uint64_t bytes_written = STAT_GET(st->bytes_written);

    f->eof = STAT_GET(st->server_eof);
    f->err = STAT_GET(st->server_err);
    f->timedout = STAT_GET(st->server_timedout);
    f->connections = STAT_GET(st->connections);
    f->ejected_at = (uint64_t)STAT_GET(st->ejected_at_us);
    f->requests = STAT_GET(st->requests);
    f->request_bytes = STAT_GET(st->request_bytes);
    f->responses = STAT_GET(st->responses);
    f->response_bytes = STAT_GET(st->response_bytes);
    f->in_queue = gap(f->requests, written);
    f->in_queue_bytes = gap(f->request_bytes, bytes_written);
    f->out_queue = gap(written, STAT_GET(st->frags_answered));
    f->out_queue_bytes = gap(bytes_written, STAT_GET(st->bytes_answered));
    f->ejections = STAT_GET(st->ejections);
    f->connect_failures = STAT_GET(st->connect_failures);
    f->probes = STAT_GET(st->probes);
    f->probe_failures = STAT_GET(st->probe_failures);
    f->since_open = latency_since_open(&st->latency);
    f->window = latency_window(&st->latency, now_s);
}

/* One named number of a document. */
typedef struct figure {
    const char *name;
    uint64_t value;
} figure;

#define SERVER_FIGURES 29

/* Nutcracker's server fields in its order, then libshard's. */
static void
server_list(const server_figures *f, figure *out)
{
    const latency_summary *a = &f->since_open, *w = &f->window;
    const figure list[SERVER_FIGURES] = {
        {"server_eof", f->eof},
        {"server_err", f->err},
        {"server_timedout", f->timedout},
        {"server_connections", f->connections},
        {"server_ejected_at", f->ejected_at},
        {"requests", f->requests},
        {"request_bytes", f->request_bytes},
        {"responses", f->responses},
        {"response_bytes", f->response_bytes},
        {"in_queue", f->in_queue},
        {"in_queue_bytes", f->in_queue_bytes},
        {"out_queue", f->out_queue},
        {"out_queue_bytes", f->out_queue_bytes},
        {"server_ejections", f->ejections},
        {"connect_failures", f->connect_failures},
        {"probes", f->probes},
        {"probe_failures", f->probe_failures},
        {"latency_count", a->count},
        {"latency_p50_us", a->p50},
        {"latency_p90_us", a->p90},
        {"latency_p99_us", a->p99},
        {"latency_p999_us", a->p999},
        {"latency_max_us", a->max},
        {"latency_1m_count", w->count},
        {"latency_1m_p50_us", w->p50},
        {"latency_1m_p90_us", w->p90},
        {"latency_1m_p99_us", w->p99},
        {"latency_1m_p999_us", w->p999},
        {"latency_1m_max_us", w->max},
    };

    memcpy(out, list, sizeof(list));
}

#define POOL_FIGURES 10

/* Nutcracker's pool fields, then libshard's; `ejects` sums the servers'. */
static void
pool_list(const pool_stats *p, uint64_t ejects, figure *out)
{
    const figure list[POOL_FIGURES] = {
        {"client_eof", STAT_GET(p->client_eof)},
        {"client_err", STAT_GET(p->client_err)},
        {"client_connections", STAT_GET(p->client_connections)},
        {"server_ejects", ejects},
        {"forward_error", STAT_GET(p->forward_error)},
        {"fragments", STAT_GET(p->fragments)},
        {"split_key_errors", STAT_GET(p->split_key_errors)},
        {"retries", STAT_GET(p->retries)},
        {"sentinel_switches", STAT_GET(p->sentinel_switches)},
        {"reloads", STAT_GET(p->reloads)},
    };

    memcpy(out, list, sizeof(list));
}

/* Adds each figure to `obj`; false when out of memory. */
static bool
put_figures(json_t *obj, const figure *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (json_object_set_new(obj, list[i].name,
                                json_integer((json_int_t)list[i].value)) != 0)
            return false;
    }
    return true;
}

/* Everything read at one moment. */
typedef struct snapshot {
    server_figures *servers;
    uint64_t ejects, total_connections, curr_connections;
} snapshot;

static bool
take_snapshot(const stats_view *v, snapshot *s)
{
    int64_t now_s = clock_monotonic_us() / 1000000;

    memset(s, 0, sizeof(*s));
    s->servers =
        calloc(v->server_count ? v->server_count : 1, sizeof(*s->servers));
    if (s->servers == NULL)
        return false;
    for (size_t i = 0; i < v->server_count; i++) {
        read_server(&v->servers[i].stats, now_s, &s->servers[i]);
        s->ejects += s->servers[i].ejections;
        s->curr_connections += s->servers[i].connections;
        s->total_connections += STAT_GET(v->servers[i].stats.opened);
    }
    return true;
}

static json_t *
pool_object(const stats_view *v, const snapshot *s)
{
    figure pool[POOL_FIGURES], server[SERVER_FIGURES];
    json_t *obj = json_object();
    bool ok = obj != NULL;

    pool_list(v->pool, s->ejects, pool);
    ok = ok && put_figures(obj, pool, POOL_FIGURES);
    for (size_t i = 0; ok && i < v->server_count; i++) {
        json_t *so = json_object();
        server_list(&s->servers[i], server);
        /* The pool holds it first: freed with it whatever fails next. */
        ok = so != NULL &&
             json_object_set_new(obj, v->servers[i].identity, so) == 0 &&
             put_figures(so, server, SERVER_FIGURES);
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Sets `key` to `value` (taken over, also on failure); false on failure. */
static bool
put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value) == 0;
}

char *
stats_json(const stats_view *v, size_t *len)
{
    char host[256] = "";
    snapshot s;
    char *text = NULL;

    if (!take_snapshot(v, &s))
        return NULL;
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "unknown");
    int64_t uptime = (clock_monotonic_us() - v->opened_us) / 1000000;
    json_t *doc = json_object();
    if (doc != NULL && put(doc, "service", json_string("libshard")) &&
        put(doc, "source", json_string(host)) &&
        put(doc, "version", json_string(SHARD_VERSION_STRING)) &&
        put(doc, "uptime", json_integer(uptime)) &&
        put(doc, "timestamp", json_integer(clock_wall_us() / 1000000)) &&
        put(doc, "total_connections",
            json_integer((json_int_t)s.total_connections)) &&
        put(doc, "curr_connections",
            json_integer((json_int_t)s.curr_connections)) &&
        put(doc, v->pool_name, pool_object(v, &s)))
        text = json_dumps(doc, 0);
    json_decref(doc);
    free(s.servers);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

/* Prometheus label values escape backslash, double quote and newline. */
static void
put_label(FILE *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

/* Counters end in _total; the rest are gauges. */
static bool
is_gauge(const char *name)
{
    static const char *const gauges[] = {
        "server_connections", "server_ejected_at", "in_queue",
        "in_queue_bytes",     "out_queue",         "out_queue_bytes",
        "client_connections"};

    if (strncmp(name, "latency_", 8) == 0)
        return true;
    for (size_t i = 0; i < sizeof(gauges) / sizeof(gauges[0]); i++) {
        if (strcmp(name, gauges[i]) == 0)
            return true;
    }
    return false;
}

/* The name of a figure's metric family; counters end in _total. */
static void
put_family(FILE *out, const char *name)
{
    fprintf(out, "shard_%s%s", name, is_gauge(name) ? "" : "_total");
}

static void
put_type(FILE *out, const char *name)
{
    fputs("# TYPE ", out);
    put_family(out, name);
    fprintf(out, " %s\n", is_gauge(name) ? "gauge" : "counter");
}

static void
put_sample(FILE *out, const char *name, const char *pool, const char *server,
           uint64_t value)
{
    put_family(out, name);
    fputs("{pool=\"", out);
    put_label(out, pool);
    if (server != NULL) {
        fputs("\",server=\"", out);
        put_label(out, server);
    }
    fprintf(out, "\"} %llu\n", (unsigned long long)value);
}

char *
stats_prometheus(const stats_view *v, size_t *len)
{
    figure pool[POOL_FIGURES], server[SERVER_FIGURES];
    char *text = NULL;
    size_t size = 0;
    snapshot s;

    if (!take_snapshot(v, &s))
        return NULL;
    FILE *out = open_memstream(&text, &size);
    if (out == NULL) {
        free(s.servers);
        return NULL;
    }
    pool_list(v->pool, s.ejects, pool);
    for (size_t i = 0; i < POOL_FIGURES; i++) {
        put_type(out, pool[i].name);
        put_sample(out, pool[i].name, v->pool_name, NULL, pool[i].value);
    }
    /* One family per figure, every server in it. */
    for (size_t f = 0; f < SERVER_FIGURES; f++) {
        for (size_t i = 0; i < v->server_count; i++) {
            server_list(&s.servers[i], server);
            if (i == 0)
                put_type(out, server[f].name);
            put_sample(out, server[f].name, v->pool_name,
                       v->servers[i].identity, server[f].value);
        }
    }
    free(s.servers);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = size;
    return text;
}
