/*
 * shard-faults: what an application sees when one of its cache servers
 * fails, through nutcracker 0.5 and through libshard, side by side
 * (docs/failures.md shows a run).
 *
 * For each fault and each way of reaching the servers, it starts a pool of
 * three fresh redis-servers (F, the one made faulty, and H1, H2), reads
 * through the pool once so that its connections are up, injects the fault
 * and records what each request returns and how long it took: the first
 * GET of a key of F, the next ones back to back, a GET of a key of H1, an
 * MGET of both keys, and, once F is back, how long until its key is read
 * from F again (polled every 5 ms). Two faults need a stand-in for F that
 * redis-server cannot play on demand (faults_fake.c): a listener that
 * never answers, and a server answering -LOADING. faults_report.c turns
 * the outcomes into the tables.
 *
 * The ways: nutcracker through a hiredis blocking context, without and
 * with ejection; libshard with its defaults, with ejection, and with
 * ejection, server_probe and read_retries. Every pool has timeout 500.
 *
 *   shard-faults [FAULT...]     every fault by default; a wrong name lists them
 *
 * It prints one Markdown table per fault and never judges: it is not a
 * test.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <shard/shard.h>

#include "faults.h"
#include "harness.h"

#define TIMEOUT_MS 500     /* every pool's timeout */
#define NEXT_GETS 4        /* GETs of F's key after the first one */
#define SETTLE_MS 50       /* from a fault to the first request */
#define IN_FLIGHT_MS 100   /* a request waits this long, then F is killed */
#define DUE_WAIT_MS 550    /* past server_retry_timeout (500) */
#define POLL_MS 5          /* between GETs while F comes back */
#define OUTAGE_MS 3000     /* outage, long-hang: how long F stays down */
#define TRAFFIC_MS 10      /* outage, long-hang: between GETs meanwhile */
#define BACK_LIMIT_MS 4000 /* stop waiting for F's key after this */
#define NUT_IO_MS 5000     /* hiredis timeout towards nutcracker */
#define CLOSE_WAIT_MS 20   /* how long to watch nutcracker close a client */
#define MAX_EVENTS 4096    /* events kept per scenario */

enum role { ROLE_F, ROLE_H1, ROLE_H2 }; /* indices of NSERVERS */

#define EJECT                                                                  \
    "  auto_eject_hosts: true\n  server_failure_limit: 1\n"                    \
    "  server_retry_timeout: 500\n"

/* One way of reaching the servers: a column of every table. */
typedef struct way {
    const char *title;      /* the column's heading */
    bool nutcracker;        /* through nutcracker, else libshard */
    const char *directives; /* pool directives beyond timeout and servers */
} way;

static const way ways[] = {
    {"nutcracker", true, ""},
    {"nutcracker, eject", true, EJECT},
    {"libshard", false, ""},
    {"libshard, eject", false, EJECT},
    {"libshard, eject + probe + retry", false,
     EJECT "  server_probe: true\n  read_retries: 1\n"},
};

_Static_assert(sizeof(ways) / sizeof(ways[0]) == WAY_COUNT, "a column each");

typedef enum fault_kind {
    FAULT_REFUSED,   /* killed before the requests: connects refused */
    FAULT_IN_FLIGHT, /* killed while a request waits for its reply */
    FAULT_HUNG,      /* SIGSTOP, then SIGCONT */
    FAULT_RESTART,   /* killed and started again on its port at once */
    FAULT_ALL_DEAD,  /* every server killed */
    FAULT_SILENT,    /* a listener that accepts and never answers */
    FAULT_LOADING,   /* -LOADING to every command, then normal answers */
    FAULT_RETRY_DUE, /* still dead when server_retry_timeout has passed */
    FAULT_OUTAGE,    /* dead for seconds under steady traffic */
    FAULT_LONG_HANG, /* hung for seconds under steady traffic */
    FAULT_COUNT
} fault_kind;

typedef struct fault_info {
    const char *name;  /* on the command line */
    const char *title; /* the table's heading */
    const char *how;   /* what is done, printed under it */
} fault_info;

