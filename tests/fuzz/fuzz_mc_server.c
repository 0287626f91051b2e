/*
 * The memcached servers of the mc harness (fuzz_mc.c), at libmemcached's
 * calls: every call of mc_exec.c that talks to a server or reads what one
 * said is replaced at link time (--wrap, tests/fuzz/meson.build), and the
 * script (the input's bytes after its commands) says what each server
 * does: answers right, with a miss, a stray or wrong item, its own error,
 * or fails (refused, timed out, closed). What is sent is checked here:
 * keys valid and on their server, values within the item size the server
 * told, one thread at a time, no command with a reply unread.
 */
#include <errno.h>
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_mc.h"
#include "mc_command.h"

fuzz_mc_script script;

static int in_servers; /* threads inside a call (atomic) */

/* --- the servers' data ---------------------------------------------------- */

/* A key the servers hold: most do, some are misses. */
bool
fuzz_mc_stored(const char *key, size_t len)
{
    unsigned sum = 0;

    for (size_t i = 0; i < len; i++)
        sum += (unsigned char)key[i];
    return sum % 4 != 0;
}

uint32_t
fuzz_mc_flags_of(size_t len)
{
    return (uint32_t)len * 7;
}

uint64_t
fuzz_mc_cas_of(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return h;
}

/* memcached's rule for keys, written apart from mc_command.c's. */
bool
fuzz_mc_valid_key(const char *key, size_t len)
{
    if (len == 0 || len > 250)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)key[i];
        if (b <= ' ' || b == 0x7f)
            return false;
    }
    return true;
}

/* --- the fake servers ----------------------------------------------------- */

/* An item handed out by fetch_result, for the result accessors. */
typedef struct fake_item {
    char key[300];  /* its key */
    size_t klen;    /* its length */
    char *value;    /* its value (allocated) */
    size_t vlen;    /* its length */
    uint32_t flags; /* its flags */
    uint64_t cas;   /* its cas unique */
} fake_item;

/* One server as its link sees it. */
typedef struct fake_server {
    fake_item item;    /* the item its last fetch handed out */
    bool pending;      /* a get was sent, its reply not read */
    char *keys;        /* that get's keys, back to back */
    size_t *klens;     /* their lengths */
    size_t nkeys;      /* how many */
    size_t cursor;     /* the next one to answer */
    size_t found;      /* items given so far */
    uint64_t item_max; /* the item size the link learned (0: none) */
    bool no_cas;       /* the server said it keeps no cas */
    char errmsg[300];  /* libmemcached's last error message */
    int err_errno;     /* and its errno */
    int users;         /* threads inside a call on it (atomic) */
} fake_server;

static fake_server servers[FUZZ_MC_MAX_SERVERS];

/* The item of the last fetch: only one thread talks to servers at once,
 * and reads it right after. */
static fake_item *item;

/* The server of a link, by its port: its index in the pool (the config
 * sorts the servers). */
static fake_server *
server_of(const memcached_st *memc)
{
    const memcached_instance_st *in =
        memcached_server_instance_by_position(memc, 0);
    int port;

    FUZZ_CHECK(in != NULL && script.pool != NULL, "a link without a server");
    port = (int)memcached_server_port(in);
    for (size_t i = 0; i < script.pool->conf->server_count; i++) {
        if (script.pool->servers[i].target.port == port)
            return &servers[i];
    }
    fuzz_fail(__FILE__, __LINE__, "port", "no server has port %d", port);
}

static int
index_of(const fake_server *s)
{
    return (int)(s - servers);
}

bool
fuzz_mc_on_main(void)
{
    return pthread_equal(pthread_self(), script.main_thread) != 0;
}

/*
 * A call on a link begins: one thread at a time talks to servers (the
 * worker, or the caller while the worker is idle). `fresh`: a new command,
 * which must not be sent while a get's reply is unread.
 */
