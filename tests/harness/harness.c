/* Test harness, its environment: the private temporary directory, free
 * loopback ports, files and harness-owned strings, and the directory, config
 * file and command line of each server. harness_proc.c runs the servers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"
#include "harness_proc.h"

#include <hiredis/hiredis.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define PORTS_REMEMBERED 4096 /* ports handed out that are not reused */

/* A string the harness owns until exit (harness_fmt, harness_write_file). */
typedef struct owned_str {
    struct owned_str *next; /* older strings */
    char text[];            /* the string itself */
} owned_str;

static char tmpdir[PATH_MAX];             /* "" until harness_tmpdir() runs */
static pid_t tmpdir_owner;                /* the process that created tmpdir */
static unsigned dir_seq;                  /* numbers server directories */
static int ports_given[PORTS_REMEMBERED]; /* ring of handed-out ports */
static size_t ports_count;                /* ports ever handed out */
static owned_str *owned;                  /* harness_fmt results */
static bool atexit_done;                  /* atexit handler registered */

static void harness_atexit(void);

void
register_atexit(void)
{
    if (!atexit_done) {
        atexit(harness_atexit);
        atexit_done = true;
    }
}

/* snprintf that reports truncation as failure. */
bool
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
    unsigned seed = (unsigned)getpid() ^ (unsigned)monotonic_ms();

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
const char *
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

const char *
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
server_rec *
server_rec_new(harness_kind kind)
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

    if (spec->master == NULL) /* the caller's monitor lines */
        return harness_fmt("port %d\nbind 127.0.0.1\ndir \"%s\"\n"
                           "logfile \"%s\"\ndaemonize no\n"
                           "protected-mode no\n%s",
                           rec->pub.port, rec->pub.dir, rec->log,
                           spec->extra_conf);
    return harness_fmt("port %d\nbind 127.0.0.1\ndir \"%s\"\nlogfile \"%s\"\n"
                       "daemonize no\nprotected-mode no\n"
                       "sentinel monitor %s 127.0.0.1 %d 1\n"
                       "sentinel down-after-milliseconds %s 1000\n"
                       "sentinel failover-timeout %s 3000\n",
                       rec->pub.port, rec->pub.dir, rec->log, name,
                       spec->master->port, name, name);
}

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
build_memcached(cmdline *cmd, const server_rec *rec, const start_spec *spec)
{
    cmd_add(cmd, find_program("memcached"));
    if (spec->extra_conf != NULL) {
        cmd_add(cmd, "-I");
        cmd_add(cmd, spec->extra_conf);
    }
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

/*
 * SHARD_TEST_NUTCRACKER_WRAPPER: words put before nutcracker's command
 * line ("valgrind --tool=callgrind --callgrind-out-file=F", "strace -o
 * F"), for the benches that count nutcracker's own instructions or system
 * calls. Words are split at spaces.
 */
static void
add_wrapper(cmdline *cmd)
{
    const char *w = getenv("SHARD_TEST_NUTCRACKER_WRAPPER");
    char word[PATH_MAX];
    bool first = true;

    while (w != NULL && *w != '\0') {
        size_t n = strcspn(w, " ");
        if (n > 0 && n < sizeof(word)) {
            memcpy(word, w, n);
            word[n] = '\0';
            /* The program is found on PATH; the rest are its arguments. */
            cmd_add(cmd, first ? find_program(word) : harness_fmt("%s", word));
            first = false;
        }
        w += n;
        w += strspn(w, " ");
    }
}

static void
build_nutcracker(cmdline *cmd, const server_rec *rec, const start_spec *spec)
{
    add_wrapper(cmd);
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
bool
server_prepare(server_rec *rec, const start_spec *spec, cmdline *cmd)
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
        build_memcached(cmd, rec, spec);
        break;
    case HARNESS_NUTCRACKER:
        build_nutcracker(cmd, rec, spec);
        break;
    }
    return cmd->ok;
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

bool
harness_drain_ok(redisContext *c, int n)
{
    void *r;

    for (int i = 0; i < n; i++) {
        if (redisGetReply(c, &r) != REDIS_OK)
            return false;
        bool ok = ((redisReply *)r)->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok)
            return false;
    }
    return true;
}

int
harness_nutcracker_stats_port(const harness_server *s)
{
    const server_rec *rec = (const server_rec *)s;

    return s != NULL && s->kind == HARNESS_NUTCRACKER ? rec->stats_port : 0;
}
