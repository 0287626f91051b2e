/*
 * Every command of the table, sent through a pool of three real
 * redis-servers with random and mostly malformed arguments (a fixed seed,
 * printed; SHARD_TEST_SEED overrides it): each call ends in a reply, ERROR
 * replies included, or in a failure code with a message, within a bounded
 * time, and the pool keeps answering PING and SET/GET afterwards. Also the
 * empty command, odd command names, 1,000 and 100,000 arguments, a 1 MiB
 * command name and a 1 MiB key.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shard/shard.h>

#include "command.h"
#include "harness.h"

#define NSERVERS 3
#define TIMEOUT_MS 300
#define DEFAULT_SEED 20240607ULL
#define MAX_WORDS 6       /* random argument lists hold 1..MAX_WORDS words */
#define MAX_ARITY_WORDS 8 /* lists sized by arity: GEOSEARCHSTORE needs 7 */
#define LISTS 400         /* argument lists per command */
#define BLOCKING_LISTS 2  /* per blocking command: each may take TIMEOUT_MS */
#define CHECK_EVERY 50    /* commands between SET/GET round trips */
#define CALL_LIMIT_MS 5e3 /* one call, even blocking and under ASan */
#define MIB (1u << 20)

/* One argument of the vocabulary; binary safe. */
typedef struct word {
    const char *s; /* its bytes */
    size_t len;    /* how many */
} word;

#define WORD(lit)                                                              \
    {                                                                          \
        lit, sizeof(lit) - 1                                                   \
    }

/* Keys that exist (seed_keys() writes them), keys that do not, numbers,
 * option words, the empty string and binary bytes. */
static const word vocabulary[] = {
    WORD("{a}k1"),     WORD("k2"),
    WORD("{a}list"),   WORD("{a}set"),
    WORD("{a}zset"),   WORD("{a}hash"),
    WORD("{a}stream"), WORD("{a}missing"),
    WORD("missing"),   WORD("0"),
    WORD("1"),         WORD("-1"),
    WORD("2"),         WORD("99999999999"),
    WORD("STORE"),     WORD("STREAMS"),
    WORD("LIMIT"),     WORD("WITHSCORES"),
    WORD("NX"),        WORD("BY"),
    WORD("GET"),       WORD("STOREDIST"),
    WORD("COUNT"),     WORD("$"),
    WORD("*"),         WORD(""),
    WORD("\0bin\xff"), WORD("\xff\xfe\0"),
};

#define NWORDS (sizeof(vocabulary) / sizeof(vocabulary[0]))

/* What the random commands came to, for the log line at the end. */
typedef struct fuzz_stats {
    size_t sent;       /* commands sent, checks excluded */
    size_t replies;    /* SHARD_OK with a reply other than ERROR */
    size_t errors;     /* SHARD_OK with an ERROR reply */
    size_t failures;   /* negative return codes */
    size_t timeouts;   /* of which SHARD_ETIMEDOUT */
    double slowest_ms; /* the longest call */
    char slowest[256]; /* and what it was */
} fuzz_stats;

static harness_server *servers[NSERVERS];
static shard_pool *pool;
static uint64_t seed;
static uint64_t rng_state;
static fuzz_stats stats;
static char check_keys[NSERVERS][32]; /* one key on each server */

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* splitmix64: the same sequence on every machine for the same seed. */
static uint64_t
rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t
rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

/* Appends printf output to buf (`size` bytes, `*used` of them taken);
 * output that does not fit is cut. */
static void
put(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*used + 1 >= size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, size - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = *used + (size_t)n < size ? *used + (size_t)n : size - 1;
}

/*
 * argv as a C string literal would show it, for failure messages: bytes
 * outside printable ASCII as \xNN, arguments past 32 bytes and argv past 8
 * arguments cut, with their real sizes. Valid until the next call.
 */