static fake_server *
enter(const memcached_st *memc, bool fresh)
{
    fake_server *s = server_of(memc);

    FUZZ_CHECK(__atomic_add_fetch(&in_servers, 1, __ATOMIC_ACQ_REL) == 1,
               "two threads talk to servers at once (server %d)", index_of(s));
    FUZZ_CHECK(__atomic_add_fetch(&s->users, 1, __ATOMIC_ACQ_REL) == 1,
               "two threads on the link of server %d", index_of(s));
    FUZZ_CHECK(!fresh || !s->pending,
               "a command sent to server %d with a get's reply unread",
               index_of(s));
    if (fuzz_mc_on_main())
        script.main_calls++;
    return s;
}

static void
leave(fake_server *s)
{
    __atomic_sub_fetch(&s->users, 1, __ATOMIC_ACQ_REL);
    __atomic_sub_fetch(&in_servers, 1, __ATOMIC_ACQ_REL);
}

/* A key sent to server `s`: valid, and (while the ring is the one the
 * command was routed on) its home, a live server. The worker's sends
 * (retries) are not placed here: the ring is the main thread's. */
static void
check_key(const fake_server *s, const char *key, size_t len)
{
    int at;

    FUZZ_CHECK(fuzz_mc_valid_key(key, len), "an invalid key of %zu bytes sent",
               len);
    if (!fuzz_mc_on_main() || script.ring_changes != script.routed_at)
        return;
    FUZZ_CHECK(script.pool->servers[index_of(s)].live,
               "sent to ejected server %d", index_of(s));
    at = pool_locate(script.pool, key, len);
    FUZZ_CHECK(at == index_of(s), "key of %zu bytes lives on %d, sent to %d",
               len, at, index_of(s));
}

/* Up to `max` bytes of the script, without NULs. */
static size_t
script_text(char *buf, size_t max)
{
    size_t n = fuzz_byte(&script.answers) % (max + 1);

    for (size_t i = 0; i < n; i++) {
        uint8_t b = fuzz_byte(&script.answers);
        buf[i] = (char)(b ? b : '?');
    }
    return n;
}

/* libmemcached's message for an error: "(0x...) WHAT, text,  host: ...
 * -> file:line", or bytes of the script. */
static void
set_error(fake_server *s, const char *what, const char *text, int err)
{
    char raw[64];
    size_t n;

    s->err_errno = err;
    if (fuzz_byte(&script.answers) % 4 != 3) {
        snprintf(s->errmsg, sizeof(s->errmsg),
                 "(0x55d0c0de) %s, %s,  host: 127.0.0.1:%d -> "
                 "libmemcached/response.cc:123",
                 what, text, script.pool->servers[index_of(s)].target.port);
        return;
    }
    n = script_text(raw, sizeof(raw) - 1);
    raw[n] = '\0';
    snprintf(s->errmsg, sizeof(s->errmsg), "%s", raw);
}

/* A failure, as libmemcached reports it. */
static memcached_return_t
failure(fake_server *s)
{
    uint8_t kind = fuzz_byte(&script.answers);
    memcached_return_t rc;
    char text[64];
    size_t n;

    script.all_right = false;
    switch (kind % 8) {
    case 0:
        set_error(s, "CONNECTION FAILURE", "Connection refused", ECONNREFUSED);
        return MEMCACHED_CONNECTION_FAILURE;
    case 1:
        set_error(s, "A TIMEOUT OCCURRED", "poll() timed out", 0);
        return MEMCACHED_TIMEOUT;
    case 2:
        set_error(s, "CONNECTION FAILURE", "server has disconnected", 0);
        return MEMCACHED_CONNECTION_FAILURE;
    case 3:
        set_error(s, "WRITE FAILURE", "Broken pipe", EPIPE);
        return MEMCACHED_WRITE_FAILURE;
    case 4:
        set_error(s, "SYSTEM ERROR", "errno", fuzz_byte(&script.answers));
        return MEMCACHED_ERRNO;
    case 5:
    case 6:
        n = script_text(text, sizeof(text) - 1);
        text[n] = '\0';
        set_error(s, kind % 8 == 5 ? "SERVER ERROR" : "CLIENT ERROR", text, 0);
        return kind % 8 == 5 ? MEMCACHED_SERVER_ERROR : MEMCACHED_CLIENT_ERROR;
    default:
        set_error(s, "SOME ERROR", "scripted",
                  (int)fuzz_byte(&script.answers) - 128);
        rc = (memcached_return_t)(fuzz_byte(&script.answers) %
                                  MEMCACHED_MAXIMUM_RETURN);
        return rc == MEMCACHED_SUCCESS ? MEMCACHED_FAILURE : rc;
    }
}

