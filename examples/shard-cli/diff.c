/*
 * shard-cli diff: what a config change moves, before it is made. Both
 * files are opened by libshard and every key is located in each; a key
 * moves when the address of its server changes. Servers are matched by
 * address because that is where the data is: a renamed server with the
 * same address keeps what still hashes to it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define DEFAULT_SAMPLE 100000 /* keys when neither --keys nor --sample */

/* The keys to place. */
typedef struct keyset {
    char **keys;        /* the keys */
    size_t *lens;       /* their lengths */
    size_t count;       /* how many */
    size_t cap;         /* room in keys and lens */
    const char *source; /* where they came from, for the report */
} keyset;

/* One pool in both files, being compared. */
typedef struct pool_pair {
    shard_pool *old;           /* the pool in OLD */
    shard_pool *new;           /* the pool in NEW */
    const conf_pool *old_conf; /* its entry in OLD */
    const conf_pool *new_conf; /* its entry in NEW */
    const char **addrs;        /* every address of either, old ones first */
    size_t naddrs;             /* how many */
    size_t *old_at;            /* old server index -> index in addrs */
    size_t *new_at;            /* new server index -> index in addrs */
    size_t *moves;             /* naddrs x naddrs: keys from row to column */
    size_t moved;              /* keys whose address changes */
} pool_pair;

/* What the diff command line asked for. */
typedef struct diff_args {
    const char *old_path;  /* OLD.yml */
    const char *new_path;  /* NEW.yml */
    const char *pool_name; /* -p, or NULL */
    const char *keys_path; /* --keys FILE ("-": stdin), or NULL */
    long sample;           /* --sample N */
} diff_args;

/* Room doubles: a realloc per key is quadratic where realloc copies. */
static int
keyset_grow(keyset *ks)
{
    size_t cap = ks->cap ? ks->cap * 2 : 1024;
    char **keys = realloc(ks->keys, cap * sizeof(*keys));
    size_t *lens;

    if (keys == NULL)
        return -1;
    ks->keys = keys;
    if ((lens = realloc(ks->lens, cap * sizeof(*lens))) == NULL)
        return -1;
    ks->lens = lens;
    ks->cap = cap;
    return 0;
}

static int
keyset_add(keyset *ks, const char *key, size_t len)
{
    char *copy;

    if (ks->count == ks->cap && keyset_grow(ks) != 0)
        return -1;
    if ((copy = malloc(len + 1)) == NULL)
        return -1;
    memcpy(copy, key, len);
    copy[len] = '\0';
    ks->keys[ks->count] = copy;
    ks->lens[ks->count++] = len;
    return 0;
}

