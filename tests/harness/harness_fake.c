/*
 * The servers of harness_fake.h. Each fake is one thread polling its
 * listening socket, its clients and a wake-up pipe; requests are parsed as
 * RESP multibulk and answered by the fake's current mode, which the test
 * switches under a mutex. The thread owns the clients and the store until
 * it is joined; harness_fake_stop then releases everything.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness_fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_CLIENTS 32          /* connections served at once; more closed */
#define FAKE_ARGS 8              /* arguments kept per command; more skipped */
#define FAKE_READ 16384          /* bytes read at a time */
#define FAKE_MAX_BULK (1L << 29) /* longest argument accepted (512 MiB) */

/* What the fake does with a command. */
typedef enum fake_mode {
    FAKE_FIXED, /* answers the set reply */
    FAKE_REDIS, /* answers as a small Redis over its store */
    FAKE_SILENT /* answers nothing */
} fake_mode;

/* A growable byte buffer. */
typedef struct buffer {
    char *data; /* heap bytes, NULL until the first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} buffer;

/* One accepted connection. */
typedef struct client {
    int fd;     /* -1 when the slot is free */
    buffer in;  /* bytes read that do not make a whole command yet */
    buffer out; /* answers to the commands of the last read */
} client;

/* A key of FAKE_REDIS's store. */
typedef struct entry {
    struct entry *next; /* the other keys */
    buffer key;         /* the key's bytes */
    buffer value;       /* its string value */
} entry;

/* A parsed request; the arguments point into the client's input. */
typedef struct command {
    long argc;                   /* arguments in the request */
    const char *argv[FAKE_ARGS]; /* the first FAKE_ARGS of them */
    size_t lens[FAKE_ARGS];      /* their lengths */
} command;

struct harness_fake {
    int listen_fd;                /* bound to 127.0.0.1:port */
    int wake[2];                  /* on wake[1]: 'x' stops the thread, 'p'
                                     sends `push` */
    pthread_t thread;             /* serves every socket of this fake */
    bool running;                 /* thread started and not yet joined */
    pthread_mutex_t lock;         /* guards mode, reply, push and the
                                     counters */
    pthread_cond_t pushed;        /* signalled when `push` has gone out */
    fake_mode mode;               /* what commands get */
    char *reply;                  /* FAKE_FIXED's answer, RESP-encoded */
    unsigned long commands;       /* commands read so far */
    unsigned long accepted;       /* connections accepted so far */
    char *push;                   /* bytes for every client, not yet sent */
    int push_sent;                /* clients the last push reached */
    client clients[FAKE_CLIENTS]; /* the thread's only */
    entry *store;                 /* FAKE_REDIS's keys; the thread's only */
    int port;                     /* the listening port */
    char addr[32];                /* "127.0.0.1:port" */
    struct harness_fake *next;    /* every fake of this process */
};

static harness_fake *fakes; /* started and not stopped; main thread only */

static bool
buffer_append(buffer *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n)
            cap *= 2;
        p = realloc(b->data, cap);
        if (p == NULL)
            return false;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return true;
}

static bool
buffer_append_str(buffer *b, const char *s)
{
    return buffer_append(b, s, strlen(s));
}