/* --- libmemcached, replaced ----------------------------------------------- */

memcached_return_t __wrap_memcached_stat_execute(memcached_st *memc,
                                                 const char *args,
                                                 memcached_stat_fn fn,
                                                 void *context);
memcached_return_t __wrap_memcached_mget(memcached_st *memc,
                                         const char *const *keys,
                                         const size_t *lens, size_t n);
memcached_result_st *__wrap_memcached_fetch_result(memcached_st *memc,
                                                   memcached_result_st *result,
                                                   memcached_return_t *error);
memcached_return_t __wrap_memcached_set(memcached_st *, const char *, size_t,
                                        const char *, size_t, time_t, uint32_t);
memcached_return_t __wrap_memcached_add(memcached_st *, const char *, size_t,
                                        const char *, size_t, time_t, uint32_t);
memcached_return_t __wrap_memcached_replace(memcached_st *, const char *,
                                            size_t, const char *, size_t,
                                            time_t, uint32_t);
memcached_return_t __wrap_memcached_append(memcached_st *, const char *, size_t,
                                           const char *, size_t, time_t,
                                           uint32_t);
memcached_return_t __wrap_memcached_prepend(memcached_st *, const char *,
                                            size_t, const char *, size_t,
                                            time_t, uint32_t);
memcached_return_t __wrap_memcached_cas(memcached_st *, const char *, size_t,
                                        const char *, size_t, time_t, uint32_t,
                                        uint64_t);
memcached_return_t __wrap_memcached_increment_by_key(memcached_st *,
                                                     const char *, size_t,
                                                     const char *, size_t,
                                                     uint64_t, uint64_t *);
memcached_return_t __wrap_memcached_decrement_by_key(memcached_st *,
                                                     const char *, size_t,
                                                     const char *, size_t,
                                                     uint64_t, uint64_t *);
memcached_return_t __wrap_memcached_touch(memcached_st *, const char *, size_t,
                                          time_t);
memcached_return_t __wrap_memcached_delete(memcached_st *, const char *, size_t,
                                           time_t);
void __wrap_memcached_quit(memcached_st *memc);
const char *__wrap_memcached_last_error_message(const memcached_st *memc);
int __wrap_memcached_last_error_errno(const memcached_st *memc);
const char *__wrap_memcached_result_key_value(const memcached_result_st *r);
size_t __wrap_memcached_result_key_length(const memcached_result_st *r);
const char *__wrap_memcached_result_value(const memcached_result_st *r);
size_t __wrap_memcached_result_length(const memcached_result_st *r);
uint32_t __wrap_memcached_result_flags(const memcached_result_st *r);
uint64_t __wrap_memcached_result_cas(const memcached_result_st *r);

/* One setting given to the callback, and learned as mc_exec.c learns it
 * (so that the harness knows the item size the link believes). */
static memcached_return_t
give_setting(fake_server *s, memcached_stat_fn fn, void *context,
             const char *key, size_t klen, const char *value, size_t vlen)
{
    if (klen == 13 && memcmp(key, "item_size_max", 13) == 0)
        s->item_max = strtoull(value, NULL, 10);
    else if (klen == 11 && memcmp(key, "cas_enabled", 11) == 0)
        s->no_cas = vlen == 2 && value[0] == 'n';
    return fn(NULL, key, klen, value, vlen, context);
}

