/* route: which bytes of a key are hashed, and the one-server shortcut. */
#include <criterion/criterion.h>
#include <string.h>

#include "route.h"

static route_rules
tagged(const char *tag)
{
    route_rules r = {.hash = HASH_CRC16,
                     .dist = DIST_KETAMA,
                     .has_tag = true,
                     .server_count = 4};
    memcpy(r.tag, tag, 2);
    return r;
}

static void
expect_span(const route_rules *r, const char *key, const char *span)
{
    size_t len;
    const char *s = route_tag_span(r, key, strlen(key), &len);

    cr_expect(len == strlen(span) && memcmp(s, span, len) == 0,
              "key \"%s\" hashes \"%.*s\", expected \"%s\"", key, (int)len, s,
              span);
}

Test(route, hash_tag_uses_first_open_and_next_close)
{
    route_rules r = tagged("{}");

    expect_span(&r, "{user1000}.following", "user1000");
    expect_span(&r, "x{y}z", "y");
    expect_span(&r, "{a{b}c}", "a{b");
    expect_span(&r, "a{b}{c}", "b");
}

Test(route, hash_tag_falls_back_to_whole_key)
{
    route_rules r = tagged("{}");

    expect_span(&r, "plain", "plain");
    expect_span(&r, "{}", "{}");
    expect_span(&r, "ab{}{c}", "ab{}{c}");
    expect_span(&r, "{open", "{open");
    expect_span(&r, "close}", "close}");
    expect_span(&r, "}{", "}{");
    expect_span(&r, "", "");
}

Test(route, hash_tag_with_equal_delimiters)
{
    route_rules r = tagged("$$");

    expect_span(&r, "a$tag$b", "tag");
    expect_span(&r, "$$x", "$$x");
    expect_span(&r, "$only", "$only");
}

Test(route, no_hash_tag_hashes_whole_key)
{
    route_rules r = {.hash = HASH_MD5, .server_count = 2};

    expect_span(&r, "{a}b", "{a}b");
}

Test(route, empty_input_hashes_to_zero)
{
    route_rules r = tagged("{}");

    r.hash = HASH_JENKINS; /* jenkins("") is 0xdeadbefc, not 0 */
    cr_expect_eq(route_hash(&r, "", 0), 0);
    cr_expect_eq(route_hash(&r, "{}", 2), hash_key(HASH_JENKINS, "{}", 2));
}

Test(route, random_generator_varies)
{
    uint64_t rng = 12345;
    uint32_t a = route_random(&rng), b = route_random(&rng);

    cr_expect_neq(a, b);
    cr_expect_neq(rng, 0);
}
