/*
 * The config catalogue in tests/data: every file in badconf/ is rejected
 * and every file in goodconf/ accepted, by nutcracker -t and by libshard
 * alike. Adding a case is adding a file.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shard/shard.h>

#include "harness.h"

typedef void (*case_fn)(const char *path);

static int
for_each_yaml(const char *subdir, case_fn check)
{
    const char *data = getenv("SHARD_TEST_DATA");
    char dir[1024], path[2048];
    struct dirent *entry;
    int count = 0;

    cr_assert_not_null(data, "SHARD_TEST_DATA is not set");
    snprintf(dir, sizeof(dir), "%s/%s", data, subdir);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 4, ".yml") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
        check(path);
        count++;
    }
    closedir(d);
    return count;
}

static void
check_rejected(const char *path)
{
    cr_expect_not(harness_nutcracker_accepts(path),
                  "nutcracker accepts %s: the catalogue is wrong", path);
    int rc = shard_config_check(path);
    cr_expect_eq(rc, SHARD_ECONFIG, "libshard accepts %s (rc %d)", path, rc);
    cr_expect(strstr(shard_last_error(), path) == shard_last_error(),
              "message for %s does not start with the file: %s", path,
              shard_last_error());
}

static void
check_accepted(const char *path)
{
    cr_expect(harness_nutcracker_accepts(path),
              "nutcracker rejects %s: the catalogue is wrong", path);
    int rc = shard_config_check(path);
    cr_expect_eq(rc, SHARD_OK, "libshard rejects %s: %s", path,
                 shard_last_error());
}

Test(badconf, every_bad_config_is_rejected_by_nutcracker_and_libshard)
{
    int count = for_each_yaml("badconf", check_rejected);
    cr_assert_gt(count, 50, "only %d bad configs found", count);
}

Test(badconf, every_good_config_is_accepted_by_nutcracker_and_libshard)
{
    int count = for_each_yaml("goodconf", check_accepted);
    cr_assert_gt(count, 20, "only %d good configs found", count);
}

Test(badconf, bad_config_message_names_line_pool_and_directive)
{
    const char *path = harness_write_file(
        "named.yml", "alpha:\n  listen: 127.0.0.1:22121\n"
                     "  hash: fnv1a_65\n  servers:\n   - 127.0.0.1:6379:1\n");
    shard_pool *pool = (shard_pool *)1;

    cr_assert_eq(shard_pool_open(&pool, path, NULL, NULL), SHARD_ECONFIG);
    cr_assert_null(pool);
    const char *msg = shard_last_error();
    cr_expect(strstr(msg, path) != NULL, "no file in: %s", msg);
    cr_expect(strstr(msg, ":3:") != NULL, "no line 3 in: %s", msg);
    cr_expect(strstr(msg, "pool 'alpha'") != NULL, "no pool in: %s", msg);
    cr_expect(strstr(msg, "directive \"hash\" is not a valid hash") != NULL,
              "no directive in: %s", msg);
}

Test(badconf, missing_file_is_an_io_error)
{
    shard_pool *pool;

    cr_assert_eq(
        shard_pool_open(&pool, "/nonexistent/nutcracker.yml", NULL, NULL),
        SHARD_EIO);
    cr_expect(strstr(shard_last_error(), "/nonexistent/nutcracker.yml"));
}
