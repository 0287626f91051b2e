/* Test harness: starts real redis-server, memcached, nutcracker and
 * redis-sentinel processes on free loopback ports, each in its own directory
 * under a private temporary directory, and makes sure they die with the test
 * (teardown, atexit, and PR_SET_PDEATHSIG when the test process crashes). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 5000 /* how long a server may take to answer */
#define STOP_TIMEOUT_MS 2000  /* how long SIGTERM gets before SIGKILL */
#define START_ATTEMPTS 3      /* new ports tried when a start loses a race */
#define MAX_ARGS 16           /* argv slots for a server command line */
#define PORTS_REMEMBERED 4096 /* ports handed out that are not reused */
#define LOG_TAIL_BYTES 2048   /* how much of a log a failure prints */

/* A server together with what only the harness needs to know about it. */
typedef struct server_rec {
    harness_server pub;      /* what tests see; first member, so casts work */
    pid_t owner;             /* the process that forked it */
    bool reaped;             /* waited for already: pid is no longer ours */
    int status;              /* wait status once reaped */
    int stats_port;          /* nutcracker's stats port */
    char host[64];           /* TCP address it listens on */
    char log[PATH_MAX];      /* the server's own log file */
    char out[PATH_MAX];      /* its redirected stdout and stderr */
    char password[128];      /* requirepass of a redis, "" when none */
    struct server_rec *next; /* every server started by this process */
} server_rec;

/* What to start: one of the kinds with its settings. */
typedef struct start_spec {
    harness_kind kind;            /* which server */
    const char *host;             /* listen address, "127.0.0.1" or "::1" */
    int port;                     /* a fixed port, or 0 for a free one */
    bool unix_socket;             /* redis on a unix socket only */
    const char *extra_conf;       /* extra redis.conf lines, or NULL */
    const char *yaml_path;        /* nutcracker config (absolute) */
    const harness_server *master; /* sentinel: the master to watch */
    const char *master_name;      /* sentinel: the name to give it */
} start_spec;

/* How waiting for a server ended. */
typedef enum ready_result {
    READY_OK,     /* it answers */
    READY_EXITED, /* it exited: probably lost its port to someone else */
    READY_TIMEOUT /* it runs but never answered */
} ready_result;

/* A string the harness owns until exit (harness_fmt, harness_write_file). */
typedef struct owned_str {
    struct owned_str *next; /* older strings */
    char text[];            /* the string itself */
} owned_str;

static server_rec *servers;               /* started by this process */
static char tmpdir[PATH_MAX];             /* "" until harness_tmpdir() runs */
static pid_t tmpdir_owner;                /* the process that created tmpdir */
static unsigned dir_seq;                  /* numbers server directories */
static int ports_given[PORTS_REMEMBERED]; /* ring of handed-out ports */
static size_t ports_count;                /* ports ever handed out */
static owned_str *owned;                  /* harness_fmt results */
static bool atexit_done;                  /* atexit handler registered */

static void harness_atexit(void);

static void
register_atexit(void)
{
    if (!atexit_done) {
        atexit(harness_atexit);
        atexit_done = true;
    }
}

static long
now_ms(void)
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

/* snprintf that reports truncation as failure. */
static bool fmt_into(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool
fmt_into(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

static const char *
own_vfmt(const char *fmt, va_list ap)
{
    va_list copy;
    owned_str *s;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0) {
        return NULL;
    }
    s = malloc(sizeof(*s) + (size_t)n + 1);
    if (s == NULL) {
        return NULL;
    }
    vsnprintf(s->text, (size_t)n + 1, fmt, ap);
    s->next = owned;
    owned = s;
    return s->text;
}

const char *
harness_fmt(const char *fmt, ...)
{
    va_list ap;
    const char *s;

    va_start(ap, fmt);
    s = own_vfmt(fmt, ap);
    va_end(ap);
    return s;
}

const char *
harness_tmpdir(void)
{
    const char *base = getenv("TMPDIR");

    if (tmpdir[0] != '\0' && tmpdir_owner == getpid()) {
        return tmpdir;
    }
    /* A forked child (criterion's worker) gets a directory of its own, so
     * the parent removing its directory at exit cannot pull ours away. */
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    if (!fmt_into(tmpdir, sizeof(tmpdir), "%s/libshard-test-XXXXXX", base) ||
        mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "harness: cannot create a temp dir under %s: %s\n",
                base, strerror(errno));
        tmpdir[0] = '\0';
        return NULL;
    }
    tmpdir_owner = getpid();
    register_atexit();
    return tmpdir;
}