static const char *
describe(int argc, const char *const *argv, const size_t *len)
{
    static char buf[1024];
    size_t used = 0;

    buf[0] = '\0';
    put(buf, sizeof(buf), &used, "[argc %d]", argc);
    for (int i = 0; i < argc && i < 8; i++) {
        put(buf, sizeof(buf), &used, " \"");
        for (size_t b = 0; b < len[i] && b < 32; b++) {
            unsigned char c = (unsigned char)argv[i][b];
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                put(buf, sizeof(buf), &used, "%c", c);
            else
                put(buf, sizeof(buf), &used, "\\x%02x", c);
        }
        put(buf, sizeof(buf), &used, "\"");
        if (len[i] > 32)
            put(buf, sizeof(buf), &used, "...(%zu bytes)", len[i]);
    }
    if (argc > 8)
        put(buf, sizeof(buf), &used, " ...");
    return buf;
}

/* A reply and all it holds are well formed: a known type, NUL-terminated
 * strings, non-empty errors, every array element present. */
static void
check_reply(const shard_reply *r, int depth, const char *what)
{
    int type = shard_reply_type(r);
    const char *s;
    size_t len, n;

    cr_assert(type >= SHARD_REPLY_STRING && type <= SHARD_REPLY_ERROR,
              "%s: reply type %d", what, type);
    if (type == SHARD_REPLY_STRING || type == SHARD_REPLY_STATUS ||
        type == SHARD_REPLY_ERROR) {
        s = shard_reply_str(r, &len);
        cr_assert_not_null(s, "%s: type %d without text", what, type);
        cr_assert_eq(s[len], '\0', "%s: text not NUL-terminated", what);
        cr_assert(type != SHARD_REPLY_ERROR || len > 0, "%s: empty error",
                  what);
    } else if (type == SHARD_REPLY_ARRAY) {
        cr_assert_lt(depth, 16, "%s: arrays nested too deep", what);
        n = shard_reply_len(r);
        for (size_t i = 0; i < n; i++) {
            const shard_reply *e = shard_reply_at(r, i);
            cr_assert_not_null(e, "%s: element %zu of %zu missing", what, i, n);
            check_reply(e, depth + 1, what);
        }
        cr_assert_null(shard_reply_at(r, n), "%s: element past the end", what);
    }
}

/* Sends a command given as C strings, NULL-terminated; it must succeed
 * with a reply that is not an ERROR. */
static void
must(const char *first, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    shard_reply *r = NULL;

    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 16; a = va_arg(ap, char *))
        argv[argc++] = a;
    va_end(ap);
    int rc = shard_command_argv(pool, &r, argc, argv, NULL);
    cr_assert_eq(rc, SHARD_OK, "%s: %s", first, shard_pool_errmsg(pool));
    cr_assert_neq(shard_reply_type(r), SHARD_REPLY_ERROR, "%s: %s", first,
                  shard_reply_str(r, NULL));
    shard_reply_free(r);
}

/* (Re)writes the keys of the vocabulary; random commands change them. */
static void
seed_keys(void)
{
    must("DEL", "{a}k1", "k2", "{a}list", "{a}set", "{a}zset", "{a}hash",
         "{a}stream", "{a}missing", "missing", NULL);
    must("SET", "{a}k1", "v1", NULL);
    must("SET", "k2", "v2", NULL);
    must("RPUSH", "{a}list", "a", "b", "c", NULL);
    must("SADD", "{a}set", "a", "b", "c", NULL);
    must("ZADD", "{a}zset", "1", "a", "2", "b", NULL);
    must("HSET", "{a}hash", "f", "v", "g", "w", NULL);
    must("XADD", "{a}stream", "*", "f", "v", NULL);
}