/* `stats settings`: the connect's first exchange and the probe. */
memcached_return_t
__wrap_memcached_stat_execute(memcached_st *memc, const char *args,
                              memcached_stat_fn fn, void *context)
{
    static const char *const keys[] = {"item_size_max", "cas_enabled",
                                       "maxconns", "item_size_max"};
    fake_server *s = enter(memc, true);
    uint8_t kind = fuzz_byte(&script.answers) % 16;
    char value[40], key[40];
    memcached_return_t rc = MEMCACHED_SUCCESS;

    FUZZ_CHECK(strcmp(args, "settings") == 0, "stats %s", args);
    if (kind < 8) {
        give_setting(s, fn, context, "item_size_max", 13, "1048576", 7);
        give_setting(s, fn, context, "cas_enabled", 11, "yes", 3);
    } else if (kind == 8) {
        /* Another server's settings: a small item size, no cas. */
        snprintf(value, sizeof(value), "%u",
                 (unsigned)fuzz_byte(&script.answers) * 16 +
                     (unsigned)fuzz_byte(&script.answers));
        give_setting(s, fn, context, "item_size_max", 13, value, strlen(value));
        const char *cas = fuzz_byte(&script.answers) & 1 ? "no" : "yes";
        give_setting(s, fn, context, "cas_enabled", 11, cas, strlen(cas));
    } else if (kind <= 10) {
        /* Whatever the server says. */
        size_t n = script_text(value, sizeof(value) - 1);
        value[n] = '\0';
        const char *k = keys[fuzz_byte(&script.answers) % 4];
        if (kind == 10) {
            size_t kn = script_text(key, sizeof(key) - 1);
            key[kn] = '\0';
            k = key;
        }
        give_setting(s, fn, context, k, strlen(k), value, n);
    } else if (kind > 11) {
        rc = failure(s);
    }
    leave(s);
    return rc;
}

memcached_return_t
__wrap_memcached_mget(memcached_st *memc, const char *const *keys,
                      const size_t *lens, size_t n)
{
    fake_server *s = enter(memc, true);
    size_t bytes = 0;
    char *p;
    memcached_return_t rc = MEMCACHED_SUCCESS;

    script.data_calls++;
    FUZZ_CHECK(n > 0, "a get without keys");
    for (size_t i = 0; i < n; i++) {
        check_key(s, keys[i], lens[i]);
        bytes += lens[i];
    }
    if (fuzz_byte(&script.answers) % 8 >= 6) {
        rc = failure(s);
        leave(s);
        return rc;
    }
    free(s->keys);
    free(s->klens);
    s->keys = malloc(bytes);
    s->klens = malloc(n * sizeof(*s->klens));
    FUZZ_CHECK(s->keys != NULL && s->klens != NULL, "%zu keys", n);
    p = s->keys;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, keys[i], lens[i]);
        s->klens[i] = lens[i];
        p += lens[i];
    }
    s->nkeys = n;
    s->cursor = 0;
    s->found = 0;
    s->pending = true;
    leave(s);
    return rc;
}

/* Key `i` of the pending get. */
static const char *
pending_key(const fake_server *s, size_t i, size_t *len)
{
    const char *p = s->keys;

    for (size_t j = 0; j < i; j++)
        p += s->klens[j];
    *len = s->klens[i];
    return p;
}

/* The item handed out next: `key` with `value` (`vlen` bytes). */
static memcached_result_st *
give_item(fake_server *s, memcached_result_st *result, const char *key,
          size_t klen, const char *prefix, const char *value, size_t vlen)
{
    size_t plen = strlen(prefix);

    item = &s->item;
    klen = klen < sizeof(item->key) ? klen : sizeof(item->key);
    memcpy(item->key, key, klen);
    item->klen = klen;
    free(item->value);
    item->value = malloc(plen + vlen + 1);
    FUZZ_CHECK(item->value != NULL, "value of %zu bytes", vlen);
    memcpy(item->value, prefix, plen);
    memcpy(item->value + plen, value, vlen);
    item->vlen = plen + vlen;
    item->value[item->vlen] = '\0';
    item->flags = fuzz_mc_flags_of(klen);
    item->cas = fuzz_mc_cas_of(key, klen);
    s->found++;
    return result;
}

