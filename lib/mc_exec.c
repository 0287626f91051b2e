/*
 * memcached commands through libmemcached, one server per memcached_st.
 * libmemcached's own failure handling is kept out of the way (libshard's
 * health module decides about servers): every attempt really connects,
 * and a connection that failed is closed, so that a late reply can never
 * answer a later request. Replies come back as shard_reply objects, in
 * memcached's words (STORED, NOT_FOUND...) as STATUS replies.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "error.h"
#include "mc_exec.h"

/* A link that rested this long may have been closed by its server (a
 * restart, its idle timeout): a command that finds it so runs once more
 * on a new connection, as a Redis connection checks before reuse. */
#define LINK_REST_US 10000

struct mc_link {
    memcached_st *memc;         /* of this one server */
    memcached_result_st result; /* reused by every get */
    char *addr;                 /* the server's address, for messages */
    int timeout_ms;             /* the pool's timeout; <= 0: none */
    int wanted_timeout_ms;      /* a reload's, applied at the next command
                                   (set by the pool's thread: atomic) */
    bool up;                    /* libmemcached's connection is open */
    bool gets;                  /* libmemcached asks with gets (cas) */
    uint64_t item_max;          /* the server's item size; 0: not known
                                   (read by any thread: atomic) */
    uint8_t no_cas;             /* the server keeps no cas uniques (atomic) */
    int64_t rested_from_us;     /* when its last command ended; 0: none */
    bool may_rerun;             /* the command began on a rested link */
};

/* --- the link -------------------------------------------------------------
 */

/*
 * The timeouts: connect and poll (every wait for the server) take effect
 * at once, send and receive at the next connect. Setting them leaves the
 * connection open (libmemcached closes it for some behaviours, such as
 * TCP_NODELAY, not these).
 */
static bool
set_timeouts(memcached_st *m, int timeout_ms)
{
    uint64_t ms = timeout_ms > 0 ? (uint64_t)timeout_ms : (uint64_t)-1;
    uint64_t us = timeout_ms > 0 ? (uint64_t)timeout_ms * 1000 : 0;

    return memcached_behavior_set(m, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms) ==
               MEMCACHED_SUCCESS &&
           memcached_behavior_set(m, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms) ==
               MEMCACHED_SUCCESS &&
           memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SND_TIMEOUT, us) ==
               MEMCACHED_SUCCESS &&
           memcached_behavior_set(m, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, us) ==
               MEMCACHED_SUCCESS;
}

static bool
set_behaviors(memcached_st *m, int timeout_ms)
{
    /* No server is ever disabled by libmemcached: health.c decides. */
    static const uint64_t never = UINT32_MAX;

    return memcached_behavior_set(m, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1) ==
               MEMCACHED_SUCCESS &&
           memcached_behavior_set(m, MEMCACHED_BEHAVIOR_SERVER_TIMEOUT_LIMIT,
                                  never) == MEMCACHED_SUCCESS &&
           set_timeouts(m, timeout_ms);
}

mc_link *
mc_link_new(const conn_target *target, int timeout_ms)
{
    mc_link *l = calloc(1, sizeof(*l));
    memcached_return_t rc;

    if (l == NULL)
        return NULL;
    l->timeout_ms = timeout_ms;
    l->wanted_timeout_ms = timeout_ms;
    l->addr = strdup(target->addr);
    l->memc = memcached_create(NULL);
    if (l->addr == NULL || l->memc == NULL) {
        mc_link_free(l);
        return NULL;
    }
    rc = target->port == 0
             ? memcached_server_add_unix_socket(l->memc, target->host)
             : memcached_server_add(l->memc, target->host,
                                    (in_port_t)target->port);
    if (rc != MEMCACHED_SUCCESS || !set_behaviors(l->memc, timeout_ms) ||
        memcached_result_create(l->memc, &l->result) == NULL) {
        mc_link_free(l);
        return NULL;
    }
    return l;
}