static const fault_info faults[FAULT_COUNT] = {
    {"refused", "Connect refused (server killed)",
     "F is killed (SIGKILL) 50 ms before the first request: connects to it "
     "are refused. Back: started again on its port."},
    {"in-flight", "Server killed with a request in flight",
     "F is stopped (SIGSTOP), the first GET is sent, and 100 ms later F is "
     "killed (SIGKILL) with the GET unanswered. Back: started again on its "
     "port."},
    {"hung", "Hung server (SIGSTOP), then SIGCONT",
     "F is stopped (SIGSTOP) 50 ms before the first request: connects still "
     "succeed (the kernel accepts), nothing is answered. Back: SIGCONT."},
    {"restart", "Restart on the same port",
     "F is killed and at once started again on its port (a supervisor's "
     "restart), 50 ms before the first request: the pool's connection to it "
     "is dead. The timing of the last row starts at the restart."},
    {"all-dead", "Every server dead",
     "F, H1 and H2 are killed 50 ms before the first request. Back: all "
     "three started again on their ports."},
    {"silent", "A listener that accepts and never answers",
     "F is a thread that accepts connections, reads and never answers, from "
     "the start (the pool never talked to a real F). Back: the listener "
     "closes its connections and a redis-server starts on its port."},
    {"loading", "-LOADING replies",
     "F is a thread answering -LOADING to every command, from the start. "
     "Back: the same connections get normal answers (loading is over)."},
    {"retry-due", "Still dead when server_retry_timeout has passed",
     "F is killed as in the first table; after the first rows the program "
     "waits 550 ms (server_retry_timeout is 500) and sends two more GETs of "
     "F's key: twemproxy's blind return against the probe. Back: started "
     "again on its port."},
    {"outage", "A 3-second outage under steady traffic",
     "F is killed as in the first table; after the first rows the program "
     "sends a GET of F's key every 10 ms for 3 s, then starts F again on "
     "its port."},
    {"long-hang", "A 3-second hang under steady traffic",
     "F is stopped (SIGSTOP) as in the third table; after the first rows "
     "the program sends a GET of F's key every 10 ms for 3 s, then sends F "
     "SIGCONT."},
};

/* One fault through one way. */
typedef struct scenario {
    fault_kind fault;
    const way *way;
    int w;                           /* the way's column */
    table *t;                        /* where its cells go */
    harness_server *redis[NSERVERS]; /* by role; NULL while dead or faked */
    fake *stand_in;                  /* plays F in some faults */
    int port[NSERVERS];              /* by role */
    char addr[NSERVERS][32];         /* "127.0.0.1:port", by role */
    harness_server *nut;             /* nutcracker ways */
    int nut_port;                    /* where it listens */
    redisContext *proxy;             /* hiredis to nutcracker */
    shard_pool *pool;                /* libshard; in nutcracker ways only
                                        to place the keys */
    char key_f[32], key_h[32];       /* a key of F, a key of H1 */
    int64_t back_us;                 /* when F came back; 0 before */
    int64_t home_us;                 /* when F's key came from F after it */
    tally before_home;               /* F's key between the two */
    pthread_t killer;                /* FAULT_IN_FLIGHT: kills F later */
} scenario;

/* What the running scenario's event_fn heard since the fault. */
static seen events[MAX_EVENTS];
static int nevents;

/* --- time ----------------------------------------------------------------- */

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* --- outcomes --------------------------------------------------------------
 */

static const char *
code_name(int rc)
{
    static const char *const names[] = {
        "OK",      "EINVAL",       "ENOMEM", "ECONFIG",   "ENOPOOL",
        "EIO",     "ETIMEDOUT",    "ECONN",  "ENOSERVER", "EPROTO",
        "ECLOSED", "EUNSUPPORTED", "ESTATE"};

    if (rc > 0 || -rc >= (int)(sizeof(names) / sizeof(names[0])))
        return "E?";
    return names[-rc];
}

/* A reply element as a cell shows it; a long error keeps its first word
 * there and the whole text in `detail` (when that is still empty). */
static void
describe_value(char *out, size_t size, int type, const char *str, size_t len,
               char *detail, size_t dsize)
{
    int shown = len > 40 ? 40 : (int)len;

    switch (type) {
    case SHARD_REPLY_STRING:
        snprintf(out, size, "\"%.*s\"", shown, str);
        break;
    case SHARD_REPLY_NIL:
        snprintf(out, size, "nil");
        break;
    case SHARD_REPLY_STATUS:
        snprintf(out, size, "+%.*s", shown, str);
        break;
    case SHARD_REPLY_ERROR:
        if (len <= 30) {
            snprintf(out, size, "-%.*s", (int)len, str);
            break;
        }
        snprintf(out, size, "-%.*s…", (int)strcspn(str, " "), str);
        if (detail[0] == '\0')
            snprintf(detail, dsize, "-%.*s", (int)len, str);
        break;
    default:
        snprintf(out, size, "type %d", type);
    }
}

