/*
 * The command path, without servers: arbitrary argv through dispatch
 * (the command table, key finding, routing, refusals, the split of MGET,
 * DEL, UNLINK, TOUCH, EXISTS and MSET), on a real pool whose connections
 * are a fake backend. The script answers each fragment as a server might:
 * the right reply, an error, a wrong shape, a dropped connection, a
 * timeout; the request must then complete with a well-formed reply or
 * failure, never wait for nothing. Lost connections eject servers and
 * read_retries resend, as in a live pool; the clock is the script's too,
 * and so are reloads to another of the pools while requests are out.
 *
 * Checked: every fragment's keys live on the live server it is sent to,
 * its RESP encoding reads back as its argv, refused and local commands
 * send nothing, and when every server answers right the joined reply is
 * exactly right (MGET values in key order, DEL counts summed, MSET OK).
 *
 * Input: one byte choosing the pool; then commands, one per line, their
 * arguments separated by spaces, '\' taking the next byte as it is; an
 * unescaped 0xff ends them and the bytes after it are the servers'
 * answers (answer()). When the answers run out every server answers right.
 */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "command.h"
#include "conn_redis.h"
#include "dispatch.h" /* and lib/pool.h, which "pool.h" would not be */
#include "fuzz.h"
#include "resp.h"

/* --- the script ----------------------------------------------------------- */

static fuzz_bytes answers;    /* what the servers do */
static int64_t now_us;        /* the clock libshard reads */
static bool all_right;        /* every server answered right so far */
static size_t sends;          /* commands sent, probes not counted */
static shard_pool *pool_now;  /* the input's pool */
static unsigned ring_changes; /* ejections, returns and reloads so far */
static unsigned routed_at;    /* ring_changes when the command was routed */
static int socket_fds[2] = {-1, -1}; /* an idle socket for connections */

/* The pools: ketama with a hash tag, ejection and read retries; modula
 * without ejection; random with the probe; one server; two servers. */
static const char *const pools[] = {
    "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: fnv1a_64\n"
    "  hash_tag: \"{}\"\n  distribution: ketama\n  auto_eject_hosts: true\n"
    "  server_failure_limit: 1\n  server_retry_timeout: 2000\n"
    "  read_retries: 2\n  timeout: 400\n  servers:\n"
    "   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:1\n   - 127.0.0.1:7003:2 c\n"
    "   - 127.0.0.1:7004:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: murmur\n"
    "  distribution: modula\n  servers:\n   - 127.0.0.1:7001:1\n"
    "   - 127.0.0.1:7002:2\n   - 127.0.0.1:7003:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: crc32a\n"
    "  hash_tag: \"$$\"\n  distribution: random\n  auto_eject_hosts: true\n"
    "  server_failure_limit: 2\n  server_retry_timeout: 500\n"
    "  server_probe: true\n  read_retries: 1\n  servers:\n"
    "   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:1\n   - 127.0.0.1:7003:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: md5\n"
    "  auto_eject_hosts: true\n  servers:\n   - 127.0.0.1:7001:1\n",
    "p:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: hsieh\n"
    "  hash_tag: \"{}\"\n  auto_eject_hosts: true\n"
    "  server_failure_limit: 1\n  server_retry_timeout: 100\n"
    "  server_probe: true\n  read_retries: 3\n  servers:\n"
    "   - 127.0.0.1:7001:1\n   - 127.0.0.1:7002:1\n",
};
static const size_t npools = sizeof(pools) / sizeof(pools[0]);

/* clock.c, replaced at link time (--wrap): time moves when the script
 * says, so timeouts, back-off and retry times are part of the input.
 * conn_redis_new too: the pool's connections are the fake backend. */
int64_t __wrap_clock_monotonic_us(void);
int64_t __wrap_clock_wall_us(void);

int64_t
__wrap_clock_monotonic_us(void)
{
    return now_us;
}

int64_t
__wrap_clock_wall_us(void)
{
    return 1700000000000000 + now_us;
}

/* --- a fake backend ------------------------------------------------------- */

conn *__wrap_conn_redis_new(conn_env *env, const conn_target *target,
                            server_stats *stats, int server,
                            const conn_redis_login *login);