static void
setup(void)
{
    char yaml[2048];
    int used;

    used = snprintf(yaml, sizeof(yaml),
                    "fuzz:\n  listen: 127.0.0.1:%d\n  redis: true\n"
                    "  timeout: %d\n  hash_tag: \"{}\"\n  servers:\n",
                    harness_free_port(), TIMEOUT_MS);
    for (int i = 0; i < NSERVERS; i++) {
        servers[i] = harness_redis_start(NULL);
        cr_assert_not_null(servers[i], "redis-server did not start");
        used += snprintf(yaml + used, sizeof(yaml) - (size_t)used,
                         "   - %s:1\n", servers[i]->addr);
    }
    const char *path = harness_write_file("pool.yml", yaml);
    cr_assert_eq(shard_pool_open(&pool, path, NULL, NULL), SHARD_OK, "%s",
                 shard_last_error());
    for (int s = 0; s < NSERVERS; s++) {
        check_keys[s][0] = '\0';
        for (int i = 0; i < 100000 && check_keys[s][0] == '\0'; i++) {
            char k[32];
            snprintf(k, sizeof(k), "check:%d", i);
            if (shard_pool_locate(pool, k, strlen(k)) == s)
                memcpy(check_keys[s], k, sizeof(k));
        }
        cr_assert_neq(check_keys[s][0], '\0', "no key for server %d", s);
    }
    const char *env = getenv("SHARD_TEST_SEED");
    seed = env != NULL ? strtoull(env, NULL, 0) : DEFAULT_SEED;
    rng_state = seed;
    memset(&stats, 0, sizeof(stats));
    seed_keys();
}

static void
teardown(void)
{
    shard_pool_free(pool);
    pool = NULL;
    harness_stop_all();
}

/* PING through the pool still answers PONG after `what`. */
static void
expect_pong(const char *what)
{
    const char *argv[] = {"PING"};
    shard_reply *r = NULL;
    const char *s;

    cr_assert_eq(shard_command_argv(pool, &r, 1, argv, NULL), SHARD_OK,
                 "PING after %s: %s", what, shard_pool_errmsg(pool));
    s = shard_reply_str(r, NULL);
    cr_assert(shard_reply_type(r) == SHARD_REPLY_STATUS && s != NULL &&
                  strcmp(s, "PONG") == 0,
              "PING after %s: type %d \"%s\"", what, shard_reply_type(r),
              s ? s : "");
    shard_reply_free(r);
}

/* A SET then a GET on every server still round-trip after `what`. */
static void
expect_round_trip(const char *what)
{
    char value[64];
    shard_reply *r = NULL;
    const char *s;

    snprintf(value, sizeof(value), "value:%zu", stats.sent);
    for (int i = 0; i < NSERVERS; i++) {
        const char *set[] = {"SET", check_keys[i], value};
        const char *get[] = {"GET", check_keys[i]};

        cr_assert_eq(shard_command_argv(pool, &r, 3, set, NULL), SHARD_OK,
                     "SET on server %d after %s: %s", i, what,
                     shard_pool_errmsg(pool));
        s = shard_reply_str(r, NULL);
        cr_assert(s != NULL && strcmp(s, "OK") == 0,
                  "SET on server %d after %s: \"%s\"", i, what, s ? s : "");
        shard_reply_free(r);
        cr_assert_eq(shard_command_argv(pool, &r, 2, get, NULL), SHARD_OK,
                     "GET on server %d after %s: %s", i, what,
                     shard_pool_errmsg(pool));
        s = shard_reply_str(r, NULL);
        cr_assert(s != NULL && strcmp(s, value) == 0,
                  "GET on server %d after %s: \"%s\"", i, what, s ? s : "");
        shard_reply_free(r);
    }
}

/*
 * Sends argv and checks the contract: SHARD_OK with a well-formed reply, or
 * a negative code, no reply and a message, within CALL_LIMIT_MS. Then the
 * pool must answer PING, and SET/GET after a failure and every CHECK_EVERY
 * commands. Returns the code; *out gets the reply when `out` is not NULL.
 */
