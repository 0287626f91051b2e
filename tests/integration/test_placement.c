/*
 * Placement proven against the oracle: a real nutcracker 0.5 and libshard
 * read the same nutcracker.yml; every key is written through nutcracker,
 * then looked up on each redis-server directly, and must sit exactly on the
 * server shard_pool_locate() names. Covers the 12 hashes, the three
 * distributions, weights, named servers, port 11211, unix sockets, 25
 * servers, hash tags, binary, UTF-8 and empty keys.
 */
#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"

#define POOL_NAME "alpha"
#define MAX_MEMBERS 25  /* servers in one pool (fits a uint32_t mask) */
#define BATCH 256       /* commands per pipelined round trip */
#define MAX_SAMPLES 5   /* misplaced keys quoted in a failure */
#define SAMPLE_BYTES 48 /* key bytes quoted per sample */

static const char *const all_hashes[] = {
    "one_at_a_time", "md5",     "crc16",    "crc32", "crc32a", "fnv1_64",
    "fnv1a_64",      "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins"};
#define HASH_COUNT (sizeof(all_hashes) / sizeof(all_hashes[0]))

/* One key: arbitrary bytes. */
typedef struct key {
    char *bytes; /* not NUL-terminated; may hold NUL */
    size_t len;  /* 0 is a valid key */
} key;

/* Distinct keys to write through nutcracker. */
typedef struct keyset {
    key *k;     /* the keys */
    size_t n;   /* how many */
    size_t cap; /* allocated slots */
} keyset;

/* A redis-server the test owns, with a direct connection to it. */
typedef struct backend {
    harness_server *srv; /* the process */
    redisContext *c;     /* direct connection, bypassing nutcracker */
} backend;

/* One server line of a pool. */
typedef struct member {
    backend *be;      /* where the line points */
    int weight;       /* its weight */
    const char *name; /* its name, NULL for none */
} member;

/* A pool to compare: the directives that decide placement. */
typedef struct pool_case {
    const char *hash;         /* `hash:` */
    const char *distribution; /* `distribution:` */
    const char *hash_tag;     /* `hash_tag:`, NULL for none */
    member m[MAX_MEMBERS];    /* servers, in twemproxy's sorted order */
    size_t n;                 /* how many */
} pool_case;

/* Where one case put its keys, as seen by both sides. */
typedef struct verdict {
    size_t misplaced;                /* keys not (only) where libshard says */
    size_t lost;                     /* keys on no server at all */
    size_t used_servers;             /* servers that got at least one key */
    char samples[MAX_SAMPLES * 256]; /* a few misplaced keys, described */
} verdict;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static void
setup(void)
{
    rng_state = 0x9e3779b97f4a7c15ULL;
}

static void
teardown(void)
{
    harness_stop_all();
}

static uint32_t
rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/* ---- key sets ---- */

static bool
keyset_has(const keyset *ks, const char *bytes, size_t len)
{
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->k[i].len == len && memcmp(ks->k[i].bytes, bytes, len) == 0) {
            return true;
        }
    }
    return false;
}

/* Adds a copy of the key unless it is already there (keys are distinct). */
static void
keyset_add(keyset *ks, const char *bytes, size_t len)
{
    if (keyset_has(ks, bytes, len)) {
        return;
    }
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 256;
        ks->k = realloc(ks->k, ks->cap * sizeof(*ks->k));
        cr_assert_not_null(ks->k, "out of memory");
    }
    ks->k[ks->n].bytes = malloc(len ? len : 1);
    cr_assert_not_null(ks->k[ks->n].bytes, "out of memory");
    memcpy(ks->k[ks->n].bytes, bytes, len);
    ks->k[ks->n].len = len;
    ks->n++;
}

static void
keyset_add_str(keyset *ks, const char *s)
{
    keyset_add(ks, s, strlen(s));
}