static void
buffer_free(buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* --- RESP requests -------------------------------------------------------- */

/* Reads "<type><number>\r\n" at *pos: 1 read, 0 incomplete, -1 malformed. */
static int
parse_line(const buffer *b, size_t *pos, char type, long *value)
{
    const char *start = b->data + *pos;
    const char *nl;
    char *end;

    if (*pos >= b->len)
        return 0;
    if (*start != type)
        return -1;
    nl = memchr(start, '\n', b->len - *pos);
    if (nl == NULL)
        return 0;
    *value = strtol(start + 1, &end, 10);
    if (end + 1 != nl || *end != '\r')
        return -1;
    *pos = (size_t)(nl - b->data) + 1;
    return 1;
}

/* Parses one multibulk request at *pos and moves past it: 1 parsed, 0
 * incomplete, -1 malformed. */
static int
parse_command(const buffer *b, size_t *pos, command *cmd)
{
    size_t p = *pos;
    long len;
    int rc = parse_line(b, &p, '*', &cmd->argc);

    if (rc <= 0)
        return rc;
    if (cmd->argc < 1)
        return -1;
    for (long i = 0; i < cmd->argc; i++) {
        rc = parse_line(b, &p, '$', &len);
        if (rc <= 0)
            return rc;
        if (len < 0 || len > FAKE_MAX_BULK)
            return -1;
        if (b->len - p < (size_t)len + 2)
            return 0;
        if (i < FAKE_ARGS) {
            cmd->argv[i] = b->data + p;
            cmd->lens[i] = (size_t)len;
        }
        p += (size_t)len + 2;
    }
    *pos = p;
    return 1;
}

/* --- the small Redis ------------------------------------------------------ */

static bool
is_command(const command *cmd, const char *name, long argc)
{
    return cmd->argc == argc && cmd->lens[0] == strlen(name) &&
           strncasecmp(cmd->argv[0], name, cmd->lens[0]) == 0;
}

static entry **
store_find(harness_fake *f, const char *key, size_t len)
{
    entry **e = &f->store;

    while (*e != NULL &&
           ((*e)->key.len != len || memcmp((*e)->key.data, key, len) != 0))
        e = &(*e)->next;
    return e;
}

static bool
store_set(harness_fake *f, const command *cmd)
{
    entry **slot = store_find(f, cmd->argv[1], cmd->lens[1]);
    entry *e = *slot;

    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL || !buffer_append(&e->key, cmd->argv[1], cmd->lens[1])) {
            free(e);
            return false;
        }
        *slot = e;
    }
    e->value.len = 0;
    return buffer_append(&e->value, cmd->argv[2], cmd->lens[2]);
}

static bool
store_get(harness_fake *f, const command *cmd, buffer *out)
{
    const entry *e = *store_find(f, cmd->argv[1], cmd->lens[1]);
    char head[32];

    if (e == NULL)
        return buffer_append_str(out, "$-1\r\n");
    snprintf(head, sizeof(head), "$%zu\r\n", e->value.len);
    return buffer_append_str(out, head) &&
           buffer_append(out, e->value.data, e->value.len) &&
           buffer_append_str(out, "\r\n");
}

static bool
answer_redis(harness_fake *f, const command *cmd, buffer *out)
{
    if (is_command(cmd, "PING", 1))
        return buffer_append_str(out, "+PONG\r\n");
    if (is_command(cmd, "SET", 3))
        return store_set(f, cmd) && buffer_append_str(out, "+OK\r\n");
    if (is_command(cmd, "GET", 2))
        return store_get(f, cmd, out);
    return buffer_append_str(out, "+OK\r\n");
}

/* --- the thread ----------------------------------------------------------- */

/* Counts the command and appends its answer, per the mode now. */
static bool
answer(harness_fake *f, const command *cmd, buffer *out)
{
    bool ok = true;

    pthread_mutex_lock(&f->lock);
    f->commands++;
    if (f->mode == FAKE_FIXED)
        ok = buffer_append_str(out, f->reply);
    else if (f->mode == FAKE_REDIS)
        ok = answer_redis(f, cmd, out);
    pthread_mutex_unlock(&f->lock);
    return ok;
}

static void
drop_client(client *c)
{
    close(c->fd);
    c->fd = -1;
    buffer_free(&c->in);
    buffer_free(&c->out);
}

/* Answers every whole command in c->in; false when the client must go. */
static bool
answer_all(harness_fake *f, client *c)
{
    size_t pos = 0;
    command cmd;
    int rc;

    while ((rc = parse_command(&c->in, &pos, &cmd)) == 1) {
        if (!answer(f, &cmd, &c->out))
            return false;
    }
    if (rc < 0)
        return false;
    memmove(c->in.data, c->in.data + pos, c->in.len - pos);
    c->in.len -= pos;
    return true;
}

