/*
 * The twelve hashes against twemproxy 0.5's own output (twemproxy-0.5.md
 * 2.3), and against libhashkit, a second implementation of nine of them.
 */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>
#include <libhashkit-1.0/hashkit.h>

#include "hash.h"

#define VECTOR_KEYS 6

static const char *const vector_keys[VECTOR_KEYS] = {
    "", "a", "foo", "hello world", "key:123", "\xc3\xa9t\xc3\xa9",
};

/* From twemproxy's own src/hashkit sources on x86-64, by hash_kind. */
static const uint32_t vectors[HASH_KIND_COUNT][VECTOR_KEYS] = {
    {0x00000000, 0xca2e9442, 0x238678dd, 0x3e4a5a57, 0x7f89f0b7, 0x7fcb4b35},
    {0xd98c1dd4, 0xb975c10c, 0xdb18bdac, 0xbb3bb65e, 0xec0aaf2e, 0x1e6aafde},
    {0x00000000, 0x00007c87, 0x0c3caf96, 0xf2063be4, 0x9a3582c6, 0xe626a767},
    {0x00000000, 0x000068b7, 0x00000c73, 0x00000d4a, 0x000050b9, 0x000044d1},
    {0x00000000, 0xe8b7be43, 0x8c736521, 0x0d4a1185, 0x50b97933, 0x44d16cd4},
    {0x84222325, 0x8601b7be, 0x6ba13533, 0xb1910e6f, 0x738045e4, 0xee202e17},
    {0x84222325, 0x8601ec8c, 0xfed9d577, 0x023cd2e7, 0xc1387676, 0xea769c57},
    {0x811c9dc5, 0x050c5d7e, 0x408f5e13, 0x548da96f, 0xb3b7e5c4, 0xbebb7c97},
    {0x811c9dc5, 0xe40c292c, 0xa9f37ed7, 0xd58b3fa7, 0x01e091b6, 0x0beea017},
    {0x00000000, 0x93642e87, 0x76d4d427, 0x4f799873, 0xeed50c16, 0xcc955977},
    {0x00000000, 0x4b41757c, 0xc4e0338f, 0x5e19153b, 0xebaabad3, 0xda710acb},
    {0xdeadbefc, 0xe0a38690, 0x99f84f99, 0x153343fb, 0x3d013236, 0x89466c13},
};

static const char *const config_names[HASH_KIND_COUNT] = {
    "one_at_a_time", "md5",     "crc16",    "crc32", "crc32a", "fnv1_64",
    "fnv1a_64",      "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
};

#define GEN_KEYS 500
#define GEN_MAX_LEN 77

/*
 * Deterministic keys of length 0..76, every byte value likely, so the
 * sign extension of bytes >= 0x80 and every tail length are exercised.
 */
static size_t
gen_key(unsigned n, unsigned char *key)
{
    uint32_t s = 2654435761u * (n + 1);
    size_t len = n % GEN_MAX_LEN;

    for (size_t i = 0; i < len; i++) {
        s = s * 1103515245u + 12345u;
        key[i] = (unsigned char)(s >> 16);
    }
    return len;
}

Test(hash, matches_twemproxy_vectors)
{
    for (int k = 0; k < HASH_KIND_COUNT; k++) {
        for (int i = 0; i < VECTOR_KEYS; i++) {
            const char *key = vector_keys[i];
            uint32_t got = hash_key((hash_kind)k, key, strlen(key));

            cr_expect_eq(got, vectors[k][i], "%s(key %d) = %08x, want %08x",
                         config_names[k], i, got, vectors[k][i]);
        }
    }
}

/* The empty key is hashed, not mapped to 0: route.c owns that rule. */
Test(hash, empty_key_is_hashed_even_when_null)
{
    cr_expect_eq(hash_key(HASH_MD5, NULL, 0), 0xd98c1dd4);
    cr_expect_eq(hash_key(HASH_JENKINS, NULL, 0), 0xdeadbefc);
    cr_expect_eq(hash_key(HASH_FNV1A_64, NULL, 0), 0x84222325);
}

/* Textbook FNV (unsigned bytes) gives other values for "été". */
Test(hash, fnv_sign_extends_bytes_above_0x7f)
{
    const char *key = vector_keys[5];

    cr_expect_neq(hash_key(HASH_FNV1A_32, key, 5), 0xffb58817);
    cr_expect_neq(hash_key(HASH_FNV1A_64, key, 5), 0x88b51857);
}

/*
 * No 2.3 vector has a high byte third in a 3-byte tail, where hsieh
 * sign-extends; these come from twemproxy's nc_hsieh.c on x86-64.
 */
Test(hash, hsieh_sign_extends_the_third_tail_byte)
{
    cr_expect_eq(hash_key(HASH_HSIEH, "ab\xe9", 3), 0x125794e5);
    cr_expect_eq(hash_key(HASH_HSIEH, "\xff\xfe\xfd", 3), 0xd989515e);
    cr_expect_eq(hash_key(HASH_HSIEH, "key\x80xyz\xc3", 8), 0xe2ebbb0e);
}

