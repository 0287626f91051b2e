/*
 * Requests: their memory, the completion of their fragments, and the join
 * of a single-fragment request (split ones are joined by fanout.c, through
 * the join function their submitter set).
 */
#include <stdlib.h>
#include <string.h>

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

void
fragment_done(fragment *f, shard_reply *reply, int status, const char *errmsg)
{
    request *r = f->req;

    f->conn = NULL;
    f->reply = reply;
    f->status = status;
    if (errmsg != NULL)
        f->errmsg = strdup(errmsg);
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
