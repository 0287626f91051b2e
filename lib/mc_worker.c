/*
 * The worker thread of a memcached pool, its queue, and the channels
 * through which each server's connection hears of finished jobs.
 *
 * The thread takes the queue in batches. Within a batch every get is sent
 * before any reply is read (one pending get per server), the jobs of a
 * server keep their order, and once a server's connection has failed the
 * rest of its jobs are not run: its connection fails them all when it
 * hears of the failure, as a Redis connection fails what it had sent.
 *
 * One mutex guards the queue, the channels' done lists, the cancelled
 * flags and the reference counts. The worker, its channels and their
 * links live as long as anybody uses them: the pool, a connection, the
 * thread or a job in flight (a server that hangs keeps the thread, and
 * so them, until libmemcached's timeout, or forever without one).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "error.h"
#include "mc_worker.h"

/* Jobs the thread takes at once. */
#define BATCH_MAX 256

struct mc_worker {
    pthread_mutex_t lock; /* guards everything below but `busy` */
    pthread_cond_t wake;  /* jobs queued, or the pool let go */
    mc_job *head, *tail;  /* the queue */
    int refs;             /* the pool, each channel, the thread */
    bool started;         /* the thread was created */
    bool running;         /* it is working on a batch */
    bool stopping;        /* the pool let go */
    int held;         /* a request is being queued: the thread waits for all of
                         it, so that its gets go out together */
    pthread_t thread; /* valid when started */
    unsigned long busy; /* jobs queued or running (atomic) */
};

struct mc_chan {
    mc_worker *w;        /* its worker (a reference) */
    mc_link *link;       /* owned */
    int efd;             /* readable while `done` holds jobs */
    int refs;            /* its connection, each job */
    mc_job *done, *last; /* finished jobs, not taken yet */
    bool failed;         /* its connection failed: jobs are skipped until
                            the connection has heard (mc_chan_cancel) */
    unsigned epoch;      /* counts cancels: older jobs are cancelled */
    mc_job *pending;     /* the thread's: a get whose reply is unread */
    size_t slot;         /* the thread's: its place in the batch's list */
};

/* --- references (under the lock) ------------------------------------------
 */

static void
worker_free(mc_worker *w)
{
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Drops one reference; true when it was the last. */
static bool
worker_unref(mc_worker *w)
{
    return --w->refs == 0;
}

static void
chan_free(mc_chan *ch)
{
    if (ch->efd >= 0)
        close(ch->efd);
    mc_link_free(ch->link);
    free(ch);
}

/* Drops a reference of `ch`, freeing it with its last; true when that
 * also dropped the worker's last reference (free it after unlocking). */
static bool
chan_unref(mc_chan *ch)
{
    mc_worker *w = ch->w;

    if (--ch->refs > 0)
        return false;
    chan_free(ch);
    return worker_unref(w);
}

/* Frees a job the worker holds; true as chan_unref. */
static bool
job_drop(mc_job *job)
{
    mc_chan *ch = job->chan;

    mc_outcome_clear(&job->out);
    free(job);
    return chan_unref(ch);
}

static void
busy_sub(mc_worker *w, unsigned long n)
{
    __atomic_sub_fetch(&w->busy, n, __ATOMIC_RELEASE);
}

/* --- the worker ------------------------------------------------------------
 */

mc_worker *
mc_worker_new(void)
{
    mc_worker *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return NULL;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->wake, NULL) != 0) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    w->refs = 1;
    return w;
}

void
mc_worker_hold(mc_worker *w)
{
    pthread_mutex_lock(&w->lock);
    w->held++;
    pthread_mutex_unlock(&w->lock);
}

void
mc_worker_go(mc_worker *w)
{
    pthread_mutex_lock(&w->lock);
    if (--w->held == 0 && w->head != NULL)
        pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

bool
mc_worker_busy(const mc_worker *w)
{
    return __atomic_load_n(&w->busy, __ATOMIC_ACQUIRE) != 0;
}

void
mc_worker_release(mc_worker *w)
{
    pthread_t thread;
    bool join, last;

    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->wake);
    /* An idle thread ends at once; one stuck in a batch finishes it. */
    join = w->started && !w->running && w->head == NULL;
    thread = w->thread; /* the thread may free `w` once we unlock */
    if (w->started && !join)
        pthread_detach(thread);
    last = worker_unref(w);
    pthread_mutex_unlock(&w->lock);
    if (join)
        pthread_join(thread, NULL);
    if (last)
        worker_free(w);
}

/* --- a batch ---------------------------------------------------------------
 */