void
mc_link_free(mc_link *l)
{
    if (l == NULL)
        return;
    if (l->memc != NULL) {
        memcached_result_free(&l->result);
        memcached_free(l->memc);
    }
    free(l->addr);
    free(l);
}

/* The server's item size, or memcached's default until it said. */
static size_t
item_size(const mc_link *l)
{
    uint64_t item = __atomic_load_n(&l->item_max, __ATOMIC_RELAXED);

    return item ? (size_t)item : MC_DEFAULT_ITEM_MAX;
}

size_t
mc_link_value_max(const mc_link *l, size_t keylen, uint32_t flags)
{
    bool cas = !__atomic_load_n(&l->no_cas, __ATOMIC_RELAXED);

    return mc_value_max(item_size(l), cas, keylen, flags);
}

void
mc_outcome_clear(mc_outcome *out)
{
    shard_reply_free(out->reply);
    out->reply = NULL;
}

/* --- outcomes -------------------------------------------------------------
 */

static void
answer(mc_outcome *out, shard_reply *reply, size_t bytes)
{
    out->reply = reply;
    out->reply_bytes = bytes;
    if (reply == NULL) {
        out->status = SHARD_ENOMEM;
        error_format(out->errmsg, sizeof(out->errmsg), "out of memory");
    }
}

static void
answer_status(mc_outcome *out, const char *word)
{
    size_t n = strlen(word);

    answer(out, reply_string(SHARD_REPLY_STATUS, word, n), n + 2);
}

/* The text of libmemcached's last error without its decorations: the
 * "(0x...) " before it and the " -> file:line" after it. */
static void
server_text(const mc_link *l, memcached_return_t rc, char *buf, size_t len)
{
    const char *m = memcached_last_error_message(l->memc);
    const char *start, *end;
    const char *what = memcached_strerror(l->memc, rc);
    size_t n;

    if (m == NULL)
        m = "";
    start = m[0] == '(' && strstr(m, ") ") != NULL ? strstr(m, ") ") + 2 : m;
    end = strstr(start, " -> ");
    n = end != NULL ? (size_t)(end - start) : strlen(start);
    /* ",  host: ..." follows the text of an error from one server */
    end = strstr(start, ",  host: ");
    if (end != NULL && (size_t)(end - start) < n)
        n = (size_t)(end - start);
    /* ", SERVER ERROR" (libmemcached's name of the code) trails the text */
    if (n > strlen(what) + 2 &&
        memcmp(start + n - strlen(what), what, strlen(what)) == 0 &&
        start[n - strlen(what) - 2] == ',')
        n -= strlen(what) + 2;
    error_format(buf, len, "%.*s", (int)n, start);
}

/* The server answered with an error: an ERROR reply in its words. */
static bool
server_error(mc_link *l, memcached_return_t rc, mc_outcome *out)
{
    char text[200];

    switch (rc) {
    case MEMCACHED_E2BIG:
        answer(out, reply_error("SERVER_ERROR object too large for cache"), 41);
        return true;
    case MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE:
        answer(out, reply_error("SERVER_ERROR out of memory storing object"),
               43);
        return true;
    case MEMCACHED_ERROR:
        answer(out, reply_error("ERROR"), 7);
        return true;
    case MEMCACHED_SERVER_ERROR:
    case MEMCACHED_CLIENT_ERROR:
        server_text(l, rc, text, sizeof(text));
        answer(out,
               reply_error("%s %s",
                           rc == MEMCACHED_SERVER_ERROR ? "SERVER_ERROR"
                                                        : "CLIENT_ERROR",
                           text),
               strlen(text) + 15);
        /* libmemcached drops the connection after a SERVER_ERROR. */
        l->up = l->up && rc == MEMCACHED_CLIENT_ERROR;
        return true;
    default:
        return false;
    }
}

/* No answer: why, in the words of the other backends; the connection is
 * closed (libmemcached has mostly done so already). */
