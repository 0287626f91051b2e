/*
 * shard-soak's load: GET, SET, MGET and pipelines of GET/SET, sent blocking,
 * pipelined and async on one pool, with every reply checked.
 *
 * Every value is "v:<key>:<generation>", generations counting up across the
 * run, so a reply says whose it is: another key's value (or a generation
 * never written for this key) is CROSSED. A nil is a MISS (a killed or
 * restarted server lost its keys). A value of this key is compared with the
 * key's last acknowledged SET when the read was sent (a reply delivered
 * later may well predate a SET acknowledged meanwhile): that generation or
 * one acknowledged since (current); a newer one whose SET was not
 * acknowledged yet, or failed after reaching the server (ahead); an older
 * one whose SET had failed (late: a timed-out SET that the server applied
 * after a newer one, from the connection libshard had closed); or an older
 * acknowledged one (stale: after an ejection moved the key away and back,
 * say). A SET must answer +OK, an MGET an array of its keys' values in
 * order. Async requests are tracked by id: none may be called back twice,
 * none may be left without its callback. A pipeline must give one reply per
 * appended command, and no more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "soak.h"

#define MAX_SHOWN 10      /* crossed or lost requests described on stderr */
#define PRELOAD_BATCH 500 /* SETs per pipelined preload round trip */

/* The run the async callbacks report to: their userdata is a request id,
 * which stays meaningful even if the library called back twice. */
static soak *current;

static uint64_t
rand64(soak *s)
{
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545f4914f6cdd1dULL;
}

static int
pick(soak *s, int n)
{
    return (int)((rand64(s) >> 33) % (uint64_t)n);
}

static bool
may_issue(const soak *s)
{
    return s->requests == 0 || s->issued < s->requests;
}

static int
value_of(const soak *s, int k, uint64_t gen, char *buf)
{
    int n = snprintf(buf, VALUE_MAX, "v:%s:%llu", s->key[k],
                     (unsigned long long)gen);

    return n > 0 && n < VALUE_MAX ? n : 0;
}

/* ---- requests ------------------------------------------------------- */

/* Picks a request's keys; a SET gets the next generation. */
static void
request_make(soak *s, request *q, op_kind op)
{
    q->op = op;
    q->nkeys = op == OP_MGET ? MGET_KEYS : 1;
    for (int i = 0; i < q->nkeys; i++) {
        int k = pick(s, KEY_COUNT);
        q->keys[i] = k;
        /* Where the pool sends it now: its home, unless that is ejected. */
        q->home[i] = shard_pool_locate(s->pool, s->key[k], s->key_len[k]) ==
                     s->ks[k].home;
        q->floor[i] = s->ks[k].acked;
    }
    q->gen = 0;
    if (op == OP_SET) {
        q->gen = ++s->gen;
        s->ks[q->keys[0]].written = q->gen;
    }
}

/* The argv of `q`; `value` holds a SET's value. Returns argc. */
static int
request_argv(const soak *s, const request *q, const char **argv, size_t *len,
             char *value)
{
    static const char *const names[] = {"GET", "SET", "MGET"};

    argv[0] = names[q->op];
    len[0] = strlen(argv[0]);
    for (int i = 0; i < q->nkeys; i++) {
        argv[i + 1] = s->key[q->keys[i]];
        len[i + 1] = s->key_len[q->keys[i]];
    }
    if (q->op != OP_SET)
        return q->nkeys + 1;
    argv[2] = value;
    len[2] = (size_t)value_of(s, q->keys[0], q->gen, value);
    return 3;
}

/* ---- checking replies ----------------------------------------------- */

static void
count_failure(soak *s, int cause, const char *msg)
{
    s->failed++;
    s->cause[cause]++;
    if (s->cause_msg[cause][0] == '\0' && msg != NULL)
        snprintf(s->cause_msg[cause], MSG_MAX, "%s", msg);
}

static void
keys_note(soak *s, const request *q, bool ok, uint64_t now)
{
    for (int i = 0; i < q->nkeys; i++)
        fault_note(s, q->keys[i], q->home[i], ok, now);
}

static void
crossed(soak *s, const request *q, int i, const shard_reply *r)
{
    static const char *const names[] = {"GET", "SET", "MGET"};
    const char *str = shard_reply_str(r, NULL);

    if (s->crossed++ >= MAX_SHOWN)
        return;
    fprintf(stderr,
            "shard-soak: CROSSED: %s %s (key %d of the command, generation "
            "%llu, acknowledged %llu) got a reply of type %d: %.80s\n",
            names[q->op], s->key[q->keys[i]], i,
            (unsigned long long)s->ks[q->keys[i]].written,
            (unsigned long long)s->ks[q->keys[i]].acked, shard_reply_type(r),
            str != NULL ? str : "");
}

