/* The harnesses' shared input reader and failure report. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "request.h" /* lib/reply.h: "reply.h" would be <shard/reply.h> */

uint8_t
fuzz_byte(fuzz_bytes *in)
{
    if (in->len == 0)
        return 0;
    in->len--;
    return *in->data++;
}

uint64_t
fuzz_u64(fuzz_bytes *in)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)fuzz_byte(in) << (8 * i);
    return v;
}

void
fuzz_fail(const char *file, int line, const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: check failed: %s: ", file, line, what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* --- a pool's topology ---------------------------------------------------- */

void
fuzz_topo_open(fuzz_topo *t, const conf_pool *conf)
{
    *t = (fuzz_topo){.conf = conf};
    t->servers = calloc(conf->server_count, sizeof(*t->servers));
    FUZZ_CHECK(t->servers != NULL, "out of memory for %zu servers",
               conf->server_count);
    for (size_t i = 0; i < conf->server_count; i++) {
        FUZZ_CHECK(server_init(&t->servers[i], i, &conf->servers[i]) ==
                       SHARD_OK,
                   "server %zu", i);
    }
    fuzz_topo_rebuild(t);
}

void
fuzz_topo_rebuild(fuzz_topo *t)
{
    const conf_pool *c = t->conf;
    route_rules rules = topology_rules_of(c);

    topology_free(t->topo);
    t->topo = topology_build(&rules, t->servers, c->server_count);
    FUZZ_CHECK(t->topo != NULL, "topology of %zu servers", c->server_count);
}

int
fuzz_topo_locate(const fuzz_topo *t, const char *key, size_t len, uint64_t *rng)
{
    int s = topology_locate(t->topo, key, len, rng);
    size_t live = 0;

    for (size_t i = 0; i < t->conf->server_count; i++)
        live += t->servers[i].live;
    if (live == 0) {
        FUZZ_CHECK(s == -1, "server %d with none live", s);
        return s;
    }
    FUZZ_CHECK(s >= 0 && (size_t)s < t->conf->server_count,
               "server %d of %zu (%zu live)", s, t->conf->server_count, live);
    FUZZ_CHECK(t->servers[s].live, "key of %zu bytes on ejected server %d", len,
               s);
    return s;
}

void
fuzz_topo_close(fuzz_topo *t)
{
    topology_free(t->topo);
    for (size_t i = 0; i < t->conf->server_count; i++)
        server_release(&t->servers[i]);
    free(t->servers);
    *t = (fuzz_topo){0};
}

/* --- replies -------------------------------------------------------------- */

/* `r` reads back as a well-formed reply through every accessor. */
void
fuzz_check_reply(const shard_reply *r)
{
    size_t len;
    const char *str = shard_reply_str(r, &len);

    FUZZ_CHECK(r->type >= SHARD_REPLY_STRING && r->type <= SHARD_REPLY_ERROR,
               "type %d", r->type);
    FUZZ_CHECK(shard_reply_type(r) == r->type, "accessor type");
    if (r->type == SHARD_REPLY_STRING || r->type == SHARD_REPLY_STATUS ||
        r->type == SHARD_REPLY_ERROR) {
        FUZZ_CHECK(str != NULL && len == r->len && str[len] == '\0',
                   "text of type %d, %zu bytes", r->type, r->len);
    } else {
        FUZZ_CHECK(str == NULL && len == 0, "text on type %d", r->type);
    }
    FUZZ_CHECK(shard_reply_integer(r) ==
                   (r->type == SHARD_REPLY_INTEGER ? r->integer : 0),
               "integer accessor");
    FUZZ_CHECK(shard_reply_len(r) ==
                   (r->type == SHARD_REPLY_ARRAY ? r->elements : 0),
               "length accessor");
    for (size_t i = 0; i < shard_reply_len(r); i++) {
        const shard_reply *e = shard_reply_at(r, i);
        FUZZ_CHECK(e != NULL, "element %zu of %zu missing", i, r->elements);
        fuzz_check_reply(e);
    }
    FUZZ_CHECK(shard_reply_at(r, shard_reply_len(r)) == NULL,
               "element past the end");
}
