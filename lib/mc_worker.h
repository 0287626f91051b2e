/*
 * The worker thread of a memcached pool. libmemcached gives no socket to
 * watch, so the commands that must not block the application (async
 * calls, the probe, retries) run here, and each server's connection
 * learns of their end through a channel: a list of finished jobs and an
 * eventfd, which the application's loop watches through the same hooks
 * as a Redis socket. The thread starts with the first job. A link is
 * used by the caller's thread only while the worker has nothing to do
 * (mc_worker_busy), never by both at once.
 */
#ifndef SHARD_LIB_MC_WORKER_H
#define SHARD_LIB_MC_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "mc_command.h"
#include "mc_exec.h"

typedef struct mc_worker mc_worker;
typedef struct mc_chan mc_chan;

/* One command for the worker. */
typedef struct mc_job {
    struct mc_job *next; /* in the queue, then in its channel's done list */
    mc_chan *chan;       /* the server it goes to and reports through */
    void *owner;         /* the submitter's (its fragment); never read here */
    mc_cmd cmd;          /* the command; argv in the job's own memory */
    mc_outcome out;      /* what came of it */
    unsigned epoch;      /* its channel's when submitted (under the lock) */
    bool cancelled;      /* nobody waits for it any more (under the lock) */
    bool skipped;        /* not run: its connection had failed */
} mc_job;

/* A worker for one pool; no thread yet. NULL when out of memory. */
mc_worker *mc_worker_new(void);

/*
 * The pool lets go. The thread ends once its current batch is done
 * (jobs still running belong to connections that have cancelled them),
 * and the worker is freed with its last channel.
 */
void mc_worker_release(mc_worker *w);

/*
 * Between hold and go the thread takes no new batch: the fragments of one
 * request are queued whole, and their gets all go out before any reply
 * is read. Holds nest.
 */
void mc_worker_hold(mc_worker *w);
void mc_worker_go(mc_worker *w);

/* True while a job is queued or running: links are the worker's. */
bool mc_worker_busy(const mc_worker *w);

/*
 * A channel over `link` (taken over: freed with the channel), with its
 * eventfd. NULL when out of memory or descriptors (the link is freed).
 */
mc_chan *mc_chan_new(mc_worker *w, mc_link *link);

/* Its connection lets go: jobs not taken are cancelled. */
void mc_chan_release(mc_chan *ch);

/* The eventfd, readable while finished jobs wait to be taken. */
int mc_chan_fd(const mc_chan *ch);

/* The link, for the caller's thread while !mc_worker_busy. */
mc_link *mc_chan_link(const mc_chan *ch);

/* The worker the channel belongs to. */
mc_worker *mc_chan_worker(const mc_chan *ch);

/*
 * A job for `cmd` (its `argc` arguments copied), going to `ch`. NULL when
 * out of memory.
 */
mc_job *mc_job_new(mc_chan *ch, const mc_cmd *cmd, int argc);

/* Frees a job that the caller holds (not submitted, or taken back). */
void mc_job_free(mc_job *job);

/*
 * Queues `job` (the worker owns it until it is taken back), starting the
 * thread if needed. SHARD_OK, or an error with the reason in `err` (the
 * job is still the caller's).
 */
int mc_chan_submit(mc_chan *ch, mc_job *job, char *err, size_t errlen);

/* The finished jobs, oldest first (linked by `next`), now the caller's;
 * NULL when none. Resets the eventfd. */
mc_job *mc_chan_take(mc_chan *ch);

/*
 * Forgets every job of the channel that was not taken: queued and
 * finished ones are freed, a running one when it ends. Jobs submitted
 * afterwards run again (a failed connection no longer skips them).
 */
void mc_chan_cancel(mc_chan *ch);

#endif