static int
send_checked(int argc, const char **argv, const size_t *len, shard_reply **out)
{
    shard_reply *r = (shard_reply *)&r; /* must be overwritten */
    char what[1024];
    double start = now_ms(), took;
    int rc;

    snprintf(what, sizeof(what), "%s", describe(argc, argv, len));
    rc = shard_command_argv(pool, &r, argc, argv, len);
    took = now_ms() - start;
    stats.sent++;
    if (took > stats.slowest_ms) {
        stats.slowest_ms = took;
        snprintf(stats.slowest, sizeof(stats.slowest), "%.*s",
                 (int)sizeof(stats.slowest) - 1, what);
    }
    cr_assert_lt(took, CALL_LIMIT_MS, "%s took %.0f ms", what, took);
    if (rc == SHARD_OK) {
        cr_assert_not_null(r, "%s: SHARD_OK without a reply", what);
        cr_assert_neq((void *)r, (void *)&r, "%s: *out not set", what);
        check_reply(r, 0, what);
        if (shard_reply_type(r) == SHARD_REPLY_ERROR)
            stats.errors++;
        else
            stats.replies++;
    } else {
        const char *msg = shard_pool_errmsg(pool);
        cr_assert_lt(rc, 0, "%s: return code %d", what, rc);
        cr_assert_null(r, "%s: code %d with a reply", what, rc);
        cr_assert(msg != NULL && msg[0] != '\0',
                  "%s: code %d (%s) with an empty shard_pool_errmsg()", what,
                  rc, shard_strerror(rc));
        stats.failures++;
        stats.timeouts += rc == SHARD_ETIMEDOUT;
        expect_round_trip(what);
    }
    if (out != NULL)
        *out = r;
    else
        shard_reply_free(r);
    expect_pong(what);
    if (stats.sent % CHECK_EVERY == 0) {
        expect_round_trip(what);
        seed_keys();
    }
    return rc;
}

/* `len` bytes of `src` into dst, each ASCII letter in a random case. */
static void
random_case(char *dst, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c >= 'a' && c <= 'z' && (rng_next() & 1))
            c = (char)(c - 'a' + 'A');
        dst[i] = c;
    }
    dst[len] = '\0';
}

/* How many words make argv as long as `ci`'s arity asks (at least 1). */
static int
arity_words(const command_info *ci, int prefix)
{
    int n = (ci->arity < 0 ? -ci->arity : ci->arity) - prefix;

    return n < 1 ? 1 : n;
}

/*
 * Sends `name` (then `sub`, for a subcommand of a container) with LISTS
 * argument lists, BLOCKING_LISTS for blocking ones: no words, then as many
 * as the arity asks, then half of them that many plus 0..2 (to get past the
 * arity check) and half 1..MAX_WORDS; words and the name's case random.
 */
static void
fuzz_command(const command_info *ci, const char *name, size_t namelen,
             const char *sub)
{
    int lists = (ci->flags & CMD_F_BLOCKING) ? BLOCKING_LISTS : LISTS;
    int prefix = sub != NULL ? 2 : 1;
    size_t sublen = sub != NULL ? strlen(sub) : 0;
    char namebuf[64], subbuf[64];
    const char *argv[2 + MAX_ARITY_WORDS];
    size_t len[2 + MAX_ARITY_WORDS];

    cr_assert(namelen < sizeof(namebuf) && sublen < sizeof(subbuf));
    for (int l = 0; l < lists; l++) {
        int argc = 0;
        int words = l == 0 ? 0 : arity_words(ci, prefix);

        if (l >= 2 && rng_below(2) == 0)
            words += (int)rng_below(3);
        else if (l >= 2)
            words = 1 + (int)rng_below(MAX_WORDS);
        words = words > MAX_ARITY_WORDS ? MAX_ARITY_WORDS : words;

        random_case(namebuf, name, namelen);
        argv[argc] = namebuf;
        len[argc++] = namelen;
        if (sub != NULL) {
            random_case(subbuf, sub, sublen);
            argv[argc] = subbuf;
            len[argc++] = sublen;
        }
        for (int w = 0; w < words; w++) {
            const word *v = &vocabulary[rng_below(NWORDS)];
            argv[argc] = v->s;
            len[argc++] = v->len;
        }
        send_checked(argc, argv, len, NULL);
    }
}