static void
fail(mc_link *l, memcached_return_t rc, mc_outcome *out)
{
    int err = memcached_last_error_errno(l->memc);
    const char *m = memcached_last_error_message(l->memc);
    char buf[128];

    mc_outcome_clear(out);
    if (rc == MEMCACHED_MEMORY_ALLOCATION_FAILURE) {
        out->status = SHARD_ENOMEM;
        error_format(out->errmsg, sizeof(out->errmsg), "out of memory");
    } else if (rc == MEMCACHED_TIMEOUT) {
        out->status = SHARD_ETIMEDOUT;
        error_format(out->errmsg, sizeof(out->errmsg),
                     "server '%s' timed out after %d ms", l->addr,
                     l->timeout_ms);
    } else if (m != NULL && strstr(m, "server has disconnected") != NULL) {
        out->status = SHARD_ECONN;
        out->eof = true;
        error_format(out->errmsg, sizeof(out->errmsg),
                     "server '%s' closed the connection", l->addr);
    } else {
        out->status = SHARD_ECONN;
        error_format(out->errmsg, sizeof(out->errmsg),
                     "server '%s' connection failed: %s", l->addr,
                     err != 0 ? strerror_r(err, buf, sizeof(buf))
                              : memcached_strerror(l->memc, rc));
    }
    memcached_quit(l->memc);
    l->up = false;
}

/* --- connecting -----------------------------------------------------------
 */

static memcached_return_t
read_setting(const memcached_instance_st *server, const char *key,
             size_t key_length, const char *value, size_t value_length,
             void *context)
{
    mc_link *l = context;

    (void)server;
    if (key_length == 13 && memcmp(key, "item_size_max", 13) == 0)
        __atomic_store_n(&l->item_max, strtoull(value, NULL, 10),
                         __ATOMIC_RELAXED);
    else if (key_length == 11 && memcmp(key, "cas_enabled", 11) == 0)
        __atomic_store_n(&l->no_cas,
                         (uint8_t)(value_length == 2 && value[0] == 'n'),
                         __ATOMIC_RELAXED);
    return MEMCACHED_SUCCESS;
}

/* `stats settings`: the probe, and the first exchange on a connection
 * (the server's item size). */
static bool
ask_settings(mc_link *l, mc_outcome *out)
{
    memcached_return_t rc =
        memcached_stat_execute(l->memc, "settings", read_setting, l);

    if (rc != MEMCACHED_SUCCESS) {
        fail(l, rc, out);
        return false;
    }
    if (!l->up)
        out->connected = true;
    l->up = true;
    return true;
}

/* --- commands -------------------------------------------------------------
 */

static bool
use_gets(mc_link *l, bool gets)
{
    if (l->gets == gets)
        return true;
    if (memcached_behavior_set(l->memc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, gets) !=
        MEMCACHED_SUCCESS)
        return false;
    l->gets = gets;
    return true;
}

static bool
send_get(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    memcached_return_t rc;

    if (!use_gets(l, cmd->op == MC_GETS)) {
        fail(l, MEMCACHED_MEMORY_ALLOCATION_FAILURE, out);
        return false;
    }
    rc = memcached_mget(l->memc, cmd->argv + cmd->first_key,
                        cmd->argvlen + cmd->first_key, cmd->nkeys);
    if (rc != MEMCACHED_SUCCESS) {
        fail(l, rc, out);
        return false;
    }
    return true;
}

/* NULL when the value fits the server's item size, else the refusal. */
static shard_reply *
too_big(const mc_link *l, const mc_cmd *cmd, size_t i)
{
    size_t klen, vlen, max;

    mc_key(cmd, i, &klen);
    mc_value(cmd, i, &vlen);
    max = mc_link_value_max(l, klen, cmd->flags);
    if (vlen <= max)
        return NULL;
    return reply_error("ERR value of %zu bytes is over the %zu bytes that "
                       "server '%s' stores under this key (its item size "
                       "is %zu bytes)",
                       vlen, max, l->addr, item_size(l));
}