static bool
port_was_given(int port)
{
    size_t n = ports_count < PORTS_REMEMBERED ? ports_count : PORTS_REMEMBERED;

    for (size_t i = 0; i < n; i++) {
        if (ports_given[i] == port) {
            return true;
        }
    }
    return false;
}

static void
remember_port(int port)
{
    ports_given[ports_count % PORTS_REMEMBERED] = port;
    ports_count++;
}

/* Binds `port` (0: any) on 127.0.0.1; the bound port, or -1. */
static int
probe_port(int port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int bound = -1;
    int one = 1;

    if (fd < 0) {
        return -1;
    }
    /* As the servers do: a port whose old connections sit in TIME_WAIT
     * is free for them. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        bound = ntohs(sa.sin_port);
    }
    close(fd);
    return bound;
}

int
harness_free_port(void)
{
    for (int i = 0; i < 1000; i++) {
        int port = probe_port(0);

        if (port < 0) {
            break;
        }
        if (!port_was_given(port)) {
            remember_port(port);
            return port;
        }
    }
    fprintf(stderr, "harness: no free TCP port on 127.0.0.1\n");
    return -1;
}

int
harness_free_port_range(int lo, int hi)
{
    unsigned seed = (unsigned)getpid() ^ (unsigned)now_ms();

    for (int i = 0; lo > 0 && hi >= lo && hi < 65536 && i < 200; i++) {
        int port = lo + (int)(rand_r(&seed) % (unsigned)(hi - lo + 1));

        if (!port_was_given(port) && probe_port(port) == port) {
            remember_port(port);
            return port;
        }
    }
    return harness_free_port();
}

bool
harness_port_is_free(int port)
{
    return !port_was_given(port) && probe_port(port) == port;
}

bool
harness_ipv6_available(void)
{
    struct sockaddr_in6 sa;
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0) {
        return false;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* The absolute path of program `name`: $PATH, then the usual sbin dirs
 * (nutcracker lives in /usr/sbin on Debian, which root's PATH may lack). */
static const char *
find_program(const char *name)
{
    static const char *const extra[] = {"/usr/bin",       "/usr/sbin",
                                        "/usr/local/bin", "/usr/local/sbin",
                                        "/bin",           "/sbin"};
    const char *path = getenv("PATH");
    char dir[PATH_MAX];

    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
        const char *full;

        if (len > 0 && len < sizeof(dir)) {
            memcpy(dir, path, len);
            dir[len] = '\0';
            full = harness_fmt("%s/%s", dir, name);
            if (full != NULL && access(full, X_OK) == 0) {
                return full;
            }
        }
        path = end != NULL ? end + 1 : NULL;
    }
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        const char *full = harness_fmt("%s/%s", extra[i], name);

        if (full != NULL && access(full, X_OK) == 0) {
            return full;
        }
    }
    fprintf(stderr, "harness: program %s not found in PATH or /usr/sbin\n",
            name);
    return NULL;
}

static bool
write_whole_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    bool ok;

    if (f == NULL) {
        fprintf(stderr, "harness: cannot write %s: %s\n", path,
                strerror(errno));
        return false;
    }
    ok = fputs(content, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "harness: writing %s failed\n", path);
    }
    return ok;
}

const char *
harness_write_file(const char *name, const char *content)
{
    const char *dir = harness_tmpdir();
    const char *path;

    if (dir == NULL || name == NULL || content == NULL) {
        return NULL;
    }
    path = harness_fmt("%s/%s", dir, name);
    if (path == NULL || !write_whole_file(path, content)) {
        return NULL;
    }
    return path;
}

static const char *
kind_name(harness_kind kind)
{
    switch (kind) {
    case HARNESS_REDIS:
        return "redis";
    case HARNESS_MEMCACHED:
        return "memcached";
    case HARNESS_NUTCRACKER:
        return "nutcracker";
    case HARNESS_SENTINEL:
        return "sentinel";
    }
    return "server";
}

