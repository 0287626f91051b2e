/*
 * Fan-out of MGET, DEL, UNLINK, TOUCH, EXISTS and MSET. Each involved
 * server gets one sub-command with its keys in request order (duplicates
 * kept); all are queued before any reply is read, so the servers work in
 * parallel. The join moves MGET values out of the per-server arrays into
 * the reply instead of copying them. A failed server fails only its keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fanout.h"

/* Sub-command argument vectors for every fragment, in one allocation. */
typedef struct fanout_args {
    const char **argv; /* all fragments' arguments, back to back */
    size_t *argvlen;   /* their lengths */
    size_t *start;     /* first argument of fragment j */
    size_t *count;     /* arguments of fragment j */
} fanout_args;

static request *
plan_request(engine *e, request_mode mode, const fanout_plan *p)
{
    int stack[64], *frag_of = stack;
    size_t nfrags = 0;
    request *r = NULL;

    if (p->server_count > sizeof(stack) / sizeof(stack[0]) &&
        (frag_of = malloc(p->server_count * sizeof(*frag_of))) == NULL)
        return NULL;
    for (size_t s = 0; s < p->server_count; s++)
        frag_of[s] = -1;
    for (size_t i = 0; i < p->nkeys; i++)
        frag_of[p->key_server[i]] = 0;
    for (size_t s = 0; s < p->server_count; s++)
        if (frag_of[s] == 0)
            frag_of[s] = (int)nfrags++;
    r = request_new(e, mode, nfrags);
    if (r != NULL && (r->key_frag = malloc(p->nkeys * sizeof(int))) == NULL) {
        request_free(r);
        r = NULL;
    }
    for (size_t i = 0; r != NULL && i < p->nkeys; i++) {
        r->key_frag[i] = frag_of[p->key_server[i]];
        r->frags[r->key_frag[i]].server = p->key_server[i];
    }
    if (r != NULL) {
        r->nkeys = p->nkeys;
        r->join = p->join;
        r->join_fn = fanout_join;
        r->name = p->name;
        r->retries = p->retries;
        STAT_ADD(e->stats.fragments, nfrags);
        r->resend_fn = p->resend_fn;
        r->pool = p->pool;
    }
    if (frag_of != stack)
        free(frag_of);
    return r;
}

/* The four arrays share one allocation, released by args_free. */
static bool
args_alloc(fanout_args *a, const request *r, size_t per_key)
{
    size_t total = r->nkeys * per_key + r->nfrags;
    size_t bytes = total * (sizeof(*a->argv) + sizeof(*a->argvlen)) +
                   2 * r->nfrags * sizeof(size_t);
    char *block = calloc(1, bytes);

    if (block == NULL)
        return false;
    a->argvlen = (size_t *)block;
    a->start = a->argvlen + total;
    a->count = a->start + r->nfrags;
    a->argv = (const char **)(a->count + r->nfrags);
    return true;
}

static void
args_free(fanout_args *a)
{
    free(a->argvlen); /* the start of the block */
}

static void
args_push(fanout_args *a, size_t frag, const char *arg, size_t len)
{
    size_t at = a->start[frag] + a->count[frag]++;

    a->argv[at] = arg;
    a->argvlen[at] = len;
}

/* Lays out "name key [value] ..." per fragment, keys in request order. */
static bool
args_build(fanout_args *a, const request *r, const fanout_plan *p)
{
    size_t per_key = p->join == JOIN_MSET ? 2 : 1;
    size_t offset = 0;

    if (!args_alloc(a, r, per_key))
        return false;
    for (size_t i = 0; i < r->nkeys; i++)
        a->count[r->key_frag[i]] += per_key;
    for (size_t j = 0; j < r->nfrags; j++) {
        a->start[j] = offset;
        offset += a->count[j] + 1;
        a->count[j] = 0;
        args_push(a, j, p->argv[0], p->argvlen[0]);
    }
    for (size_t i = 0; i < r->nkeys; i++) {
        int at = p->positions[i];
        for (size_t k = 0; k < per_key; k++)
            args_push(a, (size_t)r->key_frag[i], p->argv[at + k],
                      p->argvlen[at + k]);
    }
    return true;
}