/* The job is over: to its channel's done list, or freed if cancelled. */
static void
deliver(mc_worker *w, mc_job *job)
{
    mc_chan *ch = job->chan;
    bool last = false;

    pthread_mutex_lock(&w->lock);
    job->cancelled = job->cancelled || job->epoch != ch->epoch;
    if (!job->skipped && job->out.status != SHARD_OK && !job->cancelled)
        ch->failed = true;
    if (job->cancelled) {
        last = job_drop(job);
    } else {
        uint64_t one = 1;
        job->next = NULL;
        if (ch->last != NULL) {
            ch->last->next = job;
        } else {
            ch->done = job;
            /* The channel's eventfd lives as long as the job does. */
            (void)!write(ch->efd, &one, sizeof(one));
        }
        ch->last = job;
    }
    pthread_mutex_unlock(&w->lock);
    busy_sub(w, 1);
    (void)last; /* the thread holds the worker: never the last here */
}

/* The gets of a batch whose replies are still to be read, in order;
 * an entry is cleared once read. The thread's alone. */
typedef struct pending_gets {
    mc_job *job[BATCH_MAX];
    size_t n;
} pending_gets;

/* Reads the reply of the channel's pending get, if any. */
static void
finish_pending(mc_worker *w, mc_chan *ch, pending_gets *pg)
{
    mc_job *p = ch->pending;

    if (p == NULL)
        return;
    ch->pending = NULL;
    pg->job[ch->slot] = NULL;
    mc_link_finish(ch->link, &p->cmd, &p->out);
    deliver(w, p); /* the job may be freed from here on */
}

/* Whether to run the job: not when cancelled or its connection failed. */
static bool
should_run(mc_worker *w, mc_job *job)
{
    bool run;

    pthread_mutex_lock(&w->lock);
    job->cancelled = job->cancelled || job->epoch != job->chan->epoch;
    job->skipped = job->cancelled || job->chan->failed;
    run = !job->skipped;
    pthread_mutex_unlock(&w->lock);
    return run;
}

static void
start_job(mc_worker *w, mc_job *job, pending_gets *pg)
{
    mc_chan *ch = job->chan;

    /* The server's earlier get answers first: its replies stay in order. */
    finish_pending(w, ch, pg);
    if (!should_run(w, job)) {
        job->out.status = SHARD_ECONN;
        error_format(job->out.errmsg, sizeof(job->out.errmsg),
                     "not sent: the connection had failed");
        deliver(w, job);
        return;
    }
    if (!mc_link_start(ch->link, &job->cmd, &job->out)) {
        deliver(w, job);
        return;
    }
    ch->pending = job;
    ch->slot = pg->n;
    pg->job[pg->n++] = job;
}

static void
run_batch(mc_worker *w, mc_job **batch, size_t n)
{
    pending_gets pg = {.n = 0};

    for (size_t i = 0; i < n; i++)
        start_job(w, batch[i], &pg);
    /* Every get is out: read the replies, in order. A delivered job is
     * the connection's: only pending ones are touched. */
    for (size_t i = 0; i < pg.n; i++) {
        if (pg.job[i] != NULL)
            finish_pending(w, pg.job[i]->chan, &pg);
    }
}

/* Takes up to BATCH_MAX jobs off the queue (under the lock). */
static size_t
take_batch(mc_worker *w, mc_job **batch)
{
    size_t n = 0;

    while (w->head != NULL && n < BATCH_MAX) {
        batch[n++] = w->head;
        w->head = w->head->next;
    }
    if (w->head == NULL)
        w->tail = NULL;
    return n;
}

static void *
run(void *arg)
{
    mc_worker *w = arg;
    mc_job *batch[BATCH_MAX];
    bool last;

    pthread_mutex_lock(&w->lock);
    for (;;) {
        while ((w->head == NULL || w->held > 0) && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->head == NULL)
            break;
        size_t n = take_batch(w, batch);
        w->running = true;
        pthread_mutex_unlock(&w->lock);
        run_batch(w, batch, n);
        pthread_mutex_lock(&w->lock);
        w->running = false;
    }
    last = worker_unref(w);
    pthread_mutex_unlock(&w->lock);
    if (last)
        worker_free(w);
    return NULL;
}

/* Starts the thread with every signal blocked: the application's
 * handlers run on its own threads. Under the lock. */
static int
start_thread(mc_worker *w, char *err, size_t errlen)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        error_format(err, errlen,
                     "cannot start the memcached worker thread: %s",
                     strerror(rc));
        return rc == EAGAIN ? SHARD_ENOMEM : SHARD_EIO;
    }
    w->started = true;
    w->refs++;
    return SHARD_OK;
}

/* --- channels --------------------------------------------------------------
 */

