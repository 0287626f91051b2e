/*
 * locate: which server of a twemproxy pool each key goes to.
 *
 *   locate CONFIG [-p POOL] KEY...     keys from the command line
 *   locate CONFIG [-p POOL] < keys     one key per line on stdin
 */
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

static void
print_servers(shard_pool *pool)
{
    printf("pool '%s': %zu servers\n", shard_pool_name(pool),
           shard_pool_server_count(pool));
    for (size_t i = 0; i < shard_pool_server_count(pool); i++)
        printf("  [%zu] %-24s at %s\n", i, shard_pool_server_name(pool, i),
               shard_pool_server_addr(pool, i));
}

static int
print_key(shard_pool *pool, const char *key, size_t len)
{
    int index = shard_pool_locate(pool, key, len);

    if (index < 0) {
        fprintf(stderr, "locate: %s: %s\n", key, shard_pool_errmsg(pool));
        return 1;
    }
    printf("%-24.*s -> [%d] %s (%s)\n", (int)len, key, index,
           shard_pool_server_name(pool, (size_t)index),
           shard_pool_server_addr(pool, (size_t)index));
    return 0;
}

static int
locate_stdin(shard_pool *pool)
{
    char line[65536];
    int failed = 0;

    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t len = strcspn(line, "\r\n");
        failed |= print_key(pool, line, len);
    }
    return failed;
}

int
main(int argc, char **argv)
{
    const char *pool_name = NULL;
    int first_key = 2, failed = 0;
    shard_pool *pool;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CONFIG [-p POOL] [KEY...]\n", argv[0]);
        return 2;
    }
    if (argc > 3 && strcmp(argv[2], "-p") == 0) {
        pool_name = argv[3];
        first_key = 4;
    }
    if (shard_pool_open(&pool, argv[1], pool_name, NULL) != SHARD_OK) {
        fprintf(stderr, "locate: %s\n", shard_last_error());
        return 1;
    }
    print_servers(pool);
    if (first_key >= argc)
        failed = locate_stdin(pool);
    for (int i = first_key; i < argc; i++)
        failed |= print_key(pool, argv[i], strlen(argv[i]));
    shard_pool_free(pool);
    return failed;
}
