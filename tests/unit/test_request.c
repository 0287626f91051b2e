/*
 * request: fragment memory, completion on the last fragment, the join and
 * complete hooks, and the single-fragment join; no servers, no engine.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "reply.h"
#include "request.h"

/* What the hooks saw, in call order. */
static struct {
    int joins;          /* join_fn calls */
    int completes;      /* complete_fn calls */
    int order[4];       /* 'j' or 'c' per call */
    int calls;          /* entries in order */
    bool done_at_join;  /* r->done when join_fn ran */
    bool done_at_end;   /* r->done when complete_fn ran */
    size_t pending_end; /* r->pending when complete_fn ran */
} seen;

static void
record(int what)
{
    if (seen.calls < 4)
        seen.order[seen.calls] = what;
    seen.calls++;
}

/* A join that sums the integer replies of the fragments. */
static void
join_sum(request *r)
{
    long long sum = 0;

    seen.joins++;
    seen.done_at_join = r->done;
    record('j');
    for (size_t i = 0; i < r->nfrags; i++)
        sum += r->frags[i].reply != NULL ? r->frags[i].reply->integer : 0;
    r->reply = reply_integer(sum);
}

static void
complete(request *r)
{
    seen.completes++;
    seen.done_at_end = r->done;
    seen.pending_end = r->pending;
    record('c');
}

static void
reset(void)
{
    memset(&seen, 0, sizeof(seen));
}

TestSuite(request, .init = reset);

Test(request, one_fragment_lives_inside_the_request)
{
    request *r = request_alloc(1);

    cr_assert_not_null(r);
    cr_expect_eq(r->nfrags, 1);
    cr_expect_eq(r->pending, 1);
    cr_expect_eq(r->frags, &r->one);
    cr_expect_eq(r->one.req, r);
    cr_expect_null(r->one.reply);
    cr_expect_null(r->one.conn);
    cr_expect_null(r->reply);
    cr_expect_null(r->join_fn);
    cr_expect_null(r->complete_fn);
    cr_expect_eq(r->status, SHARD_OK);
    cr_expect_not(r->done);
    request_free(r);
}

Test(request, many_fragments_follow_the_request_in_one_allocation)
{
    static const size_t counts[] = {2, 5, 1000};

    for (size_t c = 0; c < 3; c++) {
        size_t n = counts[c];
        request *r = request_alloc(n);

        cr_assert_not_null(r);
        cr_expect_eq(r->nfrags, n);
        cr_expect_eq(r->pending, n);
        cr_expect_eq((void *)r->frags, (void *)(r + 1));
        cr_expect_eq((uintptr_t)r->frags % _Alignof(fragment), 0);
        cr_expect_null(r->one.req, "the inline fragment is unused");
        for (size_t i = 0; i < n; i++) {
            fragment *f = &r->frags[i];
            cr_assert_eq(f->req, r, "fragment %zu of %zu", i, n);
            cr_assert_null(f->reply);
            cr_assert_eq(f->status, SHARD_OK);
            /* Every fragment is writable (ASan checks the bounds). */
            f->server = (int)i;
            f->cursor = i;
        }
        cr_expect_eq(r->frags[n - 1].server, (int)(n - 1));
        request_free(r);
    }
}

Test(request, only_the_last_fragment_completes_the_request)
{
    request *r = request_alloc(3);

    cr_assert_not_null(r);
    r->join_fn = join_sum;
    r->complete_fn = complete;
    fragment_done(&r->frags[1], reply_integer(20), SHARD_OK, NULL);
    cr_expect_eq(r->pending, 2);
    cr_expect_not(r->done);
    fragment_done(&r->frags[0], reply_integer(1), SHARD_OK, NULL);
    cr_expect_eq(r->pending, 1);
    cr_expect_not(r->done);
    cr_expect_eq(seen.joins + seen.completes, 0, "no hook before the last");
    cr_expect_null(r->reply);

    fragment_done(&r->frags[2], reply_integer(300), SHARD_OK, NULL);
    cr_expect(r->done);
    cr_expect_eq(r->pending, 0);
    cr_expect_eq(seen.joins, 1);
    cr_expect_eq(seen.completes, 1);
    cr_assert_not_null(r->reply);
    cr_expect_eq(r->reply->integer, 321);
    cr_expect_eq(r->status, SHARD_OK);
    /* Each fragment kept its own reply for the join to read. */
    cr_expect_eq(r->frags[0].reply->integer, 1);
    cr_expect_eq(r->frags[1].reply->integer, 20);
    cr_expect_eq(r->frags[2].reply->integer, 300);
    request_free(r);
}

Test(request, join_runs_before_complete_and_each_exactly_once)
{
    request *r = request_alloc(2);

    cr_assert_not_null(r);
    r->join_fn = join_sum;
    r->complete_fn = complete;
    fragment_done(&r->frags[0], reply_integer(4), SHARD_OK, NULL);
    fragment_done(&r->frags[1], NULL, SHARD_ETIMEDOUT, "timed out");
    cr_expect_eq(seen.calls, 2);
    cr_expect_eq(seen.order[0], 'j');
    cr_expect_eq(seen.order[1], 'c');
    cr_expect_not(seen.done_at_join, "join runs before the reply is final");
    cr_expect(seen.done_at_end, "complete sees done == true");
    cr_expect_eq(seen.pending_end, 0);
    /* The failed fragment keeps its status and a copy of its message. */
    cr_expect_eq(r->frags[1].status, SHARD_ETIMEDOUT);
    cr_expect_str_eq(r->frags[1].errmsg, "timed out");
    cr_expect_eq(r->reply->integer, 4);
    request_free(r);
}

