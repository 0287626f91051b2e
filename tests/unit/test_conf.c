/* conf: values, defaults, server order and messages of a nutcracker.yml. */
#include <criterion/criterion.h>
#include <string.h>

#include "conf.h"

static char err[512];

static conf_file *
parse(const char *yaml)
{
    err[0] = '\0';
    return conf_parse(yaml, strlen(yaml), "test.yml", err, sizeof(err));
}

static void
expect_error(const char *yaml, const char *fragment)
{
    conf_file *cf = parse(yaml);

    cr_expect_null(cf, "accepted: %s", yaml);
    conf_free(cf);
    cr_expect(strstr(err, fragment) != NULL, "message \"%s\" lacks \"%s\"", err,
              fragment);
}

#define POOL_HEAD "alpha:\n  listen: 127.0.0.1:22121\n"
#define ONE_SERVER "  servers:\n   - 127.0.0.1:6379:1\n"

Test(conf, unset_directives_get_twemproxy_defaults)
{
    conf_file *cf = parse(POOL_HEAD ONE_SERVER);
    cr_assert_not_null(cf, "%s", err);
    const conf_pool *p = conf_find_pool(cf, NULL);

    cr_assert_not_null(p);
    cr_expect_eq(p->hash, HASH_FNV1A_64);
    cr_expect_eq(p->distribution, DIST_KETAMA);
    cr_expect_not(p->has_hash_tag);
    cr_expect_eq(p->timeout_ms, -1);
    cr_expect_eq(p->backlog, 512);
    cr_expect_eq(p->client_connections, 0);
    cr_expect_not(p->redis);
    cr_expect_not(p->tcpkeepalive);
    cr_expect_null(p->redis_auth);
    cr_expect_eq(p->redis_db, 0);
    cr_expect_not(p->preconnect);
    cr_expect_not(p->auto_eject_hosts);
    cr_expect_eq(p->server_connections, 1);
    cr_expect_eq(p->server_retry_timeout_ms, 30000);
    cr_expect_eq(p->server_failure_limit, 2);
    conf_free(cf);
}

Test(conf, every_directive_is_read)
{
    conf_file *cf = parse(
        POOL_HEAD "  hash: murmur\n  hash_tag: \"{}\"\n"
                  "  distribution: modula\n  timeout: 400\n  backlog: 1024\n"
                  "  client_connections: 100\n  redis: true\n"
                  "  tcpkeepalive: true\n  redis_auth: secret\n"
                  "  redis_db: 3\n  preconnect: true\n"
                  "  auto_eject_hosts: true\n  server_connections: 2\n"
                  "  server_retry_timeout: 2000\n"
                  "  server_failure_limit: 3\n" ONE_SERVER);
    cr_assert_not_null(cf, "%s", err);
    const conf_pool *p = &cf->pools[0];

    cr_expect_str_eq(p->listen, "127.0.0.1:22121");
    cr_expect_eq(p->hash, HASH_MURMUR);
    cr_expect(p->has_hash_tag && memcmp(p->hash_tag, "{}", 2) == 0);
    cr_expect_eq(p->distribution, DIST_MODULA);
    cr_expect_eq(p->timeout_ms, 400);
    cr_expect_eq(p->backlog, 1024);
    cr_expect_eq(p->client_connections, 0, "twemproxy resets it to 0");
    cr_expect(p->redis && p->tcpkeepalive && p->preconnect &&
              p->auto_eject_hosts);
    cr_expect_str_eq(p->redis_auth, "secret");
    cr_expect_eq(p->redis_db, 3);
    cr_expect_eq(p->server_connections, 2);
    cr_expect_eq(p->server_retry_timeout_ms, 2000);
    cr_expect_eq(p->server_failure_limit, 3);
    conf_free(cf);
}

Test(conf, servers_sort_by_length_then_bytes)
{
    conf_file *cf = parse(POOL_HEAD "  servers:\n"
                                    "   - 127.0.0.1:17001:1\n"
                                    "   - /run/rt/r.sock:1\n"
                                    "   - 127.0.0.1:11211:1\n"
                                    "   - 127.0.0.1:1700:1\n");
    cr_assert_not_null(cf, "%s", err);
    const conf_pool *p = &cf->pools[0];
    const char *expected[] = {"127.0.0.1", "127.0.0.1:1700",
                              "/run/rt/r.sock:", "127.0.0.1:17001"};

    cr_assert_eq(p->server_count, 4);
    for (size_t i = 0; i < 4; i++)
        cr_expect_str_eq(p->servers[i].identity, expected[i], "index %zu", i);
    conf_free(cf);
}