static memcached_return_t
store(mc_link *l, mc_op op, const mc_cmd *cmd, size_t i)
{
    size_t klen, vlen;
    const char *key = mc_key(cmd, i, &klen);
    const char *value = mc_value(cmd, i, &vlen);
    time_t exp = (time_t)cmd->exptime;

    switch (op) {
    case MC_ADD:
        return memcached_add(l->memc, key, klen, value, vlen, exp, cmd->flags);
    case MC_REPLACE:
        return memcached_replace(l->memc, key, klen, value, vlen, exp,
                                 cmd->flags);
    case MC_APPEND:
        return memcached_append(l->memc, key, klen, value, vlen, exp,
                                cmd->flags);
    case MC_PREPEND:
        return memcached_prepend(l->memc, key, klen, value, vlen, exp,
                                 cmd->flags);
    case MC_CAS:
        return memcached_cas(l->memc, key, klen, value, vlen, exp, cmd->flags,
                             cmd->number);
    default:
        return memcached_set(l->memc, key, klen, value, vlen, exp, cmd->flags);
    }
}

/* STORED, NOT_STORED, EXISTS, NOT_FOUND, or the server's error. */
static void
store_outcome(mc_link *l, memcached_return_t rc, mc_outcome *out)
{
    switch (rc) {
    case MEMCACHED_SUCCESS:
    case MEMCACHED_STORED:
        answer_status(out, "STORED");
        return;
    case MEMCACHED_NOTSTORED:
        answer_status(out, "NOT_STORED");
        return;
    case MEMCACHED_DATA_EXISTS:
        answer_status(out, "EXISTS");
        return;
    case MEMCACHED_NOTFOUND:
        answer_status(out, "NOT_FOUND");
        return;
    default:
        if (!server_error(l, rc, out))
            fail(l, rc, out);
    }
}

static void
run_store(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    shard_reply *refusal = too_big(l, cmd, 0);

    if (refusal != NULL) {
        answer(out, refusal, 0);
        return;
    }
    store_outcome(l, store(l, cmd->op, cmd, 0), out);
}

/* One set per key, in order; an array of their outcomes. A connection
 * failure fails the whole: the keys after it were never tried. */
static void
run_mset(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    shard_reply *all = reply_array(cmd->nkeys);
    size_t bytes = 0;

    if (all == NULL) {
        answer(out, NULL, 0);
        return;
    }
    for (size_t i = 0; i < cmd->nkeys; i++) {
        mc_outcome one = {.status = SHARD_OK};
        shard_reply *refusal = too_big(l, cmd, i);
        if (refusal != NULL)
            answer(&one, refusal, 0);
        else
            store_outcome(l, store(l, MC_SET, cmd, i), &one);
        if (one.status != SHARD_OK) {
            shard_reply_free(all);
            *out = one;
            return;
        }
        all->element[i] = one.reply;
        bytes += one.reply_bytes;
    }
    answer(out, all, bytes);
}

static void
run_arith(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    size_t klen;
    const char *key = mc_key(cmd, 0, &klen);
    uint64_t value = 0;
    memcached_return_t rc =
        cmd->op == MC_INCR
            ? memcached_increment_by_key(l->memc, NULL, 0, key, klen,
                                         cmd->number, &value)
            : memcached_decrement_by_key(l->memc, NULL, 0, key, klen,
                                         cmd->number, &value);

    if (rc == MEMCACHED_SUCCESS)
        answer(out, reply_integer((long long)value), mc_digits(value) + 2);
    else if (rc == MEMCACHED_NOTFOUND)
        answer_status(out, "NOT_FOUND");
    else if (!server_error(l, rc, out))
        fail(l, rc, out);
}