TestSuite(random_commands, .init = setup, .fini = teardown, .timeout = 300);

Test(random_commands, every_command_with_random_arguments_leaves_pool_usable)
{
    double start = now_ms();
    size_t names = 0;

    fprintf(stderr,
            "random_commands: seed %llu (SHARD_TEST_SEED=n for another)\n",
            (unsigned long long)seed);

    for (size_t i = 0; i < command_count(); i++) {
        const command_info *ci = command_at(i);

        fuzz_command(ci, ci->name, strlen(ci->name), NULL);
        names++;
        for (size_t j = 0; j < ci->nsubs; j++) {
            const command_info *sc = &ci->subs[j];
            const char *bar = strchr(sc->name, '|');

            cr_assert_not_null(bar, "subcommand '%s' has no '|'", sc->name);
            fuzz_command(sc, sc->name, (size_t)(bar - sc->name), bar + 1);
            names++;
        }
    }
    expect_round_trip("the last random command");
    fprintf(stderr,
            "random_commands: seed %llu: %zu commands over %zu names in "
            "%.1f s: %zu replies, %zu ERROR replies, %zu failures "
            "(%zu timeouts); slowest %.0f ms: %s\n",
            (unsigned long long)seed, stats.sent, names,
            (now_ms() - start) / 1e3, stats.replies, stats.errors,
            stats.failures, stats.timeouts, stats.slowest_ms, stats.slowest);
    cr_expect_gt(stats.replies, 0);
    cr_expect_gt(stats.errors, 0);
}

Test(random_commands, empty_argv_gets_an_error_reply)
{
    const char *argv[] = {"GET", "x"};
    shard_reply *r;

    cr_assert_eq(send_checked(0, NULL, NULL, &r), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    shard_reply_free(r);
    /* argc 0 with an argv that is not read */
    cr_assert_eq(send_checked(0, argv, NULL, &r), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    shard_reply_free(r);
    expect_round_trip("argc 0");
}

Test(random_commands, odd_command_names_get_error_replies)
{
    static const word names[] = {
        WORD(""),
        WORD("\0"),
        WORD("get\0"),
        WORD("GET "),
        WORD(" get"),
        WORD("\xff"),
        WORD("object|encoding"),
        WORD("xinfo|help"),
        WORD("memory|usage"),
        WORD("|"),
        WORD("object|"),
        WORD("pingx"),
    };
    shard_reply *r;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        for (int words = 0; words < 3; words++) {
            const char *argv[3] = {names[i].s, "{a}k1", "x"};
            size_t len[3] = {names[i].len, 5, 1};

            cr_assert_eq(send_checked(1 + words, argv, len, &r), SHARD_OK,
                         "%s: %s", describe(1 + words, argv, len),
                         shard_pool_errmsg(pool));
            cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR, "%s",
                         describe(1 + words, argv, len));
            shard_reply_free(r);
        }
    }
}

/* `n` arguments after `name`: keys "<tag>r<number>", and for an untagged
 * argv also a word of the vocabulary one time in eight. Frees nothing:
 * free_argv() does. */
static const char **
random_argv(const char *name, int n, const char *tag, size_t **lens)
{
    const char **argv = malloc((size_t)(n + 1) * sizeof(*argv));
    size_t *len = malloc((size_t)(n + 1) * sizeof(*len));

    cr_assert(argv != NULL && len != NULL);
    argv[0] = name;
    len[0] = strlen(name);
    for (int i = 1; i <= n; i++) {
        if (tag[0] == '\0' && rng_below(8) == 0) {
            const word *v = &vocabulary[rng_below(NWORDS)];
            char *copy = malloc(v->len + 1);
            cr_assert_not_null(copy);
            memcpy(copy, v->s, v->len + 1);
            argv[i] = copy;
            len[i] = v->len;
        } else {
            char k[48];
            int w = snprintf(k, sizeof(k), "%sr%llu", tag,
                             (unsigned long long)rng_below(1000000));
            argv[i] = strdup(k);
            cr_assert_not_null(argv[i]);
            len[i] = (size_t)w;
        }
    }
    *lens = len;
    return argv;
}