/* A connection whose server is the script. */
typedef struct fake_conn {
    conn base;         /* first: a conn * is a fake_conn * */
    shard_reply **due; /* the right reply of each queued fragment */
    size_t head, tail; /* queued ones: due[head .. tail) */
    size_t cap;        /* allocated in due */
} fake_conn;

/* The reply a Redis server gives to a fragment's command, with the value
 * of key "k" being "v:k". */
static shard_reply *
right_reply(int argc, const char **argv, const size_t *lens)
{
    const command_info *ci = command_find(argc, argv, lens);
    command_route route = ci != NULL ? ci->route : ROUTE_KEYED;

    if (route == ROUTE_SPLIT_SUM)
        return reply_integer(argc - 1);
    if (route == ROUTE_LOCAL_PING)
        return reply_string(SHARD_REPLY_STATUS, "PONG", 4);
    if (route != ROUTE_SPLIT_MGET)
        return reply_string(SHARD_REPLY_STATUS, "OK", 2);
    shard_reply *a = reply_array((size_t)argc - 1);
    for (int i = 1; a != NULL && i < argc; i++) {
        char *v = malloc(lens[i] + 2);
        FUZZ_CHECK(v != NULL, "value of %zu bytes", lens[i]);
        memcpy(v, "v:", 2);
        memcpy(v + 2, argv[i], lens[i]);
        a->element[i - 1] = reply_string(SHARD_REPLY_STRING, v, lens[i] + 2);
        free(v);
    }
    return a;
}

/* The RESP libshard would write reads back as the same argv; returns
 * its size. */
static size_t
check_encoding(conn_env *env, int argc, const char **argv, const size_t *lens)
{
    size_t n = resp_format(&env->scratch, argc, argv, lens);
    redisReader *rd = redisReaderCreateWithFunctions(reply_reader_functions());
    void *out = NULL;

    FUZZ_CHECK(n > 0 && rd != NULL, "encoding of %d arguments", argc);
    redisReaderFeed(rd, env->scratch.data, n);
    FUZZ_CHECK(redisReaderGetReply(rd, &out) == REDIS_OK && out != NULL,
               "RESP of %d arguments does not parse: %s", argc, rd->errstr);
    shard_reply *r = out;
    FUZZ_CHECK(r->type == SHARD_REPLY_ARRAY && r->elements == (size_t)argc,
               "RESP of %d arguments reads as %zu", argc, r->elements);
    for (int i = 0; i < argc; i++) {
        const shard_reply *e = r->element[i];
        FUZZ_CHECK(e->type == SHARD_REPLY_STRING && e->len == lens[i] &&
                       memcmp(e->str, argv[i], lens[i]) == 0,
                   "argument %d changed in RESP", i);
    }
    shard_reply_free(r);
    FUZZ_CHECK(redisReaderGetReply(rd, &out) == REDIS_OK && out == NULL,
               "RESP of %d arguments has bytes left over", argc);
    redisReaderFree(rd);
    return n;
}

/*
 * A fragment goes to a live server (or one being probed), and its keys
 * live there. A ring that changed since the command was routed (a server
 * failed during its fan-out) may have moved them: fragments already
 * routed go where they were routed, as in twemproxy. Random distribution
 * gives keys no home.
 */
static void
check_placement(const conn *c, int argc, const char **argv, const size_t *lens)
{
    shard_pool *pool = pool_now;
    const struct server *s = &pool->servers[c->server];
    const command_info *ci = command_find(argc, argv, lens);
    char err[ERROR_MAX];
    int pos[64];

    /* Pool-wide commands (SCAN, DBSIZE, FLUSHDB ...) go to every server
     * of the config, ejected ones too: those still hold keys. */
    bool poolwide = ci != NULL && ci->route == ROUTE_POOLWIDE;
    FUZZ_CHECK(s->live || s->probing || poolwide, "sent to ejected server %d",
               c->server);
    if (ci == NULL || pool->topo->rules.dist == DIST_RANDOM ||
        ring_changes != routed_at)
        return;
    int n = command_keys(ci, argc, argv, lens, pos, 64, err, sizeof(err));
    for (int i = 0; i < n && i < 64; i++) {
        int at = pool_locate(pool, argv[pos[i]], lens[pos[i]]);
        FUZZ_CHECK(at == c->server, "key %d of '%s' lives on %d, sent to %d", i,
                   ci->name, at, c->server);
    }
}

