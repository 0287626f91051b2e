/*
 * Pool-wide commands. Each server gets the command as the application
 * wrote it, every one queued before any reply is read, and the replies
 * are joined as Redis 7 itself says these commands combine across shards
 * (the request_policy and response_policy tips of COMMAND INFO: agg_sum
 * for DBSIZE, all_succeeded for FLUSHDB and SCRIPT LOAD, agg_logical_and
 * for SCRIPT EXISTS). SCAN is the exception: one server per call, the one
 * its cursor is on, with that server's cursor in place of the pool's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "poolwide.h"

/* A pool-wide command and how its replies become one. */
typedef struct poolwide_command {
    const char *name; /* as in the command table */
    join_kind join;   /* its join */
    bool read_only;   /* a lost connection or a timeout may retry it */
} poolwide_command;

static const poolwide_command commands[] = {
    {"dbsize", JOIN_SUM, true},        {"flushall", JOIN_MSET, false},
    {"flushdb", JOIN_MSET, false},     {"keys", JOIN_CONCAT, true},
    {"randomkey", JOIN_ANY, true},     {"scan", JOIN_SCAN, true},
    {"script|exists", JOIN_AND, true}, {"script|flush", JOIN_MSET, false},
    {"script|load", JOIN_SAME, false},
};

static const poolwide_command *
command_of(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

join_kind
poolwide_join_of(const char *name)
{
    const poolwide_command *c = command_of(name);

    return c != NULL ? c->join : JOIN_SINGLE;
}

/* --- the SCAN cursor ------------------------------------------------------ */

#define CURSOR_MASK (((uint64_t)1 << POOLWIDE_CURSOR_BITS) - 1)
#define CHECK_MASK (((uint64_t)1 << POOLWIDE_CHECK_BITS) - 1)
#define CHECK_SHIFT POOLWIDE_CURSOR_BITS
#define SERVER_SHIFT (POOLWIDE_CURSOR_BITS + POOLWIDE_CHECK_BITS)

static uint64_t
fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A number as 8 little-endian bytes: the same key on every machine. */
static uint64_t
fnv1a_number(uint64_t h, uint64_t v)
{
    unsigned char bytes[8];

    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(v >> (8 * i));
    return fnv1a(h, bytes, sizeof(bytes));
}

/* Length first: "ab","c" and "a","bc" hash apart. */
static uint64_t
fnv1a_field(uint64_t h, const char *s, size_t len)
{
    return fnv1a(fnv1a_number(h, len), s, len);
}

uint64_t
poolwide_scan_key(const conf_pool *conf)
{
    /* A new layout changes the tag: old cursors are refused, not misread. */
    static const char layout[] = "libshard scan cursor 1";
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, layout, sizeof(layout) - 1);

    h = fnv1a_number(h, conf->server_count);
    for (size_t i = 0; i < conf->server_count; i++) {
        const conf_server *s = &conf->servers[i];
        h = fnv1a_field(h, s->identity, s->identity_len);
        h = fnv1a_field(h, s->addr, strlen(s->addr));
    }
    return fnv1a_number(h, (uint64_t)conf->redis_db);
}

/* splitmix64's finaliser: each input bit changes half the output bits. */
static uint64_t
mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * A cursor inside a server (not 0) means something to that server process
 * only: its check also covers where the server is, so that after a
 * Sentinel switch it is refused rather than read by another process.
 */
static uint64_t
check_of(uint64_t key, size_t server, const char *addr, uint64_t server_cursor)
{
    uint64_t where = ((uint64_t)server << POOLWIDE_CURSOR_BITS) | server_cursor;

    if (server_cursor != 0)
        key = fnv1a_field(key, addr, strlen(addr));
    return mix(key ^ where) >> (64 - POOLWIDE_CHECK_BITS);
}

uint64_t
poolwide_cursor_make(uint64_t key, size_t server, const char *addr,
                     uint64_t server_cursor)
{
    if (server == 0 && server_cursor == 0)
        return 0; /* the start */
    return ((uint64_t)server << SERVER_SHIFT) |
           (check_of(key, server, addr, server_cursor) << CHECK_SHIFT) |
           server_cursor;
}