/* The generation in `str` if it is a value of key `k`, else 0. */
static uint64_t
value_gen(const soak *s, int k, const char *str, size_t len)
{
    if (str == NULL || len <= 2)
        return 0;
    const char *colon = memrchr(str, ':', len);
    const char *end = str + len;
    uint64_t gen = 0;

    if (colon == NULL || memcmp(str, "v:", 2) != 0 ||
        (size_t)(colon - str - 2) != s->key_len[k] ||
        memcmp(str + 2, s->key[k], s->key_len[k]) != 0 || end - colon > 20)
        return 0;
    for (const char *p = colon + 1; p < end; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        gen = gen * 10 + (uint64_t)(*p - '0');
    }
    return gen;
}

static bool
failed_before(const key_state *ks, uint64_t gen)
{
    for (int i = 0; i < FAILED_KEPT; i++) {
        if (ks->failed[i] == gen)
            return true;
    }
    return false;
}

/* A SET failed: its value may still land, late. */
static void
set_failed(soak *s, const request *q)
{
    key_state *ks = &s->ks[q->keys[0]];

    memmove(&ks->failed[1], &ks->failed[0],
            (FAILED_KEPT - 1) * sizeof(ks->failed[0]));
    ks->failed[0] = q->gen;
}

/* Checks one value read for key `i` of `q` (a GET, or an MGET element). */
static void
check_read(soak *s, const request *q, int i, const shard_reply *r)
{
    const key_state *ks = &s->ks[q->keys[i]];
    size_t len = 0;
    const char *str = shard_reply_str(r, &len);
    uint64_t gen;

    s->reads++;
    if (shard_reply_type(r) == SHARD_REPLY_NIL) {
        s->misses++;
        return;
    }
    gen = shard_reply_type(r) == SHARD_REPLY_STRING
              ? value_gen(s, q->keys[i], str, len)
              : 0;
    if (gen == 0 || gen > ks->written)
        crossed(s, q, i, r);
    else if (gen > ks->acked)
        s->ahead++;
    else if (gen >= q->floor[i])
        s->current++;
    else if (failed_before(ks, gen))
        s->late++;
    else
        s->stale++;
}

static void
check_set(soak *s, const request *q, const shard_reply *r, uint64_t now)
{
    key_state *ks = &s->ks[q->keys[0]];
    const char *str = shard_reply_str(r, NULL);

    if (shard_reply_type(r) != SHARD_REPLY_STATUS || strcmp(str, "OK") != 0) {
        crossed(s, q, 0, r);
        return;
    }
    if (q->gen > ks->acked)
        ks->acked = q->gen;
    keys_note(s, q, true, now);
}

static void
check_mget(soak *s, const request *q, const shard_reply *r, uint64_t now)
{
    const char *first_error = NULL;

    if (shard_reply_type(r) != SHARD_REPLY_ARRAY ||
        shard_reply_len(r) != (size_t)q->nkeys) {
        crossed(s, q, 0, r);
        return;
    }
    for (int i = 0; i < q->nkeys; i++) {
        const shard_reply *e = shard_reply_at(r, (size_t)i);
        bool ok = shard_reply_type(e) != SHARD_REPLY_ERROR;

        if (ok)
            check_read(s, q, i, e);
        else if (first_error == NULL)
            first_error = shard_reply_str(e, NULL);
        fault_note(s, q->keys[i], q->home[i], ok, now);
    }
    if (first_error != NULL)
        count_failure(s, CAUSE_ERROR_ELEMENT, first_error);
}

/* Request `q` finished with `status` and, when SHARD_OK, reply `r`. */
static void
request_done(soak *s, const request *q, int status, const shard_reply *r)
{
    uint64_t now = now_ns();

    s->done++;
    if (status != SHARD_OK) {
        int cause =
            status < 0 && -status < CAUSE_ERROR_REPLY ? -status : CAUSE_OTHER;
        count_failure(s, cause,
                      s->freeing ? "pool freed" : shard_pool_errmsg(s->pool));
        keys_note(s, q, false, now);
        if (q->op == OP_SET)
            set_failed(s, q);
    } else if (shard_reply_type(r) == SHARD_REPLY_ERROR) {
        count_failure(s, CAUSE_ERROR_REPLY, shard_reply_str(r, NULL));
        keys_note(s, q, false, now);
        if (q->op == OP_SET)
            set_failed(s, q);
    } else if (q->op == OP_SET) {
        check_set(s, q, r, now);
    } else if (q->op == OP_MGET) {
        check_mget(s, q, r, now);
    } else {
        check_read(s, q, 0, r);
        keys_note(s, q, true, now);
    }
}