static void
keyset_free(keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        free(ks->k[i].bytes);
    }
    free(ks->k);
    memset(ks, 0, sizeof(*ks));
}

/* A key of `len` printable bytes from the generator. */
static void
add_random_printable(keyset *ks, size_t len)
{
    char *buf = malloc(len ? len : 1);

    cr_assert_not_null(buf, "out of memory");
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)(33 + rng_next() % 94);
    }
    keyset_add(ks, buf, len);
    free(buf);
}

/* A key of `len` arbitrary bytes (NUL, CR, LF, 0x80-0xff included). */
static void
add_random_binary(keyset *ks, size_t len)
{
    char *buf = malloc(len ? len : 1);

    cr_assert_not_null(buf, "out of memory");
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)(rng_next() & 0xff);
    }
    keyset_add(ks, buf, len);
    free(buf);
}

/* The usual shapes of real keys, a few long ones, and random ASCII. */
static void
gen_mixed(keyset *ks, size_t n)
{
    static const size_t long_lens[] = {250, 251, 1000, 4096, 16000};
    char buf[64];

    for (size_t i = 0; i < sizeof(long_lens) / sizeof(long_lens[0]); i++) {
        add_random_printable(ks, long_lens[i]);
    }
    for (size_t i = 0; ks->n < n; i++) {
        switch (i % 4) {
        case 0:
            snprintf(buf, sizeof(buf), "key:%zu", i);
            keyset_add_str(ks, buf);
            break;
        case 1:
            snprintf(buf, sizeof(buf), "user:%zu:profile", i * 7919);
            keyset_add_str(ks, buf);
            break;
        case 2:
            snprintf(buf, sizeof(buf), "k%zu", i);
            keyset_add_str(ks, buf);
            break;
        default:
            add_random_printable(ks, 1 + rng_next() % 40);
        }
    }
}

/* Binary keys and non-ASCII UTF-8, where signed-char hashing shows. */
static void
gen_binary(keyset *ks, size_t n)
{
    static const char *const utf8[] = {"\xc3\xa9t\xc3\xa9",
                                       "caf\xc3\xa9",
                                       "\xe6\x97\xa5\xe6\x9c\xac",
                                       "\xf0\x9f\x94\x91",
                                       "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87",
                                       "\xc3\x9c\x6e\xc3\xaf"};
    static const char special[][4] = {"\0",   "\r\n", "\r",   "\n",
                                      "\xff", "\x80", "\0\0", " "};
    static const size_t special_len[] = {1, 2, 1, 1, 1, 1, 2, 1};
    char buf[96];

    for (size_t i = 0; i < sizeof(special_len) / sizeof(special_len[0]); i++) {
        keyset_add(ks, special[i], special_len[i]);
    }
    for (size_t i = 0; ks->n < n; i++) {
        if (i % 3 == 0) {
            snprintf(buf, sizeof(buf), "%s:%zu",
                     utf8[i / 3 % (sizeof(utf8) / sizeof(utf8[0]))], i);
            keyset_add_str(ks, buf);
        } else if (i % 3 == 1) {
            int len = snprintf(buf, sizeof(buf), "k\r\n%zu", i);

            buf[len] = '\0'; /* a NUL inside the key, then one more byte */
            buf[len + 1] = 'x';
            keyset_add(ks, buf, (size_t)len + 2);
        } else {
            add_random_binary(ks, 1 + rng_next() % 64);
        }
    }
}