static int
fake_connect(conn *c, char *err, size_t errlen)
{
    if (fuzz_byte(&answers) % 16 == 15) {
        all_right = false;
        error_format(err, errlen, "server '%s' connection failed: refused",
                     c->target->addr);
        return SHARD_ECONN;
    }
    c->fd = socket_fds[0];
    conn_connected(c);
    return SHARD_OK;
}

static int
fake_send(conn *c, fragment *f, int argc, const char **argv, const size_t *lens,
          size_t *bytes, char *err, size_t errlen)
{
    fake_conn *fc = (fake_conn *)c;

    FUZZ_CHECK(c->server >= 0, "sent on a connection a reload retired");
    *bytes = check_encoding(c->env, argc, argv, lens);
    check_placement(c, argc, argv, lens);
    sends += pool_now->servers[c->server].probing ? 0 : 1;
    if (fc->tail == fc->cap) {
        fc->cap = fc->cap ? 2 * fc->cap : 8;
        fc->due = realloc(fc->due, fc->cap * sizeof(*fc->due));
        FUZZ_CHECK(fc->due != NULL, "queue of %zu", fc->cap);
    }
    fc->due[fc->tail++] = right_reply(argc, argv, lens);
    return SHARD_OK;
}

static shard_reply *
take_due(fake_conn *fc)
{
    FUZZ_CHECK(fc->head < fc->tail, "a reply nobody asked for");
    shard_reply *r = fc->due[fc->head++];
    if (fc->head == fc->tail)
        fc->head = fc->tail = 0;
    return r;
}

/* As hiredis does on a close: every pending fragment fails, then the
 * connection is gone. */
static void
fake_close(conn *c)
{
    char msg[ERROR_MAX];
    fragment *f;
    int status;

    while ((f = conn_pop(c)) != NULL) {
        shard_reply_free(take_due((fake_conn *)c));
        if (!conn_fail_reason(c, f, &status, msg, sizeof(msg))) {
            status = SHARD_ECONN;
            error_format(msg, sizeof(msg), "server '%s' closed the connection",
                         c->target->addr);
        }
        conn_complete(c, f, NULL, 0, status, msg);
    }
    conn_gone(c, c->close_status ? c->close_msg : "connection closed",
              c->close_status == 0);
}

static void
fake_io(conn *c)
{
    (void)c;
}

static bool
fake_connected(const conn *c)
{
    return c->fd >= 0;
}

static void
fake_destroy(conn *c)
{
    fake_conn *fc = (fake_conn *)c;

    free(fc->due);
    free(fc);
}

static const conn_ops fake_ops = {
    .name = "fake",
    .connect = fake_connect,
    .send = fake_send,
    .read = fake_io,
    .write = fake_io,
    .close = fake_close,
    .connected = fake_connected,
    .destroy = fake_destroy,
};

/* Every connection the pool makes (on first use) is a fake one. */
conn *
__wrap_conn_redis_new(conn_env *env, const conn_target *target,
                      server_stats *stats, int server,
                      const conn_redis_login *login)
{
    fake_conn *fc = calloc(1, sizeof(*fc));

    (void)login;
    FUZZ_CHECK(fc != NULL, "fake connection");
    conn_init(&fc->base, &fake_ops, env, target, stats, server);
    return &fc->base;
}

/* --- the servers' answers ------------------------------------------------- */

/* A reply of any shape, from the script (arrays nest twice at most). */
static shard_reply *
any_reply(int depth)
{
    uint8_t kind = fuzz_byte(&answers);

    switch (kind % 6) {
    case 0:
        return reply_new(SHARD_REPLY_NIL);
    case 1:
        return reply_integer((long long)fuzz_u64(&answers));
    case 2:
        return reply_string(SHARD_REPLY_STATUS, "OK", 2);
    case 3:
        return reply_error("ERR script error %u", kind);
    case 4:
        if (depth < 2) {
            shard_reply *a = reply_array(fuzz_byte(&answers) % 5);
            for (size_t i = 0; i < a->elements; i++)
                a->element[i] = any_reply(depth + 1);
            return a;
        }
        /* fall through */
    default:
        return reply_string(SHARD_REPLY_STRING, "value", 5);
    }
}

/* The head fragment of `c` gets its reply, as conn_redis.c hands it:
 * the server has read every byte sent so far. */
