/*
 * conf_nodns: conf_parse_flags(CONF_NO_DNS) checks the listen host's shape
 * and never resolves it (the reload path); everything else is parsed as
 * conf_parse parses it.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"

static char err[512];

static conf_file *
parse(const char *yaml, unsigned flags)
{
    err[0] = '\0';
    if (flags == 0)
        return conf_parse(yaml, strlen(yaml), "test.yml", err, sizeof(err));
    return conf_parse_flags(yaml, strlen(yaml), "test.yml", flags, err,
                            sizeof(err));
}

/* A two-pool file whose first pool listens on `listen`. */
static void
yaml_with_listen(char *out, size_t cap, const char *listen)
{
    int n = snprintf(out, cap,
                     "alpha:\n"
                     "  listen: %s\n"
                     "  hash: murmur\n"
                     "  hash_tag: \"{}\"\n"
                     "  distribution: modula\n"
                     "  redis: true\n"
                     "  auto_eject_hosts: true\n"
                     "  server_failure_limit: 3\n"
                     "  server_retry_timeout: 1500\n"
                     "  timeout: 400\n"
                     "  servers:\n"
                     "   - /tmp/redis.sock:3\n"
                     "   - 127.0.0.1:6379:1\n"
                     "   - 127.0.0.1:6380:2 zeta\n"
                     "beta:\n"
                     "  listen: 127.0.0.1:22122\n"
                     "  servers:\n"
                     "   - 10.0.0.1:11211:1\n",
                     listen);
    cr_assert(n > 0 && (size_t)n < cap);
}

#define LISTEN_BAD_DNS "no-such-host.invalid:22121"
#define DOES_NOT_RESOLVE                                                       \
    "test.yml:2: pool 'alpha': directive \"listen\" has a host that does "     \
    "not resolve"
#define NOT_A_VALID_NAME                                                       \
    "test.yml:2: pool 'alpha': directive \"listen\" has a host that is not "   \
    "a valid name"

Test(conf_nodns, unresolvable_listen_host_is_accepted_without_dns)
{
    char yaml[1024];
    yaml_with_listen(yaml, sizeof(yaml), LISTEN_BAD_DNS);
    conf_file *cf = parse(yaml, CONF_NO_DNS);

    cr_assert_not_null(cf, "%s", err);
    const conf_pool *p = conf_find_pool(cf, "alpha");
    cr_assert_not_null(p);
    cr_expect_str_eq(p->listen, LISTEN_BAD_DNS, "kept as written");
    conf_free(cf);
}

Test(conf_nodns, unresolvable_listen_host_is_rejected_with_dns)
{
    char yaml[1024];
    yaml_with_listen(yaml, sizeof(yaml), LISTEN_BAD_DNS);
    conf_file *cf = parse(yaml, 0);

    cr_expect_null(cf);
    conf_free(cf);
    cr_expect(strstr(err, DOES_NOT_RESOLVE) != NULL, "message: %s", err);

    /* conf_parse_flags with no flag is conf_parse. */
    cf = parse(yaml, 0u);
    cr_expect_null(cf);
    conf_free(cf);
    err[0] = '\0';
    cf = conf_parse_flags(yaml, strlen(yaml), "test.yml", 0, err, sizeof(err));
    cr_expect_null(cf);
    conf_free(cf);
    cr_expect(strstr(err, DOES_NOT_RESOLVE) != NULL, "message: %s", err);
}

Test(conf_nodns, badly_shaped_listen_hosts_are_rejected_either_way)
{
    static const char *bad[] = {
        "bad host!:1",     "\"bad host!:22121\"", "ho$t:22121", "a/b:22121",
        "\"[::1]:22121\"", "\":22121\"",          "h*st:22121"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[1024];
        yaml_with_listen(yaml, sizeof(yaml), bad[i]);
        for (unsigned flags = 0; flags <= CONF_NO_DNS; flags += CONF_NO_DNS) {
            conf_file *cf = parse(yaml, flags);

            cr_expect_null(cf, "listen %s accepted (flags %u)", bad[i], flags);
            conf_free(cf);
            cr_expect(strstr(err, flags ? NOT_A_VALID_NAME
                                        : DOES_NOT_RESOLVE) != NULL,
                      "listen %s (flags %u): %s", bad[i], flags, err);
        }
    }
}

Test(conf_nodns, port_and_format_errors_do_not_depend_on_dns)
{
    static const struct {
        const char *listen;
        const char *reason;
    } cases[] = {
        {"no-such-host.invalid:0", "invalid port"},
        {"no-such-host.invalid:70000", "invalid port"},
        {"no-such-host.invalid", "invalid \"hostname:port\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[1024];
        yaml_with_listen(yaml, sizeof(yaml), cases[i].listen);
        for (unsigned flags = 0; flags <= CONF_NO_DNS; flags += CONF_NO_DNS) {
            conf_file *cf = parse(yaml, flags);

            cr_expect_null(cf, "listen %s accepted", cases[i].listen);
            conf_free(cf);
            cr_expect(strstr(err, cases[i].reason) != NULL,
                      "listen %s (flags %u): %s", cases[i].listen, flags, err);
        }
    }
}

Test(conf_nodns, numeric_names_and_unix_listens_pass_both_ways)
{
    static const char *good[] = {"127.0.0.1:22121", "localhost:22121",
                                 "::1:22121", "/tmp/shard.sock",
                                 "\"/tmp/shard.sock 0755\""};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char yaml[1024];
        yaml_with_listen(yaml, sizeof(yaml), good[i]);
        for (unsigned flags = 0; flags <= CONF_NO_DNS; flags += CONF_NO_DNS) {
            conf_file *cf = parse(yaml, flags);

            cr_expect_not_null(cf, "listen %s (flags %u): %s", good[i], flags,
                               err);
            conf_free(cf);
        }
    }
}