/* Keys for hash tag `o` `c`: the edge cases, then tagged and plain keys. */
static void
gen_tagged(keyset *ks, char o, char c, size_t n)
{
    static const char *const edges[] = {"{}",
                                        "ab{}{c}",
                                        "{a{b}c}",
                                        "{",
                                        "}",
                                        "x{y}z",
                                        "{user1000}.following",
                                        "{user1000}.followers",
                                        "}{",
                                        "{{}}",
                                        "{}{}",
                                        "a{}",
                                        "{}b",
                                        "{x",
                                        "x}",
                                        "{{x}",
                                        "{x}}",
                                        "a{b{c}d}e",
                                        "{ }",
                                        "tag{}end",
                                        "{ab}{cd}"};
    char buf[64];

    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        size_t len = strlen(edges[i]);

        memcpy(buf, edges[i], len);
        for (size_t j = 0; j < len; j++) {
            buf[j] = buf[j] == '{' ? o : buf[j] == '}' ? c : buf[j];
        }
        keyset_add(ks, buf, len);
    }
    for (size_t i = 0; ks->n < n; i++) {
        switch (i % 4) {
        case 0: /* many keys share a tag: they must land together */
            snprintf(buf, sizeof(buf), "%cuser%zu%c.f%zu", o, i % 37, c, i);
            break;
        case 1:
            snprintf(buf, sizeof(buf), "x%ctag%zu%cy", o, i, c);
            break;
        case 2: /* empty tag: the whole key is hashed */
            snprintf(buf, sizeof(buf), "e%c%c%zu", o, c, i);
            break;
        default: /* unclosed tag */
            snprintf(buf, sizeof(buf), "u%cnoclose%zu", o, i);
        }
        keyset_add_str(ks, buf);
    }
}

/* ---- servers ---- */

static void
backend_start(backend *be, harness_server *srv)
{
    struct timeval tv = {10, 0};

    cr_assert_not_null(srv, "could not start a redis-server (see stderr)");
    be->srv = srv;
    if (srv->path[0] != '\0') {
        be->c = redisConnectUnixWithTimeout(srv->path, tv);
    } else {
        char host[64];
        size_t hl = strrchr(srv->addr, ':') - srv->addr;

        cr_assert_lt(hl, sizeof(host));
        memcpy(host, srv->addr, hl);
        host[hl] = '\0';
        be->c = redisConnectWithTimeout(host, srv->port, tv);
    }
    cr_assert(be->c != NULL && be->c->err == 0, "cannot connect to %s",
              srv->addr);
    redisSetTimeout(be->c, tv);
}

static void
backends_start(backend *be, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        backend_start(&be[i], harness_redis_start(NULL));
    }
}

static void
backends_free(backend *be, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (be[i].c != NULL) {
            redisFree(be[i].c);
            be[i].c = NULL;
        }
    }
}

/* Runs one command on a direct connection; its integer reply or -1. */
static long long
backend_int(backend *be, const char *cmd)
{
    redisReply *r = redisCommand(be->c, cmd);
    long long v = -1;

    cr_assert_not_null(r, "%s on %s: %s", cmd, be->srv->addr, be->c->errstr);
    if (r->type == REDIS_REPLY_INTEGER) {
        v = r->integer;
    } else if (r->type == REDIS_REPLY_STATUS) {
        v = 0;
    }
    freeReplyObject(r);
    return v;
}

/* ---- the pool and its config ---- */

static bool
member_is_unix(const member *m)
{
    return m->be->srv->path[0] != '\0';
}

/* The identity twemproxy hashes for a server line (twemproxy-0.5.md 1.4). */
static const char *
member_identity(const member *m)
{
    const char *addr = m->be->srv->addr;

    if (m->name != NULL) {
        return m->name;
    }
    if (member_is_unix(m)) {
        return harness_fmt("%s:", addr);
    }
    if (m->be->srv->port == 11211) {
        return harness_fmt("%.*s", (int)(strrchr(addr, ':') - addr), addr);
    }
    return addr;
}

/* twemproxy's string_compare: shorter first, then bytes. */
static int
identity_cmp(const void *a, const void *b)
{
    const char *x = member_identity(a);
    const char *y = member_identity(b);
    size_t lx = strlen(x);
    size_t ly = strlen(y);

    if (lx != ly) {
        return lx < ly ? -1 : 1;
    }
    return memcmp(x, y, lx);
}