/* The next key the server holds, from the cursor on; false at the end. */
static bool
next_stored(fake_server *s, const char **key, size_t *len)
{
    while (s->cursor < s->nkeys) {
        *key = pending_key(s, s->cursor++, len);
        if (fuzz_mc_stored(*key, *len))
            return true;
    }
    return false;
}

/* The reply ends: END, or a failure. */
static memcached_result_st *
end_fetch(fake_server *s, memcached_return_t rc, memcached_return_t *error)
{
    s->pending = false;
    *error = rc;
    return NULL;
}

/* A right item: "v:" and its key. */
static memcached_result_st *
right_item(fake_server *s, memcached_result_st *result,
           memcached_return_t *error)
{
    const char *key;
    size_t len;

    if (!next_stored(s, &key, &len))
        return end_fetch(s, s->found ? MEMCACHED_END : MEMCACHED_NOTFOUND,
                         error);
    *error = MEMCACHED_SUCCESS;
    return give_item(s, result, key, len, "v:", key, len);
}

/* A wrong item: a key not asked for, a key again or out of order, a key
 * with another value (of any size), a value skipped. */
static memcached_result_st *
wrong_item(fake_server *s, memcached_result_st *result, uint8_t kind,
           memcached_return_t *error)
{
    char text[64], *value;
    const char *key;
    size_t len, n;
    memcached_result_st *r;

    script.all_right = false;
    *error = MEMCACHED_SUCCESS;
    switch (kind) {
    case 8: /* an item the server lost */
        (void)next_stored(s, &key, &len);
        return right_item(s, result, error);
    case 9: /* a key nobody asked for */
        n = script_text(text, sizeof(text) - 1);
        return give_item(s, result, text, n, "v:", text, n);
    case 10: /* any key of the get, again or early */
        key = pending_key(s, fuzz_byte(&script.answers) % s->nkeys, &len);
        return give_item(s, result, key, len, "v:", key, len);
    default: /* another value: "w:key:" then any bytes, of any size */
        if (!next_stored(s, &key, &len))
            return end_fetch(s, MEMCACHED_END, error);
        n = (size_t)fuzz_byte(&script.answers) * fuzz_byte(&script.answers) * 4;
        value = malloc(len + 2 + n);
        FUZZ_CHECK(value != NULL, "value of %zu bytes", n);
        memcpy(value, key, len);
        value[len] = ':';
        memset(value + len + 1, fuzz_byte(&script.answers), n + 1);
        r = give_item(s, result, key, len, "w:", value, len + 1 + n);
        free(value);
        item->flags = (uint32_t)fuzz_u64(&script.answers);
        item->cas = fuzz_u64(&script.answers);
        return r;
    }
}

memcached_result_st *
__wrap_memcached_fetch_result(memcached_st *memc, memcached_result_st *result,
                              memcached_return_t *error)
{
    fake_server *s = enter(memc, false);
    uint8_t kind = fuzz_byte(&script.answers) % 16;
    memcached_result_st *r;

    FUZZ_CHECK(s->pending, "a reply read from server %d that was not asked",
               index_of(s));
    FUZZ_CHECK(result != NULL, "libshard reads into its own result");
    if (kind < 8)
        r = right_item(s, result, error);
    else if (kind < 12)
        r = wrong_item(s, result, kind, error);
    else if (kind == 12) {
        script.all_right = script.all_right && s->cursor == s->nkeys;
        r = end_fetch(s, MEMCACHED_END, error);
    } else
        r = end_fetch(s, failure(s), error);
    leave(s);
    return r;
}

const char *
__wrap_memcached_result_key_value(const memcached_result_st *r)
{
    (void)r;
    return item->key;
}

size_t
__wrap_memcached_result_key_length(const memcached_result_st *r)
{
    (void)r;
    return item->klen;
}

const char *
__wrap_memcached_result_value(const memcached_result_st *r)
{
    (void)r;
    return item->value;
}

