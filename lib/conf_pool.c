/*
 * The pool directives of twemproxy 0.5 (nc_conf.c conf_commands[]): their
 * types, defaults and checks, reproduced rule for rule, including the odd
 * ones (numbers wrap instead of overflowing, a server line is parsed from
 * the right, servers sort by length before bytes).
 */
#include <errno.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "conf_pool.h"
#include "error.h"

/* twemproxy's port that is left out of the identity (libmemcached's). */
#define KETAMA_DEFAULT_PORT 11211

typedef const char *(*directive_set_fn)(conf_builder *b, const char *value,
                                        size_t len, unsigned line);

/* One directive: its name and how its value is read. */
typedef struct directive {
    const char *name;     /* exactly as in the YAML */
    directive_set_fn set; /* checks and stores the value */
} directive;

static char *
dup_bytes(const char *s, size_t len)
{
    char *d = malloc(len + 1);

    if (d != NULL) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/*
 * nc_atoi: digits only, no sign. The int is allowed to wrap (twemproxy
 * accepted 99999999999) and a negative result means "not a number".
 */
static int
twemproxy_atoi(const char *s, size_t len)
{
    uint32_t value = 0;

    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        value = value * 10 + (uint32_t)(s[i] - '0');
    }
    return (int32_t)value < 0 ? -1 : (int)value;
}

static bool
valid_port(int port)
{
    return port >= 1 && port <= 65535;
}

/* Last `c` in s[0..len), as nc_strrchr: its offset, or -1. */
static long
last_index(const char *s, size_t len, char c)
{
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == c)
            return (long)(i - 1);
    }
    return -1;
}

static const char *
set_number(int *field, const char *value, size_t len)
{
    int n = twemproxy_atoi(value, len);

    if (n < 0)
        return "is not a number";
    *field = n;
    return NULL;
}

static const char *
set_bool(bool *field, const char *value, size_t len)
{
    if (len == 4 && memcmp(value, "true", 4) == 0)
        *field = true;
    else if (len == 5 && memcmp(value, "false", 5) == 0)
        *field = false;
    else
        return "is not \"true\" or \"false\"";
    return NULL;
}

/* A host getaddrinfo could resolve: letters, digits, '-', '.', ':' (v6). */
static bool
host_name_shaped(const char *host, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = host[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' ||
                  ch == ':' || ch == '_' || ch == '%';
        if (!ok)
            return false;
    }
    return true;
}

/*
 * The listen host must resolve, as twemproxy resolves it at load time.
 * With `no_dns` only its shape is checked: a numeric address, or a name
 * getaddrinfo would look up.
 */
static bool
listen_host_resolves(const char *host, size_t hostlen, int port, bool no_dns)
{
    struct addrinfo hints = {0}, *ai = NULL;
    char node[NI_MAXHOST], service[16];

    if (hostlen >= sizeof(node) || memchr(host, '\0', hostlen) != NULL)
        return false;
    memcpy(node, host, hostlen);
    node[hostlen] = '\0';
    snprintf(service, sizeof(service), "%d", port);
    if (no_dns)
        return host_name_shaped(node, hostlen);
    hints.ai_flags = AI_NUMERICSERV;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(node, service, &hints, &ai) != 0)
        return false;
    freeaddrinfo(ai);
    return true;
}

