/*
 * The stand-ins shard-faults needs for servers that redis-server cannot be
 * made to play on demand: a listener that accepts connections, reads what
 * comes and never answers, and a RESP server that answers -LOADING to
 * every command until told that loading is over. Each is one thread of
 * the calling process with its own poll() loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "faults.h"
#include "harness.h"

#define FAKE_CONNS 32  /* client connections at once; more are refused */
#define FAKE_BUF 8192  /* room for a client's unanswered bytes */
#define FAKE_TICK_MS 5 /* how often the thread looks at its stop flag */

/* One accepted client connection and what it sent that is not answered. */
typedef struct fake_conn {
    int fd;             /* the accepted socket */
    size_t len;         /* bytes in buf */
    char buf[FAKE_BUF]; /* the start of a command not yet whole */
} fake_conn;

struct fake {
    int listen_fd;               /* bound to 127.0.0.1:port */
    int port;                    /* where clients reach it */
    _Atomic int mode;            /* fake_mode: changed by other threads */
    _Atomic int stop;            /* set to end the thread */
    pthread_t thread;            /* runs fake_main */
    int nconns;                  /* used entries of conns */
    fake_conn conns[FAKE_CONNS]; /* the accepted connections */
};

/* A socket listening on a free loopback port: its fd, or -1. */
static int
listen_on(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int one = 1;

    for (int attempt = 0; attempt < 10; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        *port = harness_free_port();
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa.sin_port = htons((uint16_t)*port);
        if (*port > 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
            listen(fd, 64) == 0)
            return fd;
        close(fd);
    }
    return -1;
}

/*
 * Reads "<c><number>\r\n" at `p`: the number, or -1 when the line is not
 * all there (or is not such a line); `*next` is set past it.
 */
static long
resp_line(const char *p, const char *end, char c, const char **next)
{
    char num[24];
    const char *nl;
    size_t digits;

    if (p >= end || *p != c)
        return -1;
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || nl - p < 2 || nl[-1] != '\r')
        return -1;
    digits = (size_t)(nl - p - 2);
    if (digits == 0 || digits >= sizeof(num))
        return -1;
    memcpy(num, p + 1, digits);
    num[digits] = '\0';
    *next = nl + 1;
    return strtol(num, NULL, 10);
}

/*
 * The length of the first whole command in `buf`, 0 while it is not all
 * there; its name (cut to `namelen`) and its number of arguments.
 */
static size_t
resp_command(const char *buf, size_t len, char *name, size_t namelen,
             long *argc)
{
    const char *p = buf, *end = buf + len;
    long n = resp_line(p, end, '*', &p);

    if (n < 1)
        return 0;
    for (long i = 0; i < n; i++) {
        long l = resp_line(p, end, '$', &p);
        if (l < 0 || end - p < l + 2)
            return 0;
        if (i == 0) {
            size_t cut = (size_t)l < namelen - 1 ? (size_t)l : namelen - 1;
            memcpy(name, p, cut);
            name[cut] = '\0';
        }
        p += l + 2;
    }
    *argc = n;
    return (size_t)(p - buf);
}

/* What a server that has finished loading says: enough for a PING, a GET
 * or an MGET of the faulty server's key ("home" for every key). */
static size_t
ready_answer(char *out, size_t size, const char *name, long argc)
{
    static const char home[] = "$4\r\nhome\r\n";
    int n;

    if (strcasecmp(name, "PING") == 0)
        return (size_t)snprintf(out, size, "+PONG\r\n");
    if (strcasecmp(name, "GET") == 0)
        return (size_t)snprintf(out, size, "%s", home);
    if (strcasecmp(name, "MGET") != 0)
        return (size_t)snprintf(out, size, "+OK\r\n");
    n = snprintf(out, size, "*%ld\r\n", argc - 1);
    for (long i = 1; i < argc && (size_t)n + sizeof(home) < size; i++)
        n += snprintf(out + n, size - (size_t)n, "%s", home);
    return (size_t)n;
}

/* Answers every whole command the connection has sent. */
static void
answer_all(fake *f, fake_conn *c)
{
    char name[32], out[512];
    long argc;
    size_t used;

    while ((used = resp_command(c->buf, c->len, name, sizeof(name), &argc)) >
           0) {
        size_t n = atomic_load(&f->mode) == FAKE_LOADING
                       ? (size_t)snprintf(out, sizeof(out),
                                          "-LOADING Redis is loading the "
                                          "dataset in memory\r\n")
                       : ready_answer(out, sizeof(out), name, argc);
        (void)send(c->fd, out, n, MSG_NOSIGNAL);
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;
    }
    if (c->len == sizeof(c->buf))
        c->len = 0; /* a command larger than the buffer: never sent here */
}

static void
drop_conn(fake *f, int i)
{
    close(f->conns[i].fd);
    f->conns[i] = f->conns[--f->nconns];
}

static void
read_conn(fake *f, int i)
{
    fake_conn *c = &f->conns[i];
    ssize_t got = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        drop_conn(f, i);
        return;
    }
    if (atomic_load(&f->mode) == FAKE_SILENT)
        return; /* read and forgotten: the client's writes never block */
    c->len += (size_t)got;
    answer_all(f, c);
}

static void
accept_conn(fake *f)
{
    int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    if (f->nconns == FAKE_CONNS) {
        close(fd);
        return;
    }
    f->conns[f->nconns].fd = fd;
    f->conns[f->nconns].len = 0;
    f->nconns++;
}

static void *
fake_main(void *arg)
{
    fake *f = arg;
    struct pollfd p[FAKE_CONNS + 1];

    while (!atomic_load(&f->stop)) {
        int n = 0;
        p[n++] = (struct pollfd){.fd = f->listen_fd, .events = POLLIN};
        for (int i = 0; i < f->nconns; i++)
            p[n++] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN};
        if (poll(p, (nfds_t)n, FAKE_TICK_MS) <= 0)
            continue;
        if (p[0].revents != 0)
            accept_conn(f);
        /* Downwards: a dropped entry takes the last one's place, which
         * is then either seen already or new (not polled this round). */
        for (int i = n - 2; i >= 0; i--) {
            if (p[i + 1].revents != 0)
                read_conn(f, i);
        }
    }
    return NULL;
}

fake *
fake_start(fake_mode mode)
{
    fake *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->listen_fd = listen_on(&f->port);
    atomic_store(&f->mode, (int)mode);
    if (f->listen_fd < 0 ||
        pthread_create(&f->thread, NULL, fake_main, f) != 0) {
        if (f->listen_fd >= 0)
            close(f->listen_fd);
        free(f);
        return NULL;
    }
    return f;
}

int
fake_port(const fake *f)
{
    return f->port;
}

void
fake_set_mode(fake *f, fake_mode mode)
{
    atomic_store(&f->mode, (int)mode);
}

void
fake_stop(fake *f)
{
    if (f == NULL)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    while (f->nconns > 0)
        drop_conn(f, f->nconns - 1);
    close(f->listen_fd);
    free(f);
}