/* The array of an MGET, element by element, through `at`. */
typedef void (*element_fn)(const void *reply, size_t i, int *type,
                           const char **str, size_t *len);

static void
describe_array(outcome *o, const void *reply, size_t n, element_fn at)
{
    size_t used = (size_t)snprintf(o->kind, sizeof(o->kind), "[");

    for (size_t i = 0; i < n && used < sizeof(o->kind); i++) {
        char one[64];
        const char *str;
        size_t len;
        int type;
        at(reply, i, &type, &str, &len);
        describe_value(one, sizeof(one), type, str, len, o->detail,
                       sizeof(o->detail));
        used += (size_t)snprintf(o->kind + used, sizeof(o->kind) - used, "%s%s",
                                 i ? ", " : "", one);
    }
    if (used < sizeof(o->kind))
        snprintf(o->kind + used, sizeof(o->kind) - used, "]");
}

static void
shard_element(const void *reply, size_t i, int *type, const char **str,
              size_t *len)
{
    const shard_reply *e = shard_reply_at(reply, i);

    *type = shard_reply_type(e);
    *str = shard_reply_str(e, len);
    if (*str == NULL) {
        *str = "";
        *len = 0;
    }
}

static void
hiredis_element(const void *reply, size_t i, int *type, const char **str,
                size_t *len)
{
    const redisReply *e = ((const redisReply *)reply)->element[i];

    /* hiredis numbers reply types as libshard does (reply.h). */
    *type = e->type;
    *str = e->str != NULL ? e->str : "";
    *len = e->str != NULL ? e->len : 0;
}

static bool
is_home(int type, const char *str, size_t len)
{
    return type == SHARD_REPLY_STRING && len == 4 &&
           memcmp(str, "home", 4) == 0;
}

/* --- the two clients ------------------------------------------------------
 */

static void
shard_run(scenario *s, int argc, const char **argv, outcome *o)
{
    shard_reply *r = NULL;
    int64_t t0 = now_us();
    int rc = shard_command_argv(s->pool, &r, argc, argv, NULL);
    size_t len = 0;
    const char *str;

    o->ms = (double)(now_us() - t0) / 1000;
    if (rc != SHARD_OK) {
        snprintf(o->kind, sizeof(o->kind), "%s", code_name(rc));
        snprintf(o->detail, sizeof(o->detail), "%s",
                 shard_pool_errmsg(s->pool));
        return;
    }
    if (shard_reply_type(r) == SHARD_REPLY_ARRAY) {
        describe_array(o, r, shard_reply_len(r), shard_element);
    } else {
        str = shard_reply_str(r, &len);
        describe_value(o->kind, sizeof(o->kind), shard_reply_type(r),
                       str ? str : "", len, o->detail, sizeof(o->detail));
        o->home = str != NULL && is_home(shard_reply_type(r), str, len);
    }
    shard_reply_free(r);
}

static bool
nut_connect(scenario *s)
{
    struct timeval tv = {NUT_IO_MS / 1000, 0};

    s->proxy = redisConnectWithTimeout("127.0.0.1", s->nut_port, tv);
    if (s->proxy != NULL && s->proxy->err == 0 &&
        redisSetTimeout(s->proxy, tv) == REDIS_OK)
        return true;
    redisFree(s->proxy);
    s->proxy = NULL;
    return false;
}