static void
reply_head(conn *c, shard_reply *r)
{
    bool error = r->type == SHARD_REPLY_ERROR;

    conn_wrote(c, (size_t)(c->queued_bytes - c->written_bytes));
    fragment *f = conn_pop(c);
    r->kept = true;
    if (error && strncmp(r->str, "OOM ", 4) == 0)
        conn_server_failed(c, SHARD_OK, r->str);
    else
        conn_server_answered(c);
    if (error && strncmp(r->str, "READONLY ", 9) == 0)
        conn_server_not_master(c);
    conn_complete(c, f, r, reply_resp_size(r), SHARD_OK, NULL);
}

/*
 * One step of the servers: `c`'s oldest fragment is answered right, or
 * with an error, an -OOM (which counts towards ejection), a -READONLY, a
 * reply of any shape; or the server drops the connection, or it times
 * out; or time passes; or the application reloads the pool.
 */
static void
answer(conn *c)
{
    static const char *const errors[] = {
        "ERR no such thing", "OOM command not allowed",
        "READONLY You can't write against a read only replica."};
    fake_conn *fc = (fake_conn *)c;
    uint8_t kind = fuzz_byte(&answers) % 10;
    char msg[ERROR_MAX];

    if (kind >= 1 && kind <= 6)
        all_right = false;
    if (kind == 0) {
        reply_head(c, take_due(fc));
    } else if (kind <= 4) {
        shard_reply_free(take_due(fc));
        reply_head(c, kind < 4 ? reply_error("%s", errors[kind - 1])
                               : any_reply(0));
    } else if (kind == 5) {
        conn_close(c, 0, ""); /* the peer closed: no reason of ours */
    } else if (kind == 6) {
        error_format(msg, sizeof(msg), "server '%s' timed out after 400 ms",
                     c->target->addr);
        c->expired = c->head;
        conn_close(c, SHARD_ETIMEDOUT, msg);
    } else if (kind < 9) {
        now_us += (int64_t)fuzz_byte(&answers) * (kind == 7 ? 1000 : 100000);
    } else {
        const char *yaml = pools[fuzz_byte(&answers) % npools];
        FUZZ_CHECK(shard_pool_reload_string(pool_now, yaml, strlen(yaml)) ==
                       SHARD_OK,
                   "reload: %s", shard_pool_errmsg(pool_now));
    }
}

/* A connection with a fragment waiting, chosen by the script. */
static conn *
pick_waiting(engine *e)
{
    size_t n = 0, k;

    for (size_t i = 0; i < e->nconns; i++)
        n += e->conns[i]->head != NULL;
    if (n == 0)
        return NULL;
    k = n > 1 ? fuzz_byte(&answers) % n : 0;
    for (size_t i = 0; i < e->nconns; i++) {
        if (e->conns[i]->head != NULL && k-- == 0)
            return e->conns[i];
    }
    return NULL;
}

/* --- commands ------------------------------------------------------------- */

/* What the command table says of an argv, found apart from dispatch. */
typedef struct expectation {
    const command_info *ci; /* NULL: unknown */
    int nkeys;              /* -1: malformed */
    int *pos;               /* argv index of each key */
    command_route route;    /* with the keys */
} expectation;

static void
expect(expectation *e, int argc, const char **argv, const size_t *lens)
{
    char err[ERROR_MAX];
    int first = -1;

    e->ci = command_find(argc, argv, lens);
    e->nkeys = -1;
    if (e->ci == NULL)
        return;
    e->nkeys = command_keys(e->ci, argc, argv, lens, &first, 1, err, 1);
    if (e->nkeys < 0)
        return;
    e->nkeys =
        command_keys(e->ci, argc, argv, lens, e->pos, argc, err, sizeof(err));
    FUZZ_CHECK(e->nkeys <= argc, "%d keys in %d arguments", e->nkeys, argc);
    for (int i = 0; i < e->nkeys; i++)
        FUZZ_CHECK(e->pos[i] > 0 && e->pos[i] < argc &&
                       (i == 0 || e->pos[i] > e->pos[i - 1]),
                   "'%s': key %d at %d of %d", e->ci->name, i, e->pos[i], argc);
    FUZZ_CHECK(e->nkeys == 0 || first == e->pos[0],
               "first key at %d, then at %d", first, e->pos[0]);
    e->route = command_route_of(e->ci, e->nkeys);
}

/* Servers that would refuse a connect now (back-off after a failed one)
 * make errors out of right answers. */
