/*
 * shard-cli check and locate: what a config says and where keys go,
 * without sending anything to a server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A key of `locate` and where it goes. */
typedef struct located {
    char *key;         /* the key */
    size_t len;        /* its length */
    const char *part;  /* the bytes hashed: the hash tag's content or key */
    size_t partlen;    /* their length */
    int index;         /* the server, or a negative SHARD_E* code */
    const char *ident; /* its identity (what ketama hashes) */
    const char *addr;  /* its address */
} located;

static int
max_int(int a, size_t b)
{
    return (size_t)a > b ? a : (int)b;
}

static void
print_pool_line(const conf_pool *conf, size_t servers)
{
    printf("pool '%s': %s, hash %s, distribution %s", conf->name,
           conf->redis ? "redis" : "memcached", conf->hash, conf->distribution);
    if (conf->hash_tag != NULL)
        printf(", hash_tag \"%s\"", conf->hash_tag);
    printf(", %zu server%s\n", servers, servers == 1 ? "" : "s");
}

/* The pool's servers in twemproxy's order, as a table. */
static void
print_servers(shard_pool *pool, const conf_pool *conf)
{
    size_t n = shard_pool_server_count(pool);
    int wi = (int)strlen("identity"), wa = (int)strlen("address");

    for (size_t i = 0; i < n; i++) {
        wi = max_int(wi, strlen(shard_pool_server_name(pool, i)));
        wa = max_int(wa, strlen(shard_pool_server_addr(pool, i)));
    }
    printf("  index  %-*s  %-*s  weight\n", wi, "identity", wa, "address");
    for (size_t i = 0; i < n; i++) {
        const char *addr = shard_pool_server_addr(pool, i);
        const char *weight = conf_pool_weight(conf, addr);
        printf("  %-5zu  %-*s  %-*s  %s\n", i, wi,
               shard_pool_server_name(pool, i), wa, addr,
               weight != NULL ? weight : "?");
    }
}

static int
check_pool(const char *path, const conf_pool *conf)
{
    shard_pool *pool;

    if (shard_pool_open(&pool, path, conf->name, NULL) != SHARD_OK) {
        cli_warn("%s", shard_last_error());
        return CLI_FAILED;
    }
    printf("\n");
    print_pool_line(conf, shard_pool_server_count(pool));
    print_servers(pool, conf);
    shard_pool_free(pool);
    return CLI_OK;
}

int
check_config(const char *path)
{
    conf_info info = {0};
    char err[512];
    int status = CLI_OK;

    if (shard_config_check(path) != SHARD_OK) {
        fprintf(stderr,
                "shard-cli: configuration file '%s' syntax is invalid\n%s\n",
                path, shard_last_error());
        return CLI_FAILED;
    }
    printf("shard-cli: configuration file '%s' syntax is ok\n", path);
    if (conf_info_read(&info, path, err, sizeof(err)) != 0) {
        cli_warn("%s", err);
        return CLI_FAILED;
    }
    for (size_t i = 0; i < info.count; i++)
        if (check_pool(path, &info.pools[i]) != CLI_OK)
            status = CLI_FAILED;
    conf_info_free(&info);
    return status;
}

/* Keys, one a line of stdin, into `*keys` (empty, room for one). */
static int
read_keys(located **keys, size_t *n)
{
    char *line = NULL;
    size_t cap = 0, room = 1;
    ssize_t len;

    while ((len = getline(&line, &cap, stdin)) >= 0) {
        located *more = *keys;
        if (*n == room &&
            (more = realloc(*keys, (room *= 2) * sizeof(**keys))) == NULL)
            break;
        *keys = more;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        memset(&more[*n], 0, sizeof(more[0]));
        if ((more[*n].key = strndup(line, (size_t)len)) == NULL)
            break;
        more[*n].len = (size_t)len;
        (*n)++;
    }
    free(line);
    return ferror(stdin) || !feof(stdin) ? -1 : 0;
}

static void
place(const cli *c, located *k)
{
    conf_hashed_part(c->conf->hash_tag, k->key, k->len, &k->part, &k->partlen);
    k->index = shard_pool_locate(c->pool, k->key, k->len);
    if (k->index >= 0) {
        k->ident = shard_pool_server_name(c->pool, (size_t)k->index);
        k->addr = shard_pool_server_addr(c->pool, (size_t)k->index);
    }
}

static void
print_located(const located *keys, size_t n)
{
    int wk = (int)strlen("key"), wp = (int)strlen("hashed");
    int wi = (int)strlen("identity");

    for (size_t i = 0; i < n; i++) {
        wk = max_int(wk, keys[i].len);
        wp = max_int(wp, keys[i].partlen);
        if (keys[i].index >= 0)
            wi = max_int(wi, strlen(keys[i].ident));
    }
    printf("%-*s  %-*s  index  %-*s  address\n", wk, "key", wp, "hashed", wi,
           "identity");
    for (size_t i = 0; i < n; i++) {
        const located *k = &keys[i];
        printf("%-*.*s  %-*.*s  ", wk, (int)k->len, k->key, wp, (int)k->partlen,
               k->part);
        if (k->index < 0)
            printf("-      %s\n", shard_strerror(k->index));
        else
            printf("%-5d  %-*s  %s\n", k->index, wi, k->ident, k->addr);
    }
}

int
locate_keys(const cli *c, int argc, char **argv)
{
    located *keys = calloc((size_t)argc + 1, sizeof(*keys));
    size_t n = 0;
    int status = CLI_OK;

    if (keys == NULL)
        return CLI_FAILED;
    for (int i = 0; i < argc; i++, n++) {
        keys[n].len = strlen(argv[i]);
        if ((keys[n].key = strdup(argv[i])) == NULL)
            break;
    }
    if ((argc == 0 && read_keys(&keys, &n) != 0) || n < (size_t)argc)
        status = CLI_FAILED;
    print_pool_line(c->conf, shard_pool_server_count(c->pool));
    for (size_t i = 0; i < n; i++) {
        place(c, &keys[i]);
        if (keys[i].index < 0)
            status = CLI_FAILED;
    }
    print_located(keys, n);
    if (strcmp(c->conf->distribution, "random") == 0)
        printf("(distribution random: each request may go to any server)\n");
    for (size_t i = 0; i < n; i++)
        free(keys[i].key);
    free(keys);
    return status;
}