static void
run_keyed(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    size_t klen;
    const char *key = mc_key(cmd, 0, &klen);
    memcached_return_t rc =
        cmd->op == MC_TOUCH
            ? memcached_touch(l->memc, key, klen, (time_t)cmd->exptime)
            : memcached_delete(l->memc, key, klen, 0);

    if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_DELETED)
        answer_status(out, cmd->op == MC_TOUCH ? "TOUCHED" : "DELETED");
    else if (rc == MEMCACHED_NOTFOUND)
        answer_status(out, "NOT_FOUND");
    else if (!server_error(l, rc, out))
        fail(l, rc, out);
}

/* The version the server gave when libmemcached first asked. */
static void
run_version(mc_link *l, mc_outcome *out)
{
    const memcached_instance_st *s =
        memcached_server_instance_by_position(l->memc, 0);
    char v[32];

    error_format(v, sizeof(v), "%u.%u.%u", memcached_server_major_version(s),
                 memcached_server_minor_version(s),
                 memcached_server_micro_version(s));
    answer_status(out, v);
}

void
mc_link_set_timeout(mc_link *l, int timeout_ms)
{
    __atomic_store_n(&l->wanted_timeout_ms, timeout_ms, __ATOMIC_RELAXED);
}

/* Runs `cmd` as mc_link_start says. */
static bool
run(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    *out = (mc_outcome){.status = SHARD_OK};
    /* The settings exchange is the probe itself, and the version's. */
    if (!l->up || cmd->op == MC_PROBE || cmd->op == MC_VERSION) {
        if (!ask_settings(l, out))
            return false;
    }
    switch (cmd->op) {
    case MC_GET:
    case MC_GETS:
        return send_get(l, cmd, out);
    case MC_MSET:
        run_mset(l, cmd, out);
        break;
    case MC_INCR:
    case MC_DECR:
        run_arith(l, cmd, out);
        break;
    case MC_TOUCH:
    case MC_DELETE:
        run_keyed(l, cmd, out);
        break;
    case MC_VERSION:
        run_version(l, out);
        break;
    case MC_PROBE:
        answer_status(out, "OK");
        break;
    default:
        run_store(l, cmd, out);
        break;
    }
    return false;
}

/* The command found its rested connection closed (no reply came): true
 * once, and then it runs again on a new one. */
static bool
rerun(mc_link *l, const mc_outcome *out)
{
    bool again = l->may_rerun && out->status == SHARD_ECONN;

    l->may_rerun = false;
    return again;
}

bool
mc_link_start(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    int wanted = __atomic_load_n(&l->wanted_timeout_ms, __ATOMIC_RELAXED);
    int64_t now = clock_monotonic_us();

    /* A reload's timeout, on the thread that uses the link. */
    if (wanted != l->timeout_ms && set_timeouts(l->memc, wanted))
        l->timeout_ms = wanted;
    l->may_rerun = l->up && l->rested_from_us != 0 &&
                   now - l->rested_from_us >= LINK_REST_US &&
                   cmd->op != MC_PROBE;
    if (run(l, cmd, out))
        return true; /* a get: mc_link_finish reads it */
    if (rerun(l, out) && run(l, cmd, out))
        return true;
    l->rested_from_us = clock_monotonic_us();
    return false;
}

/* --- reading a get --------------------------------------------------------
 */

/* One found item: its value, or for gets [value, flags, cas]. */
static shard_reply *
item_reply(const memcached_result_st *res, bool gets, size_t *bytes)
{
    size_t vlen = memcached_result_length(res);
    shard_reply *v =
        reply_string(SHARD_REPLY_STRING, memcached_result_value(res), vlen);
    shard_reply *item;

    /* "VALUE key flags bytes[ cas]\r\n" value "\r\n" */
    *bytes += 6 + memcached_result_key_length(res) + 1 +
              mc_digits(memcached_result_flags(res)) + 1 + mc_digits(vlen) + 2 +
              vlen + 2;
    if (!gets || v == NULL)
        return v;
    *bytes += 1 + mc_digits(memcached_result_cas(res));
    item = reply_array(3);
    if (item == NULL) {
        shard_reply_free(v);
        return NULL;
    }
    item->element[0] = v;
    item->element[1] = reply_integer(memcached_result_flags(res));
    item->element[2] = reply_integer((long long)memcached_result_cas(res));
    if (item->element[1] == NULL || item->element[2] == NULL) {
        shard_reply_free(item);
        return NULL;
    }
    return item;
}