static bool
every_server_reachable(const shard_pool *pool)
{
    for (size_t i = 0; i < pool->conf->server_count; i++) {
        const struct server *s = &pool->servers[i];
        if (s->conn != NULL && s->conn->fd < 0 &&
            backoff_remaining(&s->reconnect, now_us) > 0)
            return false;
    }
    return true;
}

static bool
is_value(const shard_reply *r, const char *key, size_t len)
{
    return r != NULL && r->type == SHARD_REPLY_STRING && r->len == len + 2 &&
           memcmp(r->str, "v:", 2) == 0 && memcmp(r->str + 2, key, len) == 0;
}

/* A split command's joined reply, when every server answered right. */
static void
check_joined(const expectation *e, const request *r, const char **argv,
             const size_t *lens)
{
    const shard_reply *out = r->reply;

    FUZZ_CHECK(r->status == SHARD_OK, "'%s' failed: %s", e->ci->name,
               r->errmsg ? r->errmsg : "");
    if (e->route == ROUTE_SPLIT_SUM) {
        FUZZ_CHECK(out->type == SHARD_REPLY_INTEGER && out->integer == e->nkeys,
                   "'%s' of %d keys counts %lld", e->ci->name, e->nkeys,
                   out->integer);
    } else if (e->route == ROUTE_SPLIT_MSET) {
        FUZZ_CHECK(out->type == SHARD_REPLY_STATUS, "MSET says %d", out->type);
    } else {
        FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY &&
                       out->elements == (size_t)e->nkeys,
                   "MGET of %d keys", e->nkeys);
        for (int i = 0; i < e->nkeys; i++)
            FUZZ_CHECK(
                is_value(out->element[i], argv[e->pos[i]], lens[e->pos[i]]),
                "MGET value %d is not its key's", i);
    }
}

/* The shape of a split command's reply, whatever the servers said. */
static void
check_split_shape(const expectation *e, const request *r)
{
    const shard_reply *out = r->reply;

    if (r->status != SHARD_OK || e->nkeys < 2)
        return;
    if (e->route == ROUTE_SPLIT_MGET)
        FUZZ_CHECK(out->type == SHARD_REPLY_ARRAY &&
                       out->elements == (size_t)e->nkeys,
                   "MGET of %d keys: type %d", e->nkeys, out->type);
    else
        FUZZ_CHECK(out->type == SHARD_REPLY_ERROR ||
                       out->type == (e->route == ROUTE_SPLIT_SUM
                                         ? SHARD_REPLY_INTEGER
                                         : SHARD_REPLY_STATUS),
                   "'%s' joined as type %d", e->ci->name, out->type);
}

static void
check_result(const expectation *e, const request *r, bool served,
             const char **argv, const size_t *lens)
{
    bool split = e->nkeys >= 0 &&
                 (e->route == ROUTE_SPLIT_MGET || e->route == ROUTE_SPLIT_SUM ||
                  e->route == ROUTE_SPLIT_MSET);

    FUZZ_CHECK((r->status == SHARD_OK) == (r->reply != NULL),
               "status %d with%s a reply", r->status, r->reply ? "" : "out");
    FUZZ_CHECK(r->status <= SHARD_OK, "status %d", r->status);
    if (r->reply != NULL)
        fuzz_check_reply(r->reply);
    if (e->ci == NULL || e->nkeys < 0 || e->route == ROUTE_LOCAL_PING ||
        e->route == ROUTE_REJECT) {
        FUZZ_CHECK(sends == 0, "a refused or local command was sent");
        FUZZ_CHECK(e->route == ROUTE_LOCAL_PING ||
                       r->reply->type == SHARD_REPLY_ERROR,
                   "a refused command answered %d", r->reply->type);
        return;
    }
    if (!split)
        return;
    check_split_shape(e, r);
    if (served)
        check_joined(e, r, argv, lens);
}

/* Answers until `r` is done; something must always be waiting. */
static void
settle(shard_pool *pool, request *r)
{
    engine *e = &pool->engine;

    engine_run_deferred(e);
    while (!r->done) {
        conn *c = pick_waiting(e);
        FUZZ_CHECK(c != NULL, "'%s' waits for nothing", r->name);
        answer(c);
        engine_run_deferred(e);
    }
}