/* Puts the members in twemproxy's server order (the index order). */
static void
case_sort(pool_case *pc)
{
    qsort(pc->m, pc->n, sizeof(pc->m[0]), identity_cmp);
}

static const char *
case_label(const pool_case *pc)
{
    return harness_fmt("%s/%s%s%s%s on %zu servers", pc->distribution, pc->hash,
                       pc->hash_tag ? " hash_tag \"" : "",
                       pc->hash_tag ? pc->hash_tag : "",
                       pc->hash_tag ? "\"" : "", pc->n);
}

/* The YAML, servers listed in reverse of the sorted order, so that a
 * library keeping config order gets it wrong. */
static const char *
case_yaml(const pool_case *pc, int listen_port)
{
    const char *yaml = harness_fmt(
        "# %s\n%s:\n  listen: 127.0.0.1:%d\n  redis: true\n"
        "  hash: %s\n  distribution: %s\n",
        case_label(pc), POOL_NAME, listen_port, pc->hash, pc->distribution);

    if (pc->hash_tag != NULL) {
        yaml = harness_fmt("%s  hash_tag: \"%s\"\n", yaml, pc->hash_tag);
    }
    yaml = harness_fmt("%s  servers:\n", yaml);
    for (size_t i = pc->n; i-- > 0;) {
        const member *m = &pc->m[i];

        yaml =
            harness_fmt("%s   - %s:%d%s%s\n", yaml, m->be->srv->addr, m->weight,
                        m->name ? " " : "", m->name ? m->name : "");
    }
    return yaml;
}

/* Opens the pool with libshard and maps its indexes to our members. */
static shard_pool *
open_pool(const pool_case *pc, const char *path, size_t *map)
{
    shard_pool *pool = NULL;
    int rc = shard_pool_open(&pool, path, POOL_NAME, NULL);

    cr_assert_eq(rc, SHARD_OK, "%s: shard_pool_open: %s (%s)", case_label(pc),
                 shard_strerror(rc), shard_last_error());
    cr_assert_eq(shard_pool_server_count(pool), pc->n, "%s: %zu servers",
                 case_label(pc), shard_pool_server_count(pool));
    for (size_t i = 0; i < pc->n; i++) {
        const char *addr = shard_pool_server_addr(pool, i);
        const char *name = shard_pool_server_name(pool, i);

        cr_assert_not_null(addr, "%s: no addr for server %zu", case_label(pc),
                           i);
        map[i] = pc->n;
        for (size_t j = 0; j < pc->n; j++) {
            if (strcmp(addr, pc->m[j].be->srv->addr) == 0) {
                map[i] = j;
            }
        }
        cr_assert_lt(map[i], pc->n,
                     "%s: libshard server %zu at '%s' is not "
                     "in the config",
                     case_label(pc), i, addr);
        cr_expect_str_eq(name ? name : "(null)", member_identity(&pc->m[i]),
                         "%s: server %zu is '%s', twemproxy's order puts "
                         "'%s' there",
                         case_label(pc), i, name, member_identity(&pc->m[i]));
    }
    return pool;
}

/* Reads `n` pipelined replies; each must be +OK (SET) or an integer. */
static void
read_replies(redisContext *c, size_t n, const char *where, long long *ints)
{
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;

        cr_assert_eq(redisGetReply(c, (void **)&r), REDIS_OK,
                     "%s: connection failed: %s", where, c->errstr);
        cr_assert(r->type == REDIS_REPLY_INTEGER ||
                      r->type == REDIS_REPLY_STATUS,
                  "%s: unexpected reply type %d: %.*s", where, r->type,
                  r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
                  r->type == REDIS_REPLY_ERROR ? r->str : "");
        if (ints != NULL) {
            ints[i] = r->integer;
        }
        freeReplyObject(r);
    }
}