size_t
__wrap_memcached_result_length(const memcached_result_st *r)
{
    (void)r;
    return item->vlen;
}

uint32_t
__wrap_memcached_result_flags(const memcached_result_st *r)
{
    (void)r;
    return item->flags;
}

uint64_t
__wrap_memcached_result_cas(const memcached_result_st *r)
{
    (void)r;
    return item->cas;
}

/* A store: its key and value are one pair of the command, its value fits
 * the item size the server told, its numbers are the command's. */
static memcached_return_t
store(memcached_st *memc, const char *key, size_t klen, const char *value,
      size_t vlen, time_t exptime, uint32_t flags)
{
    fake_server *s = enter(memc, true);
    uint64_t item_max = s->item_max ? s->item_max : MC_DEFAULT_ITEM_MAX;
    size_t max = mc_value_max(item_max, !s->no_cas, klen, flags);
    bool pair = false;
    uint8_t kind;
    memcached_return_t rc;

    script.data_calls++;
    check_key(s, key, klen);
    FUZZ_CHECK(vlen <= max, "a value of %zu bytes sent to server %d (%zu fit)",
               vlen, index_of(s), max);
    FUZZ_CHECK(flags == script.expected.flags, "flags %u for %u", flags,
               script.expected.flags);
    FUZZ_CHECK(script.expected.exptime < 0 ||
                   (int64_t)exptime == script.expected.exptime,
               "exptime %lld for %lld", (long long)exptime,
               (long long)script.expected.exptime);
    for (size_t i = 0; i < script.expected.n && !pair; i++)
        pair = script.expected.klens[i] == klen &&
               script.expected.vlens[i] == vlen &&
               memcmp(script.expected.keys[i], key, klen) == 0 &&
               memcmp(script.expected.values[i], value, vlen) == 0;
    FUZZ_CHECK(pair, "a key and value the command does not hold");
    kind = fuzz_byte(&script.answers) % 16;
    if (kind >= 6)
        script.all_right = false;
    static const memcached_return_t words[] = {
        MEMCACHED_NOTSTORED,
        MEMCACHED_DATA_EXISTS,
        MEMCACHED_NOTFOUND,
        MEMCACHED_E2BIG,
        MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE,
        MEMCACHED_ERROR};
    if (kind < 6)
        rc = kind & 1 ? MEMCACHED_STORED : MEMCACHED_SUCCESS;
    else if (kind < 12)
        rc = words[kind - 6];
    else
        rc = failure(s);
    leave(s);
    return rc;
}

memcached_return_t
__wrap_memcached_set(memcached_st *m, const char *k, size_t kl, const char *v,
                     size_t vl, time_t e, uint32_t f)
{
    return store(m, k, kl, v, vl, e, f);
}

memcached_return_t
__wrap_memcached_add(memcached_st *m, const char *k, size_t kl, const char *v,
                     size_t vl, time_t e, uint32_t f)
{
    return store(m, k, kl, v, vl, e, f);
}

memcached_return_t
__wrap_memcached_replace(memcached_st *m, const char *k, size_t kl,
                         const char *v, size_t vl, time_t e, uint32_t f)
{
    return store(m, k, kl, v, vl, e, f);
}

memcached_return_t
__wrap_memcached_append(memcached_st *m, const char *k, size_t kl,
                        const char *v, size_t vl, time_t e, uint32_t f)
{
    return store(m, k, kl, v, vl, e, f);
}

memcached_return_t
__wrap_memcached_prepend(memcached_st *m, const char *k, size_t kl,
                         const char *v, size_t vl, time_t e, uint32_t f)
{
    return store(m, k, kl, v, vl, e, f);
}

memcached_return_t
__wrap_memcached_cas(memcached_st *m, const char *k, size_t kl, const char *v,
                     size_t vl, time_t e, uint32_t f, uint64_t cas)
{
    FUZZ_CHECK(!script.expected.number_set || cas == script.expected.number,
               "cas %llu", (unsigned long long)cas);
    return store(m, k, kl, v, vl, e, f);
}