Test(conf, server_identity_and_address_follow_twemproxy)
{
    conf_file *cf = parse(POOL_HEAD "  servers:\n"
                                    "   - 10.0.0.1:6379:3 cache-a\n"
                                    "   - ::1:6380:1\n"
                                    "   - 127.0.0.1:11211:2\n"
                                    "   - /tmp/r.sock:4\n");
    cr_assert_not_null(cf, "%s", err);
    const conf_pool *p = &cf->pools[0];

    /* Shorter identities sort first: 7, 8, 9 and 12 bytes. */
    cr_assert_eq(p->server_count, 4);
    cr_expect_str_eq(p->servers[0].identity, "cache-a");
    cr_expect_str_eq(p->servers[0].addr, "10.0.0.1:6379");
    cr_expect_eq(p->servers[0].weight, 3);
    cr_expect_str_eq(p->servers[1].identity, "::1:6380");
    cr_expect_str_eq(p->servers[1].host, "::1");
    cr_expect_eq(p->servers[1].port, 6380);
    cr_expect_str_eq(p->servers[2].identity, "127.0.0.1");
    cr_expect_str_eq(p->servers[2].addr, "127.0.0.1:11211");
    cr_expect_str_eq(p->servers[3].identity, "/tmp/r.sock:");
    cr_expect_str_eq(p->servers[3].addr, "/tmp/r.sock");
    cr_expect_eq(p->servers[3].port, 0);
    cr_expect_eq(p->servers[3].weight, 4);
    conf_free(cf);
}

Test(conf, pools_are_found_by_name_and_sorted)
{
    conf_file *cf = parse("zeta:\n  listen: 127.0.0.1:1\n" ONE_SERVER
                          "ab:\n  listen: 127.0.0.1:2\n" ONE_SERVER
                          "b:\n  listen: 127.0.0.1:3\n" ONE_SERVER);
    cr_assert_not_null(cf, "%s", err);
    cr_assert_eq(cf->pool_count, 3);
    cr_expect_str_eq(cf->pools[0].name, "b");
    cr_expect_str_eq(cf->pools[1].name, "ab");
    cr_expect_str_eq(cf->pools[2].name, "zeta");
    cr_expect_null(conf_find_pool(cf, NULL), "three pools: no default");
    cr_expect_str_eq(conf_find_pool(cf, "ab")->listen, "127.0.0.1:2");
    cr_expect_null(conf_find_pool(cf, "nope"));
    conf_free(cf);
}

Test(conf, numbers_wrap_like_twemproxy)
{
    conf_file *cf = parse(POOL_HEAD "  timeout: 99999999999\n" ONE_SERVER);
    cr_assert_not_null(cf, "%s", err);
    cr_expect_eq(cf->pools[0].timeout_ms, 1215752191);
    conf_free(cf);
    expect_error(POOL_HEAD "  timeout: 2147483648\n" ONE_SERVER,
                 "directive \"timeout\" is not a number");
}

Test(conf, messages_name_file_line_pool_and_directive)
{
    expect_error(POOL_HEAD "  redis: yes\n" ONE_SERVER,
                 "test.yml:3: pool 'alpha': directive \"redis\" is not "
                 "\"true\" or \"false\"");
    expect_error(POOL_HEAD "  hash: md5\n  hash: md5\n" ONE_SERVER,
                 "test.yml:4: pool 'alpha': directive \"hash\" is a "
                 "duplicate");
    expect_error(POOL_HEAD "  servers:\n   - 127.0.0.1:6379:0\n",
                 "test.yml:4: pool 'alpha': directive \"servers\" has a zero "
                 "weight");
    expect_error(POOL_HEAD "  colour: blue\n" ONE_SERVER,
                 "directive \"colour\" is unknown");
    expect_error("alpha:\n  hash: md5\n" ONE_SERVER,
                 "pool 'alpha': directive \"listen:\" is missing");
    expect_error(POOL_HEAD "  servers: [127.0.0.1:6379:1]\n",
                 "test.yml:3: flow style");
}

Test(conf, structure_errors_are_reported)
{
    expect_error("", "no YAML document");
    expect_error("alpha: beta\n", "must be a mapping");
    expect_error(POOL_HEAD "  hash: md5\n", "missing sequence directive");
    expect_error(POOL_HEAD "  hash:\n    a: b\n" ONE_SERVER, "deeper");
    expect_error(POOL_HEAD ONE_SERVER "  servers:\n   - 127.0.0.1:6380:1\n",
                 "more than one sequence");
    expect_error(POOL_HEAD ONE_SERVER
                 "beta:\n  listen: 127.0.0.1:22121\n" ONE_SERVER,
                 "have the same listen address");
    expect_error("alpha:\n  listen: \"unterminated\n", "YAML syntax error");
}

Test(conf, server_lines_parse_from_the_right)
{
    expect_error(POOL_HEAD "  servers:\n   - 127.0.0.1:6379:x\n",
                 "invalid weight");
    expect_error(POOL_HEAD "  servers:\n   - 127.0.0.1:6379\n",
                 "invalid \"hostname:port:weight [name]\"");
    expect_error(POOL_HEAD "  servers:\n   - 127.0.0.1\n",
                 "invalid \"hostname:port:weight [name]\"");
    expect_error(POOL_HEAD "  servers:\n   - 127.0.0.1:70000:1\n",
                 "invalid port");
    expect_error(POOL_HEAD "  servers:\n   - /tmp/a:b:1\n",
                 "invalid \"hostname:port:weight [name]\"");
    expect_error(POOL_HEAD "  servers:\n   - a:1:1 x\n   - b:1:1 x\n",
                 "has servers with same name 'x'");
}