/* "/path [octal-permissions]": the path must fit a sockaddr_un. */
static const char *
check_listen_unix(const char *value, size_t len)
{
    long space = last_index(value, len, ' ');
    size_t pathlen = space < 0 ? len : (size_t)space;

    if (space >= 0) {
        char perm[32];
        size_t permlen = len - (size_t)space - 1;

        if (permlen >= sizeof(perm))
            permlen = sizeof(perm) - 1;
        memcpy(perm, value + space + 1, permlen);
        perm[permlen] = '\0';
        errno = 0;
        long mode = strtol(perm, NULL, 8);
        if (errno != 0 || mode > 0777 || mode < 0)
            return "has an invalid file permission in \"socket_path "
                   "permission\" format string";
    }
    if (pathlen >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return "has a socket path that is too long";
    return NULL;
}

static const char *
set_listen(conf_builder *b, const char *value, size_t len, unsigned line)
{
    const char *reason = NULL;

    if (value[0] == '/') {
        reason = check_listen_unix(value, len);
    } else {
        long colon = last_index(value, len, ':');
        if (colon < 0)
            return "has an invalid \"hostname:port\" format string";
        int port = twemproxy_atoi(value + colon + 1, len - (size_t)colon - 1);
        if (!valid_port(port))
            return "has an invalid port in \"hostname:port\" format string";
        if (!listen_host_resolves(value, (size_t)colon, port, b->no_dns))
            return b->no_dns ? "has a host that is not a valid name"
                             : "has a host that does not resolve";
    }
    if (reason == NULL && (b->pool.listen = dup_bytes(value, len)) == NULL)
        reason = "could not be stored: out of memory";
    return reason;
}

static const char *
set_hash(conf_builder *b, const char *value, size_t len, unsigned line)
{
    int kind = hash_kind_from_name(value, len);

    if (kind < 0)
        return "is not a valid hash";
    b->pool.hash = (hash_kind)kind;
    return NULL;
}

static const char *
set_hash_tag(conf_builder *b, const char *value, size_t len, unsigned line)
{
    if (len != 2)
        return "is not a valid hash tag string with two characters";
    memcpy(b->pool.hash_tag, value, 2);
    b->pool.has_hash_tag = true;
    return NULL;
}

static const char *
set_distribution(conf_builder *b, const char *value, size_t len, unsigned line)
{
    static const char *const names[] = {"ketama", "modula", "random"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strlen(names[i]) == len && memcmp(names[i], value, len) == 0) {
            b->pool.distribution = (dist_kind)i;
            return NULL;
        }
    }
    return "is not a valid distribution";
}

static const char *
set_redis_auth(conf_builder *b, const char *value, size_t len, unsigned line)
{
    b->pool.redis_auth = dup_bytes(value, len);
    return b->pool.redis_auth != NULL ? NULL
                                      : "could not be stored: out of memory";
}

#define NUMBER_SETTER(field)                                                   \
    static const char *set_##field(conf_builder *b, const char *value,         \
                                   size_t len, unsigned line)                  \
    {                                                                          \
        return set_number(&b->pool.field, value, len);                         \
    }
#define BOOL_SETTER(field)                                                     \
    static const char *set_##field(conf_builder *b, const char *value,         \
                                   size_t len, unsigned line)                  \
    {                                                                          \
        return set_bool(&b->pool.field, value, len);                           \
    }

NUMBER_SETTER(timeout_ms)
NUMBER_SETTER(backlog)
NUMBER_SETTER(client_connections)
NUMBER_SETTER(redis_db)
NUMBER_SETTER(server_connections)
NUMBER_SETTER(server_retry_timeout_ms)
NUMBER_SETTER(server_failure_limit)
BOOL_SETTER(redis)
BOOL_SETTER(tcpkeepalive)
BOOL_SETTER(preconnect)
BOOL_SETTER(auto_eject_hosts)
BOOL_SETTER(server_probe)
NUMBER_SETTER(read_retries)

/* The fields of one server line, found from the right (conf_add_server). */
typedef struct server_fields {
    const char *host; /* address part: host or socket path */
    size_t hostlen;
    const char *port; /* NULL for a unix socket */
    size_t portlen;
    const char *weight;
    size_t weightlen;
    const char *name; /* NULL when absent */
    size_t namelen;
} server_fields;

static const char *const bad_server_format =
    "has an invalid \"hostname:port:weight [name]\"or "
    "\"/path/unix_socket:weight [name]\" format string";

static bool
split_server_line(const char *v, size_t len, server_fields *f)
{
    bool is_unix = v[0] == '/';
    long at = last_index(v, len, ' ');
    size_t end = len;

    memset(f, 0, sizeof(*f));
    if (at >= 0) {
        f->name = v + at + 1;
        f->namelen = len - (size_t)at - 1;
        end = (size_t)at;
    }
    if ((at = last_index(v, end, ':')) < 0)
        return false;
    f->weight = v + at + 1;
    f->weightlen = end - (size_t)at - 1;
    end = (size_t)at;
    at = last_index(v, end, ':');
    if (!is_unix) {
        if (at < 0)
            return false;
        f->port = v + at + 1;
        f->portlen = end - (size_t)at - 1;
        end = (size_t)at;
    } else if (at >= 0) {
        return false; /* a unix path cannot hold ':' */
    }
    f->host = v;
    f->hostlen = end;
    /* twemproxy's search goes on for a NUL byte: finding one is an error. */
    return memchr(v, '\0', end) == NULL;
}

