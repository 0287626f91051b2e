/*
 * A second, shallow reading of a nutcracker.yml for display (confinfo.h).
 * The file has passed shard_config_check() first, so this walk only
 * collects: pool names at depth 1, scalar directives and the servers
 * sequence at depth 2.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "confinfo.h"

/* State of the event walk. */
typedef struct walk {
    conf_info *info; /* what is being filled */
    char *key;       /* pending mapping key (pool name or directive) */
    int depth;       /* mapping depth: 1 pools, 2 directives */
    bool in_seq;     /* inside a pool's servers sequence */
    bool failed;     /* out of memory */
} walk;

static char *
dup_scalar(const yaml_event_t *ev)
{
    size_t len = ev->data.scalar.length;
    char *s = malloc(len + 1);

    if (s != NULL) {
        memcpy(s, ev->data.scalar.value, len);
        s[len] = '\0';
    }
    return s;
}

static conf_pool *
current_pool(walk *w)
{
    return w->info->count > 0 ? &w->info->pools[w->info->count - 1] : NULL;
}

static void
add_pool(walk *w)
{
    conf_info *info = w->info;
    conf_pool *pools = realloc(info->pools, (info->count + 1) * sizeof(*pools));

    if (pools == NULL) {
        w->failed = true;
        return;
    }
    info->pools = pools;
    memset(&pools[info->count], 0, sizeof(pools[0]));
    pools[info->count].name = w->key;
    w->key = NULL;
    info->count++;
}

/* "host:port:weight [name]" or "/path:weight [name]", read from the
 * right as twemproxy reads it. */
static void
add_server(walk *w, const char *line)
{
    conf_pool *p = current_pool(w);
    const char *space = strrchr(line, ' ');
    size_t len = space != NULL ? (size_t)(space - line) : strlen(line);
    const char *colon = memrchr(line, ':', len);
    conf_server *servers;

    if (p == NULL || colon == NULL)
        return;
    servers = realloc(p->servers, (p->server_count + 1) * sizeof(*servers));
    if (servers == NULL) {
        w->failed = true;
        return;
    }
    p->servers = servers;
    servers[p->server_count].addr = strndup(line, (size_t)(colon - line));
    servers[p->server_count].weight =
        strndup(colon + 1, len - (size_t)(colon - line) - 1);
    p->server_count++;
}

static void
set_directive(walk *w, const char *value)
{
    conf_pool *p = current_pool(w);
    char **slot = NULL;

    if (p == NULL)
        return;
    if (strcmp(w->key, "hash") == 0)
        slot = &p->hash;
    else if (strcmp(w->key, "distribution") == 0)
        slot = &p->distribution;
    else if (strcmp(w->key, "hash_tag") == 0)
        slot = &p->hash_tag;
    else if (strcmp(w->key, "redis") == 0)
        p->redis = strcmp(value, "true") == 0;
    if (slot != NULL && *slot == NULL && (*slot = strdup(value)) == NULL)
        w->failed = true;
}

static void
on_scalar(walk *w, const yaml_event_t *ev)
{
    char *value = dup_scalar(ev);

    if (value == NULL) {
        w->failed = true;
        return;
    }
    if (w->depth == 2 && w->in_seq) {
        /* servers: only (sentinels: is a sequence too) */
        if (w->key != NULL && strcmp(w->key, "servers") == 0)
            add_server(w, value);
        free(value);
    } else if (w->key == NULL) {
        w->key = value;
    } else {
        if (w->depth == 2)
            set_directive(w, value);
        free(value);
        free(w->key);
        w->key = NULL;
    }
}

static void
on_event(walk *w, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT:
        if (++w->depth == 2 && w->key != NULL)
            add_pool(w);
        break;
    case YAML_MAPPING_END_EVENT:
        w->depth--;
        break;
    case YAML_SEQUENCE_START_EVENT:
        w->in_seq = true;
        break;
    case YAML_SEQUENCE_END_EVENT:
        w->in_seq = false;
        free(w->key);
        w->key = NULL;
        break;
    case YAML_SCALAR_EVENT:
        on_scalar(w, ev);
        break;
    default:
        break;
    }
}

static void
fill_defaults(conf_info *info)
{
    for (size_t i = 0; i < info->count; i++) {
        conf_pool *p = &info->pools[i];
        if (p->hash == NULL)
            p->hash = strdup("fnv1a_64");
        if (p->distribution == NULL)
            p->distribution = strdup("ketama");
    }
}

int
conf_info_read(conf_info *info, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    yaml_parser_t parser;
    yaml_event_t ev;
    walk w = {info, NULL, 0, false, false};
    bool done = false;

    memset(info, 0, sizeof(*info));
    err[0] = '\0';
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open it", path);
        return -1;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    while (!done && !w.failed) {
        if (!yaml_parser_parse(&parser, &ev)) {
            snprintf(err, errlen, "%s: %s", path, parser.problem);
            w.failed = true;
            break;
        }
        on_event(&w, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    free(w.key);
    fill_defaults(info);
    if (w.failed && err[0] == '\0')
        snprintf(err, errlen, "%s: out of memory", path);
    return w.failed ? -1 : 0;
}

const conf_pool *
conf_info_pool(const conf_info *info, const char *name)
{
    for (size_t i = 0; i < info->count; i++)
        if (strcmp(info->pools[i].name, name) == 0)
            return &info->pools[i];
    return NULL;
}

const char *
conf_pool_weight(const conf_pool *pool, const char *addr)
{
    for (size_t i = 0; i < pool->server_count; i++)
        if (pool->servers[i].addr != NULL &&
            strcmp(pool->servers[i].addr, addr) == 0)
            return pool->servers[i].weight;
    return NULL;
}

void
conf_hashed_part(const char *hash_tag, const char *key, size_t len,
                 const char **part, size_t *partlen)
{
    const char *start, *end;

    *part = key;
    *partlen = len;
    if (hash_tag == NULL || strlen(hash_tag) != 2)
        return;
    start = memchr(key, hash_tag[0], len);
    if (start == NULL)
        return;
    end = memchr(start + 1, hash_tag[1], len - (size_t)(start + 1 - key));
    if (end == NULL || end - start <= 1)
        return;
    *part = start + 1;
    *partlen = (size_t)(end - start - 1);
}

void
conf_info_free(conf_info *info)
{
    for (size_t i = 0; i < info->count; i++) {
        conf_pool *p = &info->pools[i];
        for (size_t j = 0; j < p->server_count; j++) {
            free(p->servers[j].addr);
            free(p->servers[j].weight);
        }
        free(p->servers);
        free(p->name);
        free(p->hash);
        free(p->distribution);
        free(p->hash_tag);
    }
    free(info->pools);
    memset(info, 0, sizeof(*info));
}