static void
free_argv(const char **argv, size_t *len, int n)
{
    for (int i = 1; i <= n; i++)
        free((void *)argv[i]);
    free(argv);
    free(len);
}

/* MGET of `n` random keys over every server: one value per key, or a
 * failure code with a message (a timeout, say). */
static void
big_mget(int n)
{
    size_t *len;
    const char **argv = random_argv("MGET", n, "", &len);
    shard_reply *r;

    if (send_checked(n + 1, argv, len, &r) == SHARD_OK) {
        cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "MGET of %d", n);
        cr_expect_eq(shard_reply_len(r), (size_t)n, "MGET of %d", n);
    } else {
        fprintf(stderr, "random_commands: MGET of %d keys failed: %s\n", n,
                shard_pool_errmsg(pool));
    }
    shard_reply_free(r);
    free_argv(argv, len, n);
}

/* SUNION of `n` random keys: refused by libshard when they spread over the
 * servers, answered by the one server of `tag` otherwise. */
static void
big_sunion(int n, const char *tag)
{
    size_t *len;
    const char **argv = random_argv("SUNION", n, tag, &len);
    shard_reply *r;
    const char *s;

    if (send_checked(n + 1, argv, len, &r) != SHARD_OK) {
        cr_expect(tag[0] != '\0', "spread SUNION of %d: %s", n,
                  shard_pool_errmsg(pool));
        fprintf(stderr,
                "random_commands: SUNION of %d keys tagged %s failed: %s\n", n,
                tag, shard_pool_errmsg(pool));
    } else if (tag[0] == '\0') {
        s = shard_reply_str(r, NULL);
        cr_expect(shard_reply_type(r) == SHARD_REPLY_ERROR && s != NULL &&
                      strstr(s, "several servers") != NULL,
                  "spread SUNION of %d: type %d \"%s\"", n, shard_reply_type(r),
                  s ? s : "");
    } else {
        cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ARRAY, "SUNION of %d", n);
    }
    shard_reply_free(r);
    free_argv(argv, len, n);
}

Test(random_commands, thousands_of_arguments_are_answered)
{
    static const int counts[] = {1000, 100000};

    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        big_mget(counts[i]);
        big_sunion(counts[i], "");
        big_sunion(counts[i], "{a}");
    }
    expect_round_trip("the big argv");
}

/* `n` random bytes, letters only when `letters`. */
static char *
random_bytes(size_t n, bool letters)
{
    char *b = malloc(n);

    cr_assert_not_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = letters ? (char)('a' + rng_below(26)) : (char)rng_next();
    return b;
}