static void
expect_same_server(const conf_server *a, const conf_server *b)
{
    cr_expect_eq(a->identity_len, b->identity_len);
    cr_expect(memcmp(a->identity, b->identity, a->identity_len) == 0,
              "%s vs %s", a->identity, b->identity);
    cr_expect_str_eq(a->addr, b->addr);
    cr_expect_str_eq(a->host, b->host);
    cr_expect_eq(a->port, b->port);
    cr_expect_eq(a->weight, b->weight);
    cr_expect_eq(a->line, b->line);
}

/* Every field but `listen`, which the caller compares. */
static void
expect_same_pool(const conf_pool *a, const conf_pool *b)
{
    cr_expect_str_eq(a->name, b->name);
    cr_expect_eq(a->hash, b->hash);
    cr_expect_eq(a->has_hash_tag, b->has_hash_tag);
    cr_expect(memcmp(a->hash_tag, b->hash_tag, 2) == 0);
    cr_expect_eq(a->distribution, b->distribution);
    cr_expect_eq(a->timeout_ms, b->timeout_ms);
    cr_expect_eq(a->backlog, b->backlog);
    cr_expect_eq(a->client_connections, b->client_connections);
    cr_expect_eq(a->redis, b->redis);
    cr_expect_eq(a->tcpkeepalive, b->tcpkeepalive);
    cr_expect_eq(a->redis_auth == NULL, b->redis_auth == NULL);
    cr_expect_eq(a->redis_db, b->redis_db);
    cr_expect_eq(a->preconnect, b->preconnect);
    cr_expect_eq(a->auto_eject_hosts, b->auto_eject_hosts);
    cr_expect_eq(a->server_connections, b->server_connections);
    cr_expect_eq(a->server_retry_timeout_ms, b->server_retry_timeout_ms);
    cr_expect_eq(a->server_failure_limit, b->server_failure_limit);
    cr_expect_eq(a->line, b->line);
    cr_assert_eq(a->server_count, b->server_count);
    for (size_t i = 0; i < a->server_count; i++)
        expect_same_server(&a->servers[i], &b->servers[i]);
}

Test(conf_nodns, pools_are_the_same_with_or_without_dns)
{
    char resolvable[1024], unresolvable[1024];
    yaml_with_listen(resolvable, sizeof(resolvable), "127.0.0.1:22121");
    yaml_with_listen(unresolvable, sizeof(unresolvable), LISTEN_BAD_DNS);
    conf_file *with_dns = parse(resolvable, 0);
    cr_assert_not_null(with_dns, "%s", err);
    conf_file *same_text = parse(resolvable, CONF_NO_DNS);
    cr_assert_not_null(same_text, "%s", err);
    conf_file *no_dns = parse(unresolvable, CONF_NO_DNS);
    cr_assert_not_null(no_dns, "%s", err);

    cr_assert_eq(with_dns->pool_count, 2);
    cr_assert_eq(same_text->pool_count, 2);
    cr_assert_eq(no_dns->pool_count, 2);
    for (size_t i = 0; i < 2; i++) {
        expect_same_pool(&with_dns->pools[i], &same_text->pools[i]);
        expect_same_pool(&with_dns->pools[i], &no_dns->pools[i]);
        cr_expect_str_eq(with_dns->pools[i].listen, same_text->pools[i].listen);
    }
    /* Spot-check real values, so "equal" is not "equally empty". */
    const conf_pool *a = conf_find_pool(no_dns, "alpha");
    cr_assert_not_null(a);
    cr_expect_eq(a->hash, HASH_MURMUR);
    cr_expect_eq(a->distribution, DIST_MODULA);
    cr_expect_eq(a->server_failure_limit, 3);
    cr_expect_eq(a->server_retry_timeout_ms, 1500);
    cr_assert_eq(a->server_count, 3);
    cr_expect_str_eq(a->servers[0].identity, "zeta");
    cr_expect_str_eq(a->servers[1].identity, "127.0.0.1:6379");
    cr_expect_str_eq(a->servers[2].identity, "/tmp/redis.sock:");
    cr_expect_eq(a->servers[0].line, 14, "sorted, not in config order");
    cr_expect_str_eq(a->listen, LISTEN_BAD_DNS);
    conf_free(no_dns);
    conf_free(same_text);
    conf_free(with_dns);
}