Test(hash, md5_digest_is_the_standard_one)
{
    static const unsigned char empty[16] = {
        0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
        0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e,
    };
    unsigned char d[16];

    hash_md5_digest("", 0, d);
    cr_expect_arr_eq(d, empty, sizeof(d));
}

/* The hashes libhashkit 1.1.4 computes as twemproxy does (design.md). */
static const struct {
    hash_kind kind;
    hashkit_hash_algorithm_t algorithm;
} hashkit_twins[] = {
    {HASH_ONE_AT_A_TIME, HASHKIT_HASH_DEFAULT},
    {HASH_MD5, HASHKIT_HASH_MD5},
    {HASH_CRC32, HASHKIT_HASH_CRC},
    {HASH_FNV1_64, HASHKIT_HASH_FNV1_64},
    {HASH_FNV1A_64, HASHKIT_HASH_FNV1A_64},
    {HASH_FNV1_32, HASHKIT_HASH_FNV1_32},
    {HASH_FNV1A_32, HASHKIT_HASH_FNV1A_32},
    {HASH_MURMUR, HASHKIT_HASH_MURMUR},
    {HASH_JENKINS, HASHKIT_HASH_JENKINS},
};

Test(hash, agrees_with_libhashkit_on_generated_keys)
{
    size_t twins = sizeof(hashkit_twins) / sizeof(hashkit_twins[0]);
    unsigned char key[GEN_MAX_LEN];

    for (size_t t = 0; t < twins; t++) {
        hashkit_st *hk = hashkit_create(NULL);

        cr_assert_not_null(hk);
        cr_assert_eq(hashkit_set_function(hk, hashkit_twins[t].algorithm),
                     HASHKIT_SUCCESS);
        for (unsigned n = 0; n < GEN_KEYS; n++) {
            size_t len = gen_key(n, key);
            const char *k = (const char *)key;
            uint32_t want = hashkit_digest(hk, k, len);

            cr_expect_eq(hash_key(hashkit_twins[t].kind, k, len), want,
                         "%s differs from libhashkit on key %u",
                         config_names[hashkit_twins[t].kind], n);
        }
        hashkit_free(hk);
    }
}

/* CRC-16/XMODEM bit by bit, with twemproxy's unmasked 32-bit register. */
static uint32_t
crc16_bitwise(const unsigned char *p, size_t len)
{
    uint32_t crc = 0;

    for (size_t i = 0; i < len; i++) {
        uint32_t t = ((crc >> 8) ^ p[i]) & 0xff;

        t <<= 8;
        for (int bit = 0; bit < 8; bit++)
            t = (t & 0x8000) ? ((t << 1) ^ 0x1021) & 0xffff : t << 1;
        crc = (crc << 8) ^ t;
    }
    return crc;
}

Test(hash, crc16_table_matches_bitwise_crc)
{
    unsigned char key[GEN_MAX_LEN];

    for (unsigned n = 0; n < GEN_KEYS; n++) {
        size_t len = gen_key(n, key);

        cr_expect_eq(hash_key(HASH_CRC16, (const char *)key, len),
                     crc16_bitwise(key, len), "key %u", n);
    }
}

/* crc32 is libmemcached's 15-bit slice of the full crc32a. */
Test(hash, crc32_is_15_bits_of_crc32a)
{
    unsigned char key[GEN_MAX_LEN];

    for (unsigned n = 0; n < GEN_KEYS; n++) {
        size_t len = gen_key(n, key);
        uint32_t full = hash_key(HASH_CRC32A, (const char *)key, len);
        uint32_t cut = hash_key(HASH_CRC32, (const char *)key, len);

        cr_expect_eq(cut, (full >> 16) & 0x7fff, "key %u", n);
    }
}

Test(hash, kind_names_round_trip)
{
    for (int k = 0; k < HASH_KIND_COUNT; k++) {
        const char *name = hash_kind_name((hash_kind)k);

        cr_assert_not_null(name);
        cr_expect_str_eq(name, config_names[k]);
        cr_expect_eq(hash_kind_from_name(name, strlen(name)), k);
    }
}

Test(hash, kind_from_name_wants_the_exact_spelling)
{
    cr_expect_eq(hash_kind_from_name("FNV1A_64", 8), -1);
    cr_expect_eq(hash_kind_from_name("fnv1a_6", 7), -1);
    cr_expect_eq(hash_kind_from_name("", 0), -1);
    cr_expect_eq(hash_kind_from_name("md5x", 4), -1);
    /* Only `len` bytes count: a prefix of a longer buffer is a name. */
    cr_expect_eq(hash_kind_from_name("md5x", 3), HASH_MD5);
}

Test(hash, out_of_range_kind_is_harmless)
{
    cr_expect_null(hash_kind_name(HASH_KIND_COUNT));
    cr_expect_eq(hash_key(HASH_KIND_COUNT, "foo", 3), 0);
}