/* ---- blocking and pipelined ----------------------------------------- */

static void
run_blocking(soak *s, op_kind op)
{
    const char *argv[MGET_KEYS + 1];
    size_t len[MGET_KEYS + 1];
    char value[VALUE_MAX];
    shard_reply *r = NULL;
    request q;
    int argc, rc;

    request_make(s, &q, op);
    argc = request_argv(s, &q, argv, len, value);
    s->issued++;
    s->issued_by[WAY_BLOCKING]++;
    rc = shard_command_argv(s->pool, &r, argc, argv, len);
    request_done(s, &q, rc, r);
    shard_reply_free(r);
}

/* Appends GETs and SETs; returns how many were queued into `sent`. */
static int
pipeline_append(soak *s, request *sent, int depth)
{
    int queued = 0;

    for (int i = 0; i < depth && may_issue(s); i++) {
        const char *argv[3];
        size_t len[3];
        char value[VALUE_MAX];
        request *q = &sent[queued];
        int rc;

        request_make(s, q, pick(s, 2) ? OP_GET : OP_SET);
        request_argv(s, q, argv, len, value);
        s->issued++;
        s->issued_by[WAY_PIPELINE]++;
        rc = shard_append_argv(s->pool, q->op == OP_SET ? 3 : 2, argv, len);
        if (rc == SHARD_OK)
            queued++;
        else
            request_done(s, q, rc, NULL);
    }
    return queued;
}

/* A pipeline: every appended command gets one reply, in order, and then
 * there is none left. */
static void
run_pipeline(soak *s)
{
    request sent[PIPE_DEPTH];
    int queued = pipeline_append(s, sent, PIPE_DEPTH);
    shard_reply *r = NULL;

    for (int i = 0; i < queued; i++) {
        int rc = shard_get_reply(s->pool, &r);

        if (rc == SHARD_ESTATE) {
            fprintf(stderr, "shard-soak: LOST: %d pipelined replies: %s\n",
                    queued - i, shard_pool_errmsg(s->pool));
            s->lost += (uint64_t)(queued - i);
            return;
        }
        request_done(s, &sent[i], rc, r);
        shard_reply_free(r);
    }
    if (shard_get_reply(s->pool, &r) != SHARD_ESTATE) {
        fprintf(stderr, "shard-soak: DOUBLED: a reply beyond the pipeline\n");
        s->doubled++;
        shard_reply_free(r);
    }
}

/* ---- async ---------------------------------------------------------- */

static bool
calls_room(soak *s, uint64_t id)
{
    size_t cap = s->calls_cap ? s->calls_cap : 65536;
    uint8_t *grown;

    if (id < s->calls_cap)
        return true;
    while (cap <= id)
        cap *= 2;
    if ((grown = realloc(s->calls, cap)) == NULL)
        return false;
    memset(grown + s->calls_cap, CALL_NONE, cap - s->calls_cap);
    s->calls = grown;
    s->calls_cap = cap;
    return true;
}

static void
load_on_reply(shard_pool *pool, const shard_reply *reply, int status,
              void *userdata)
{
    soak *s = current;
    uint64_t id = (uint64_t)(uintptr_t)userdata;
    async_slot *slot = &s->ring[id % RING];

    (void)pool;
    if (id == 0 || id >= s->next_id || s->calls[id] == CALL_NONE) {
        fprintf(stderr, "shard-soak: DOUBLED: callback for unknown id %llu\n",
                (unsigned long long)id);
        s->stray++;
        s->doubled++;
        return;
    }
    if (s->calls[id] != CALL_AWAITED) {
        fprintf(stderr, "shard-soak: DOUBLED: id %llu called back again\n",
                (unsigned long long)id);
        s->doubled++;
        return;
    }
    s->calls[id] = CALL_ANSWERED;
    s->pending--;
    slot->busy = false;
    request_done(s, &slot->q, status, reply);
}

/* Submits one async request; false when its ring slot is still taken
 * (a request 1024 ids older still waits) or memory ran out. */
