/* resp: the exact bytes of encoded commands and the reuse of the buffer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resp.h"

/* Encodes argv (NUL-terminated strings) into `b` and checks the bytes. */
static void
expect_bytes(resp_buf *b, int argc, const char **argv, const size_t *lens,
             const char *want, size_t want_len)
{
    size_t got = resp_format(b, argc, argv, lens);

    cr_assert_eq(got, want_len, "length %zu, expected %zu", got, want_len);
    cr_assert_not_null(b->data);
    cr_assert_geq(b->cap, got);
    cr_assert(memcmp(b->data, want, want_len) == 0,
              "encoded \"%.*s\", expected \"%.*s\"", (int)got, b->data,
              (int)want_len, want);
}

/* The lengths of `argc` NUL-terminated strings. */
static void
lengths(size_t *lens, int argc, const char **argv)
{
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
}

Test(resp, encodes_a_command_byte_for_byte)
{
    resp_buf b = {0};
    const char *argv[] = {"SET", "user:1", "alice"};
    size_t lens[3];
    static const char want[] =
        "*3\r\n$3\r\nSET\r\n$6\r\nuser:1\r\n$5\r\nalice\r\n";

    lengths(lens, 3, argv);
    expect_bytes(&b, 3, argv, lens, want, sizeof(want) - 1);
    resp_buf_free(&b);
}

Test(resp, empty_argument_is_a_zero_length_bulk)
{
    resp_buf b = {0};
    const char *argv[] = {"GET", ""};
    size_t lens[] = {3, 0};
    static const char want[] = "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";

    expect_bytes(&b, 2, argv, lens, want, sizeof(want) - 1);
    resp_buf_free(&b);
}

Test(resp, zero_arguments_is_an_empty_array)
{
    resp_buf b = {0};
    const char *argv[1] = {NULL};
    size_t lens[1] = {0};

    expect_bytes(&b, 0, argv, lens, "*0\r\n", 4);
    resp_buf_free(&b);
}

Test(resp, binary_argument_keeps_nul_and_crlf_bytes)
{
    resp_buf b = {0};
    static const char value[] = "a\0b\r\nc\r\n";
    const char *argv[] = {"SET", "k", value};
    size_t lens[] = {3, 1, sizeof(value) - 1};
    static const char want[] =
        "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$8\r\na\0b\r\nc\r\n\r\n";

    cr_assert_eq(lens[2], 8);
    expect_bytes(&b, 3, argv, lens, want, sizeof(want) - 1);
    resp_buf_free(&b);
}

Test(resp, only_the_given_length_of_an_argument_is_sent)
{
    resp_buf b = {0};
    const char *argv[] = {"GETX", "keyTAIL"};
    size_t lens[] = {3, 3};
    static const char want[] = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";

    expect_bytes(&b, 2, argv, lens, want, sizeof(want) - 1);
    resp_buf_free(&b);
}

/* The expected encoding of `argc` arguments, written with snprintf. */
static size_t
reference(char *out, size_t cap, int argc, const char **argv,
          const size_t *lens)
{
    size_t at = (size_t)snprintf(out, cap, "*%d\r\n", argc);

    for (int i = 0; i < argc; i++) {
        at += (size_t)snprintf(out + at, cap - at, "$%zu\r\n", lens[i]);
        memcpy(out + at, argv[i], lens[i]);
        at += lens[i];
        memcpy(out + at, "\r\n", 2);
        at += 2;
    }
    return at;
}

Test(resp, argument_counts_of_two_and_three_digits)
{
    static const int counts[] = {9, 10, 11, 99, 100, 101, 1000};
    static char args[1000][8];
    const char *argv[1000];
    size_t lens[1000];
    size_t cap = 1000 * 32;
    char *want = malloc(cap);
    resp_buf b = {0};

    cr_assert_not_null(want);
    for (int i = 0; i < 1000; i++) {
        lens[i] = (size_t)snprintf(args[i], sizeof(args[i]), "a%d", i);
        argv[i] = args[i];
    }
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        size_t n = reference(want, cap, counts[c], argv, lens);
        expect_bytes(&b, counts[c], argv, lens, want, n);
    }
    /* Spot-check the headers the reference wrote. */
    cr_expect(memcmp(b.data, "*1000\r\n$2\r\na0\r\n", 15) == 0);
    free(want);
    resp_buf_free(&b);
}

Test(resp, argument_lengths_of_every_digit_width)
{
    static const size_t sizes[] = {0, 1, 9, 10, 99, 100, 999, 1000, 65536};
    char *big = malloc(65536);
    char *want = malloc(65536 + 64);
    resp_buf b = {0};

    cr_assert(big != NULL && want != NULL);
    for (size_t i = 0; i < 65536; i++)
        big[i] = (char)('a' + i % 26);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        const char *argv[] = {big};
        size_t lens[] = {sizes[s]};
        size_t n = reference(want, 65536 + 64, 1, argv, lens);
        char header[32];
        int hl = snprintf(header, sizeof(header), "*1\r\n$%zu\r\n", sizes[s]);

        expect_bytes(&b, 1, argv, lens, want, n);
        cr_expect(memcmp(b.data, header, (size_t)hl) == 0, "size %zu",
                  sizes[s]);
        cr_expect_eq(n, (size_t)hl + sizes[s] + 2);
    }
    free(want);
    free(big);
    resp_buf_free(&b);
}

Test(resp, a_shorter_command_after_a_longer_one_has_its_own_length)
{
    resp_buf b = {0};
    char value[300];
    const char *longer[] = {"SET", "some:key", value};
    size_t longer_lens[] = {3, 8, sizeof(value)};
    const char *ping[] = {"PING"};
    size_t ping_len[] = {4};

    memset(value, 'v', sizeof(value));
    size_t n = resp_format(&b, 3, longer, longer_lens);
    cr_assert_eq(n, 4 + 9 + 14 + 6 + 300 + 2);
    size_t cap = b.cap;
    char *data = b.data;

    expect_bytes(&b, 1, ping, ping_len, "*1\r\n$4\r\nPING\r\n", 14);
    cr_expect_eq(b.cap, cap, "the buffer is never shrunk");
    cr_expect_eq(b.data, data, "and not reallocated when it fits");

    /* A longer one again grows it and is whole. */
    char more[1000];
    const char *longest[] = {"SET", "k", more};
    size_t longest_lens[] = {3, 1, sizeof(more)};
    char *want = malloc(2000);
    cr_assert_not_null(want);
    memset(more, 'm', sizeof(more));
    size_t wn = reference(want, 2000, 3, longest, longest_lens);
    expect_bytes(&b, 3, longest, longest_lens, want, wn);
    cr_expect_geq(b.cap, wn);
    free(want);
    resp_buf_free(&b);
}

Test(resp, freed_buffer_is_empty_and_reusable)
{
    resp_buf b = {0};
    const char *argv[] = {"GET", "k"};
    size_t lens[] = {3, 1};
    static const char want[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";

    expect_bytes(&b, 2, argv, lens, want, sizeof(want) - 1);
    resp_buf_free(&b);
    cr_expect_null(b.data);
    cr_expect_eq(b.cap, 0);
    expect_bytes(&b, 2, argv, lens, want, sizeof(want) - 1);
    resp_buf_free(&b);
    resp_buf_free(&b); /* twice is harmless */
    cr_expect_null(b.data);
}