/* SETs every key through nutcracker, pipelined, binary-safe. */
static void
write_through_proxy(const harness_server *nut, const keyset *ks)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", nut->port, tv);

    cr_assert(c != NULL && c->err == 0, "cannot connect to nutcracker");
    redisSetTimeout(c, tv);
    for (size_t i = 0; i < ks->n; i += BATCH) {
        size_t end = i + BATCH < ks->n ? i + BATCH : ks->n;

        for (size_t j = i; j < end; j++) {
            char value[32];

            snprintf(value, sizeof(value), "v%zu", j);
            redisAppendCommand(c, "SET %b %s", ks->k[j].bytes, ks->k[j].len,
                               value);
        }
        read_replies(c, end - i, "SET through nutcracker", NULL);
    }
    redisFree(c);
}

/* Sets bit `bit` in masks[k] for every key that exists on `be`. */
static void
collect_presence(backend *be, const keyset *ks, uint32_t *masks, size_t bit)
{
    long long found[BATCH];

    for (size_t i = 0; i < ks->n; i += BATCH) {
        size_t end = i + BATCH < ks->n ? i + BATCH : ks->n;

        for (size_t j = i; j < end; j++) {
            redisAppendCommand(be->c, "EXISTS %b", ks->k[j].bytes,
                               ks->k[j].len);
        }
        read_replies(be->c, end - i, be->srv->addr, found);
        for (size_t j = i; j < end; j++) {
            masks[j] |= found[j - i] == 1 ? UINT32_C(1) << bit : 0;
        }
    }
}

/* The key, printable: \xHH for anything else, cut at SAMPLE_BYTES. */
static const char *
key_repr(const key *k)
{
    char buf[SAMPLE_BYTES * 4 + 16];
    size_t o = 0;

    for (size_t i = 0; i < k->len && i < SAMPLE_BYTES; i++) {
        unsigned char b = (unsigned char)k->bytes[i];

        if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
            buf[o++] = (char)b;
        } else {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", b);
        }
    }
    buf[o] = '\0';
    return harness_fmt("\"%s\"%s (%zu bytes)", buf,
                       k->len > SAMPLE_BYTES ? "..." : "", k->len);
}

/* Where nutcracker put a key: the addresses of the servers holding it. */
static const char *
mask_repr(const pool_case *pc, uint32_t mask)
{
    const char *s = "";

    for (size_t i = 0; i < pc->n; i++) {
        if (mask & (UINT32_C(1) << i)) {
            s = harness_fmt("%s%s%s", s, *s ? "," : "", pc->m[i].be->srv->addr);
        }
    }
    return *s ? s : "nowhere";
}

/* Describes a misplaced key; `idx` is libshard's answer, `where` the
 * address it names. */
static void
add_sample(verdict *v, const pool_case *pc, const key *k, int idx,
           const char *where, uint32_t mask)
{
    size_t used = strlen(v->samples);

    if (v->misplaced + v->lost > MAX_SAMPLES) {
        return;
    }
    snprintf(v->samples + used, sizeof(v->samples) - used,
             "\n  key %s: libshard %d (%s), nutcracker %s", key_repr(k), idx,
             where, mask_repr(pc, mask));
}

/* Compares each key's home with libshard's answer. `map` takes libshard
 * indexes to members; for random, any one server is right. */
static void
judge(shard_pool *pool, const pool_case *pc, const keyset *ks,
      const uint32_t *masks, const size_t *map, verdict *v)
{
    bool random = strcmp(pc->distribution, "random") == 0;
    uint32_t used = 0;

    for (size_t i = 0; i < ks->n; i++) {
        int idx = shard_pool_locate(pool, ks->k[i].bytes, ks->k[i].len);
        bool bad = idx < 0 || (size_t)idx >= pc->n;
        uint32_t want = bad ? 0 : UINT32_C(1) << map[idx];

        used |= masks[i];
        if (masks[i] == 0) {
            v->lost++;
        } else if (bad || (random ? (masks[i] & (masks[i] - 1)) != 0
                                  : masks[i] != want)) {
            v->misplaced++;
        } else {
            continue;
        }
        add_sample(v, pc, &ks->k[i], idx,
                   bad ? "-" : pc->m[map[idx]].be->srv->addr, masks[i]);
    }
    for (; used != 0; used &= used - 1) {
        v->used_servers++;
    }
}

