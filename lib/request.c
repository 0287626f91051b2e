/*
 * Requests: their memory, the completion of their fragments, and the join
 * of a single-fragment request (split ones are joined by fanout.c, through
 * the join function their submitter set).
 */
#include <stdlib.h>
#include <string.h>

#include "refstr.h"
#include "request.h"

request *
request_alloc(size_t nfrags)
{
    /* Fragments beyond the inline one follow the request: one allocation. */
    size_t extra = nfrags > 1 ? nfrags * sizeof(fragment) : 0;
    request *r;

    if (nfrags > 1 && extra / nfrags != sizeof(fragment))
        return NULL;
    r = calloc(1, sizeof(*r) + extra);
    if (r == NULL)
        return NULL;
    r->nfrags = nfrags;
    r->pending = nfrags;
    r->frags = nfrags > 1 ? (fragment *)(r + 1) : &r->one;
    for (size_t i = 0; i < nfrags; i++)
        r->frags[i].req = r;
    return r;
}

void
request_free(request *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nfrags; i++) {
        shard_reply_free(r->frags[i].reply);
        free(r->frags[i].errmsg);
        free(r->frags[i].resend);
        refstr_drop(r->frags[i].addr);
    }
    free(r->key_frag);
    shard_reply_free(r->reply);
    free(r->errmsg);
    free(r);
}

void
request_join_single(request *r)
{
    fragment *f = &r->frags[0];

    if (f->status == SHARD_OK && f->reply != NULL) {
        r->reply = f->reply;
        f->reply = NULL;
        return;
    }
    r->status = f->status != SHARD_OK ? f->status : SHARD_EPROTO;
    r->errmsg = f->errmsg;
    f->errmsg = NULL;
}

bool
fragment_keep_args(fragment *f, int argc, const char **argv,
                   const size_t *argvlen)
{
    size_t bytes = sizeof(fragment_args), n = (size_t)argc;

    for (size_t i = 0; i < n; i++)
        bytes += sizeof(char *) + sizeof(size_t) + argvlen[i];
    fragment_args *a = malloc(bytes);
    if (a == NULL)
        return false;
    a->argc = argc;
    a->argvlen = (size_t *)(a + 1);
    a->argv = (const char **)(a->argvlen + n);
    char *data = (char *)(a->argv + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(data, argv[i], argvlen[i]);
        a->argv[i] = data;
        a->argvlen[i] = argvlen[i];
        data += argvlen[i];
    }
    free(f->resend);
    f->resend = a;
    return true;
}

void
fragment_drop_args(fragment *f)
{
    free(f->resend);
    f->resend = NULL;
}

/* A lost connection or a timeout: the server may answer a second time. */
static bool
retryable(int status)
{
    return status == SHARD_ECONN || status == SHARD_ETIMEDOUT;
}

void
fragment_done(fragment *f, shard_reply *reply, int status, const char *errmsg)
{
    request *r = f->req;

    f->conn = NULL;
    f->reply = reply;
    f->status = status;
    free(f->errmsg);
    f->errmsg = errmsg != NULL ? strdup(errmsg) : NULL;
    if (f->resend != NULL && retryable(status) && r->retry_fn != NULL) {
        r->retry_fn(f);
        return;
    }
    if (--r->pending != 0)
        return;
    if (r->join_fn != NULL)
        r->join_fn(r);
    else
        request_join_single(r);
    r->done = true;
    if (r->complete_fn != NULL)
        r->complete_fn(r);
}

void
request_finish_local(request *r, shard_reply *reply)
{
    fragment *f = &r->frags[0];

    if (reply == NULL)
        fragment_done(f, NULL, SHARD_ENOMEM, "out of memory");
    else
        fragment_done(f, reply, SHARD_OK, NULL);
}

void
fragment_set_addr(fragment *f, const char *addr)
{
    const char *was = f->addr;

    f->addr = refstr_hold(addr);
    refstr_drop(was);
}
