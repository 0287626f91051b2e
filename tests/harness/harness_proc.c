/* Test harness, its processes: spawns each server so that it dies with the
 * test (teardown, atexit, and PR_SET_PDEATHSIG when the test process
 * crashes), waits until it answers, and signals, reaps and stops it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness_proc.h"
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 5000 /* how long a server may take to answer */
#define STOP_TIMEOUT_MS 2000  /* how long SIGTERM gets before SIGKILL */
#define START_ATTEMPTS 3      /* new ports tried when a start loses a race */
#define LOG_TAIL_BYTES 2048   /* how much of a log a failure prints */

/* How waiting for a server ended. */
typedef enum ready_result {
    READY_OK,     /* it answers */
    READY_EXITED, /* it exited: probably lost its port to someone else */
    READY_TIMEOUT /* it runs but never answered */
} ready_result;

static server_rec *servers; /* started by this process */

long
monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void
reset_signals(void)
{
    static const int sigs[] = {SIGPIPE, SIGTERM, SIGINT,  SIGHUP,
                               SIGCHLD, SIGQUIT, SIGUSR1, SIGUSR2};
    sigset_t none;

    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        signal(sigs[i], SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void
child_setup(const char *out, const char *dir, pid_t parent)
{
    int fd;

    /* Die with the test process (criterion's worker may crash or be
     * killed, and nothing else would stop us then). The signal follows the
     * forking thread, so tests start servers from their main thread. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) {
        _exit(126);
    }
    setpgid(0, 0);
    reset_signals();
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if (dir != NULL && chdir(dir) != 0) {
        _exit(126);
    }
    /* Do not hold criterion's pipes and sockets open in the server. */
    if (close_range(3, ~0U, 0) != 0) {
        for (int i = 3; i < 1024; i++) {
            close(i);
        }
    }
}

/* write(2) of a whole string, for the child after fork. */
static void
write_str(int fd, const char *s)
{
    size_t len = strlen(s);

    while (len > 0) {
        ssize_t n = write(fd, s, len);

        if (n <= 0) {
            return;
        }
        s += n;
        len -= (size_t)n;
    }
}

/* fork + exec; the child pid, or -1. */
static pid_t
spawn(const char *const *argv, const char *out, const char *dir)
{
    pid_t parent = getpid();
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        child_setup(out, dir, parent);
        execv(argv[0], (char *const *)argv);
        write_str(STDERR_FILENO, "harness: exec failed: ");
        write_str(STDERR_FILENO, argv[0]);
        write_str(STDERR_FILENO, "\n");
        _exit(127);
    }
    setpgid(pid, pid); /* also here, so a kill right after fork finds it */
    return pid;
}

/* Reaps the child if it has exited; true when it has. */
static bool
child_exited(server_rec *rec)
{
    pid_t r;

    if (rec->reaped) {
        return true;
    }
    do {
        r = waitpid(rec->pub.pid, &rec->status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == rec->pub.pid || (r < 0 && errno == ECHILD)) {
        rec->reaped = true;
    }
    return rec->reaped;
}

/*
 * True when the redis (or sentinel) at rec's address is the process we
 * started: INFO names its pid. Answering PING is not enough, since a
 * server of another test may hold the port we lost the race for.
 */
static bool
redis_is_ours(const server_rec *rec)
{
    struct timeval tv = {0, 500000};
    char needle[48];
    redisContext *c;
    redisReply *r = NULL;
    bool ok = false;

    if (rec->pub.path[0] != '\0') {
        c = redisConnectUnixWithTimeout(rec->pub.path, tv);
    } else {
        c = redisConnectWithTimeout(rec->host, rec->pub.port, tv);
    }
    if (c != NULL && c->err == 0 && redisSetTimeout(c, tv) == REDIS_OK) {
        if (rec->password[0] != '\0')
            freeReplyObject(redisCommand(c, "AUTH %s", rec->password));
        r = redisCommand(c, "INFO server");
        fmt_into(needle, sizeof(needle), "\nprocess_id:%d\r", rec->pub.pid);
        ok = r != NULL && r->type == REDIS_REPLY_STRING &&
             strstr(r->str, needle) != NULL;
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    if (c != NULL) {
        redisFree(c);
    }
    return ok;
}

/* A connected TCP socket to host:port with 1 s I/O timeouts, or -1. */
static int
tcp_connect(const char *host, int port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    struct timeval tv = {1, 0};
    socklen_t len;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof(*in6);
    } else {
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends `cmd` and reads until `end` arrives; the bytes read, or 0. */
static size_t
tcp_exchange(const server_rec *rec, const char *cmd, const char *end, char *buf,
             size_t size)
{
    size_t got = 0;
    size_t len = strlen(cmd);
    int fd = tcp_connect(rec->host, rec->pub.port);

    if (fd < 0) {
        return 0;
    }
    if (write(fd, cmd, len) == (ssize_t)len) {
        buf[0] = '\0';
        while (got < size - 1 && strstr(buf, end) == NULL) {
            ssize_t n = read(fd, buf + got, size - 1 - got);

            if (n <= 0) {
                break;
            }
            got += (size_t)n;
            buf[got] = '\0';
        }
    }
    close(fd);
    return got;
}

/* memcached answers `stats` with its pid: ours, not a stranger's. */
static bool
memcached_is_ours(const server_rec *rec)
{
    char buf[8192];
    char needle[48];

    fmt_into(needle, sizeof(needle), "STAT pid %d\r\n", rec->pub.pid);
    return tcp_exchange(rec, "stats\r\n", "END\r\n", buf, sizeof(buf)) > 0 &&
           strstr(buf, needle) != NULL;
}

static bool
accepts_tcp(const server_rec *rec)
{
    int fd = tcp_connect(rec->host, rec->pub.port);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

static bool
answers(const server_rec *rec)
{
    switch (rec->pub.kind) {
    case HARNESS_REDIS:
    case HARNESS_SENTINEL:
        return redis_is_ours(rec);
    case HARNESS_MEMCACHED:
        return memcached_is_ours(rec);
    case HARNESS_NUTCRACKER:
        return accepts_tcp(rec);
    }
    return false;
}

static ready_result
wait_ready(server_rec *rec)
{
    /* A nutcracker under valgrind (the benches) starts slowly. */
    long wait = rec->pub.kind == HARNESS_NUTCRACKER &&
                        getenv("SHARD_TEST_NUTCRACKER_WRAPPER") != NULL
                    ? 10 * READY_TIMEOUT_MS
                    : READY_TIMEOUT_MS;
    long deadline = monotonic_ms() + wait;

    while (monotonic_ms() < deadline) {
        if (child_exited(rec)) {
            return READY_EXITED;
        }
        if (answers(rec)) {
            /* Someone else may hold the port: make sure ours still runs. */
            sleep_ms(rec->pub.kind == HARNESS_NUTCRACKER ? 20 : 0);
            return child_exited(rec) ? READY_EXITED : READY_OK;
        }
        sleep_ms(10);
    }
    return READY_TIMEOUT;
}

/* Prints the last LOG_TAIL_BYTES of `path` to stderr, if it has any. */
static void
print_tail(const char *path)
{
    char buf[LOG_TAIL_BYTES + 1];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return;
    }
    if (fseek(f, -(long)LOG_TAIL_BYTES, SEEK_END) != 0) {
        rewind(f);
    }
    n = fread(buf, 1, LOG_TAIL_BYTES, f);
    fclose(f);
    if (n == 0) {
        return;
    }
    buf[n] = '\0';
    fprintf(stderr, "---- tail of %s ----\n%s%s---- end ----\n", path, buf,
            buf[n - 1] == '\n' ? "" : "\n");
}

static void
report_failure(const server_rec *rec, ready_result why)
{
    if (why == READY_TIMEOUT) {
        fprintf(stderr, "harness: %s at %s did not answer within %d ms\n",
                kind_name(rec->pub.kind), rec->pub.addr, READY_TIMEOUT_MS);
    } else if (WIFEXITED(rec->status)) {
        fprintf(stderr, "harness: %s at %s exited with status %d\n",
                kind_name(rec->pub.kind), rec->pub.addr,
                WEXITSTATUS(rec->status));
    } else {
        fprintf(stderr, "harness: %s at %s died of signal %d\n",
                kind_name(rec->pub.kind), rec->pub.addr, WTERMSIG(rec->status));
    }
    print_tail(rec->log);
    print_tail(rec->out);
}

static bool
signal_group(pid_t pid, int sig)
{
    /* The server leads its own process group; its children (a redis
     * BGSAVE, say) go with it. */
    return kill(-pid, sig) == 0 || kill(pid, sig) == 0;
}

/* SIGTERM, up to STOP_TIMEOUT_MS, then SIGKILL; always reaps. */
static void
terminate(server_rec *rec)
{
    long deadline = monotonic_ms() + STOP_TIMEOUT_MS;

    if (rec->owner != getpid() || rec->reaped || rec->pub.pid <= 0) {
        return;
    }
    signal_group(rec->pub.pid, SIGTERM);
    signal_group(rec->pub.pid, SIGCONT); /* a paused server must see it */
    while (!child_exited(rec) && monotonic_ms() < deadline) {
        sleep_ms(5);
    }
    if (!rec->reaped) {
        signal_group(rec->pub.pid, SIGKILL);
        while (waitpid(rec->pub.pid, &rec->status, 0) < 0 && errno == EINTR) {
        }
        rec->reaped = true;
    }
}

/* One attempt: spawn and wait. On failure the process is gone. */
static ready_result
try_start(server_rec *rec, const cmdline *cmd)
{
    ready_result r;

    rec->reaped = false;
    rec->pub.pid = spawn(cmd->argv, rec->out, rec->pub.dir);
    if (rec->pub.pid < 0) {
        return READY_TIMEOUT;
    }
    r = wait_ready(rec);
    if (r == READY_TIMEOUT) {
        terminate(rec);
    }
    return r;
}

static harness_server *
start(const start_spec *spec)
{
    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        server_rec *rec = server_rec_new(spec->kind);
        cmdline cmd;
        ready_result r;

        if (rec == NULL || !server_prepare(rec, spec, &cmd)) {
            fprintf(stderr, "harness: cannot prepare %s\n",
                    kind_name(spec->kind));
            free(rec);
            return NULL;
        }
        r = try_start(rec, &cmd);
        if (r == READY_OK) {
            rec->next = servers;
            servers = rec;
            register_atexit();
            return &rec->pub;
        }
        /* A free port can be taken between our probe and the server's
         * bind: try again on another one, unless the port was fixed. */
        if (r != READY_EXITED || attempt == START_ATTEMPTS ||
            (spec->port > 0 && spec->kind != HARNESS_NUTCRACKER)) {
            report_failure(rec, r);
            free(rec);
            return NULL;
        }
        free(rec);
    }
    return NULL;
}

harness_server *
harness_redis_start(const char *extra_conf)
{
    start_spec spec = {
        .kind = HARNESS_REDIS, .host = "127.0.0.1", .extra_conf = extra_conf};

    return start(&spec);
}

harness_server *
harness_redis_start_unix(const char *extra_conf)
{
    start_spec spec = {.kind = HARNESS_REDIS,
                       .host = "127.0.0.1",
                       .unix_socket = true,
                       .extra_conf = extra_conf};

    return start(&spec);
}

harness_server *
harness_redis_start_port(int port, const char *extra_conf)
{
    return harness_redis_start_host("127.0.0.1", port, extra_conf);
}

harness_server *
harness_redis_start_host(const char *host, int port, const char *extra_conf)
{
    start_spec spec = {.kind = HARNESS_REDIS,
                       .host = host,
                       .port = port,
                       .extra_conf = extra_conf};

    if (host == NULL || port <= 0 || port > 65535) {
        fprintf(stderr, "harness: bad address for redis-server\n");
        return NULL;
    }
    return start(&spec);
}

harness_server *
harness_memcached_start(int port)
{
    start_spec spec = {.kind = HARNESS_MEMCACHED,
                       .host = "127.0.0.1",
                       .port = port > 0 ? port : 0};

    return start(&spec);
}

harness_server *
harness_memcached_start_item_size(int port, const char *item_size)
{
    start_spec spec = {.kind = HARNESS_MEMCACHED,
                       .host = "127.0.0.1",
                       .port = port > 0 ? port : 0,
                       .extra_conf = item_size};

    return start(&spec);
}

harness_server *
harness_nutcracker_start(const char *yaml_path, int listen_port)
{
    char abs[PATH_MAX];
    start_spec spec = {.kind = HARNESS_NUTCRACKER,
                       .host = "127.0.0.1",
                       .port = listen_port,
                       .yaml_path = abs};

    /* nutcracker runs in its own directory: give it an absolute path. */
    if (yaml_path == NULL || realpath(yaml_path, abs) == NULL ||
        listen_port <= 0) {
        fprintf(stderr, "harness: bad nutcracker config %s or port %d\n",
                yaml_path != NULL ? yaml_path : "(null)", listen_port);
        return NULL;
    }
    return start(&spec);
}

harness_server *
harness_sentinel_start(const char *master_name, const harness_server *master)
{
    start_spec spec = {.kind = HARNESS_SENTINEL,
                       .host = "127.0.0.1",
                       .master = master,
                       .master_name = master_name};

    if (master_name == NULL || master == NULL || master->port <= 0) {
        fprintf(stderr, "harness: sentinel needs a TCP master and a name\n");
        return NULL;
    }
    return start(&spec);
}

harness_server *
harness_sentinel_start_conf(const char *monitors)
{
    start_spec spec = {
        .kind = HARNESS_SENTINEL, .host = "127.0.0.1", .extra_conf = monitors};

    if (monitors == NULL) {
        fprintf(stderr, "harness: sentinel needs its monitor lines\n");
        return NULL;
    }
    return start(&spec);
}

static void
unlink_rec(server_rec *rec)
{
    for (server_rec **p = &servers; *p != NULL; p = &(*p)->next) {
        if (*p == rec) {
            *p = rec->next;
            return;
        }
    }
}

void
harness_stop(harness_server *s)
{
    server_rec *rec = (server_rec *)s;

    if (rec == NULL) {
        return;
    }
    unlink_rec(rec);
    terminate(rec);
    free(rec);
}

void
harness_stop_all(void)
{
    long deadline = monotonic_ms() + STOP_TIMEOUT_MS;
    bool waiting = true;

    /* SIGTERM to every server first, so they shut down in parallel (memcached
     * takes most of a second). Records inherited through fork belong to the
     * parent: terminate() leaves those alone and only the memory goes. */
    for (server_rec *rec = servers; rec != NULL; rec = rec->next) {
        if (rec->owner == getpid() && !rec->reaped && rec->pub.pid > 0) {
            signal_group(rec->pub.pid, SIGTERM);
            signal_group(rec->pub.pid, SIGCONT);
        }
    }
    while (waiting && monotonic_ms() < deadline) {
        waiting = false;
        for (server_rec *rec = servers; rec != NULL; rec = rec->next) {
            if (rec->owner == getpid() && !child_exited(rec)) {
                waiting = true;
            }
        }
        sleep_ms(waiting ? 5 : 0);
    }
    while (servers != NULL) {
        harness_stop(&servers->pub);
    }
}

/* Waits for a stop/continue/exit state change of a paused server. */
static void
wait_state(server_rec *rec, int flags)
{
    pid_t r;

    do {
        r = waitpid(rec->pub.pid, &rec->status, flags);
    } while (r < 0 && errno == EINTR);
    if (r == rec->pub.pid &&
        (WIFEXITED(rec->status) || WIFSIGNALED(rec->status))) {
        rec->reaped = true;
    }
}

void
harness_pause(harness_server *s)
{
    server_rec *rec = (server_rec *)s;

    if (rec == NULL || rec->reaped || rec->owner != getpid()) {
        return;
    }
    if (kill(rec->pub.pid, SIGSTOP) == 0) {
        wait_state(rec, WUNTRACED);
    }
}

void
harness_resume(harness_server *s)
{
    server_rec *rec = (server_rec *)s;

    if (rec == NULL || rec->reaped || rec->owner != getpid()) {
        return;
    }
    if (kill(rec->pub.pid, SIGCONT) == 0) {
        wait_state(rec, WCONTINUED);
    }
}

void
harness_kill(harness_server *s)
{
    server_rec *rec = (server_rec *)s;

    if (rec == NULL || rec->reaped || rec->owner != getpid()) {
        return;
    }
    signal_group(rec->pub.pid, SIGKILL);
    while (waitpid(rec->pub.pid, &rec->status, 0) < 0 && errno == EINTR) {
    }
    rec->reaped = true;
}

bool
harness_nutcracker_accepts(const char *yaml_path)
{
    const char *prog = find_program("nutcracker");
    const char *argv[] = {prog, "-t", "-c", yaml_path, NULL};
    int status;
    pid_t pid;

    if (prog == NULL || yaml_path == NULL) {
        return false;
    }
    pid = spawn(argv, "/dev/null", NULL);
    if (pid < 0) {
        return false;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return false;
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