static int
keyset_read(keyset *ks, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;

    if (f == NULL) {
        cli_warn("--keys %s: %s", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        rc = keyset_add(ks, line, (size_t)len);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    ks->source = path;
    return rc;
}

/* splitmix64: a sample key's random-looking part. */
static unsigned long long
mix(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* N keys "key:<12 hex digits>", the same on every run. Not key:0, key:1,
 * ...: with fnv1a_64, as twemproxy truncates it, keys that differ only in
 * their last byte land next to each other on the ring, so a sequential
 * sample would count groups of ten keys rather than keys. */
static int
keyset_sample(keyset *ks, long n)
{
    char key[32];

    for (long i = 0; i < n; i++) {
        int len = snprintf(key, sizeof(key), "key:%012llx",
                           mix((unsigned long long)i) & 0xffffffffffffULL);
        if (keyset_add(ks, key, (size_t)len) != 0)
            return -1;
    }
    ks->source = NULL;
    return 0;
}

static void
keyset_free(keyset *ks)
{
    for (size_t i = 0; i < ks->count; i++)
        free(ks->keys[i]);
    free(ks->keys);
    free(ks->lens);
}

static size_t
addr_slot(pool_pair *pp, const char *addr)
{
    for (size_t i = 0; i < pp->naddrs; i++)
        if (strcmp(pp->addrs[i], addr) == 0)
            return i;
    pp->addrs[pp->naddrs] = addr;
    return pp->naddrs++;
}

/* Opens the pool in both files and lays out the address table. */
static int
pair_open(pool_pair *pp, const diff_args *a)
{
    size_t no, nn;

    if (shard_pool_open(&pp->old, a->old_path, pp->old_conf->name, NULL) !=
            SHARD_OK ||
        shard_pool_open(&pp->new, a->new_path, pp->new_conf->name, NULL) !=
            SHARD_OK) {
        cli_warn("%s", shard_last_error());
        return -1;
    }
    no = shard_pool_server_count(pp->old);
    nn = shard_pool_server_count(pp->new);
    pp->addrs = calloc(no + nn, sizeof(*pp->addrs));
    pp->old_at = calloc(no, sizeof(*pp->old_at));
    pp->new_at = calloc(nn, sizeof(*pp->new_at));
    pp->moves = calloc((no + nn) * (no + nn), sizeof(*pp->moves));
    if (pp->addrs == NULL || pp->old_at == NULL || pp->new_at == NULL ||
        pp->moves == NULL) {
        cli_warn("out of memory");
        return -1;
    }
    for (size_t i = 0; i < no; i++)
        pp->old_at[i] = addr_slot(pp, shard_pool_server_addr(pp->old, i));
    for (size_t j = 0; j < nn; j++)
        pp->new_at[j] = addr_slot(pp, shard_pool_server_addr(pp->new, j));
    return 0;
}

static void
pair_close(pool_pair *pp)
{
    shard_pool_free(pp->old);
    shard_pool_free(pp->new);
    free(pp->addrs);
    free(pp->old_at);
    free(pp->new_at);
    free(pp->moves);
}

static int
pair_place(pool_pair *pp, const keyset *ks)
{
    for (size_t k = 0; k < ks->count; k++) {
        int o = shard_pool_locate(pp->old, ks->keys[k], ks->lens[k]);
        int n = shard_pool_locate(pp->new, ks->keys[k], ks->lens[k]);
        if (o < 0 || n < 0) {
            cli_warn("locating '%s': %s", ks->keys[k],
                     shard_strerror(o < 0 ? o : n));
            return -1;
        }
        size_t from = pp->old_at[o], to = pp->new_at[n];
        pp->moves[from * pp->naddrs + to]++;
        if (from != to)
            pp->moved++;
    }
    return 0;
}

static int
digits(size_t n)
{
    int d = 1;

    for (; n >= 10; n /= 10)
        d++;
    return d;
}

static void
print_matrix(const pool_pair *pp, size_t total)
{
    size_t n = pp->naddrs;
    int w = digits(total) + 2;

    if (w < 6)
        w = 6;
    printf("  %-12s", "from \\ to");
    for (size_t j = 0; j < n; j++)
        printf("%*s%zu", w - digits(j), "s", j);
    printf("  %12s\n", "moving out");
    for (size_t i = 0; i < n; i++) {
        size_t row = 0, out = 0;
        printf("  s%-11zu", i);
        for (size_t j = 0; j < n; j++) {
            size_t v = pp->moves[i * n + j];
            row += v;
            out += i != j ? v : 0;
            if (v == 0 && i != j)
                printf("%*s", w, "-");
            else
                printf("%*zu", w, v);
        }
        if (row > 0)
            printf("  %11.1f%%\n", 100.0 * (double)out / (double)row);
        else
            printf("  %12s\n", "-");
    }
    printf("  %-12s", "moving in");
    for (size_t j = 0; j < n; j++) {
        size_t in = 0;
        for (size_t i = 0; i < n; i++)
            in += i != j ? pp->moves[i * n + j] : 0;
        printf("%*zu", w, in);
    }
    printf("\n");
}

/* "old [2]" when `addr` is a server of `pool` (with its name when it has
 * one), else "old -". */
static void
index_cell(char *cell, size_t size, shard_pool *pool, const char *label,
           const char *addr)
{
    snprintf(cell, size, "%s -", label);
    for (size_t i = 0; i < shard_pool_server_count(pool); i++) {
        const char *name = shard_pool_server_name(pool, i);
        if (strcmp(shard_pool_server_addr(pool, i), addr) != 0)
            continue;
        if (strcmp(name, addr) == 0)
            snprintf(cell, size, "%s [%zu]", label, i);
        else
            snprintf(cell, size, "%s [%zu] %s", label, i, name);
    }
}

static void
print_legend(const pool_pair *pp)
{
    char old[256], new[256];
    int w = 0;

    for (size_t i = 0; i < pp->naddrs; i++)
        if ((int)strlen(pp->addrs[i]) > w)
            w = (int)strlen(pp->addrs[i]);
    for (size_t i = 0; i < pp->naddrs; i++) {
        index_cell(old, sizeof(old), pp->old, "old", pp->addrs[i]);
        index_cell(new, sizeof(new), pp->new, "new", pp->addrs[i]);
        printf("  s%-3zu %-*s  %-12s  %s\n", i, w, pp->addrs[i], old, new);
    }
}

static void
print_side(const char *label, const conf_pool *conf, shard_pool *pool)
{
    printf("  %s: %s, %s", label, conf->distribution, conf->hash);
    if (conf->hash_tag != NULL)
        printf(", hash_tag \"%s\"", conf->hash_tag);
    printf(", %zu servers\n", shard_pool_server_count(pool));
}

static void
print_pair(const pool_pair *pp, const keyset *ks)
{
    size_t total = ks->count;

    printf("pool '%s': %zu keys", pp->new_conf->name, total);
    if (ks->source != NULL)
        printf(" from %s\n", ks->source);
    else
        printf(" (a sample of random keys)\n");
    print_side("old", pp->old_conf, pp->old);
    print_side("new", pp->new_conf, pp->new);
    printf("  %zu of %zu keys change server (%.2f%%)\n\n", pp->moved, total,
           total ? 100.0 * (double)pp->moved / (double)total : 0.0);
    print_matrix(pp, total);
    printf("\n");
    print_legend(pp);
}

static bool
is_random(const conf_pool *conf)
{
    return strcmp(conf->distribution, "random") == 0;
}

/* Compares one pool; CLI_OK (nothing moves), CLI_FAILED (keys move) or
 * CLI_USAGE (could not compare). */
static int
diff_pool(const diff_args *a, const conf_pool *oc, const conf_pool *nc,
          const keyset *ks)
{
    pool_pair pp = {0};
    int status = CLI_USAGE;

    pp.old_conf = oc;
    pp.new_conf = nc;
    if (is_random(oc) || is_random(nc)) {
        cli_warn("pool '%s': distribution random puts a key on any server, "
                 "so there is no placement to compare",
                 nc->name);
        return CLI_USAGE;
    }
    if (pair_open(&pp, a) == 0 && pair_place(&pp, ks) == 0) {
        print_pair(&pp, ks);
        status = pp.moved > 0 ? CLI_FAILED : CLI_OK;
    }
    pair_close(&pp);
    return status;
}

static int
parse_diff_args(diff_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"pool", required_argument, NULL, 'p'},
        {"keys", required_argument, NULL, 'k'},
        {"sample", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0}};
    int opt;
    char *end;

    optind = 0; /* GNU: start over on this argument vector */
    while ((opt = getopt_long(argc, argv, "p:", longopts, NULL)) != -1) {
        if (opt == 'p')
            a->pool_name = optarg;
        else if (opt == 'k')
            a->keys_path = optarg;
        else if (opt == 'n' &&
                 ((a->sample = strtol(optarg, &end, 10)) <= 0 || *end))
            return -1;
        else if (opt != 'n')
            return -1;
    }
    if (argc - optind != 2)
        return -1;
    a->old_path = argv[optind];
    a->new_path = argv[optind + 1];
    return 0;
}

static int
load_keys(keyset *ks, const diff_args *a)
{
    if (a->keys_path != NULL)
        return keyset_read(ks, a->keys_path);
    if (keyset_sample(ks, a->sample) != 0) {
        cli_warn("out of memory for %ld keys", a->sample);
        return -1;
    }
    return 0;
}

static int
read_both(const diff_args *a, conf_info *old, conf_info *new)
{
    const char *paths[2] = {a->old_path, a->new_path};
    conf_info *infos[2] = {old, new};
    char err[512];

    for (int i = 0; i < 2; i++) {
        if (shard_config_check(paths[i]) != SHARD_OK) {
            cli_warn("%s", shard_last_error());
            return -1;
        }
        if (conf_info_read(infos[i], paths[i], err, sizeof(err)) != 0) {
            cli_warn("%s", err);
            return -1;
        }
    }
    return 0;
}

/* Every pool named in both files (or the -p one); a file's only pool
 * matches the other file's only pool whatever their names. */
static int
diff_pools(const diff_args *a, const conf_info *old, const conf_info *new,
           const keyset *ks)
{
    int status = CLI_OK, compared = 0;

    if (a->pool_name == NULL && old->count == 1 && new->count == 1)
        return diff_pool(a, &old->pools[0], &new->pools[0], ks);
    for (size_t i = 0; i < old->count; i++) {
        const conf_pool *oc = &old->pools[i];
        const conf_pool *nc = conf_info_pool(new, oc->name);
        if (nc == NULL ||
            (a->pool_name != NULL && strcmp(a->pool_name, oc->name) != 0))
            continue;
        int s = diff_pool(a, oc, nc, ks);
        status = s > status ? s : status;
        compared++;
    }
    if (compared == 0) {
        if (a->pool_name != NULL)
            cli_warn("no pool '%s' in both files", a->pool_name);
        else
            cli_warn("no pool name is in both files");
        return CLI_USAGE;
    }
    return status;
}

int
diff_configs(const char *pool_name, int argc, char **argv)
{
    diff_args a = {NULL, NULL, pool_name, NULL, DEFAULT_SAMPLE};
    conf_info old = {0}, new = {0};
    keyset ks = {0};
    int status = CLI_USAGE;

    if (parse_diff_args(&a, argc, argv) != 0) {
        fputs("usage: shard-cli diff OLD.yml NEW.yml [-p POOL] "
              "[--keys FILE | --sample N]\n",
              stderr);
        return CLI_USAGE;
    }
    if (read_both(&a, &old, &new) == 0 && load_keys(&ks, &a) == 0)
        status = diff_pools(&a, &old, &new, &ks);
    keyset_free(&ks);
    conf_info_free(&old);
    conf_info_free(&new);
    return status;
}