request *
fanout_send(engine *e, request_mode mode, const fanout_plan *p,
            fanout_pick_fn pick, void *ctx)
{
    request *r = plan_request(e, mode, p);
    fanout_args a = {0};

    if (r == NULL)
        return NULL;
    if (!args_build(&a, r, p)) {
        args_free(&a);
        request_free(r);
        return NULL;
    }
    for (size_t j = 0; j < r->nfrags; j++) {
        fragment *f = &r->frags[j];
        engine_send(e, f, pick(ctx, f->server), (int)a.count[j],
                    a.argv + a.start[j], a.argvlen + a.start[j]);
    }
    args_free(&a);
    return r;
}

/* --- join ----------------------------------------------------------------- */

bool
fanout_fragment_failed(const fragment *f)
{
    return f->status != SHARD_OK || f->reply == NULL;
}

/* The reply for one key of a failed or refused MGET fragment. */
static shard_reply *
key_error(const fragment *f)
{
    if (!fanout_fragment_failed(f) && f->reply->type == SHARD_REPLY_ERROR)
        return reply_copy(f->reply);
    if (!fanout_fragment_failed(f))
        return reply_error("ERR unexpected reply to MGET from server '%s'",
                           f->addr);
    return reply_error("ERR %s", f->errmsg ? f->errmsg : "server failed");
}

static shard_reply *
next_value(fragment *f)
{
    shard_reply *arr = f->reply;

    if (fanout_fragment_failed(f) || arr->type != SHARD_REPLY_ARRAY ||
        f->cursor >= arr->elements)
        return key_error(f);
    shard_reply *v = arr->element[f->cursor];
    arr->element[f->cursor++] = NULL;
    return v;
}

static shard_reply *
join_mget(request *r)
{
    shard_reply *out = reply_array(r->nkeys);

    for (size_t i = 0; out != NULL && i < r->nkeys; i++) {
        out->element[i] = next_value(&r->frags[r->key_frag[i]]);
        if (out->element[i] == NULL) {
            shard_reply_free(out);
            out = NULL;
        }
    }
    return out;
}

/* Why fragment `f` did not give the expected kind of reply, in words. */
static void
describe_failure(const fragment *f, char *buf, size_t len)
{
    const char *why = f->errmsg ? f->errmsg : "failed";

    /* A failure that does not say where (out of memory) is told where. */
    if (fanout_fragment_failed(f) && f->addr != NULL &&
        strstr(why, f->addr) == NULL)
        error_format(buf, len, "server '%s': %s", f->addr, why);
    else if (fanout_fragment_failed(f))
        error_format(buf, len, "%s", why);
    else if (f->reply->type == SHARD_REPLY_ERROR)
        error_format(buf, len, "server '%s' replied: %s", f->addr,
                     f->reply->str);
    else
        error_format(buf, len, "server '%s' sent an unexpected reply type %d",
                     f->addr, f->reply->type);
}

/* The failures of the fragments for which `ok` is false, "; "-separated,
 * into `detail`; returns how many there are. */
static size_t
list_failures(request *r, bool (*ok)(const fragment *), char *detail,
              size_t len)
{
    char one[ERROR_MAX];
    size_t used = 0, failed = 0;

    detail[0] = '\0';
    for (size_t j = 0; j < r->nfrags; j++) {
        if (ok != NULL && ok(&r->frags[j]))
            continue;
        failed++;
        describe_failure(&r->frags[j], one, sizeof(one));
        int n =
            snprintf(detail + used, len - used, "%s%s", used ? "; " : "", one);
        if (n > 0 && (size_t)n < len - used)
            used += (size_t)n;
    }
    return failed;
}