Test(random_commands, mebibyte_command_name_and_key_are_answered)
{
    char *name = random_bytes(MIB, true);
    char *key = random_bytes(MIB, false);
    shard_reply *r;
    const char *s;

    const char *unknown[] = {name, "{a}k1"};
    size_t unknown_len[] = {MIB, 5};
    cr_assert_eq(send_checked(2, unknown, unknown_len, &r), SHARD_OK);
    s = shard_reply_str(r, NULL);
    cr_expect(shard_reply_type(r) == SHARD_REPLY_ERROR && s != NULL &&
                  strstr(s, "unknown command") != NULL,
              "1 MiB name: type %d \"%s\"", shard_reply_type(r), s ? s : "");
    cr_expect_lt(strlen(s != NULL ? s : ""), 1024, "the error echoes it all");
    shard_reply_free(r);

    /* a 1 MiB subcommand of a container */
    const char *object[] = {"OBJECT", name, "{a}k1"};
    size_t object_len[] = {6, MIB, 5};
    cr_assert_eq(send_checked(3, object, object_len, &r), SHARD_OK);
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_ERROR);
    shard_reply_free(r);

    const char *get[] = {"GET", key};
    size_t get_len[] = {3, MIB};
    cr_assert_eq(send_checked(2, get, get_len, &r), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL);
    shard_reply_free(r);

    const char *set[] = {"SET", key, "big-key"};
    size_t set_len[] = {3, MIB, 7};
    cr_assert_eq(send_checked(3, set, set_len, &r), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    shard_reply_free(r);
    cr_assert_eq(send_checked(2, get, get_len, &r), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    s = shard_reply_str(r, NULL);
    cr_expect(s != NULL && strcmp(s, "big-key") == 0, "GET of a 1 MiB key");
    shard_reply_free(r);
    expect_round_trip("the 1 MiB arguments");
    free(name);
    free(key);
}

/* Splits `line` on single spaces into argv (room for 16), in `buf`. */
static int
split_line(const char *line, char *buf, size_t size, const char **argv,
           size_t *len)
{
    size_t n = strlen(line);
    int argc = 0;

    cr_assert_lt(n, size);
    memcpy(buf, line, n + 1);
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == ' ') {
            buf[i] = '\0';
        } else if (i == 0 || buf[i - 1] == '\0') {
            cr_assert_lt(argc, 16, "%s: too many arguments", line);
            argv[argc++] = &buf[i];
        }
    }
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    return argc;
}

Test(random_commands, blocking_commands_that_block_time_out_cleanly)
{
    /* Each blocks on the server past the pool's timeout, or (the 0.29 and
     * 0.3 seconds ones) ends on the server just as the pool gives up. */
    static const char *const lines[] = {
        "BLPOP {a}missing 0",
        "BRPOP {a}missing {a}other 0",
        "BLPOP {a}missing 0.29",
        "BRPOP {a}missing 0.3",
        "BLMOVE {a}missing {a}dst LEFT RIGHT 0",
        "BRPOPLPUSH {a}missing {a}dst 1",
        "BLMPOP 0 2 {a}missing {a}other LEFT COUNT 2",
        "BZPOPMIN {a}missing 0",
        "BZPOPMAX {a}missing 0.3",
        "BZMPOP 0 1 {a}missing MIN",
        "XREAD BLOCK 0 STREAMS {a}stream $",
        "XREAD COUNT 1 BLOCK 290 STREAMS {a}stream {a}missing $ $",
        "XREADGROUP GROUP g c BLOCK 0 STREAMS {a}stream >",
    };
    char buf[256];
    const char *argv[16];
    size_t len[16];
    shard_reply *r;
    size_t blocked = 0;

    must("XGROUP", "CREATE", "{a}stream", "g", "$", NULL);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        int argc = split_line(lines[i], buf, sizeof(buf), argv, len);
        int rc = send_checked(argc, argv, len, &r);

        if (rc == SHARD_OK) {
            /* the server's own timeout won the race: a nil reply */
            cr_expect_eq(shard_reply_type(r), SHARD_REPLY_NIL, "%s: type %d",
                         lines[i], shard_reply_type(r));
            shard_reply_free(r);
        } else {
            cr_expect_eq(rc, SHARD_ETIMEDOUT, "%s: %s", lines[i],
                         shard_pool_errmsg(pool));
            blocked++;
        }
    }
    fprintf(stderr, "random_commands: %zu of %zu blocking commands timed out\n",
            blocked, sizeof(lines) / sizeof(lines[0]));
    cr_expect_geq(blocked, 9, "only %zu commands timed out", blocked);
    /* No abandoned BLPOP/BLMOVE is left on the server to take these. */
    must("RPUSH", "{a}missing", "1", "2", "3", "4", "5", "6", "7", "8", NULL);
    const char *llen[] = {"LLEN", "{a}missing"};
    cr_assert_eq(shard_command_argv(pool, &r, 2, llen, NULL), SHARD_OK);
    cr_expect_eq(shard_reply_integer(r), 8, "a timed-out command popped %lld",
                 8 - shard_reply_integer(r));
    shard_reply_free(r);
    expect_round_trip("the blocking commands");
}