/* A record with a fresh directory of its own; NULL on failure. */
static server_rec *
new_rec(harness_kind kind)
{
    const char *base = harness_tmpdir();
    server_rec *rec;

    if (base == NULL || (rec = calloc(1, sizeof(*rec))) == NULL) {
        return NULL;
    }
    rec->pub.kind = kind;
    rec->owner = getpid();
    dir_seq++;
    if (!fmt_into(rec->pub.dir, sizeof(rec->pub.dir), "%s/%s-%u", base,
                  kind_name(kind), dir_seq) ||
        !fmt_into(rec->log, sizeof(rec->log), "%s/server.log", rec->pub.dir) ||
        !fmt_into(rec->out, sizeof(rec->out), "%s/stdout.log", rec->pub.dir) ||
        mkdir(rec->pub.dir, 0700) != 0) {
        fprintf(stderr, "harness: cannot create a directory under %s\n", base);
        free(rec);
        return NULL;
    }
    return rec;
}

/* Fills host, port and addr for a TCP server. */
static bool
set_tcp_addr(server_rec *rec, const char *host, int port)
{
    rec->pub.port = port;
    rec->pub.path[0] = '\0';
    return fmt_into(rec->host, sizeof(rec->host), "%s", host) &&
           fmt_into(rec->pub.addr, sizeof(rec->pub.addr), "%s:%d", host, port);
}

static bool
set_unix_addr(server_rec *rec)
{
    rec->pub.port = 0;
    if (!fmt_into(rec->pub.path, sizeof(rec->pub.path), "%s/redis.sock",
                  rec->pub.dir)) {
        fprintf(stderr, "harness: socket path under %s is too long\n",
                rec->pub.dir);
        return false;
    }
    return fmt_into(rec->pub.addr, sizeof(rec->pub.addr), "%s", rec->pub.path);
}

static const char *
redis_conf(const server_rec *rec, const char *extra)
{
    const char *listen;

    if (rec->pub.path[0] != '\0') {
        listen = harness_fmt("port 0\nbind 127.0.0.1\nunixsocket \"%s\"\n"
                             "unixsocketperm 700\n",
                             rec->pub.path);
    } else {
        listen = harness_fmt("port %d\nbind %s\n", rec->pub.port, rec->host);
    }
    return harness_fmt("%sdir \"%s\"\nsave \"\"\nappendonly no\n"
                       "daemonize no\nlogfile \"%s\"\nprotected-mode no\n"
                       "%s\n",
                       listen, rec->pub.dir, rec->log,
                       extra != NULL ? extra : "");
}

/* A `requirepass` line in the extra config: the harness must AUTH too. */
static void
remember_password(server_rec *rec, const char *extra)
{
    const char *p = extra != NULL ? strstr(extra, "requirepass ") : NULL;

    rec->password[0] = '\0';
    if (p == NULL)
        return;
    p += strlen("requirepass ");
    size_t len = strcspn(p, " \r\n");
    if (len >= sizeof(rec->password))
        len = sizeof(rec->password) - 1;
    memcpy(rec->password, p, len);
    rec->password[len] = '\0';
}

static const char *
sentinel_conf(const server_rec *rec, const start_spec *spec)
{
    const char *name = spec->master_name;

    return harness_fmt("port %d\nbind 127.0.0.1\ndir \"%s\"\nlogfile \"%s\"\n"
                       "daemonize no\nprotected-mode no\n"
                       "sentinel monitor %s 127.0.0.1 %d 1\n"
                       "sentinel down-after-milliseconds %s 1000\n"
                       "sentinel failover-timeout %s 3000\n",
                       rec->pub.port, rec->pub.dir, rec->log, name,
                       spec->master->port, name, name);
}

/* A command line under construction; the strings are harness-owned. */
typedef struct cmdline {
    const char *argv[MAX_ARGS + 1]; /* NULL-terminated */
    int argc;                       /* used slots */
    bool ok;                        /* false once any piece failed */
} cmdline;

static void
cmd_add(cmdline *cmd, const char *arg)
{
    if (arg == NULL || cmd->argc >= MAX_ARGS) {
        cmd->ok = false;
        return;
    }
    cmd->argv[cmd->argc++] = arg;
    cmd->argv[cmd->argc] = NULL;
}

/* Writes a config file named `name` in the server's directory. */
static const char *
server_file(const server_rec *rec, const char *name, const char *content)
{
    const char *path = harness_fmt("%s/%s", rec->pub.dir, name);

    if (path == NULL || content == NULL || !write_whole_file(path, content)) {
        return NULL;
    }
    return path;
}