mc_chan *
mc_chan_new(mc_worker *w, mc_link *link)
{
    mc_chan *ch = calloc(1, sizeof(*ch));

    if (ch == NULL) {
        mc_link_free(link);
        return NULL;
    }
    ch->link = link;
    ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ch->efd < 0) {
        chan_free(ch);
        return NULL;
    }
    ch->w = w;
    ch->refs = 1;
    pthread_mutex_lock(&w->lock);
    w->refs++;
    pthread_mutex_unlock(&w->lock);
    return ch;
}

int
mc_chan_fd(const mc_chan *ch)
{
    return ch->efd;
}

mc_link *
mc_chan_link(const mc_chan *ch)
{
    return ch->link;
}

mc_worker *
mc_chan_worker(const mc_chan *ch)
{
    return ch->w;
}

/* Under the lock: frees the channel's queued and finished jobs (its
 * connection holds it, so it stays), and a running one is cancelled by
 * the new epoch; returns how many queued ones left the busy count. */
static unsigned long
cancel_locked(mc_chan *ch)
{
    mc_worker *w = ch->w;
    mc_job **p = &w->head, *prev = NULL;
    unsigned long queued = 0;

    ch->epoch++;
    while (*p != NULL) {
        mc_job *job = *p;
        if (job->chan != ch) {
            prev = job;
            p = &job->next;
            continue;
        }
        *p = job->next;
        queued++;
        (void)job_drop(job);
    }
    w->tail = prev;
    for (mc_job *job = ch->done, *next; job != NULL; job = next) {
        next = job->next;
        (void)job_drop(job);
    }
    ch->done = ch->last = NULL;
    ch->failed = false;
    return queued;
}

void
mc_chan_cancel(mc_chan *ch)
{
    mc_worker *w = ch->w;
    uint64_t count;

    pthread_mutex_lock(&w->lock);
    unsigned long queued = cancel_locked(ch);
    (void)!read(ch->efd, &count, sizeof(count));
    pthread_mutex_unlock(&w->lock);
    busy_sub(w, queued);
}

void
mc_chan_release(mc_chan *ch)
{
    mc_worker *w;
    bool last;

    if (ch == NULL)
        return;
    w = ch->w;
    mc_chan_cancel(ch);
    pthread_mutex_lock(&w->lock);
    last = chan_unref(ch);
    pthread_mutex_unlock(&w->lock);
    if (last)
        worker_free(w);
}

/* --- jobs ------------------------------------------------------------------
 */

mc_job *
mc_job_new(mc_chan *ch, const mc_cmd *cmd, int argc)
{
    size_t n = (size_t)argc, bytes = sizeof(mc_job);
    mc_job *job;
    char *data;

    for (size_t i = 0; i < n; i++)
        bytes += sizeof(char *) + sizeof(size_t) + cmd->argvlen[i];
    job = malloc(bytes);
    if (job == NULL)
        return NULL;
    memset(job, 0, sizeof(*job));
    job->chan = ch;
    job->cmd = *cmd;
    pthread_mutex_lock(&ch->w->lock);
    ch->refs++;
    job->epoch = ch->epoch;
    pthread_mutex_unlock(&ch->w->lock);
    size_t *lens = (size_t *)(job + 1);
    const char **argv = (const char **)(lens + n);
    data = (char *)(argv + n);
    for (size_t i = 0; i < n; i++) {
        memcpy(data, cmd->argv[i], cmd->argvlen[i]);
        argv[i] = data;
        lens[i] = cmd->argvlen[i];
        data += cmd->argvlen[i];
    }
    job->cmd.argv = argv;
    job->cmd.argvlen = lens;
    return job;
}

void
mc_job_free(mc_job *job)
{
    mc_worker *w;
    bool last;

    if (job == NULL)
        return;
    w = job->chan->w;
    pthread_mutex_lock(&w->lock);
    last = job_drop(job);
    pthread_mutex_unlock(&w->lock);
    if (last)
        worker_free(w);
}

int
mc_chan_submit(mc_chan *ch, mc_job *job, char *err, size_t errlen)
{
    mc_worker *w = ch->w;
    int rc = SHARD_OK;

    pthread_mutex_lock(&w->lock);
    if (!w->started)
        rc = start_thread(w, err, errlen);
    if (rc == SHARD_OK) {
        job->epoch = ch->epoch;
        job->next = NULL;
        if (w->tail != NULL)
            w->tail->next = job;
        else
            w->head = job;
        w->tail = job;
        __atomic_add_fetch(&w->busy, 1, __ATOMIC_RELAXED);
        if (w->held == 0)
            pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
    return rc;
}

mc_job *
mc_chan_take(mc_chan *ch)
{
    mc_worker *w = ch->w;
    mc_job *jobs;
    uint64_t count;

    pthread_mutex_lock(&w->lock);
    jobs = ch->done;
    ch->done = ch->last = NULL;
    (void)!read(ch->efd, &count, sizeof(count));
    pthread_mutex_unlock(&w->lock);
    return jobs;
}