shard_reply *
fanout_partial_failure(request *r, bool (*ok)(const fragment *), long long done)
{
    char detail[ERROR_MAX], count[64] = "";
    size_t failed = list_failures(r, ok, detail, sizeof(detail));

    const char *name = r->name ? r->name : "command";

    /* A server that answered, but not as the command wants: nothing else
     * to report when it was the only one. */
    if (failed == r->nfrags)
        return reply_error("ERR %s failed on %zu of %zu servers (%s)", name,
                           failed, r->nfrags, detail);
    if (r->join == JOIN_SUM)
        error_format(count, sizeof(count), " with a count of %lld", done);
    return reply_error("ERR %s failed on %zu of %zu servers (%s); the others "
                       "succeeded%s",
                       name, failed, r->nfrags, detail, count);
}

static bool
integer_ok(const fragment *f)
{
    return !fanout_fragment_failed(f) && f->reply->type == SHARD_REPLY_INTEGER;
}

static bool
status_ok(const fragment *f)
{
    return !fanout_fragment_failed(f) && f->reply->type == SHARD_REPLY_STATUS;
}

/* The servers' counts, summed; an ERROR when they add up past what a
 * long long holds (no server counts that many keys: the replies are
 * wrong, and adding them anyway would be undefined behaviour). */
static shard_reply *
join_sum(request *r)
{
    long long sum = 0;
    bool all = true, overflow = false;

    for (size_t j = 0; j < r->nfrags; j++) {
        if (!integer_ok(&r->frags[j]))
            all = false;
        else if (__builtin_add_overflow(sum, r->frags[j].reply->integer, &sum))
            overflow = true;
    }
    if (overflow)
        return reply_error("ERR %s: the servers' counts add up to more than "
                           "a 64-bit integer holds",
                           r->name ? r->name : "command");
    return all ? reply_integer(sum)
               : fanout_partial_failure(r, integer_ok, sum);
}

static shard_reply *
join_mset(request *r)
{
    for (size_t j = 0; j < r->nfrags; j++) {
        if (!status_ok(&r->frags[j]))
            return fanout_partial_failure(r, status_ok, 0);
    }
    return reply_string(SHARD_REPLY_STATUS, "OK", 2);
}

bool
fanout_join_total_failure(request *r)
{
    char detail[ERROR_MAX], msg[ERROR_MAX];
    const fragment *first = &r->frags[0];

    for (size_t j = 0; j < r->nfrags; j++) {
        if (!fanout_fragment_failed(&r->frags[j]))
            return false;
    }
    list_failures(r, NULL, detail, sizeof(detail));
    error_format(msg, sizeof(msg), "%s failed on every server it needed (%s)",
                 r->name ? r->name : "command", detail);
    r->status = first->status != SHARD_OK ? first->status : SHARD_EPROTO;
    r->errmsg = strdup(msg);
    return true;
}

/* Keys whose part failed: each gets an error instead of its result. */
static void
count_key_errors(request *r)
{
    uint64_t n = 0;

    for (size_t i = 0; i < r->nkeys; i++) {
        const fragment *f = &r->frags[r->key_frag[i]];
        n += fanout_fragment_failed(f) || f->reply->type == SHARD_REPLY_ERROR;
    }
    if (n > 0)
        STAT_ADD(r->engine->stats.split_key_errors, n);
}

void
fanout_join(request *r)
{
    /* One failed fragment fails as one key does, with its own message. */
    if (r->join == JOIN_SINGLE ||
        (r->nfrags == 1 && fanout_fragment_failed(&r->frags[0]))) {
        request_join_single(r);
        return;
    }
    count_key_errors(r);
    if (fanout_join_total_failure(r))
        return;
    if (r->join == JOIN_MGET)
        r->reply = join_mget(r);
    else if (r->join == JOIN_SUM)
        r->reply = join_sum(r);
    else
        r->reply = join_mset(r);
    if (r->reply == NULL) {
        r->status = SHARD_ENOMEM;
        r->errmsg = strdup("out of memory joining the replies");
    }
}
