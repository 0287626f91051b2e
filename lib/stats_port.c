/*
 * The stats port's thread: poll() on the listening socket and a pipe that
 * says stop. A client gets the document written with a 1 s send timeout
 * (a client that does not read cannot hold the thread), then a close.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "error.h"
#include "stats_port.h"

struct stats_port {
    int listen_fd;
    int stop[2]; /* a byte on stop[1] ends the thread */
    pthread_t thread;
    stats_render_fn render;
    void *ctx;
};

/* Splits "host:port", "[v6]:port" or "v6:port" (the last ':' ends the
 * host, as in server lines). False when there is no port. */
static bool
split_addr(const char *addr, char *host, size_t hostlen, const char **port)
{
    const char *colon = strrchr(addr, ':');
    size_t n;

    if (colon == NULL || colon[1] == '\0')
        return false;
    *port = colon + 1;
    n = (size_t)(colon - addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    if (n == 0 || n >= hostlen)
        return false;
    memcpy(host, addr, n);
    host[n] = '\0';
    return true;
}

static int
listen_on(const char *addr, char *err, size_t errlen)
{
    char host[256];
    const char *port;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *res;
    int fd = -1, one = 1, rc;

    if (!split_addr(addr, host, sizeof(host), &port)) {
        error_format(err, errlen, "stats address '%s' is not \"host:port\"",
                     addr);
        return -1;
    }
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        error_format(err, errlen, "stats address '%s': %s", addr,
                     gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        error_format(err, errlen, "stats address '%s': %s", addr,
                     strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Reads and drops what the client sent (for up to 100 ms): closing with
 * unread input would reset the connection, and the client could lose the
 * document. */
static void
drain(int client)
{
    struct timeval limit = {.tv_usec = 100000};
    char buf[512];

    shutdown(client, SHUT_WR);
    (void)setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    while (recv(client, buf, sizeof(buf), 0) > 0)
        ;
}

static void
serve_one(stats_port *p, int client)
{
    struct timeval limit = {.tv_sec = 1};
    size_t len = 0, sent = 0;
    char *doc;

    (void)setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    doc = p->render(p->ctx, &len);
    while (doc != NULL && sent < len) {
        ssize_t n = send(client, doc + sent, len - sent, MSG_NOSIGNAL);
        if (n <= 0 && errno != EINTR)
            break;
        sent += n > 0 ? (size_t)n : 0;
    }
    free(doc);
    drain(client);
    close(client);
}

static void *
port_main(void *arg)
{
    stats_port *p = arg;
    struct pollfd fds[2] = {{.fd = p->listen_fd, .events = POLLIN},
                            {.fd = p->stop[0], .events = POLLIN}};

    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR)
            break;
        if (fds[1].revents != 0)
            break;
        if (fds[0].revents & POLLIN) {
            struct sockaddr_storage peer;
            socklen_t peer_len = sizeof(peer);
            int client = accept4(p->listen_fd, (struct sockaddr *)&peer,
                                 &peer_len, SOCK_CLOEXEC);
            if (client >= 0)
                serve_one(p, client);
        }
    }
    return NULL;
}

stats_port *
stats_port_start(const char *addr, stats_render_fn render, void *ctx, char *err,
                 size_t errlen)
{
    stats_port *p = calloc(1, sizeof(*p));

    if (p == NULL) {
        error_format(err, errlen, "out of memory");
        return NULL;
    }
    p->render = render;
    p->ctx = ctx;
    p->stop[0] = p->stop[1] = -1;
    p->listen_fd = listen_on(addr, err, errlen);
    if (p->listen_fd < 0) {
        free(p);
        return NULL;
    }
    if (pipe2(p->stop, O_CLOEXEC) != 0 ||
        pthread_create(&p->thread, NULL, port_main, p) != 0) {
        error_format(err, errlen, "stats port: cannot start its thread");
        if (p->stop[0] >= 0) {
            close(p->stop[0]);
            close(p->stop[1]);
        }
        close(p->listen_fd);
        free(p);
        return NULL;
    }
    return p;
}

void
stats_port_stop(stats_port *p)
{
    if (p == NULL)
        return;
    while (write(p->stop[1], "", 1) < 0 && errno == EINTR)
        ;
    pthread_join(p->thread, NULL);
    close(p->stop[0]);
    close(p->stop[1]);
    close(p->listen_fd);
    free(p);
}