/* Sends the answers at once; a client that does not take them all goes. */
static bool
flush_out(client *c)
{
    ssize_t n;

    if (c->out.len == 0)
        return true;
    n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 || (size_t)n != c->out.len)
        return false;
    c->out.len = 0;
    return true;
}

static void
serve_client(harness_fake *f, client *c)
{
    char chunk[FAKE_READ];
    ssize_t n = recv(c->fd, chunk, sizeof(chunk), 0);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0 || !buffer_append(&c->in, chunk, (size_t)n) ||
        !answer_all(f, c) || !flush_out(c))
        drop_client(c);
}

static void
accept_client(harness_fake *f)
{
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int one = 1;

    if (fd < 0)
        return;
    /* As Redis: a push must not wait for the client's delayed ACK. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_mutex_lock(&f->lock);
    f->accepted++;
    pthread_mutex_unlock(&f->lock);
    for (int i = 0; i < FAKE_CLIENTS; i++) {
        if (f->clients[i].fd < 0) {
            f->clients[i].fd = fd;
            return;
        }
    }
    close(fd); /* more clients than a test makes */
}

/* Fills `pfd` with the pipe, the listener and the clients (whose slots go
 * to `slot`); returns how many. */
static nfds_t
poll_set(const harness_fake *f, struct pollfd *pfd, int *slot)
{
    nfds_t n = 2;

    pfd[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
    pfd[1] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
    for (int i = 0; i < FAKE_CLIENTS; i++) {
        if (f->clients[i].fd >= 0) {
            slot[n] = i;
            pfd[n++] =
                (struct pollfd){.fd = f->clients[i].fd, .events = POLLIN};
        }
    }
    return n;
}

/* Sends the pending push to every client (a client that does not take it
 * all at once goes), and tells the waiting test. */
static void
send_push(harness_fake *f)
{
    int sent = 0;

    pthread_mutex_lock(&f->lock);
    for (int i = 0; f->push != NULL && i < FAKE_CLIENTS; i++) {
        client *c = &f->clients[i];
        size_t len = strlen(f->push);
        if (c->fd < 0)
            continue;
        if (send(c->fd, f->push, len, MSG_NOSIGNAL | MSG_DONTWAIT) ==
            (ssize_t)len)
            sent++;
        else
            drop_client(c);
    }
    free(f->push);
    f->push = NULL;
    f->push_sent = sent;
    pthread_cond_broadcast(&f->pushed);
    pthread_mutex_unlock(&f->lock);
}

/* A byte on the wake-up pipe: false when it says stop. */
static bool
woken(harness_fake *f)
{
    char cmd = 'x';

    if (read(f->wake[0], &cmd, 1) != 1 && errno == EINTR)
        return true;
    if (cmd != 'p')
        return false;
    send_push(f);
    return true;
}

static void *
serve(void *arg)
{
    harness_fake *f = arg;
    struct pollfd pfd[2 + FAKE_CLIENTS];
    int slot[2 + FAKE_CLIENTS];

    for (;;) {
        nfds_t n = poll_set(f, pfd, slot);

        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (pfd[0].revents != 0 && !woken(f))
            return NULL;
        if (pfd[1].revents != 0)
            accept_client(f);
        for (nfds_t i = 2; i < n; i++) {
            if (pfd[i].revents != 0)
                serve_client(f, &f->clients[slot[i]]);
        }
    }
}

/* --- start and stop ------------------------------------------------------- */

/* Binds a listening socket to 127.0.0.1 on a port the kernel picks. */
static int
listen_loopback(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Everything but the thread: on failure, what was made is released. */
static harness_fake *
fake_new(fake_mode mode, const char *reply)
{
    harness_fake *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->wake[0] = f->wake[1] = -1;
    for (int i = 0; i < FAKE_CLIENTS; i++)
        f->clients[i].fd = -1;
    f->mode = mode;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->pushed, NULL);
    f->listen_fd = listen_loopback(&f->port);
    if (f->listen_fd < 0 || pipe2(f->wake, O_CLOEXEC) != 0 ||
        (reply != NULL && (f->reply = strdup(reply)) == NULL)) {
        harness_fake_stop(f);
        return NULL;
    }
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
    return f;
}

static harness_fake *
fake_start(fake_mode mode, const char *reply)
{
    harness_fake *f = fake_new(mode, reply);

    if (f == NULL || pthread_create(&f->thread, NULL, serve, f) != 0) {
        fprintf(stderr, "harness: cannot start a fake server: %s\n",
                strerror(errno));
        harness_fake_stop(f);
        return NULL;
    }
    f->running = true;
    f->next = fakes;
    fakes = f;
    return f;
}

harness_fake *
harness_fake_start(const char *reply)
{
    return fake_start(reply != NULL ? FAKE_FIXED : FAKE_REDIS, reply);
}

harness_fake *
harness_fake_start_silent(void)
{
    return fake_start(FAKE_SILENT, NULL);
}

void
harness_fake_set_reply(harness_fake *f, const char *reply)
{
    char *copy = reply != NULL ? strdup(reply) : NULL;

    pthread_mutex_lock(&f->lock);
    free(f->reply);
    f->reply = copy;
    f->mode = copy != NULL ? FAKE_FIXED : FAKE_REDIS;
    pthread_mutex_unlock(&f->lock);
}

void
harness_fake_set_silent(harness_fake *f)
{
    pthread_mutex_lock(&f->lock);
    f->mode = FAKE_SILENT;
    pthread_mutex_unlock(&f->lock);
}

int
harness_fake_push(harness_fake *f, const char *bytes)
{
    char *copy = strdup(bytes);
    int sent;

    if (copy == NULL)
        return -1;
    pthread_mutex_lock(&f->lock);
    free(f->push);
    f->push = copy;
    pthread_mutex_unlock(&f->lock);
    if (write(f->wake[1], "p", 1) != 1)
        return -1;
    pthread_mutex_lock(&f->lock);
    while (f->push != NULL)
        pthread_cond_wait(&f->pushed, &f->lock);
    sent = f->push_sent;
    pthread_mutex_unlock(&f->lock);
    return sent;
}

int
harness_fake_port(const harness_fake *f)
{
    return f->port;
}

const char *
harness_fake_addr(const harness_fake *f)
{
    return f->addr;
}

unsigned long
harness_fake_commands(harness_fake *f)
{
    unsigned long n;

    pthread_mutex_lock(&f->lock);
    n = f->commands;
    pthread_mutex_unlock(&f->lock);
    return n;
}

unsigned long
harness_fake_accepted(harness_fake *f)
{
    unsigned long n;

    pthread_mutex_lock(&f->lock);
    n = f->accepted;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static void
unlink_fake(harness_fake *f)
{
    for (harness_fake **p = &fakes; *p != NULL; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            return;
        }
    }
}

void
harness_fake_stop(harness_fake *f)
{
    if (f == NULL)
        return;
    unlink_fake(f);
    if (f->running) {
        while (write(f->wake[1], "x", 1) < 0 && errno == EINTR) {
        }
        pthread_join(f->thread, NULL);
    }
    for (int i = 0; i < FAKE_CLIENTS; i++) {
        if (f->clients[i].fd >= 0)
            drop_client(&f->clients[i]);
    }
    while (f->store != NULL) {
        entry *e = f->store;
        f->store = e->next;
        buffer_free(&e->key);
        buffer_free(&e->value);
        free(e);
    }
    for (int i = 0; i < 2; i++) {
        if (f->wake[i] >= 0)
            close(f->wake[i]);
    }
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    pthread_mutex_destroy(&f->lock);
    pthread_cond_destroy(&f->pushed);
    free(f->push);
    free(f->reply);
    free(f);
}

void
harness_fake_stop_all(void)
{
    while (fakes != NULL)
        harness_fake_stop(fakes);
}