static bool
submit_async(soak *s)
{
    static const op_kind ops[] = {OP_GET, OP_GET, OP_SET, OP_SET, OP_MGET};
    const char *argv[MGET_KEYS + 1];
    size_t len[MGET_KEYS + 1];
    char value[VALUE_MAX];
    uint64_t id = s->next_id;
    async_slot *slot = &s->ring[id % RING];
    int argc, rc;

    if (slot->busy || !calls_room(s, id))
        return false;
    s->next_id++;
    request_make(s, &slot->q, ops[pick(s, 5)]);
    argc = request_argv(s, &slot->q, argv, len, value);
    s->issued++;
    s->issued_by[WAY_ASYNC]++;
    rc = shard_command_async(s->pool, argc, argv, len, load_on_reply,
                             (void *)(uintptr_t)id);
    if (rc != SHARD_OK) {
        request_done(s, &slot->q, rc, NULL);
        return true;
    }
    s->calls[id] = CALL_AWAITED;
    slot->busy = true;
    s->pending++;
    return true;
}

/* One blocking request or pipeline: GET 35%, SET 30%, MGET 20%, a
 * pipeline of PIPE_DEPTH GETs and SETs 15%. */
static void
run_synchronous(soak *s)
{
    int dice = pick(s, 100);

    if (dice < 35)
        run_blocking(s, OP_GET);
    else if (dice < 65)
        run_blocking(s, OP_SET);
    else if (dice < 85)
        run_blocking(s, OP_MGET);
    else
        run_pipeline(s);
}

void
load_round(soak *s)
{
    for (int i = 0; i < ASYNC_PER_ROUND && s->pending < IN_FLIGHT &&
                    may_issue(s) && submit_async(s);
         i++) {
    }
    if (may_issue(s))
        run_synchronous(s);
    event_base_loop(s->base, EVLOOP_NONBLOCK);
}

void
load_drain(soak *s, long ms)
{
    uint64_t deadline = now_ns() + (uint64_t)ms * 1000000u;
    struct timeval slice = {0, 100000};

    while (s->pending > 0 && now_ns() < deadline) {
        /* ONCE waits for the next event; the exit timer bounds the wait. */
        event_base_loopexit(s->base, &slice);
        event_base_loop(s->base, EVLOOP_ONCE);
    }
    s->overdue = s->pending;
}

void
load_count_lost(soak *s)
{
    for (uint64_t id = 1; id < s->next_id; id++) {
        if (s->calls[id] == CALL_AWAITED) {
            if (s->lost < MAX_SHOWN)
                fprintf(stderr, "shard-soak: LOST: async id %llu\n",
                        (unsigned long long)id);
            s->lost++;
        }
    }
}

/* ---- preload -------------------------------------------------------- */

/* SETs keys [from, to) pipelined; true when every one answered +OK. */
static bool
preload_batch(soak *s, int from, int to)
{
    bool ok = true;

    for (int k = from; k < to; k++) {
        char value[VALUE_MAX];
        const char *argv[3] = {"SET", s->key[k], value};
        size_t len[3] = {3, s->key_len[k], 0};

        s->ks[k].written = ++s->gen;
        len[2] = (size_t)value_of(s, k, s->gen, value);
        if (shard_append_argv(s->pool, 3, argv, len) != SHARD_OK)
            return false;
    }
    for (int k = from; k < to; k++) {
        shard_reply *r = NULL;

        if (shard_get_reply(s->pool, &r) != SHARD_OK ||
            shard_reply_type(r) != SHARD_REPLY_STATUS)
            ok = false;
        else
            s->ks[k].acked = s->ks[k].written;
        shard_reply_free(r);
    }
    return ok;
}

bool
load_preload(soak *s)
{
    current = s;
    s->next_id = 1;
    for (int k = 0; k < KEY_COUNT; k++) {
        int n = snprintf(s->key[k], KEY_MAX, "soak:%05d", k);
        int home = shard_pool_locate(s->pool, s->key[k], (size_t)n);

        if (n <= 0 || n >= KEY_MAX || home < 0)
            return false;
        s->key_len[k] = (size_t)n;
        s->ks[k].home = home;
    }
    for (int k = 0; k < KEY_COUNT; k += PRELOAD_BATCH) {
        int to = k + PRELOAD_BATCH < KEY_COUNT ? k + PRELOAD_BATCH : KEY_COUNT;

        if (!preload_batch(s, k, to)) {
            fprintf(stderr, "shard-soak: preloading failed: %s\n",
                    shard_pool_errmsg(s->pool));
            return false;
        }
    }
    return true;
}
