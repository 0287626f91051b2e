/* Test harness: real redis-server / memcached / nutcracker / redis-sentinel
 * processes on free loopback ports, in a private temporary directory. */
#ifndef SHARD_TEST_HARNESS_H
#define SHARD_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef enum harness_kind {
    HARNESS_REDIS,
    HARNESS_MEMCACHED,
    HARNESS_NUTCRACKER,
    HARNESS_SENTINEL
} harness_kind;

/* A server process started by the harness. */
typedef struct harness_server {
    harness_kind kind; /* what runs */
    pid_t pid;         /* its process id */
    int port;          /* TCP port on 127.0.0.1, 0 when it listens on unix */
    char path[108];    /* unix socket path, "" for TCP */
    char dir[256];     /* its own working directory */
    char addr[300];    /* "127.0.0.1:port" or the socket path */
} harness_server;

/* The process's private temp dir (created on first use, removed at exit). */
const char *harness_tmpdir(void);

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
int harness_free_port(void);

/* As harness_free_port, preferring a port in [lo, hi] (say 2000..9999 for a
 * four-digit port); any free port when none there is free. */
int harness_free_port_range(int lo, int hi);

/* True when `port` on 127.0.0.1 can be bound now and was not handed out. */
bool harness_port_is_free(int port);

/* True when this machine has a usable ::1. */
bool harness_ipv6_available(void);

/*
 * Starts redis-server on a free port (or on a unix socket in its dir when
 * `unix_socket`), with extra redis.conf lines `extra_conf` (may be NULL),
 * and waits until it answers PING. NULL on failure.
 */
harness_server *harness_redis_start(const char *extra_conf);
harness_server *harness_redis_start_unix(const char *extra_conf);
/* As above, on the given port (for fixed-port cases like 11211). */
harness_server *harness_redis_start_port(int port, const char *extra_conf);
/* As above, on `host` ("127.0.0.1" or "::1") and `port`; addr is
 * "host:port" as a nutcracker server line writes it ("::1:11211"). */
harness_server *harness_redis_start_host(const char *host, int port,
                                         const char *extra_conf);

/* Starts memcached on a free port (or `port` when > 0). NULL on failure. */
harness_server *harness_memcached_start(int port);
/* As above, with memcached's item size `-I item_size` ("2m"). */
harness_server *harness_memcached_start_item_size(int port,
                                                  const char *item_size);

/*
 * Starts nutcracker on the config file `yaml_path` and waits until
 * `listen_port` accepts connections. Its stats port is a free port.
 */
harness_server *harness_nutcracker_start(const char *yaml_path,
                                         int listen_port);

/*
 * Starts redis-sentinel with the configuration lines `monitors` ("sentinel
 * monitor NAME 127.0.0.1 PORT QUORUM", its down-after-milliseconds ...),
 * for several masters or settings of the test's own.
 */
harness_server *harness_sentinel_start_conf(const char *monitors);

/* The stats port of a nutcracker started by the harness (0 otherwise). */
int harness_nutcracker_stats_port(const harness_server *s);

/* Starts redis-sentinel watching `master` (name `master_name`, quorum 1). */
harness_server *harness_sentinel_start(const char *master_name,
                                       const harness_server *master);

/* SIGTERM, then SIGKILL after 2 s; reaps the process and frees `s`. */
void harness_stop(harness_server *s);

/* Stops every server this process started (also runs at exit). */
void harness_stop_all(void);

/* harness_stop_all, then removes the temp dir if this process created it
 * (also runs at exit; set SHARD_TEST_KEEP_TMP=1 to keep the dir). Paths
 * from harness_write_file are gone afterwards. */
void harness_cleanup(void);

/* SIGSTOP / SIGCONT, to make a server hang and come back. */
void harness_pause(harness_server *s);
void harness_resume(harness_server *s);

/* Kills with SIGKILL at once (a crashed server) and reaps; keeps `s`
 * allocated so its address can still be printed; harness_stop frees it. */
void harness_kill(harness_server *s);

/* Writes `content` to `name` in harness_tmpdir(); returns a path that the
 * harness owns (valid until exit). NULL on failure. */
const char *harness_write_file(const char *name, const char *content);

/* Runs `nutcracker -t -c yaml_path`: true when nutcracker accepts it. */
bool harness_nutcracker_accepts(const char *yaml_path);

/* Reads `n` pipelined replies from hiredis context `c`: true when all came
 * and were status replies (+OK). */
struct redisContext;
bool harness_drain_ok(struct redisContext *c, int n);

/* printf into a buffer the harness owns (valid until exit). */
const char *harness_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