/* A new zeroed entry at the end of `*list` (`*count` used, `*cap`
 * allocated); NULL when out of memory. */
static conf_server *
push_line(conf_server **list, size_t *count, size_t *cap)
{
    if (*count == *cap) {
        size_t grown = *cap ? *cap * 2 : 8;
        conf_server *s = realloc(*list, grown * sizeof(*s));
        if (s == NULL)
            return NULL;
        *list = s;
        *cap = grown;
    }
    conf_server *s = &(*list)[(*count)++];
    memset(s, 0, sizeof(*s));
    return s;
}

static conf_server *
push_server(conf_builder *b)
{
    return push_line(&b->pool.servers, &b->pool.server_count, &b->server_cap);
}

static void
server_free(conf_server *s)
{
    free(s->identity);
    free(s->addr);
    free(s->host);
}

/* Identity: the name, else host for port 11211, else "host:port"/"path:". */
static bool
server_store(conf_server *s, const char *v, const server_fields *f)
{
    size_t idlen = f->hostlen + 1 + f->portlen;
    const char *id = v;

    if (f->name != NULL) {
        id = f->name;
        idlen = f->namelen;
    } else if (s->port == KETAMA_DEFAULT_PORT) {
        idlen = f->hostlen;
    }
    s->identity = dup_bytes(id, idlen);
    s->identity_len = idlen;
    s->host = dup_bytes(f->host, f->hostlen);
    s->addr = f->port != NULL ? dup_bytes(v, f->hostlen + 1 + f->portlen)
                              : dup_bytes(f->host, f->hostlen);
    return s->identity && s->host && s->addr;
}

static const char *
add_server(conf_builder *b, const char *value, size_t len, unsigned line)
{
    server_fields f;
    int weight, port = 0;

    if (!split_server_line(value, len, &f))
        return bad_server_format;
    weight = twemproxy_atoi(f.weight, f.weightlen);
    if (weight < 0)
        return "has an invalid weight in \"hostname:port:weight [name]\" "
               "format string";
    if (weight == 0)
        return "has a zero weight in \"hostname:port:weight [name]\" "
               "format string";
    if (f.port != NULL) {
        port = twemproxy_atoi(f.port, f.portlen);
        if (!valid_port(port))
            return "has an invalid port in \"hostname:port:weight [name]\" "
                   "format string";
    }
    conf_server *s = push_server(b);
    if (s == NULL)
        return "could not be stored: out of memory";
    s->port = port;
    s->weight = (uint32_t)weight;
    s->line = line;
    s->named = f.name != NULL;
    if (!server_store(s, value, &f))
        return "could not be stored: out of memory";
    return NULL;
}

/* A Sentinel: "host:port", weight optional (read, unused), no name. */
static const char *
add_sentinel(conf_builder *b, const char *value, size_t len, unsigned line)
{
    static const char *const bad =
        "has an invalid \"hostname:port[:weight]\" format string";
    char item[512];
    server_fields f;
    int colons = 0;

    for (size_t i = 0; i < len; i++)
        colons += value[i] == ':';
    if (len + 3 > sizeof(item) || value[0] == '/' || memchr(value, ' ', len))
        return bad;
    memcpy(item, value, len);
    if (colons == 1) { /* no weight: read it as weight 1 */
        memcpy(item + len, ":1", 2);
        len += 2;
    }
    if (!split_server_line(item, len, &f) || f.port == NULL)
        return bad;
    int port = twemproxy_atoi(f.port, f.portlen);
    if (!valid_port(port) || twemproxy_atoi(f.weight, f.weightlen) < 0)
        return bad;
    conf_server *s = push_line(&b->pool.sentinels, &b->pool.sentinel_count,
                               &b->sentinel_cap);
    if (s == NULL)
        return "could not be stored: out of memory";
    s->port = port;
    s->weight = 1;
    s->line = line;
    if (!server_store(s, item, &f))
        return "could not be stored: out of memory";
    return NULL;
}