Test(request, fragment_done_clears_the_fragment_connection)
{
    request *r = request_alloc(2);

    cr_assert_not_null(r);
    r->frags[0].conn = (struct conn *)&seen; /* any non-NULL address */
    r->frags[1].conn = (struct conn *)&seen;
    fragment_done(&r->frags[0], reply_integer(1), SHARD_OK, NULL);
    cr_expect_null(r->frags[0].conn);
    cr_expect_not_null(r->frags[1].conn, "other fragments keep theirs");
    fragment_done(&r->frags[1], reply_integer(2), SHARD_OK, NULL);
    cr_expect_null(r->frags[1].conn);
    request_free(r);
}

Test(request, without_join_fn_the_single_reply_moves_to_the_request)
{
    request *r = request_alloc(1);
    shard_reply *rep = reply_string(SHARD_REPLY_STRING, "alice", 5);

    cr_assert(r != NULL && rep != NULL);
    r->complete_fn = complete;
    fragment_done(&r->frags[0], rep, SHARD_OK, NULL);
    cr_expect_eq(r->reply, rep, "moved, not copied");
    cr_expect_null(r->frags[0].reply, "the fragment no longer owns it");
    cr_expect_eq(r->status, SHARD_OK);
    cr_expect_null(r->errmsg);
    cr_expect(r->done);
    cr_expect_eq(seen.completes, 1);
    cr_expect_eq(seen.joins, 0);
    cr_expect(seen.done_at_end);
    request_free(r); /* frees the reply once (ASan: no double free) */
}

Test(request, a_failed_single_fragment_gives_its_status_and_message)
{
    request *r = request_alloc(1);
    char why[] = "server '10.0.0.3:6379' timed out after 400 ms";

    cr_assert_not_null(r);
    r->complete_fn = complete;
    fragment_done(&r->frags[0], NULL, SHARD_ETIMEDOUT, why);
    memset(why, 'x', sizeof(why) - 1); /* the message was copied */
    cr_expect_eq(r->status, SHARD_ETIMEDOUT);
    cr_assert_not_null(r->errmsg);
    cr_expect_str_eq(r->errmsg,
                     "server '10.0.0.3:6379' timed out after 400 ms");
    cr_expect_null(r->frags[0].errmsg, "moved to the request");
    cr_expect_null(r->reply);
    cr_expect(r->done);
    cr_expect_eq(seen.completes, 1);
    request_free(r);
}

Test(request, a_failure_without_message_leaves_errmsg_null)
{
    request *r = request_alloc(1);

    cr_assert_not_null(r);
    fragment_done(&r->frags[0], NULL, SHARD_ECONN, NULL);
    cr_expect_eq(r->status, SHARD_ECONN);
    cr_expect_null(r->errmsg);
    cr_expect(r->done);
    request_free(r);
}

Test(request, an_ok_fragment_without_reply_is_a_protocol_error)
{
    request *r = request_alloc(1);

    cr_assert_not_null(r);
    fragment_done(&r->frags[0], NULL, SHARD_OK, NULL);
    cr_expect_eq(r->status, SHARD_EPROTO);
    cr_expect_null(r->reply);
    cr_expect(r->done);
    request_free(r);
}

Test(request, finish_local_with_a_reply_completes_at_once)
{
    request *r = request_alloc(1);
    shard_reply *rep = reply_integer(7);

    cr_assert(r != NULL && rep != NULL);
    r->complete_fn = complete;
    request_finish_local(r, rep);
    cr_expect(r->done);
    cr_expect_eq(r->reply, rep);
    cr_expect_eq(r->status, SHARD_OK);
    cr_expect_eq(seen.completes, 1);
    cr_expect(seen.done_at_end);
    request_free(r);
}

Test(request, finish_local_with_null_reply_is_out_of_memory)
{
    request *r = request_alloc(1);

    cr_assert_not_null(r);
    r->complete_fn = complete;
    request_finish_local(r, NULL);
    cr_expect(r->done);
    cr_expect_eq(r->status, SHARD_ENOMEM);
    cr_expect_null(r->reply);
    cr_expect_eq(seen.completes, 1);
    cr_assert_not_null(r->errmsg);
    cr_expect_str_eq(r->errmsg, "out of memory");
    request_free(r);
}

Test(request, join_single_can_be_the_join_fn)
{
    request *r = request_alloc(1);

    cr_assert_not_null(r);
    r->join_fn = request_join_single;
    r->complete_fn = complete;
    fragment_done(&r->frags[0], reply_integer(9), SHARD_OK, NULL);
    cr_assert_not_null(r->reply);
    cr_expect_eq(r->reply->integer, 9);
    cr_expect_eq(seen.completes, 1);
    request_free(r);
}

Test(request, free_of_null_and_of_unfinished_requests_is_safe)
{
    request_free(NULL);
    request *r = request_alloc(3);
    cr_assert_not_null(r);
    /* Two fragments in, one still pending: their replies are freed. */
    fragment_done(&r->frags[0], reply_integer(1), SHARD_OK, NULL);
    fragment_done(&r->frags[2], NULL, SHARD_ECONN, "refused");
    cr_expect_not(r->done);
    request_free(r);
}
