/*
 * test_base64.c - the tree's one base64 decoder (src/core/base64.c): what it accepts is what
 * kubectl accepts in a kubeconfig, checked against the real kubectl by hand (see base64.h):
 * standard alphabet, padding, no whitespace, no URL-safe alphabet, and the offset of the first
 * bad byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "rollbackctl/base64.h"

static int decode(struct rb_arena *a, const char *in, unsigned char **out, size_t *n, size_t *bad)
{
    return rb_base64_decode(a, in, strlen(in), out, n, bad);
}

static void test_valid(void **state)
{
    struct rb_arena *a = rb_arena_new();
    unsigned char *out;
    size_t n, bad;

    (void)state;
    assert_int_equal(decode(a, "aGVsbG8gQ0EK", &out, &n, &bad), 0);
    assert_int_equal(n, 9);
    assert_string_equal((char *)out, "hello CA\n");
    assert_int_equal(decode(a, "YQ==", &out, &n, &bad), 0);
    assert_int_equal(n, 1);
    assert_string_equal((char *)out, "a");
    assert_int_equal(decode(a, "YWI=", &out, &n, &bad), 0);
    assert_string_equal((char *)out, "ab");
    assert_int_equal(decode(a, "", &out, &n, &bad), 0);
    assert_int_equal(n, 0);
    /* '+' and '/' of the standard alphabet: "user-with?>>~~" */
    assert_int_equal(decode(a, "dXNlci13aXRoPz4+fn4=", &out, &n, &bad), 0);
    assert_int_equal(n, 14);
    assert_memory_equal(out, "user-with?>>~~", 14);
    rb_arena_free(a);
}

static void test_binary_and_long(void **state)
{
    struct rb_arena *a = rb_arena_new();
    /* every byte value once: base64 of 0..255 made here, then decoded back */
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char raw[3000], *out;
    char *enc = malloc(4 * sizeof(raw) / 3 + 8);
    size_t i, o = 0, n, bad;

    (void)state;
    for (i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 7 + i / 256);
    for (i = 0; i < sizeof(raw); i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

        enc[o++] = tbl[v >> 18 & 63];
        enc[o++] = tbl[v >> 12 & 63];
        enc[o++] = tbl[v >> 6 & 63];
        enc[o++] = tbl[v & 63];
    }
    enc[o] = '\0';
    /* longer than EVP_DecodeUpdate's 64-character lines, without any newline */
    assert_int_equal(decode(a, enc, &out, &n, &bad), 0);
    assert_int_equal(n, sizeof(raw));
    assert_memory_equal(out, raw, sizeof(raw));
    free(enc);
    rb_arena_free(a);
}

static void test_refused(void **state)
{
    struct rb_arena *a = rb_arena_new();
    unsigned char *out = NULL;
    size_t n = 0, bad;

    (void)state;
    /* '-' is OpenSSL's end-of-data marker: without the check this decoded "abc" and succeeded */
    assert_int_equal(decode(a, "YWJj-ZGVmZ2g", &out, &n, &bad), -1);
    assert_int_equal(bad, 4);
    /* URL-safe alphabet: kubectl says "illegal base64 data at input byte 15" */
    assert_int_equal(decode(a, "dXNlci13aXRoPz4-fn4=", &out, &n, &bad), -1);
    assert_int_equal(bad, 15);
    assert_int_equal(decode(a, "dXNlci13aXRoPz4_fn4=", &out, &n, &bad), -1);
    assert_int_equal(bad, 15);
    /* whitespace anywhere (a folded YAML line), as kubectl refuses it */
    assert_int_equal(decode(a, "aGVs bG8gQ0EK", &out, &n, &bad), -1);
    assert_int_equal(bad, 4);
    assert_int_equal(decode(a, "aGVs\nbG8gQ0EK", &out, &n, &bad), -1);
    assert_int_equal(bad, 4);
    /* padding: missing, misplaced, too much, data after it */
    assert_int_equal(decode(a, "YQ", &out, &n, &bad), -1);
    assert_int_equal(bad, 2);
    assert_int_equal(decode(a, "Y", &out, &n, &bad), -1);
    assert_int_equal(bad, 1);
    assert_int_equal(decode(a, "YQ==YQ==", &out, &n, &bad), -1);
    assert_int_equal(bad, 4);
    assert_int_equal(decode(a, "Y===", &out, &n, &bad), -1);
    assert_int_equal(bad, 1);
    assert_int_equal(decode(a, "====", &out, &n, &bad), -1);
    assert_int_equal(bad, 0);
    assert_int_equal(decode(a, "Y*==", &out, &n, &bad), -1);
    assert_int_equal(bad, 1);
    /* a NUL inside the given length is a bad byte, not the end */
    assert_int_equal(rb_base64_decode(a, "YQ\0=", 4, &out, &n, &bad), -1);
    assert_int_equal(bad, 2);
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_binary_and_long),
        cmocka_unit_test(test_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