/* No key may exist that we did not write (a stray would mean a lost SET
 * went somewhere unexpected). */
static void
expect_no_strays(pool_case *pc, const keyset *ks)
{
    long long total = 0;

    for (size_t i = 0; i < pc->n; i++) {
        total += backend_int(pc->m[i].be, "DBSIZE");
    }
    cr_expect_eq(total, (long long)ks->n,
                 "%s: %lld keys on the servers, "
                 "%zu written",
                 case_label(pc), total, ks->n);
}

/*
 * The proof for one pool: nutcracker and libshard on the same file, every
 * key written through nutcracker, then found on exactly libshard's server.
 */
static void
check_case(pool_case *pc, const keyset *ks, verdict *v)
{
    static unsigned seq;
    int port = harness_free_port();
    size_t map[MAX_MEMBERS];
    uint32_t *masks = calloc(ks->n, sizeof(*masks));
    const char *path;
    harness_server *nut;
    shard_pool *pool;

    cr_assert_not_null(masks, "out of memory");
    memset(v, 0, sizeof(*v));
    case_sort(pc);
    for (size_t i = 0; i < pc->n; i++) {
        backend_int(pc->m[i].be, "FLUSHALL");
    }
    path = harness_write_file(harness_fmt("case-%u.yml", ++seq),
                              case_yaml(pc, port));
    cr_assert_not_null(path);
    nut = harness_nutcracker_start(path, port);
    cr_assert_not_null(nut, "%s: nutcracker did not start on %s",
                       case_label(pc), path);
    pool = open_pool(pc, path, map);
    write_through_proxy(nut, ks);
    for (size_t i = 0; i < pc->n; i++) {
        collect_presence(pc->m[i].be, ks, masks, i);
    }
    judge(pool, pc, ks, masks, map, v);
    expect_no_strays(pc, ks);
    shard_pool_free(pool);
    harness_stop(nut);
    free(masks);
}

/* check_case, then the verdict for a deterministic distribution. */
static void
expect_same_placement(pool_case *pc, const keyset *ks)
{
    verdict v;

    check_case(pc, ks, &v);
    cr_expect(v.misplaced == 0 && v.lost == 0,
              "%s: %zu of %zu keys misplaced, %zu lost; e.g.%s", case_label(pc),
              v.misplaced, ks->n, v.lost, v.samples);
}

/* A pool of `n` members over `be`, all of weight 1, no names. */
static void
case_init(pool_case *pc, const char *dist, const char *hash, backend *be,
          size_t n)
{
    memset(pc, 0, sizeof(*pc));
    pc->distribution = dist;
    pc->hash = hash;
    pc->n = n;
    for (size_t i = 0; i < n; i++) {
        pc->m[i].be = &be[i];
        pc->m[i].weight = 1;
    }
}

/* Four servers: three on ephemeral ports and one on a four-digit port, so
 * that twemproxy's shorter-first order differs from byte order. */
static void
start_four(backend *be)
{
    int port = harness_free_port_range(2000, 9999);
    harness_server *s = harness_redis_start_port(port, NULL);

    backend_start(&be[0], s != NULL ? s : harness_redis_start(NULL));
    backends_start(be + 1, 3);
}

static void
every_hash(const char *dist)
{
    backend be[4];
    keyset ks = {0};
    pool_case pc;

    start_four(be);
    gen_mixed(&ks, 1000);
    for (size_t h = 0; h < HASH_COUNT; h++) {
        case_init(&pc, dist, all_hashes[h], be, 4);
        expect_same_placement(&pc, &ks);
    }
    keyset_free(&ks);
    backends_free(be, 4);
}