static void
build_redis(cmdline *cmd, const server_rec *rec, const start_spec *spec)
{
    cmd_add(cmd, find_program("redis-server"));
    cmd_add(cmd,
            server_file(rec, "redis.conf", redis_conf(rec, spec->extra_conf)));
}

static void
build_sentinel(cmdline *cmd, const server_rec *rec, const start_spec *spec)
{
    cmd_add(cmd, find_program("redis-sentinel"));
    cmd_add(cmd, server_file(rec, "sentinel.conf", sentinel_conf(rec, spec)));
}

static void
build_memcached(cmdline *cmd, const server_rec *rec)
{
    cmd_add(cmd, find_program("memcached"));
    cmd_add(cmd, "-l");
    cmd_add(cmd, rec->host);
    cmd_add(cmd, "-p");
    cmd_add(cmd, harness_fmt("%d", rec->pub.port));
    cmd_add(cmd, "-U");
    cmd_add(cmd, "0");
    if (geteuid() == 0) {
        /* memcached refuses to run as root without -u. */
        cmd_add(cmd, "-u");
        cmd_add(cmd, "root");
    }
}

static void
build_nutcracker(cmdline *cmd, const server_rec *rec, const start_spec *spec)
{
    cmd_add(cmd, find_program("nutcracker"));
    cmd_add(cmd, "-c");
    cmd_add(cmd, spec->yaml_path);
    cmd_add(cmd, "-s");
    cmd_add(cmd, harness_fmt("%d", rec->stats_port));
    cmd_add(cmd, "-a");
    cmd_add(cmd, "127.0.0.1");
    cmd_add(cmd, "-o");
    cmd_add(cmd, rec->log);
}

/* Sets the address of one attempt: a fresh free port unless it is fixed. */
static bool
choose_addr(server_rec *rec, const start_spec *spec)
{
    int port = spec->port;

    if (spec->kind == HARNESS_NUTCRACKER) {
        rec->stats_port = harness_free_port();
        return rec->stats_port > 0 && set_tcp_addr(rec, "127.0.0.1", port);
    }
    if (spec->unix_socket) {
        return set_unix_addr(rec);
    }
    if (port <= 0) {
        port = harness_free_port();
    }
    return port > 0 && set_tcp_addr(rec, spec->host, port);
}

/* Picks the address of one attempt and builds its command line. */
static bool
prepare(server_rec *rec, const start_spec *spec, cmdline *cmd)
{
    cmd->argc = 0;
    cmd->ok = true;
    if (!choose_addr(rec, spec)) {
        return false;
    }
    switch (spec->kind) {
    case HARNESS_REDIS:
        build_redis(cmd, rec, spec);
        remember_password(rec, spec->extra_conf);
        break;
    case HARNESS_SENTINEL:
        build_sentinel(cmd, rec, spec);
        break;
    case HARNESS_MEMCACHED:
        build_memcached(cmd, rec);
        break;
    case HARNESS_NUTCRACKER:
        build_nutcracker(cmd, rec, spec);
        break;
    }
    return cmd->ok;
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
    long deadline = now_ms() + READY_TIMEOUT_MS;

    while (now_ms() < deadline) {
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
    long deadline = now_ms() + STOP_TIMEOUT_MS;

    if (rec->owner != getpid() || rec->reaped || rec->pub.pid <= 0) {
        return;
    }
    signal_group(rec->pub.pid, SIGTERM);
    signal_group(rec->pub.pid, SIGCONT); /* a paused server must see it */
    while (!child_exited(rec) && now_ms() < deadline) {
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
        server_rec *rec = new_rec(spec->kind);
        cmdline cmd;
        ready_result r;

        if (rec == NULL || !prepare(rec, spec, &cmd)) {
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
    long deadline = now_ms() + STOP_TIMEOUT_MS;
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
    while (waiting && now_ms() < deadline) {
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

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
harness_cleanup(void)
{
    harness_stop_all();
    if (tmpdir[0] != '\0' && tmpdir_owner == getpid()) {
        nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    tmpdir[0] = '\0';
}

static void
harness_atexit(void)
{
    if (getenv("SHARD_TEST_KEEP_TMP") != NULL) {
        harness_stop_all();
        if (tmpdir[0] != '\0' && tmpdir_owner == getpid()) {
            fprintf(stderr, "harness: kept %s\n", tmpdir);
        }
    } else {
        harness_cleanup();
    }
    while (owned != NULL) {
        owned_str *next = owned->next;

        free(owned);
        owned = next;
    }
}