static const directive directives[] = {
    {"listen", set_listen},
    {"hash", set_hash},
    {"hash_tag", set_hash_tag},
    {"distribution", set_distribution},
    {"timeout", set_timeout_ms},
    {"backlog", set_backlog},
    {"client_connections", set_client_connections},
    {"redis", set_redis},
    {"tcpkeepalive", set_tcpkeepalive},
    {"redis_auth", set_redis_auth},
    {"redis_db", set_redis_db},
    {"preconnect", set_preconnect},
    {"auto_eject_hosts", set_auto_eject_hosts},
    {"server_connections", set_server_connections},
    {"server_retry_timeout", set_server_retry_timeout_ms},
    {"server_failure_limit", set_server_failure_limit},
    {"server_probe", set_server_probe},
    {"read_retries", set_read_retries},
    {"sentinels", add_sentinel},
    {"servers", add_server},
};

#define DIRECTIVE_COUNT (sizeof(directives) / sizeof(directives[0]))
/* The sequences: each of their items adds one line. */
#define SENTINELS_DIRECTIVE (DIRECTIVE_COUNT - 2)
#define SERVERS_DIRECTIVE (DIRECTIVE_COUNT - 1)

const char *
conf_builder_set(conf_builder *b, const char *key, const char *value,
                 size_t len, unsigned line)
{
    for (size_t i = 0; i < DIRECTIVE_COUNT; i++) {
        if (strcmp(directives[i].name, key) != 0)
            continue;
        /* Every item of the sequence adds a server; others are set once. */
        bool sequence = i == SERVERS_DIRECTIVE || i == SENTINELS_DIRECTIVE;
        if (!sequence && (b->set_mask & (1u << i)))
            return "is a duplicate";
        b->set_mask |= 1u << i;
        if (!sequence)
            b->lines[i] = line;
        return directives[i].set(b, value, len, line);
    }
    return "is unknown";
}

void
conf_builder_init(conf_builder *b, char *name, unsigned line, bool no_dns)
{
    memset(b, 0, sizeof(*b));
    b->no_dns = no_dns;
    b->pool.name = name;
    b->pool.line = line;
    b->pool.hash = HASH_FNV1A_64;
    b->pool.distribution = DIST_KETAMA;
    b->pool.timeout_ms = -1;
    b->pool.backlog = 512;
    b->pool.server_connections = 1;
    b->pool.server_retry_timeout_ms = 30000;
    b->pool.server_failure_limit = 2;
}

/* string_compare: shorter first, then bytes as unsigned (strncmp). */
static int
twemproxy_string_compare(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return alen < blen ? -1 : 1;
    return memcmp(a, b, alen);
}

static int
server_compare(const void *x, const void *y)
{
    const conf_server *a = x, *b = y;

    return twemproxy_string_compare(a->identity, a->identity_len, b->identity,
                                    b->identity_len);
}

/* The line where directive `name` was set; 0 when it was not. */
static unsigned
set_at(const conf_builder *b, const char *name)
{
    for (size_t i = 0; i < DIRECTIVE_COUNT; i++) {
        if (strcmp(directives[i].name, name) == 0)
            return (b->set_mask & (1u << i)) ? b->lines[i] : 0;
    }
    return 0;
}