/* True when nutcracker closes the connection soon (after an error). */
static bool
closed_soon(const redisContext *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    char byte;

    if (poll(&p, 1, CLOSE_WAIT_MS) <= 0)
        return false;
    return recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void
nut_lost(scenario *s, outcome *o)
{
    const redisContext *c = s->proxy;

    if (c->err == REDIS_ERR_EOF)
        snprintf(o->kind, sizeof(o->kind), "connection closed");
    else if (c->err == REDIS_ERR_IO && errno == EAGAIN)
        snprintf(o->kind, sizeof(o->kind), "no reply in %d s",
                 NUT_IO_MS / 1000);
    else
        snprintf(o->kind, sizeof(o->kind), "I/O error: %.100s", c->errstr);
    redisFree(s->proxy);
    s->proxy = NULL;
}

static void
nut_run(scenario *s, int argc, const char **argv, outcome *o)
{
    redisReply *r;
    int64_t t0;
    bool error;

    if (s->proxy == NULL && !nut_connect(s)) { /* untimed, as a pool's */
        snprintf(o->kind, sizeof(o->kind), "cannot connect to nutcracker");
        return;
    }
    t0 = now_us();
    r = redisCommandArgv(s->proxy, argc, argv, NULL);
    o->ms = (double)(now_us() - t0) / 1000;
    if (r == NULL) {
        nut_lost(s, o);
        return;
    }
    error = r->type == REDIS_REPLY_ERROR;
    if (r->type == REDIS_REPLY_ARRAY) {
        describe_array(o, r, r->elements, hiredis_element);
        for (size_t i = 0; i < r->elements; i++)
            error = error || r->element[i]->type == REDIS_REPLY_ERROR;
    } else {
        describe_value(o->kind, sizeof(o->kind), r->type, r->str ? r->str : "",
                       r->str ? r->len : 0, o->detail, sizeof(o->detail));
        o->home = r->str != NULL && is_home(r->type, r->str, r->len);
    }
    freeReplyObject(r);
    /* nutcracker closes a client after a failed MGET (twemproxy-0.5.md
     * 4.4); a close after anything else shows on the next request. */
    if (error && argc > 2 && closed_soon(s->proxy)) {
        size_t used = strlen(o->kind);
        snprintf(o->kind + used, sizeof(o->kind) - used, ", then closed");
        redisFree(s->proxy);
        s->proxy = NULL;
    }
}

static void
run_command(scenario *s, int argc, const char **argv, outcome *o)
{
    memset(o, 0, sizeof(*o));
    if (s->way->nutcracker)
        nut_run(s, argc, argv, o);
    else
        shard_run(s, argc, argv, o);
}

/* GET of F's key; once F is back, the first read from F is noted. */
static void
get_f(scenario *s, outcome *o)
{
    const char *argv[] = {"GET", s->key_f};

    run_command(s, 2, argv, o);
    if (s->back_us == 0 || s->home_us != 0)
        return;
    if (o->home)
        s->home_us = now_us();
    else
        tally_add(&s->before_home, o);
}

static void
get_h(scenario *s, outcome *o)
{
    const char *argv[] = {"GET", s->key_h};

    run_command(s, 2, argv, o);
}

static void
mget(scenario *s, outcome *o)
{
    const char *argv[] = {"MGET", s->key_f, s->key_h};

    run_command(s, 3, argv, o);
}

/* --- events ----------------------------------------------------------------
 */

static void
on_event(const shard_event *ev, void *userdata)
{
    const scenario *s = userdata;
    int role = -1;

    for (int i = 0; i < NSERVERS; i++) {
        if (strcmp(ev->addr, s->addr[i]) == 0)
            role = i;
    }
    if (nevents == MAX_EVENTS)
        return;
    events[nevents] = (seen){ev->type, role, ev->delay_ms, ""};
    snprintf(events[nevents++].reason, sizeof(events[0].reason), "%s",
             ev->reason);
}

/* --- a scenario: one fault through one way ---------------------------------
 */

static bool
direct_set(int port, const char *key, const char *value)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    redisReply *r = NULL;
    bool ok;

    if (c != NULL && c->err == 0)
        r = redisCommand(c, "SET %s %s", key, value);
    ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Starts the role's redis-server on its port again, with its key. */
static bool
restart_role(scenario *s, int role)
{
    s->redis[role] = harness_redis_start_port(s->port[role], NULL);
    if (s->redis[role] == NULL)
        return false;
    if (role == ROLE_F)
        return direct_set(s->port[role], s->key_f, "home");
    if (role == ROLE_H1)
        return direct_set(s->port[role], s->key_h, "h");
    return true;
}

/* SIGKILL; the harness keeps the record until harness_stop_all. */
static void
kill_role(scenario *s, int role)
{
    harness_kill(s->redis[role]);
    s->redis[role] = NULL;
}

static void
mark_back(scenario *s)
{
    s->back_us = now_us();
    if (nevents < MAX_EVENTS)
        events[nevents++] = (seen){0, ROLE_F, 0, ""};
}

static bool
start_servers(scenario *s)
{
    bool faked = s->fault == FAULT_SILENT || s->fault == FAULT_LOADING;

    for (int i = 0; i < NSERVERS; i++) {
        if (i == ROLE_F && faked) {
            s->stand_in = fake_start(s->fault == FAULT_SILENT ? FAKE_SILENT
                                                              : FAKE_LOADING);
            if (s->stand_in == NULL)
                return false;
            s->port[i] = fake_port(s->stand_in);
        } else {
            s->redis[i] = harness_redis_start(NULL);
            if (s->redis[i] == NULL)
                return false;
            s->port[i] = s->redis[i]->port;
        }
        snprintf(s->addr[i], sizeof(s->addr[i]), "127.0.0.1:%d", s->port[i]);
        memcpy(s->t->addr[i], s->addr[i], sizeof(s->addr[i]));
    }
    return true;
}

/* The pool (libshard ways), or nutcracker and a pool that only places
 * keys (nutcracker ways): the same config, so the same placement. */
static bool
open_pool(scenario *s)
{
    static int files;
    char yaml[1024];
    size_t used;
    shard_options opts = SHARD_OPTIONS_INIT;
    const char *path;

    s->nut_port = harness_free_port();
    used = (size_t)snprintf(yaml, sizeof(yaml),
                            "faults:\n  listen: 127.0.0.1:%d\n  redis: true\n"
                            "  timeout: %d\n%s  servers:\n",
                            s->nut_port, TIMEOUT_MS, s->way->directives);
    for (int i = 0; i < NSERVERS; i++)
        used += (size_t)snprintf(yaml + used, sizeof(yaml) - used,
                                 "   - %s:1\n", s->addr[i]);
    opts.event_fn = on_event;
    opts.event_userdata = s;
    if (shard_pool_open_string(&s->pool, yaml, used, NULL,
                               s->way->nutcracker ? NULL : &opts) != SHARD_OK) {
        fprintf(stderr, "shard-faults: %s\n", shard_last_error());
        return false;
    }
    if (!s->way->nutcracker)
        return true;
    path = harness_write_file(harness_fmt("faults-%d.yml", files++), yaml);
    s->nut = path != NULL ? harness_nutcracker_start(path, s->nut_port) : NULL;
    return s->nut != NULL && nut_connect(s);
}

/* A key that the pool places on `role`'s server. */
static bool
pick_key(const scenario *s, int role, char *key, size_t size)
{
    int index = -1;

    for (size_t i = 0; i < NSERVERS; i++) {
        if (strcmp(shard_pool_server_addr(s->pool, i), s->addr[role]) == 0)
            index = (int)i;
    }
    for (int n = 0; n < 100000; n++) {
        snprintf(key, size, "key:%d", n);
        if (shard_pool_locate(s->pool, key, strlen(key)) == index)
            return true;
    }
    return false;
}

/* Servers, pool, keys and values; then a read of each key through the
 * pool so that its connections are up (not F's when a stand-in plays it:
 * it is faulty from the start). */
static bool
setup(scenario *s)
{
    outcome o;

    if (!start_servers(s) || !open_pool(s) ||
        !pick_key(s, ROLE_F, s->key_f, sizeof(s->key_f)) ||
        !pick_key(s, ROLE_H1, s->key_h, sizeof(s->key_h)) ||
        !direct_set(s->port[ROLE_H1], s->key_h, "h"))
        return false;
    if (s->stand_in == NULL && !direct_set(s->port[ROLE_F], s->key_f, "home"))
        return false;
    get_h(s, &o);
    if (s->stand_in == NULL)
        get_f(s, &o);
    sleep_ms(20);
    return true;
}

static void *
kill_later(void *arg)
{
    sleep_ms(IN_FLIGHT_MS);
    harness_kill(arg);
    return NULL;
}

static bool
inject(scenario *s)
{
    switch (s->fault) {
    case FAULT_REFUSED:
    case FAULT_RETRY_DUE:
    case FAULT_OUTAGE:
        kill_role(s, ROLE_F);
        break;
    case FAULT_IN_FLIGHT:
        /* Stopped, the server's kernel still takes the request in. */
        harness_pause(s->redis[ROLE_F]);
        return pthread_create(&s->killer, NULL, kill_later, s->redis[ROLE_F]) ==
               0;
    case FAULT_HUNG:
    case FAULT_LONG_HANG:
        harness_pause(s->redis[ROLE_F]);
        break;
    case FAULT_RESTART:
        kill_role(s, ROLE_F);
        if (!restart_role(s, ROLE_F))
            return false;
        mark_back(s);
        break;
    case FAULT_ALL_DEAD:
        for (int i = 0; i < NSERVERS; i++)
            kill_role(s, i);
        break;
    default: /* the stand-ins are faulty from the start */
        break;
    }
    sleep_ms(SETTLE_MS);
    return true;
}

static bool
restore(scenario *s)
{
    switch (s->fault) {
    case FAULT_HUNG:
    case FAULT_LONG_HANG:
        harness_resume(s->redis[ROLE_F]);
        break;
    case FAULT_RESTART:
        return true; /* back before the first request */
    case FAULT_ALL_DEAD:
        for (int i = 0; i < NSERVERS; i++) {
            if (!restart_role(s, i))
                return false;
        }
        break;
    case FAULT_SILENT:
        fake_stop(s->stand_in);
        s->stand_in = NULL;
        if (!restart_role(s, ROLE_F))
            return false;
        break;
    case FAULT_LOADING:
        fake_set_mode(s->stand_in, FAKE_READY);
        break;
    default:
        if (!restart_role(s, ROLE_F))
            return false;
    }
    mark_back(s);
    return true;
}

/* GETs of F's key until it comes from F (or the limit). */
static void
await_home(scenario *s)
{
    int64_t limit = s->back_us + (int64_t)BACK_LIMIT_MS * 1000;
    outcome o;

    while (s->home_us == 0 && now_us() < limit) {
        get_f(s, &o);
        if (!o.home)
            sleep_ms(POLL_MS);
    }
}

/* A GET of F's key every TRAFFIC_MS for OUTAGE_MS, counted by outcome. */
static void
steady_traffic(scenario *s)
{
    int64_t end = now_us() + (int64_t)OUTAGE_MS * 1000;
    tally counted = {0};
    double slowest = 0;
    outcome o;

    while (now_us() < end) {
        get_f(s, &o);
        tally_add(&counted, &o);
        slowest = o.ms > slowest ? o.ms : slowest;
        sleep_ms(TRAFFIC_MS);
    }
    cell_tally(s->t, ROW_TRAFFIC, s->w, &counted, slowest);
}

/* The rows of the fault's table, in this way's column. */
static void
play(scenario *s)
{
    outcome o, next[NEXT_GETS];

    get_f(s, &o);
    if (s->fault == FAULT_IN_FLIGHT) {
        pthread_join(s->killer, NULL);
        s->redis[ROLE_F] = NULL;
    }
    cell_one(s->t, ROW_FIRST, s->w, &o);
    for (int i = 0; i < NEXT_GETS; i++)
        get_f(s, &next[i]);
    cell_many(s->t, ROW_NEXT, s->w, next, NEXT_GETS);
    get_h(s, &o);
    cell_one(s->t, ROW_HEALTHY, s->w, &o);
    mget(s, &o);
    cell_one(s->t, ROW_MGET, s->w, &o);
    if (s->fault == FAULT_RETRY_DUE) {
        sleep_ms(DUE_WAIT_MS);
        get_f(s, &o);
        cell_one(s->t, ROW_DUE, s->w, &o);
        get_f(s, &o);
        cell_one(s->t, ROW_DUE_NEXT, s->w, &o);
    }
    if (s->fault == FAULT_OUTAGE || s->fault == FAULT_LONG_HANG)
        steady_traffic(s);
}

static void
run_scenario(table *t, fault_kind fault, int w)
{
    scenario *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return;
    s->fault = fault;
    s->way = &ways[w];
    s->w = w;
    s->t = t;
    if (!setup(s)) {
        cell_text(t, ROW_FIRST, w, "setup failed");
    } else if (nevents = 0, !inject(s)) {
        cell_text(t, ROW_FIRST, w, "could not inject the fault");
    } else {
        play(s);
        if (restore(s)) {
            await_home(s);
            cell_back(t, w,
                      s->home_us ? (double)(s->home_us - s->back_us) / 1000
                                 : -1,
                      BACK_LIMIT_MS / 1000, &s->before_home);
        } else {
            cell_text(t, ROW_BACK, w, "could not bring F back");
        }
        if (!s->way->nutcracker)
            table_events(t, w, events, nevents);
    }
    shard_pool_free(s->pool);
    redisFree(s->proxy);
    fake_stop(s->stand_in);
    harness_stop_all();
    free(s);
}

/* --- report ----------------------------------------------------------------
 */

/* A blank table for `fault`: headings, and the rows it shows. */
static void
table_init(table *t, fault_kind fault)
{
    bool due = fault == FAULT_RETRY_DUE;
    bool traffic = fault == FAULT_OUTAGE || fault == FAULT_LONG_HANG;

    memset(t, 0, sizeof(*t));
    t->title = faults[fault].title;
    t->how = faults[fault].how;
    for (int w = 0; w < WAY_COUNT; w++) {
        t->col[w] = ways[w].title;
        t->col_events[w] = !ways[w].nutcracker;
    }
    t->row_label[ROW_FIRST] = "first GET of F's key";
    t->row_label[ROW_NEXT] = "next 4 GETs of it, back to back";
    t->row_label[ROW_HEALTHY] = fault == FAULT_ALL_DEAD
                                    ? "GET of H1's key (H1 dead too)"
                                    : "GET of H1's key";
    t->row_label[ROW_MGET] = "MGET of F's key and H1's";
    t->row_label[ROW_DUE] = due ? "GET of F's key 550 ms later" : NULL;
    t->row_label[ROW_DUE_NEXT] = due ? "the GET after it" : NULL;
    t->row_label[ROW_TRAFFIC] =
        traffic ? "a GET of F's key every 10 ms for 3 s" : NULL;
    t->row_label[ROW_BACK] = fault == FAULT_RESTART
                                 ? "from the restart until F's key is read "
                                   "from F"
                                 : "F back: until its key is read from F";
}

static void
print_header(void)
{
    printf("shard-faults, libshard %s, %ld CPUs. Each pool: 3 "
           "redis-servers, F (made faulty), H1 and H2; `timeout: %d`. "
           "Columns: nutcracker 0.5 (hiredis blocking context; `eject` is "
           "`auto_eject_hosts: true`, `server_failure_limit: 1`, "
           "`server_retry_timeout: 500`), libshard with the same settings, "
           "and libshard with `server_probe: true` and `read_retries: 1` as "
           "well. Cells: what the call returned and how long it took. "
           "\"home\" is F's value of its key, \"h\" H1's value of its key, "
           "nil a miss (the key served by another server); ECONN, "
           "ETIMEDOUT, ENOSERVER are libshard's SHARD_E* return codes; [n] "
           "is a message listed under the table, server addresses "
           "replaced by F, H1, H2.\n\n",
           shard_version(), sysconf(_SC_NPROCESSORS_ONLN), TIMEOUT_MS);
}

static int
usage(void)
{
    fprintf(stderr, "usage: shard-faults [FAULT...]\nfaults:");
    for (int f = 0; f < FAULT_COUNT; f++)
        fprintf(stderr, " %s", faults[f].name);
    fprintf(stderr, "\n");
    return 2;
}

int
main(int argc, char **argv)
{
    bool wanted[FAULT_COUNT] = {false};
    table *t = malloc(sizeof(*t));

    if (t == NULL)
        return 1;
    signal(SIGPIPE, SIG_IGN); /* hiredis writing to a closed proxy link */
    for (int i = 1; i < argc; i++) {
        int f = 0;
        while (f < FAULT_COUNT && strcmp(argv[i], faults[f].name) != 0)
            f++;
        if (f == FAULT_COUNT)
            return usage();
        wanted[f] = true;
    }
    print_header();
    for (int f = 0; f < FAULT_COUNT; f++) {
        if (argc > 1 && !wanted[f])
            continue;
        table_init(t, (fault_kind)f);
        for (int w = 0; w < WAY_COUNT; w++)
            run_scenario(t, (fault_kind)f, w);
        table_print(t);
        fflush(stdout);
    }
    free(t);
    harness_cleanup();
    return 0;
}
