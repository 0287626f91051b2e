/* pool: the public open/locate/describe API without servers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <shard/shard.h>

static const char seed[] = "redis1:\n"
                           "  listen: 0.0.0.0:9999\n"
                           "  redis: true\n"
                           "  hash: fnv1a_64\n"
                           "  distribution: ketama\n"
                           "  servers:\n"
                           "   - 127.0.0.1:6382:1\n"
                           "   - 127.0.0.1:6379:1\n"
                           "   - 127.0.0.1:6380:1\n"
                           "   - 127.0.0.1:6381:1\n";

Test(pool, opens_the_only_pool_without_a_name)
{
    shard_pool *pool;

    cr_assert_eq(shard_pool_open_string(&pool, seed, strlen(seed), NULL, NULL),
                 SHARD_OK, "%s", shard_last_error());
    cr_expect_str_eq(shard_pool_name(pool), "redis1");
    cr_expect_eq(shard_pool_server_count(pool), 4);
    cr_expect_str_eq(shard_pool_server_name(pool, 0), "127.0.0.1:6379");
    cr_expect_str_eq(shard_pool_server_addr(pool, 3), "127.0.0.1:6382");
    cr_expect_null(shard_pool_server_name(pool, 4));
    cr_expect_null(shard_pool_server_addr(pool, 99));
    cr_expect_str_eq(shard_pool_errmsg(pool), "");
    shard_pool_free(pool);
}

Test(pool, locate_is_stable_and_in_range)
{
    shard_pool *pool;

    cr_assert_eq(
        shard_pool_open_string(&pool, seed, strlen(seed), "redis1", NULL),
        SHARD_OK);
    for (int i = 0; i < 1000; i++) {
        char key[32];
        int len = snprintf(key, sizeof(key), "key:%d", i);
        int a = shard_pool_locate(pool, key, (size_t)len);
        cr_assert(a >= 0 && a < 4);
        cr_assert_eq(a, shard_pool_locate(pool, key, (size_t)len));
    }
    cr_expect_geq(shard_pool_locate(pool, "", 0), 0, "empty key is valid");
    cr_expect_geq(shard_pool_locate(pool, NULL, 0), 0);
    cr_expect_eq(shard_pool_locate(pool, NULL, 3), SHARD_EINVAL);
    cr_expect_eq(shard_pool_locate(NULL, "a", 1), SHARD_EINVAL);
    shard_pool_free(pool);
}

Test(pool, unknown_pool_name_lists_the_pools)
{
    shard_pool *pool = (shard_pool *)1;

    cr_assert_eq(
        shard_pool_open_string(&pool, seed, strlen(seed), "redis2", NULL),
        SHARD_ENOPOOL);
    cr_expect_null(pool);
    cr_expect(strstr(shard_last_error(), "'redis1'") != NULL, "%s",
              shard_last_error());
}

Test(pool, bad_arguments_are_rejected)
{
    shard_pool *pool;
    shard_options opts = SHARD_OPTIONS_INIT;

    cr_expect_eq(shard_pool_open_string(NULL, seed, 1, NULL, NULL),
                 SHARD_EINVAL);
    cr_expect_eq(shard_pool_open_string(&pool, NULL, 1, NULL, NULL),
                 SHARD_EINVAL);
    cr_expect_eq(shard_pool_open(&pool, NULL, NULL, NULL), SHARD_EINVAL);
    opts.version = 0;
    cr_expect_eq(shard_pool_open_string(&pool, seed, strlen(seed), NULL, &opts),
                 SHARD_EINVAL);
    shard_pool_free(NULL);
}

Test(pool, strerror_and_version)
{
    cr_expect_str_eq(shard_strerror(SHARD_OK), "success");
    cr_expect_str_eq(shard_strerror(SHARD_ETIMEDOUT), "server timed out");
    cr_expect_str_eq(shard_strerror(12345), "unknown error");
    cr_expect_str_eq(shard_version(), SHARD_VERSION_STRING);
}