/* --- robustness: damaged configs ---------------------------------------- */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned rng_state = 12345;

static unsigned
next_random(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* One damaged copy of `text`: cut, flipped, inserted or repeated bytes. */
static size_t
mutate(const char *text, size_t len, char *out, size_t cap)
{
    static const char inserts[] = ":- \n\t{}[]&*!#\"'%|>\0\xff";
    size_t n = len < cap ? len : cap;

    memcpy(out, text, n);
    switch (next_random() % 4) {
    case 0: /* truncated anywhere */
        return n ? next_random() % n : 0;
    case 1: /* a byte flipped */
        if (n)
            out[next_random() % n] ^= (char)(1u << (next_random() % 8));
        return n;
    case 2: /* a YAML-significant byte inserted */
        if (n + 1 <= cap) {
            size_t at = n ? next_random() % n : 0;
            memmove(out + at + 1, out + at, n - at);
            out[at] = inserts[next_random() % (sizeof(inserts) - 1)];
            n++;
        }
        return n;
    default: /* a stretch repeated */
        if (n && n * 2 <= cap) {
            size_t from = next_random() % n, span = next_random() % (n - from);
            memmove(out + n, out + from, span + 1 > n - from ? n - from : span);
            return n + (span < n - from ? span : n - from);
        }
        return n;
    }
}

static size_t
read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    cr_assert_not_null(f, "cannot open %s", path);
    n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static const char *
file_path(const char *dir, const char *name)
{
    static char path[2048];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

/*
 * Rewrites every `listen:` value to a unix socket path: twemproxy resolves
 * a TCP listen host at load time, and a damaged one would be a DNS query.
 */
static size_t
listen_on_unix(char *text, size_t len, size_t cap)
{
    static const char path[] = " /tmp/shard-damaged.sock";
    char *at = text;

    while ((at = memmem(at, len - (size_t)(at - text), "listen:", 7)) != NULL) {
        char *value = at + 7;
        char *end = memchr(value, '\n', len - (size_t)(value - text));
        size_t old = end ? (size_t)(end - value) : len - (size_t)(value - text);
        size_t grow = sizeof(path) - 1;
        if (len - old + grow > cap)
            break;
        memmove(value + grow, value + old, len - (size_t)(value - text) - old);
        memcpy(value, path, grow);
        len = len - old + grow;
        at = value + grow;
    }
    return len;
}

/* Parses damaged copies of every catalogue config: each must be accepted
 * or rejected with a message, and never crash (ASan checks the memory). */
static int
mutate_dir(const char *dir)
{
    static char text[8192], damaged[16384];
    struct dirent *e;
    int files = 0;
    DIR *d = opendir(dir);

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".yml") == NULL)
            continue;
        size_t len = read_all(file_path(dir, e->d_name), text, sizeof(text));
        len = listen_on_unix(text, len, sizeof(text));
        for (int i = 0; i < 300; i++) {
            size_t n = mutate(text, len, damaged, sizeof(damaged));
            err[0] = '\0';
            conf_file *cf =
                conf_parse(damaged, n, "damaged.yml", err, sizeof(err));
            cr_assert(cf != NULL || strncmp(err, "damaged.yml", 11) == 0,
                      "rejected without a message: %s", err);
            conf_free(cf);
        }
        files++;
    }
    closedir(d);
    return files;
}

Test(conf, damaged_configs_are_accepted_or_rejected_never_crash)
{
    const char *data = getenv("SHARD_TEST_DATA");
    char dir[1024];

    cr_assert_not_null(data, "SHARD_TEST_DATA is not set");
    snprintf(dir, sizeof(dir), "%s/goodconf", data);
    int good = mutate_dir(dir);
    snprintf(dir, sizeof(dir), "%s/badconf", data);
    int bad = mutate_dir(dir);
    cr_expect_gt(good + bad, 100, "only %d configs", good + bad);
}

Test(conf, pool_checks_name_the_line_of_their_directive)
{
    conf_file *cf = parse("p:\n"
                          "  listen: 127.0.0.1:22121\n"
                          "  server_connections: 0\n"
                          "  redis: true\n"
                          "  servers:\n"
                          "   - 127.0.0.1:6379:1\n"
                          "q:\n"
                          "  listen: 127.0.0.1:22122\n"
                          "  servers:\n"
                          "   - 127.0.0.1:6379:1\n");

    cr_expect_null(cf);
    cr_expect(strstr(err, ":3: pool 'p': directive \"server_connections:\" "
                          "cannot be 0") != NULL,
              "%s", err);
    cf = parse("p:\n"
               "  listen: 127.0.0.1:22121\n"
               "  redis_auth: x\n"
               "  servers:\n"
               "   - 127.0.0.1:6379:1\n");
    cr_expect_null(cf);
    cr_expect(strstr(err, ":3: pool 'p'") != NULL, "%s", err);
    cf = parse("p:\n"
               "  servers:\n"
               "   - 127.0.0.1:6379:1\n");
    cr_expect_null(cf);
    cr_expect(strstr(err, ":1: pool 'p': directive \"listen:\" is missing") !=
                  NULL,
              "%s", err);
}