/* Misses up to the key `res` answers (memcached answers in request
 * order); the index of that key, or nkeys when it is none of them. */
static size_t
place_result(shard_reply *arr, const mc_cmd *cmd, size_t next,
             const memcached_result_st *res)
{
    const char *k = memcached_result_key_value(res);
    size_t klen = memcached_result_key_length(res);

    for (; next < cmd->nkeys; next++) {
        size_t len;
        const char *want = mc_key(cmd, next, &len);
        if (len == klen && memcmp(want, k, len) == 0)
            return next;
        arr->element[next] = reply_new(SHARD_REPLY_NIL);
    }
    return next;
}

/* True for a fetch that ended as a reply ends: with END (or nothing). */
static bool
fetch_ended(memcached_return_t rc)
{
    return rc == MEMCACHED_END || rc == MEMCACHED_NOTFOUND ||
           rc == MEMCACHED_SUCCESS;
}

/* The reply of a get of one key: its value itself, or nil. */
static void
finish_one(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    memcached_result_st *res;
    memcached_return_t rc = MEMCACHED_END;
    shard_reply *v = NULL;
    size_t klen, bytes = 5; /* "END\r\n" */
    const char *key = mc_key(cmd, 0, &klen);
    bool found = false;

    while ((res = memcached_fetch_result(l->memc, &l->result, &rc)) != NULL) {
        if (found || memcached_result_key_length(res) != klen ||
            memcmp(memcached_result_key_value(res), key, klen) != 0)
            continue;
        found = true;
        v = item_reply(res, cmd->op == MC_GETS, &bytes);
    }
    if (!fetch_ended(rc)) {
        shard_reply_free(v);
        fail(l, rc, out);
        return;
    }
    if (!found)
        v = reply_new(SHARD_REPLY_NIL);
    answer(out, v, bytes);
}

/* The reply of a get of several keys: an array, in key order. */
static void
finish_many(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    shard_reply *arr = reply_array(cmd->nkeys);
    memcached_result_st *res;
    memcached_return_t rc = MEMCACHED_END;
    size_t next = 0, bytes = 5; /* "END\r\n" */
    bool ok = arr != NULL;

    while ((res = memcached_fetch_result(l->memc, &l->result, &rc)) != NULL) {
        if (!ok)
            continue; /* read it all anyway: the connection stays usable */
        next = place_result(arr, cmd, next, res);
        if (next == cmd->nkeys)
            continue; /* a key nobody asked for: ignored */
        arr->element[next] = item_reply(res, cmd->op == MC_GETS, &bytes);
        ok = arr->element[next++] != NULL;
    }
    if (!fetch_ended(rc)) {
        shard_reply_free(arr);
        fail(l, rc, out);
        return;
    }
    for (; ok && next < cmd->nkeys; next++)
        ok = (arr->element[next] = reply_new(SHARD_REPLY_NIL)) != NULL;
    for (size_t i = 0; ok && i < cmd->nkeys; i++)
        ok = arr->element[i] != NULL;
    if (!ok) {
        shard_reply_free(arr);
        arr = NULL;
    }
    answer(out, arr, bytes);
}

void
mc_link_finish(mc_link *l, const mc_cmd *cmd, mc_outcome *out)
{
    for (;;) {
        if (cmd->bare)
            finish_one(l, cmd, out);
        else
            finish_many(l, cmd, out);
        if (!rerun(l, out) || !run(l, cmd, out))
            break;
    }
    l->rested_from_us = clock_monotonic_us();
}