/* Decimal digits only, at most UINT64_MAX: what Redis and we write. */
static bool
read_number(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t digit = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

bool
poolwide_cursor_read(uint64_t key, const struct server *servers,
                     size_t server_count, const char *s, size_t len,
                     size_t *server, uint64_t *server_cursor, char *err,
                     size_t errlen)
{
    uint64_t v;

    if (!read_number(s, len, &v)) {
        error_format(err, errlen, "ERR invalid cursor");
        return false;
    }
    *server = (size_t)(v >> SERVER_SHIFT);
    *server_cursor = v & CURSOR_MASK;
    uint64_t check = (v >> CHECK_SHIFT) & CHECK_MASK;
    if (v == 0 || (*server < server_count &&
                   check == check_of(key, *server, servers[*server].target.addr,
                                     *server_cursor)))
        return true;
    error_format(err, errlen,
                 "ERR invalid cursor: %" PRIu64 " was not made by the SCAN of "
                 "this pool's servers (another config, a server that moved, "
                 "or a damaged cursor); start again from 0",
                 v);
    return false;
}

/* --- sending -------------------------------------------------------------- */

/* A request already done with `reply` (a refusal). */
static request *
answer_now(engine *e, request_mode mode, shard_reply *reply)
{
    request *r = request_new(e, mode, 1);

    STAT_ADD(e->stats.client_err, 1);

    if (r == NULL) {
        shard_reply_free(reply);
        return NULL;
    }
    request_finish_local(r, reply);
    return r;
}

static request *
plan_request(engine *e, request_mode mode, const poolwide_plan *p,
             const poolwide_command *c, size_t nfrags)
{
    request *r = request_new(e, mode, nfrags);

    if (r == NULL)
        return NULL;
    r->join = c->join;
    r->join_fn = poolwide_join;
    r->name = p->name;
    /* A write sent twice could do twice what was asked once. */
    if (c->read_only && p->retries > 0) {
        r->retries = p->retries;
        r->resend_fn = p->resend_fn;
        r->pool = p->pool;
    }
    return r;
}

/* SCAN to the server its cursor is on, with that server's cursor. */
static request *
send_scan(engine *e, request_mode mode, const poolwide_plan *p,
          const poolwide_command *c, fanout_pick_fn pick, void *ctx)
{
    size_t n = p->conf->server_count, server;
    uint64_t key = poolwide_scan_key(p->conf), sent;
    char err[ERROR_MAX], digits[24];

    if (n > POOLWIDE_MAX_SERVERS)
        return answer_now(e, mode,
                          reply_error("ERR 'scan' walks pools of up to %zu "
                                      "servers; this one has %zu",
                                      POOLWIDE_MAX_SERVERS, n));
    if (!poolwide_cursor_read(key, p->servers, n, p->argv[1], p->argvlen[1],
                              &server, &sent, err, sizeof(err)))
        return answer_now(e, mode, reply_error("%s", err));
    size_t argc = (size_t)p->argc;
    const char **argv = malloc(argc * (sizeof(*argv) + sizeof(size_t)));
    if (argv == NULL)
        return NULL;
    size_t *len = (size_t *)(argv + argc);
    memcpy(argv, p->argv, argc * sizeof(*argv));
    memcpy(len, p->argvlen, argc * sizeof(*len));
    argv[1] = digits;
    len[1] = (size_t)snprintf(digits, sizeof(digits), "%" PRIu64, sent);
    request *r = plan_request(e, mode, p, c, 1);
    if (r != NULL) {
        r->scan = (scan_position){
            key, server, n,
            poolwide_cursor_make(key, server, p->servers[server].target.addr,
                                 sent)};
        r->frags[0].server = (int)server;
        engine_send(e, &r->frags[0], pick(ctx, (int)server), p->argc, argv,
                    len);
    }
    free(argv);
    return r;
}

/* The index of the `k`th live server (from 0). */
static size_t
nth_live(const struct server *servers, size_t n, size_t k)
{
    for (size_t s = 0; s < n; s++) {
        if (servers[s].live && k-- == 0)
            return s;
    }
    return 0;
}

/* The others to every server (RANDOMKEY: every live one, starting from a
 * random one), the command unchanged. */
static request *
send_all(engine *e, request_mode mode, const poolwide_plan *p,
         const poolwide_command *c, fanout_pick_fn pick, void *ctx)
{
    size_t n = p->conf->server_count, nfrags = n, first = 0, j = 0;
    bool live_only = c->join == JOIN_ANY;

    if (live_only) {
        nfrags = 0;
        for (size_t s = 0; s < n; s++)
            nfrags += p->servers[s].live;
        if (nfrags > 0) /* any live server, with the same chance */
            first = nth_live(p->servers, n, (size_t)(p->random % nfrags));
    }
    if (nfrags == 0) {
        request *r = request_new(e, mode, 1);
        if (r != NULL)
            fragment_done(&r->frags[0], NULL, SHARD_ENOSERVER,
                          "every server of the pool is ejected");
        return r;
    }
    request *r = plan_request(e, mode, p, c, nfrags);
    if (r != NULL)
        STAT_ADD(e->stats.fragments, nfrags);
    for (size_t i = 0; r != NULL && i < n; i++) {
        size_t s = (first + i) % n;
        if (live_only && !p->servers[s].live)
            continue;
        r->frags[j].server = (int)s;
        engine_send(e, &r->frags[j++], pick(ctx, (int)s), p->argc, p->argv,
                    p->argvlen);
    }
    return r;
}

request *
poolwide_send(engine *e, request_mode mode, const poolwide_plan *p,
              fanout_pick_fn pick, void *ctx)
{
    const poolwide_command *c = command_of(p->name);

    if (c == NULL)
        return answer_now(
            e, mode, reply_error("ERR '%s' has no pool-wide join", p->name));
    if (c->join == JOIN_SCAN)
        return send_scan(e, mode, p, c, pick, ctx);
    return send_all(e, mode, p, c, pick, ctx);
}

/* --- joins ---------------------------------------------------------------- */

static bool
replied(const fragment *f, int type)
{
    return !fanout_fragment_failed(f) && f->reply->type == type;
}

static bool
replied_array(const fragment *f)
{
    return replied(f, SHARD_REPLY_ARRAY);
}

static bool
replied_key_or_nil(const fragment *f)
{
    return replied(f, SHARD_REPLY_STRING) || replied(f, SHARD_REPLY_NIL);
}

/* Any reply but an ERROR. */
static bool
answered(const fragment *f)
{
    return !fanout_fragment_failed(f) && f->reply->type != SHARD_REPLY_ERROR;
}

/* An array of integers (SCRIPT EXISTS's 0s and 1s). */
static bool
replied_flags(const fragment *f)
{
    if (!replied_array(f))
        return false;
    for (size_t i = 0; i < f->reply->elements; i++) {
        const shard_reply *e = f->reply->element[i];
        if (e == NULL || e->type != SHARD_REPLY_INTEGER)
            return false;
    }
    return true;
}

/* The fragment's reply, moved out of it. */
static shard_reply *
take(fragment *f)
{
    shard_reply *reply = f->reply;

    f->reply = NULL;
    return reply;
}

static bool
same_reply(const shard_reply *a, const shard_reply *b)
{
    return a->type == b->type && a->len == b->len &&
           (a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
}

/* Every server gave the same ERROR (a syntax error, an unknown script
 * subcommand): the pool's answer is that one, as one server's would be. */
static bool
same_error_everywhere(request *r)
{
    if (!replied(&r->frags[0], SHARD_REPLY_ERROR))
        return false;
    for (size_t j = 1; j < r->nfrags; j++) {
        if (fanout_fragment_failed(&r->frags[j]) ||
            !same_reply(r->frags[j].reply, r->frags[0].reply))
            return false;
    }
    r->reply = take(&r->frags[0]);
    return true;
}

/* SCRIPT LOAD: the SHA1 every server computed. */
static shard_reply *
join_same(request *r)
{
    for (size_t j = 0; j < r->nfrags; j++) {
        if (!answered(&r->frags[j]))
            return fanout_partial_failure(r, answered, 0);
    }
    for (size_t j = 1; j < r->nfrags; j++) {
        const fragment *f = &r->frags[j], *first = &r->frags[0];
        if (!same_reply(f->reply, first->reply))
            return reply_error("ERR %s: server '%s' and server '%s' "
                               "answered differently",
                               r->name, first->addr, f->addr);
    }
    return take(&r->frags[0]);
}

/* KEYS: every server's keys, server after server. */
static shard_reply *
join_concat(request *r)
{
    size_t total = 0, at = 0;

    for (size_t j = 0; j < r->nfrags; j++) {
        if (!replied_array(&r->frags[j]))
            return fanout_partial_failure(r, replied_array, 0);
        total += r->frags[j].reply->elements;
    }
    shard_reply *out = reply_array(total);
    for (size_t j = 0; out != NULL && j < r->nfrags; j++) {
        shard_reply *part = r->frags[j].reply;
        for (size_t i = 0; i < part->elements; i++) {
            out->element[at++] = part->element[i];
            part->element[i] = NULL;
        }
    }
    return out;
}

/* SCRIPT EXISTS: 1 where every server has the script. */
static shard_reply *
join_and(request *r)
{
    size_t n = 0;

    for (size_t j = 0; j < r->nfrags; j++) {
        if (!replied_flags(&r->frags[j]))
            return fanout_partial_failure(r, replied_flags, 0);
        n = r->frags[j].reply->elements;
        if (n != r->frags[0].reply->elements)
            return reply_error("ERR %s: server '%s' and server '%s' "
                               "answered %zu and %zu values",
                               r->name, r->frags[0].addr, r->frags[j].addr,
                               r->frags[0].reply->elements, n);
    }
    shard_reply *out = reply_array(n);
    for (size_t i = 0; out != NULL && i < n; i++) {
        bool all = true;
        for (size_t j = 0; j < r->nfrags; j++)
            all = all && r->frags[j].reply->element[i]->integer == 1;
        out->element[i] = reply_integer(all ? 1 : 0);
        if (out->element[i] == NULL) {
            shard_reply_free(out);
            out = NULL;
        }
    }
    return out;
}

/* RANDOMKEY: the first key in fragment order (which starts at a random
 * server); nil only when every server answered nil. */
static shard_reply *
join_any(request *r)
{
    for (size_t j = 0; j < r->nfrags; j++) {
        if (replied(&r->frags[j], SHARD_REPLY_STRING))
            return take(&r->frags[j]);
    }
    for (size_t j = 0; j < r->nfrags; j++) {
        if (!replied(&r->frags[j], SHARD_REPLY_NIL))
            return fanout_partial_failure(r, replied_key_or_nil, 0);
    }
    return take(&r->frags[0]);
}

/* SCAN could not go on at its server: the request fails with the
 * cursors to resume there or to skip the server. */
static void
fail_scan(request *r, int status, const char *why)
{
    const fragment *f = &r->frags[0];
    const scan_position *at = &r->scan;
    char skip[128], msg[ERROR_MAX];

    if (at->server + 1 < at->servers)
        error_format(skip, sizeof(skip), "or %" PRIu64 " to skip that server",
                     poolwide_cursor_make(at->key, at->server + 1, NULL, 0));
    else
        error_format(skip, sizeof(skip),
                     "or stop there to skip it (it is the last)");
    error_format(msg, sizeof(msg),
                 "scan failed at server '%s', %zu of %zu (%s); send cursor "
                 "%" PRIu64 " again to resume there, %s",
                 f->addr != NULL ? f->addr : "?", at->server + 1, at->servers,
                 why, at->cursor, skip);
    r->status = status != SHARD_OK ? status : SHARD_EPROTO;
    r->errmsg = strdup(msg);
}

/* The server's next cursor in a well-formed SCAN reply; false if not. */
static bool
scan_reply_cursor(const shard_reply *reply, uint64_t *next)
{
    const shard_reply *cursor;

    if (reply->type != SHARD_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[1] == NULL ||
        reply->element[1]->type != SHARD_REPLY_ARRAY)
        return false;
    cursor = reply->element[0];
    return cursor != NULL && cursor->type == SHARD_REPLY_STRING &&
           read_number(cursor->str, cursor->len, next);
}

/* The server's reply, its cursor made the pool's: this server's next
 * one, else the start of the next server, else 0 (the walk is over). */
static void
join_scan(request *r)
{
    fragment *f = &r->frags[0];
    const scan_position *at = &r->scan;
    char why[ERROR_MAX], digits[24];
    uint64_t next, pool_next;

    if (fanout_fragment_failed(f)) {
        fail_scan(r, f->status, f->errmsg != NULL ? f->errmsg : "failed");
        return;
    }
    if (f->reply->type == SHARD_REPLY_ERROR) { /* its own words */
        r->reply = take(f);
        return;
    }
    if (!scan_reply_cursor(f->reply, &next) || next > CURSOR_MASK) {
        error_format(why, sizeof(why),
                     "it sent a reply to SCAN that is not [cursor below "
                     "2^%d, keys]",
                     POOLWIDE_CURSOR_BITS);
        fail_scan(r, SHARD_EPROTO, why);
        return;
    }
    if (next != 0) /* f->addr: the server that answered */
        pool_next = poolwide_cursor_make(at->key, at->server, f->addr, next);
    else if (at->server + 1 < at->servers)
        pool_next = poolwide_cursor_make(at->key, at->server + 1, NULL, 0);
    else
        pool_next = 0;
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, pool_next);
    shard_reply *cursor = reply_string(SHARD_REPLY_STRING, digits, (size_t)n);
    if (cursor == NULL) {
        r->status = SHARD_ENOMEM;
        r->errmsg = strdup("out of memory joining the replies");
        return;
    }
    shard_reply_free(f->reply->element[0]);
    f->reply->element[0] = cursor;
    r->reply = take(f);
}

void
poolwide_join(request *r)
{
    if (r->join == JOIN_SCAN) {
        join_scan(r);
        return;
    }
    /* One failed server of a one-server pool fails as one key does. */
    if (r->nfrags == 1 && fanout_fragment_failed(&r->frags[0])) {
        request_join_single(r);
        return;
    }
    if (fanout_join_total_failure(r) || same_error_everywhere(r))
        return;
    switch (r->join) {
    case JOIN_SAME:
        r->reply = join_same(r);
        break;
    case JOIN_CONCAT:
        r->reply = join_concat(r);
        break;
    case JOIN_AND:
        r->reply = join_and(r);
        break;
    case JOIN_ANY:
        r->reply = join_any(r);
        break;
    default: /* JOIN_SUM, JOIN_MSET */
        fanout_join(r);
        return;
    }
    if (r->reply == NULL) {
        r->status = SHARD_ENOMEM;
        r->errmsg = strdup("out of memory joining the replies");
    }
}