TestSuite(placement, .init = setup, .fini = teardown, .timeout = 300);

Test(placement, ketama_places_keys_like_nutcracker_for_every_hash)
{
    every_hash("ketama");
}

Test(placement, modula_places_keys_like_nutcracker_for_every_hash)
{
    every_hash("modula");
}

Test(placement, random_puts_each_key_on_exactly_one_live_server)
{
    backend be[4];
    keyset ks = {0};
    pool_case pc;
    verdict v;

    backends_start(be, 4);
    gen_mixed(&ks, 1000);
    case_init(&pc, "random", "fnv1a_64", be, 4);
    check_case(&pc, &ks, &v);
    cr_expect(v.misplaced == 0 && v.lost == 0,
              "%s: %zu keys on several servers, %zu lost; e.g.%s",
              case_label(&pc), v.misplaced, v.lost, v.samples);
    cr_expect_gt(v.used_servers, 1, "random sent all keys to one server");
    keyset_free(&ks);
    backends_free(be, 4);
}

Test(placement, weights_count_in_ketama_and_modula_like_nutcracker)
{
    static const int weights[][3] = {{1, 2, 3}, {3, 7, 0}};
    static const char *const dists[] = {"ketama", "modula"};
    static const char *const hashes[] = {"fnv1a_64", "md5", "murmur"};
    backend be[3];
    keyset ks = {0};
    pool_case pc;

    backends_start(be, 3);
    gen_mixed(&ks, 1000);
    for (size_t w = 0; w < 2; w++) {
        for (size_t d = 0; d < 2; d++) {
            for (size_t h = 0; h < 3; h++) {
                case_init(&pc, dists[d], hashes[h], be, w == 0 ? 3 : 2);
                for (size_t i = 0; i < pc.n; i++) {
                    pc.m[i].weight = weights[w][i];
                }
                expect_same_placement(&pc, &ks);
            }
        }
    }
    keyset_free(&ks);
    backends_free(be, 3);
}

Test(placement, named_servers_are_placed_by_name_not_address)
{
    /* Names of several lengths, in an order unrelated to the ports. */
    static const char *const names[] = {"zeta", "a", "server-mid", "bb"};
    static const char *const dists[] = {"ketama", "modula"};
    static const char *const hashes[] = {"fnv1a_64", "md5", "crc32a"};
    backend be[4];
    keyset ks = {0};
    pool_case pc;

    backends_start(be, 4);
    gen_mixed(&ks, 1000);
    for (size_t d = 0; d < 2; d++) {
        for (size_t h = 0; h < 3; h++) {
            case_init(&pc, dists[d], hashes[h], be, 4);
            for (size_t i = 0; i < 4; i++) {
                pc.m[i].name = names[i];
                pc.m[i].weight = (int)i + 1;
            }
            expect_same_placement(&pc, &ks);
        }
    }
    keyset_free(&ks);
    backends_free(be, 4);
}

Test(placement, port_11211_is_dropped_from_the_identity)
{
    static const char *const dists[] = {"ketama", "modula"};
    static const char *const hashes[] = {"fnv1a_64", "md5", "one_at_a_time"};
    backend be[4];
    keyset ks = {0};
    pool_case pc;
    size_t n = 3;
    harness_server *s;

    if (!harness_port_is_free(11211)) {
        cr_skip_test("127.0.0.1:11211 is in use on this machine");
    }
    s = harness_redis_start_port(11211, NULL);
    if (s == NULL) {
        cr_skip_test("could not start redis-server on 127.0.0.1:11211");
    }
    backend_start(&be[0], s);
    backends_start(be + 1, 2);
    if (harness_ipv6_available()) {
        s = harness_redis_start_host("::1", 11211, NULL);
        if (s != NULL) {
            backend_start(&be[n++], s);
        }
    }
    cr_log_info("11211 pool: %zu servers%s", n,
                n == 4 ? " (with ::1:11211)" : "");
    gen_mixed(&ks, 1000);
    for (size_t d = 0; d < 2; d++) {
        for (size_t h = 0; h < 3; h++) {
            case_init(&pc, dists[d], hashes[h], be, n);
            expect_same_placement(&pc, &ks);
        }
    }
    keyset_free(&ks);
    backends_free(be, n);
}

