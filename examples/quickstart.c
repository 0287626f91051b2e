/*
 * quickstart: write and read keys through a libshard pool, split an MGET
 * across the servers, and show where each key landed.
 *
 *   quickstart CONFIG [POOL]
 */
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

#define NKEYS 8

static int
check(shard_pool *pool, int rc, const char *what)
{
    if (rc != SHARD_OK)
        fprintf(stderr, "quickstart: %s: %s\n", what, shard_pool_errmsg(pool));
    return rc;
}

static void
write_keys(shard_pool *pool, const char *keys[NKEYS])
{
    for (int i = 0; i < NKEYS; i++) {
        char value[32];
        snprintf(value, sizeof(value), "value-%d", i);
        const char *argv[] = {"SET", keys[i], value};
        shard_reply *r;
        if (check(pool, shard_command_argv(pool, &r, 3, argv, NULL), "SET"))
            continue;
        shard_reply_free(r);
    }
}

static void
read_back(shard_pool *pool, const char *keys[NKEYS])
{
    const char *argv[NKEYS + 2] = {"MGET"};
    shard_reply *r;

    memcpy(argv + 1, keys, NKEYS * sizeof(*keys));
    argv[NKEYS + 1] = "no-such-key";
    if (check(pool, shard_command_argv(pool, &r, NKEYS + 2, argv, NULL),
              "MGET"))
        return;
    printf("\nMGET of %d keys, split across the servers and joined:\n",
           NKEYS + 1);
    for (size_t i = 0; i < shard_reply_len(r); i++) {
        const shard_reply *e = shard_reply_at(r, i);
        int index = shard_pool_locate(pool, argv[i + 1], strlen(argv[i + 1]));
        printf("  %-12s = %-10s  on [%d] %s\n", argv[i + 1],
               shard_reply_type(e) == SHARD_REPLY_NIL
                   ? "(nil)"
                   : shard_reply_str(e, NULL),
               index, shard_pool_server_addr(pool, (size_t)index));
    }
    shard_reply_free(r);
}

static void
show_servers(shard_pool *pool)
{
    printf("\nKeys per server (DBSIZE sent to each one):\n");
    for (size_t s = 0; s < shard_pool_server_count(pool); s++) {
        shard_reply *r = shard_command_server(pool, s, "DBSIZE");
        if (r == NULL) {
            printf("  [%zu] %s: %s\n", s, shard_pool_server_addr(pool, s),
                   shard_pool_errmsg(pool));
            continue;
        }
        printf("  [%zu] %-20s %lld keys\n", s, shard_pool_server_addr(pool, s),
               shard_reply_integer(r));
        shard_reply_free(r);
    }
}

int
main(int argc, char **argv)
{
    const char *keys[NKEYS] = {"user:1", "user:2",     "user:3",
                               "cart:7", "session:ab", "{user:1}:cart",
                               "page:/", "n"};
    shard_pool *pool;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG [POOL]\n", argv[0]);
        return 2;
    }
    if (shard_pool_open(&pool, argv[1], argc > 2 ? argv[2] : NULL, NULL)) {
        fprintf(stderr, "quickstart: %s\n", shard_last_error());
        return 1;
    }
    printf("libshard %s, pool '%s' with %zu servers\n", shard_version(),
           shard_pool_name(pool), shard_pool_server_count(pool));
    write_keys(pool, keys);
    read_back(pool, keys);
    show_servers(pool);
    shard_reply *r =
        shard_command(pool, "DEL %s %s %s", keys[0], keys[1], keys[2]);
    if (r != NULL)
        printf("\nDEL of 3 keys on several servers: %lld deleted\n",
               shard_reply_integer(r));
    shard_reply_free(r);
    shard_pool_free(pool);
    return 0;
}