static void
run_command(shard_pool *pool, int argc, const char **argv, const size_t *lens,
            int *pos)
{
    expectation e = {.pos = pos};
    dispatch_args a;
    bool live = false;

    FUZZ_CHECK(dispatch_args_init(pool, &a, argc, argv, lens) == SHARD_OK, "%s",
               pool->errmsg);
    expect(&e, argc, argv, lens);
    /* What dispatch_submit does first, so that the ring is the one it
     * routes on. */
    health_readmit(&pool->health);
    routed_at = ring_changes;
    for (size_t i = 0; i < pool->conf->server_count; i++)
        live = live || pool->servers[i].live;
    all_right = live && every_server_reachable(pool);
    sends = 0;
    request *r = dispatch_submit(pool, MODE_BLOCKING, &a);
    FUZZ_CHECK(r != NULL, "out of memory");
    settle(pool, r);
    check_result(&e, r, all_right, argv, lens);
    request_free(r);
    dispatch_args_done(&a);
}

/* --- input ---------------------------------------------------------------- */

/* Messages are formatted (every LOG site runs) and dropped. */
static void
drop_log(int level, const char *msg, void *userdata)
{
    (void)level;
    (void)userdata;
    FUZZ_CHECK(msg != NULL, "NULL log message");
}

static void
check_event(const shard_event *ev, void *userdata)
{
    (void)userdata;
    if (ev->type == SHARD_EVENT_EJECTED || ev->type == SHARD_EVENT_RETURNED ||
        ev->type == SHARD_EVENT_RELOADED)
        ring_changes++;
    FUZZ_CHECK(pool_now == NULL || ev->server == SHARD_EVENT_POOL ||
                   ev->server < pool_now->conf->server_count,
               "event about server %zu", ev->server);
    FUZZ_CHECK(ev->reason != NULL && ev->addr != NULL, "event fields");
}

/* Pool `index`; its connections, made on first use, are fake ones. */
static shard_pool *
open_pool(size_t index)
{
    shard_options opts = SHARD_OPTIONS_INIT;
    const char *yaml = pools[index % npools];
    shard_pool *pool;

    opts.log_fn = drop_log;
    opts.log_level = SHARD_LOG_DEBUG;
    opts.event_fn = check_event;
    FUZZ_CHECK(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, &opts) ==
                   SHARD_OK,
               "%s", shard_last_error());
    return pool;
}

/* Where the commands end: the first 0xff not escaped by '\'. */
static size_t
commands_end(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\\')
            i++;
        else if (data[i] == 0xff)
            return i;
    }
    return size;
}

/* The next line's arguments, unescaped into `buf`; argc 0 for an empty
 * line. */
static int
next_line(fuzz_bytes *in, char *buf, const char **argv, size_t *lens)
{
    size_t used = 0;
    int argc = 0;

    while (in->len > 0) {
        uint8_t b = fuzz_byte(in);
        if (b == '\n')
            break;
        if (argc == 0 || b == ' ') {
            argv[argc] = buf + used;
            lens[argc++] = 0;
            if (b == ' ')
                continue;
        }
        if (b == '\\' && in->len > 0)
            b = fuzz_byte(in);
        buf[used++] = (char)b;
        lens[argc - 1]++;
    }
    return argc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_bytes in = {data, size};

    if (socket_fds[0] < 0)
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, socket_fds) == 0,
                   "socketpair");
    now_us = 1000000;
    pool_now = open_pool(fuzz_byte(&in));
    size_t end = commands_end(in.data, in.len);
    answers = (fuzz_bytes){in.data + end, in.len - end};
    (void)fuzz_byte(&answers); /* the 0xff */
    in.len = end;
    /* Room for the longest line: every byte an argument. */
    char *buf = malloc(end + 1);
    const char **argv = malloc((end + 1) * sizeof(*argv));
    size_t *lens = malloc((end + 1) * sizeof(*lens));
    int *pos = malloc((end + 1) * sizeof(*pos));
    FUZZ_CHECK(buf && argv && lens && pos, "%zu bytes of commands", end);
    while (in.len > 0) {
        int argc = next_line(&in, buf, argv, lens);
        run_command(pool_now, argc, argv, lens, pos);
    }
    shard_pool_free(pool_now);
    pool_now = NULL;
    free(buf);
    free(argv);
    free(lens);
    free(pos);
    return 0;
}