const char *
conf_builder_finish(conf_builder *b, unsigned *line, char *buf, size_t len)
{
    conf_pool *p = &b->pool;

    *line = p->line;
    if (set_at(b, "listen") == 0)
        return "directive \"listen:\" is missing";
    if (p->redis_auth != NULL && !p->redis) {
        *line = set_at(b, "redis_auth");
        return "directive \"redis_auth:\" is only valid for a redis pool";
    }
    /* Parsed and checked, then ignored: twemproxy resets it to 0. */
    p->client_connections = 0;
    if (set_at(b, "server_connections") != 0 && p->server_connections == 0) {
        *line = set_at(b, "server_connections");
        return "directive \"server_connections:\" cannot be 0";
    }
    if (p->server_count == 0)
        return "has no servers";
    for (size_t i = 0; i < p->server_count && p->sentinel_count > 0; i++) {
        if (!p->servers[i].named) {
            *line = p->servers[i].line;
            return "directive \"servers:\" needs a name on every line with "
                   "\"sentinels:\": the master's name in Sentinel";
        }
    }
    qsort(p->servers, p->server_count, sizeof(*p->servers), server_compare);
    for (size_t i = 0; i + 1 < p->server_count; i++) {
        if (server_compare(&p->servers[i], &p->servers[i + 1]) == 0) {
            unsigned one = p->servers[i].line, two = p->servers[i + 1].line;
            *line = one < two ? one : two;
            error_format(buf, len,
                         "has servers with same name '%s' (lines %u and %u)",
                         p->servers[i].identity, one < two ? one : two,
                         one < two ? two : one);
            return buf;
        }
    }
    return NULL;
}

static void
pool_free(conf_pool *p)
{
    for (size_t i = 0; i < p->server_count; i++)
        server_free(&p->servers[i]);
    free(p->servers);
    for (size_t i = 0; i < p->sentinel_count; i++)
        server_free(&p->sentinels[i]);
    free(p->sentinels);
    free(p->name);
    free(p->listen);
    free(p->redis_auth);
}

void
conf_builder_discard(conf_builder *b)
{
    pool_free(&b->pool);
    memset(b, 0, sizeof(*b));
}

bool
conf_file_add_pool(conf_file *cf, conf_pool *pool)
{
    conf_pool *pools =
        realloc(cf->pools, (cf->pool_count + 1) * sizeof(*pools));

    if (pools == NULL) {
        pool_free(pool);
        return false;
    }
    cf->pools = pools;
    cf->pools[cf->pool_count++] = *pool;
    return true;
}

static int
pool_listen_compare(const void *x, const void *y)
{
    const conf_pool *a = x, *b = y;

    return twemproxy_string_compare(a->listen, strlen(a->listen), b->listen,
                                    strlen(b->listen));
}

static int
pool_name_compare(const void *x, const void *y)
{
    const conf_pool *a = x, *b = y;

    return twemproxy_string_compare(a->name, strlen(a->name), b->name,
                                    strlen(b->name));
}

/* Sorts the pools and fails on the first pair that compares equal. */
static const conf_pool *
sort_find_equal(conf_file *cf, int (*cmp)(const void *, const void *))
{
    qsort(cf->pools, cf->pool_count, sizeof(*cf->pools), cmp);
    for (size_t i = 0; i + 1 < cf->pool_count; i++) {
        if (cmp(&cf->pools[i], &cf->pools[i + 1]) == 0)
            return &cf->pools[i];
    }
    return NULL;
}

bool
conf_file_validate(conf_file *cf, const char *source, char *err, size_t errlen)
{
    const conf_pool *p;

    if (cf->pool_count == 0) {
        error_format(err, errlen, "%s: has no pools", source);
        return false;
    }
    if ((p = sort_find_equal(cf, pool_listen_compare)) != NULL) {
        error_format(err, errlen,
                     "%s:%u: pools '%s' and '%s' have the same listen "
                     "address '%s'",
                     source, p[1].line, p[0].name, p[1].name, p->listen);
        return false;
    }
    if ((p = sort_find_equal(cf, pool_name_compare)) != NULL) {
        error_format(err, errlen, "%s:%u: two pools are named '%s'", source,
                     p[1].line, p->name);
        return false;
    }
    return true;
}

void
conf_free(conf_file *cf)
{
    if (cf == NULL)
        return;
    for (size_t i = 0; i < cf->pool_count; i++)
        pool_free(&cf->pools[i]);
    free(cf->pools);
    free(cf);
}

const conf_pool *
conf_find_pool(const conf_file *cf, const char *name)
{
    if (name == NULL)
        return cf->pool_count == 1 ? &cf->pools[0] : NULL;
    for (size_t i = 0; i < cf->pool_count; i++) {
        if (strcmp(cf->pools[i].name, name) == 0)
            return &cf->pools[i];
    }
    return NULL;
}