Test(placement, unix_socket_servers_hash_their_path_with_a_colon)
{
    static const char *const dists[] = {"ketama", "modula"};
    static const char *const hashes[] = {"fnv1a_64", "md5", "jenkins"};
    backend be[4];
    keyset ks = {0};
    pool_case pc;

    for (size_t i = 0; i < 3; i++) {
        backend_start(&be[i], harness_redis_start_unix(NULL));
    }
    backends_start(be + 3, 1);
    gen_mixed(&ks, 1000);
    for (size_t d = 0; d < 2; d++) {
        for (size_t h = 0; h < 3; h++) {
            case_init(&pc, dists[d], hashes[h], be, 4);
            pc.m[1].weight = 2;
            expect_same_placement(&pc, &ks);
        }
    }
    keyset_free(&ks);
    backends_free(be, 4);
}

Test(placement, ketama_with_25_servers_uses_156_points_like_nutcracker)
{
    static const char *const hashes[] = {"md5", "fnv1a_64"};
    backend be[25];
    keyset ks = {0};
    pool_case pc;

    backends_start(be, 25);
    gen_mixed(&ks, 2000);
    for (size_t h = 0; h < 2; h++) {
        case_init(&pc, "ketama", hashes[h], be, 25);
        expect_same_placement(&pc, &ks);
    }
    keyset_free(&ks);
    backends_free(be, 25);
}

static void
hash_tag_cases(const char *tag)
{
    static const char *const dists[] = {"ketama", "modula"};
    static const char *const hashes[] = {"crc16", "fnv1a_64", "md5", "murmur"};
    backend be[4];
    keyset ks = {0};
    pool_case pc;

    backends_start(be, 4);
    gen_tagged(&ks, tag[0], tag[1], 1000);
    for (size_t d = 0; d < 2; d++) {
        for (size_t h = 0; h < 4; h++) {
            case_init(&pc, dists[d], hashes[h], be, 4);
            pc.hash_tag = tag;
            expect_same_placement(&pc, &ks);
        }
    }
    keyset_free(&ks);
    backends_free(be, 4);
}

Test(placement, hash_tag_braces_hash_the_first_nonempty_tag_like_nutcracker)
{
    hash_tag_cases("{}");
}

Test(placement, hash_tag_with_one_char_twice_hashes_like_nutcracker)
{
    hash_tag_cases("$$");
}

Test(placement, binary_and_utf8_keys_place_like_nutcracker_for_every_hash)
{
    backend be[4];
    keyset ks = {0};
    pool_case pc;

    backends_start(be, 4);
    gen_binary(&ks, 1000);
    for (size_t h = 0; h < HASH_COUNT; h++) {
        case_init(&pc, "ketama", all_hashes[h], be, 4);
        expect_same_placement(&pc, &ks);
    }
    keyset_free(&ks);
    backends_free(be, 4);
}

Test(placement, empty_key_goes_where_hash_zero_goes_like_nutcracker)
{
    static const char *const dists[] = {"ketama", "modula"};
    backend be[4];
    keyset ks = {0};
    pool_case pc;

    backends_start(be, 4);
    keyset_add(&ks, "", 0);
    gen_mixed(&ks, 200);
    for (size_t d = 0; d < 2; d++) {
        for (size_t h = 0; h < HASH_COUNT; h++) {
            case_init(&pc, dists[d], all_hashes[h], be, 4);
            expect_same_placement(&pc, &ks);
        }
    }
    keyset_free(&ks);
    backends_free(be, 4);
}
