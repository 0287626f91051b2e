/* reload: what a pool keeps of the servers reloads removed (no servers
 * are contacted: nothing connects until a command is sent). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/redis.h>
#include <shard/shard.h>

#include "reload.h" /* and lib/pool.h: "pool.h" would be <shard/pool.h> */

/* A pool over two of the ports 1-4 of 127.0.0.1 (never connected). */
static const char *
two_servers(int first)
{
    static char yaml[512];

    snprintf(yaml, sizeof(yaml),
             "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n"
             "   - 127.0.0.1:%d:1\n   - 127.0.0.1:%d:1\n",
             first, first + 1);
    return yaml;
}

static size_t
retired_count(const shard_pool *pool)
{
    size_t n = 0;

    for (const retired_server *r = pool->retired; r != NULL; r = r->next)
        n++;
    return n;
}

static void
reload(shard_pool *pool, int first)
{
    const char *yaml = two_servers(first);

    cr_assert_eq(shard_pool_reload_string(pool, yaml, strlen(yaml)), SHARD_OK,
                 "%s", shard_pool_errmsg(pool));
}

Test(reload, repeated_reloads_keep_no_removed_server)
{
    shard_pool *pool;
    const char *yaml = two_servers(1);

    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    for (int i = 0; i < 1000; i++) {
        reload(pool, i % 2 == 0 ? 3 : 1);
        cr_assert_eq(retired_count(pool), 0, "after reload %d", i);
    }
    shard_pool_free(pool);
}

Test(reload, a_transaction_keeps_its_removed_server_until_freed)
{
    shard_pool *pool;
    shard_txn *txn;
    const char *yaml = two_servers(1);

    cr_assert_eq(shard_pool_open_string(&pool, yaml, strlen(yaml), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    cr_assert_eq(shard_txn_begin(pool, &txn, "k", 1), SHARD_OK, "%s",
                 shard_pool_errmsg(pool));
    reload(pool, 3);
    cr_expect_eq(retired_count(pool), 1, "the transaction's server stays");
    cr_expect_eq(shard_txn_server(txn), SHARD_ENOSERVER);
    for (int i = 0; i < 10; i++)
        reload(pool, i % 2 == 0 ? 1 : 3);
    cr_expect_eq(retired_count(pool), 1, "only the transaction's");
    shard_txn_free(txn);
    reload(pool, 1);
    cr_expect_eq(retired_count(pool), 0);
    shard_pool_free(pool);
}