/* incr, decr, touch, delete: right, a miss, the server's error, a
 * failure; `value` for the counters. */
static memcached_return_t
keyed(memcached_st *memc, const char *key, size_t klen, bool counter,
      uint64_t *value)
{
    fake_server *s = enter(memc, true);
    uint8_t kind = fuzz_byte(&script.answers) % 16;
    char text[64];
    size_t n;
    memcached_return_t rc = MEMCACHED_SUCCESS;

    script.data_calls++;
    check_key(s, key, klen);
    if (kind >= 8)
        script.all_right = false;
    if (kind == 8) {
        rc = MEMCACHED_NOTFOUND;
    } else if (kind == 9) {
        rc = counter ? MEMCACHED_SUCCESS : MEMCACHED_DELETED;
        if (counter)
            *value = fuzz_u64(&script.answers);
    } else if (kind == 10) {
        rc = MEMCACHED_ERROR;
    } else if (kind == 11) {
        n = script_text(text, sizeof(text) - 1);
        text[n] = '\0';
        set_error(s, "CLIENT ERROR",
                  counter ? "cannot increment or "
                            "decrement non-numeric value"
                          : text,
                  0);
        rc = MEMCACHED_CLIENT_ERROR;
    } else if (kind >= 12) {
        rc = failure(s);
    }
    leave(s);
    return rc;
}

memcached_return_t
__wrap_memcached_increment_by_key(memcached_st *m, const char *g, size_t gl,
                                  const char *k, size_t kl, uint64_t offset,
                                  uint64_t *value)
{
    (void)g;
    (void)gl;
    FUZZ_CHECK(!script.expected.number_set || offset == script.expected.number,
               "incr by %llu", (unsigned long long)offset);
    *value = offset; /* the key held 0 */
    return keyed(m, k, kl, true, value);
}

memcached_return_t
__wrap_memcached_decrement_by_key(memcached_st *m, const char *g, size_t gl,
                                  const char *k, size_t kl, uint64_t offset,
                                  uint64_t *value)
{
    (void)g;
    (void)gl;
    FUZZ_CHECK(!script.expected.number_set || offset == script.expected.number,
               "decr by %llu", (unsigned long long)offset);
    *value = 0; /* the key held 0 */
    return keyed(m, k, kl, true, value);
}

memcached_return_t
__wrap_memcached_touch(memcached_st *m, const char *k, size_t kl, time_t e)
{
    FUZZ_CHECK(script.expected.exptime < 0 ||
                   (int64_t)e == script.expected.exptime,
               "touch with exptime %lld", (long long)e);
    return keyed(m, k, kl, false, NULL);
}

memcached_return_t
__wrap_memcached_delete(memcached_st *m, const char *k, size_t kl, time_t e)
{
    FUZZ_CHECK(e == 0, "delete with a time");
    return keyed(m, k, kl, false, NULL);
}

/* The connection closes: an unread reply is gone with it. */
void
__wrap_memcached_quit(memcached_st *memc)
{
    fake_server *s = enter(memc, false);

    s->pending = false;
    leave(s);
}

const char *
__wrap_memcached_last_error_message(const memcached_st *memc)
{
    fake_server *s = server_of(memc);

    return s->errmsg[0] != '\0' ? s->errmsg : NULL;
}

int
__wrap_memcached_last_error_errno(const memcached_st *memc)
{
    return server_of(memc)->err_errno;
}

/* --- the application's view ----------------------------------------------- */

uint64_t
fuzz_mc_item_max(size_t i, bool *no_cas)
{
    *no_cas = servers[i].no_cas;
    return servers[i].item_max;
}

void
fuzz_mc_servers_reset(void)
{
    for (size_t i = 0; i < FUZZ_MC_MAX_SERVERS; i++) {
        free(servers[i].keys);
        free(servers[i].klens);
        free(servers[i].item.value);
        servers[i] = (fake_server){.keys = NULL};
    }
    item = NULL;
}
