/*
 * test_dns_wire.c - DNS wire encoding/decoding and TSIG, against vectors computed independently
 * (python3 struct + hmac, see the comment above each vector) rather than by this code itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/dns_wire.h"

/*
 * Vectors from this python3 program (an independent encoder):
 *   name(n) = b''.join(bytes([len(l)]) + l.lower().encode() for l in n.rstrip('.').split('.')) +
 * b'\0' query  = pack('>HHHHHH', 0x1234, 0, 1, 0, 0, 0) + name('Payroll.Example.Test.') +
 * pack('>HH', 1, 1) update = pack('>HHHHHH', 0xbeef, 5 << 11, 1, 0, 2, 0) + name('example.test.') +
 * pack('>HH', 6, 1)
 *          + name('payroll.example.test.') + pack('>HHIH', 5, 255, 0, 0)
 *          + name('payroll.example.test.') + pack('>HHIH', 5, 1, 60, len(rd)) + rd   # rd = CNAME
 * target key = bytes(range(32)); t = 1764000000; fudge = 300 var = name('rollback-key.') +
 * pack('>HI', 255, 0) + name('hmac-sha256.') + pack('>HIHHH', t >> 32, t & 0xffffffff, fudge, 0, 0)
 *   mac = hmac.new(key, update + var, hashlib.sha256).digest()
 *   response MAC = hmac(key, pack('>H', 32) + mac + response_without_tsig + var(t + 1))
 */
static const char QUERY_HEX[] =
    "12340000000100000000000007706179726f6c6c076578616d706c6504746573740000010001";
static const char UPDATE_HEX[] =
    "beef28000001000000020000076578616d706c650474657374000006000107706179726f6c6c076578616d706c6504"
    "7465737400000500ff00000000000007706179726f6c6c076578616d706c65047465737400000500010000003c0019"
    "0a6c65676163792d617070076578616d706c65047465737400";
static const char MAC_HEX[] = "7a541b8fb08ff087cde2c1b199b36d835bf92684f21cfa4e9da56a06ebcc337b";
static const char SIGNED_HEX[] =
    "beef28000001000000020001076578616d706c650474657374000006000107706179726f6c6c076578616d706c6504"
    "7465737400000500ff00000000000007706179726f6c6c076578616d706c65047465737400000500010000003c0019"
    "0a6c65676163792d617070076578616d706c650474657374000c726f6c6c6261636b2d6b65790000fa00ff00000000"
    "003d0b686d61632d73686132353600000069248100012c00207a541b8fb08ff087cde2c1b199b36d835bf92684f21c"
    "fa4e9da56a06ebcc337bbeef00000000";
static const char RESPONSE_HEX[] =
    "beefa8000001000000000001076578616d706c65047465737400000600010c726f6c6c6261636b2d6b65790000fa00"
    "ff00000000003d0b686d61632d73686132353600000069248101012c002002b3f5b97921bd657fe5d5ae60ac3da07b"
    "8d0145849f37852fafe8ad908c7cfcbeef00000000";

static const char KEY_FILE[] = "# made by tsig-keygen -a hmac-sha256 rollback-key\n"
                               "key \"rollback-key\" {\n"
                               "\talgorithm hmac-sha256;\n"
                               "\tsecret \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\";\n"
                               "};\n";

static const uint64_t T = 1764000000;

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;

        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

static char *tohex(const void *data, size_t n)
{
    static char out[2048];
    const uint8_t *p = data;

    for (size_t i = 0; i < n && 2 * i + 2 < sizeof(out); i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n < sizeof(out) ? 2 * n : sizeof(out) - 1] = '\0';
    return out;
}

static int setup(void **state)
{
    *state = rb_arena_new();
    return 0;
}

static int teardown(void **state)
{
    rb_arena_free(*state);
    return 0;
}

static void test_query_encoding(void **state)
{
    struct rb_buf b = RB_BUF_INIT;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    assert_int_equal(rb_dns_build_query(&b, 0x1234, "Payroll.Example.Test.", 1, &err), 0);
    assert_string_equal(tohex(b.data, b.len), QUERY_HEX);
    rb_buf_release(&b);
}

static void test_replace_encoding(void **state)
{
    struct rb_buf b = RB_BUF_INIT;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    assert_int_equal(rb_dns_build_replace(&b, 0xbeef, "example.test.", "payroll.example.test.", 5,
                                          60, "legacy-app.example.test.", &err),
                     0);
    assert_string_equal(tohex(b.data, b.len), UPDATE_HEX);
    rb_buf_release(&b);
}

static void test_key_parse(void **state)
{
    struct rb_arena *a = *state;
    struct rb_tsig_key key;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_tsig_key_parse(a, KEY_FILE, &key, &err), 0);
    assert_string_equal(key.name, "rollback-key.");
    assert_string_equal(key.algorithm, "hmac-sha256.");
    assert_int_equal(key.secret_len, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key.secret[i], i);
}

static void test_key_parse_errors(void **state)
{
    struct rb_arena *a = *state;
    struct rb_tsig_key key;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(
        rb_tsig_key_parse(a, "key \"k\" { algorithm hmac-md5; secret \"AAAA\"; };", &key, &err),
        -1);
    assert_non_null(strstr(err.msg, "hmac-md5 must not be used"));
    assert_int_equal(rb_tsig_key_parse(a, "key k { algorithm hmac-sha256; };", &key, &err), -1);
    assert_string_equal(err.msg, "key 'k' has no secret");
    assert_int_equal(
        rb_tsig_key_parse(a, "key k { algorithm hmac-sha256; secret \"!!!\"; };", &key, &err), -1);
    assert_non_null(strstr(err.msg, "not valid base64"));
    assert_int_equal(rb_tsig_key_parse(a, "options { };", &key, &err), -1);
    assert_non_null(strstr(err.msg, "no 'key"));
    assert_int_equal(rb_tsig_key_load(a, "/nonexistent/rb.key", &key, &err), -1);
    assert_non_null(strstr(err.msg, "unable to read TSIG key file '/nonexistent/rb.key'"));
}

static void test_sign_matches_independent_hmac(void **state)
{
    struct rb_arena *a = *state;
    struct rb_buf b = RB_BUF_INIT;
    struct rb_err err = RB_ERR_INIT;
    struct rb_tsig_key key;
    unsigned char mac[RB_TSIG_MAC_MAX];
    size_t mac_len = 0;

    assert_int_equal(rb_tsig_key_parse(a, KEY_FILE, &key, &err), 0);
    assert_int_equal(rb_dns_build_replace(&b, 0xbeef, "example.test.", "payroll.example.test.", 5,
                                          60, "legacy-app.example.test.", &err),
                     0);
    assert_int_equal(rb_tsig_sign(&b, &key, T, mac, &mac_len, &err), 0);
    assert_int_equal(mac_len, 32);
    assert_string_equal(tohex(mac, mac_len), MAC_HEX);
    assert_string_equal(tohex(b.data, b.len), SIGNED_HEX);
    rb_buf_release(&b);
}

static void test_verify_response(void **state)
{
    struct rb_arena *a = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_tsig_key key, other;
    struct rb_dns_msg m;
    uint8_t resp[512], mac[64];
    size_t len = unhex(RESPONSE_HEX, resp), mac_len = unhex(MAC_HEX, mac);

    assert_int_equal(rb_tsig_key_parse(a, KEY_FILE, &key, &err), 0);
    assert_int_equal(rb_dns_parse(a, resp, len, &m, &err), 0);
    assert_true(m.qr);
    assert_int_equal(m.opcode, RB_DNS_OPCODE_UPDATE);
    assert_int_equal(m.rcode, 0);
    assert_int_equal(rb_tsig_verify(resp, len, &m, &key, mac, mac_len, T + 2, &err), 0);

    /* Outside the fudge window of our clock. */
    assert_int_equal(rb_tsig_verify(resp, len, &m, &key, mac, mac_len, T + 1000, &err), -1);
    assert_non_null(strstr(err.msg, "check the clocks"));

    /* Another request's MAC: the response is not an answer to our question. */
    mac[0] ^= 1;
    assert_int_equal(rb_tsig_verify(resp, len, &m, &key, mac, mac_len, T + 2, &err), -1);
    assert_non_null(strstr(err.msg, "does not verify with key 'rollback-key.'"));
    mac[0] ^= 1;

    /* Same key name, other secret. */
    assert_int_equal(rb_tsig_key_parse(a,
                                       "key \"rollback-key\" { algorithm hmac-sha256; "
                                       "secret \"c2VjcmV0\"; };",
                                       &other, &err),
                     0);
    assert_int_equal(rb_tsig_verify(resp, len, &m, &other, mac, mac_len, T + 2, &err), -1);
    assert_non_null(strstr(err.msg, "does not verify"));

    /* A flipped bit in the signed part. */
    resp[3] ^= 0x01;
    assert_int_equal(rb_dns_parse(a, resp, len, &m, &err), 0);
    assert_int_equal(rb_tsig_verify(resp, len, &m, &key, mac, mac_len, T + 2, &err), -1);
}

static void test_unsigned_response_and_tsig_error(void **state)
{
    struct rb_arena *a = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_tsig_key key;
    struct rb_tsig_info info;
    struct rb_dns_msg m;
    struct rb_buf b = RB_BUF_INIT;
    uint8_t mac[64];
    size_t mac_len = unhex(MAC_HEX, mac);

    assert_int_equal(rb_tsig_key_parse(a, KEY_FILE, &key, &err), 0);
    /* NOTAUTH with an unsigned TSIG RR carrying BADSIG, as BIND answers a wrong secret. */
    rb_dns_put_header(&b, 0xbeef, 0x8000 | (5 << 11) | 9, 1, 0, 0, 1);
    rb_dns_put_name(&b, "example.test.", &err);
    rb_dns_put_u16(&b, 6);
    rb_dns_put_u16(&b, 1);
    rb_dns_put_name(&b, "rollback-key.", &err);
    rb_dns_put_u16(&b, 250);
    rb_dns_put_u16(&b, 255);
    rb_dns_put_u32(&b, 0);
    rb_dns_put_u16(&b, 13 + 10 + 6);
    rb_dns_put_name(&b, "hmac-sha256.", &err);
    rb_dns_put_u16(&b, 0);
    rb_dns_put_u32(&b, (uint32_t)T);
    rb_dns_put_u16(&b, 300);
    rb_dns_put_u16(&b, 0); /* MAC size 0 */
    rb_dns_put_u16(&b, 0xbeef);
    rb_dns_put_u16(&b, 16); /* BADSIG */
    rb_dns_put_u16(&b, 0);
    assert_int_equal(rb_dns_parse(a, (uint8_t *)b.data, b.len, &m, &err), 0);
    assert_int_equal(m.rcode, RB_DNS_NOTAUTH);
    assert_int_equal(rb_tsig_find((uint8_t *)b.data, b.len, &m, &info, &err), 0);
    assert_true(info.present);
    assert_int_equal(info.error, RB_DNS_BADSIG);
    assert_string_equal(rb_dns_rcode_name(info.error), "BADSIG");
    assert_int_equal(rb_tsig_verify((uint8_t *)b.data, b.len, &m, &key, mac, mac_len, T, &err), -1);
    assert_non_null(strstr(err.msg, "TSIG error BADSIG"));
    rb_buf_release(&b);

    /* No TSIG at all. */
    rb_dns_put_header(&b, 0xbeef, 0x8000 | (5 << 11), 0, 0, 0, 0);
    assert_int_equal(rb_dns_parse(a, (uint8_t *)b.data, b.len, &m, &err), 0);
    assert_int_equal(rb_tsig_verify((uint8_t *)b.data, b.len, &m, &key, mac, mac_len, T, &err), -1);
    assert_non_null(strstr(err.msg, "not signed"));
    rb_buf_release(&b);
}

static void test_parse_compressed_answer(void **state)
{
    struct rb_arena *a = *state;
    struct rb_err err = RB_ERR_INIT;
    struct rb_dns_msg m;
    struct rb_buf b = RB_BUF_INIT;

    /* Answer to QUERY_HEX: payroll.example.test. CNAME legacy-app.<ptr to example.test.>. */
    rb_dns_put_header(&b, 0x1234, 0x8400, 1, 1, 0, 0);
    rb_dns_put_name(&b, "payroll.example.test.", &err);
    rb_dns_put_u16(&b, 5);
    rb_dns_put_u16(&b, 1);
    rb_dns_put_u16(&b, 0xC00C); /* owner: pointer to the question name */
    rb_dns_put_u16(&b, 5);
    rb_dns_put_u16(&b, 1);
    rb_dns_put_u32(&b, 60);
    rb_dns_put_u16(&b, 13);
    rb_buf_add(&b, "\x0alegacy-app", 11);
    rb_dns_put_u16(&b, 0xC014); /* "example.test." inside the question name */
    assert_int_equal(rb_dns_parse(a, (uint8_t *)b.data, b.len, &m, &err), 0);
    assert_int_equal(m.n_rrs, 2);
    assert_true(m.aa);
    assert_string_equal(m.rrs[1].name, "payroll.example.test.");
    assert_int_equal(m.rrs[1].ttl, 60);
    assert_string_equal(rb_dns_rdata_to_text(a, (uint8_t *)b.data, b.len, &m.rrs[1]),
                        "legacy-app.example.test.");

    /* A pointer to itself must not loop. */
    b.data[b.len - 1] = (char)(b.len - 2);
    assert_int_equal(rb_dns_parse(a, (uint8_t *)b.data, b.len, &m, &err), 0);
    assert_string_equal(rb_dns_rdata_to_text(a, (uint8_t *)b.data, b.len, &m.rrs[1]),
                        "\\# 13 0a6c65676163792d617070c03d");
    /* Cut short. */
    assert_int_equal(rb_dns_parse(a, (uint8_t *)b.data, b.len - 3, &m, &err), -1);
    assert_non_null(strstr(err.msg, "malformed DNS response"));
    rb_buf_release(&b);
}

static void test_canonical_forms(void **state)
{
    struct rb_arena *a = *state;
    struct rb_err err = RB_ERR_INIT;

    assert_null(rb_dns_canonical(a, 1, "192.0.2.300", &err));
    assert_string_equal(rb_dns_canonical(a, 1, "192.0.2.10", &err), "192.0.2.10");
    assert_string_equal(rb_dns_canonical(a, 28, "2001:DB8:0:0::1", &err), "2001:db8::1");
    assert_string_equal(rb_dns_canonical(a, 5, "Legacy-App.Example.COM.", &err),
                        "legacy-app.example.com.");
    assert_string_equal(rb_dns_canonical(a, 15, "10   mail.example.com.", &err),
                        "10 mail.example.com.");
    assert_string_equal(rb_dns_canonical(a, 33, "0 5 8080 app.example.com.", &err),
                        "0 5 8080 app.example.com.");
    assert_string_equal(rb_dns_canonical(a, 16, "\"mode=legacy\" \"a \\\"b\\\"\"", &err),
                        "\"mode=legacy\" \"a \\\"b\\\"\"");
    assert_string_equal(rb_dns_canonical(a, 16, "plain", &err), "\"plain\"");
    assert_string_equal(rb_dns_canonical(a, 257, "0 Issue \"letsencrypt.org\"", &err),
                        "0 issue \"letsencrypt.org\"");
    assert_null(rb_dns_canonical(a, 257, "0 issue", &err));
    assert_non_null(strstr(err.msg, "invalid CAA data"));
    assert_null(rb_dns_canonical(a, 15, "mail.example.com.", &err));
    assert_non_null(strstr(err.msg, "invalid MX data"));
    assert_null(rb_dns_canonical(a, 99, "x", &err));
    assert_non_null(strstr(err.msg, "not supported"));
}

/* A CAA tag from the network is printed only when it is what RFC 8659 allows (letters, digits):
 * control bytes (a terminal escape) or a NUL must not reach plan output as they are. */
static void test_caa_tag_from_the_wire(void **state)
{
    struct rb_arena *a = *state;
    static const uint8_t esc[] = { 0, 3, 'i', 0x1b, 'x', 'v' };
    static const uint8_t nul[] = { 0, 3, 'i', 0, 'x', 'v' };
    static const uint8_t ok[] = { 0, 5, 'i', 's', 's', 'u', 'e', 'c', 'a' };
    struct rb_dns_rr rr;

    memset(&rr, 0, sizeof(rr));
    rr.type = 257;
    rr.rdlength = sizeof(esc);
    assert_string_equal(rb_dns_rdata_to_text(a, esc, sizeof(esc), &rr), "\\# 6 0003691b7876");
    rr.rdlength = sizeof(nul);
    assert_string_equal(rb_dns_rdata_to_text(a, nul, sizeof(nul), &rr), "\\# 6 000369007876");
    rr.rdlength = sizeof(ok);
    assert_string_equal(rb_dns_rdata_to_text(a, ok, sizeof(ok), &rr), "0 issue \"ca\"");
}

static void test_names(void **state)
{
    struct rb_buf b = RB_BUF_INIT;
    struct rb_err err = RB_ERR_INIT;
    char label[80];

    (void)state;
    assert_int_equal(rb_dns_put_name(&b, "a..b", &err), -1);
    assert_non_null(strstr(err.msg, "empty label"));
    memset(label, 'x', 64);
    label[64] = '\0';
    assert_int_equal(rb_dns_put_name(&b, label, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 63"));
    rb_buf_reset(&b);
    assert_int_equal(rb_dns_put_name(&b, ".", &err), 0);
    assert_int_equal(b.len, 1);
    assert_int_equal(rb_dns_type_code("cname"), 5);
    assert_string_equal(rb_dns_type_name(28), "AAAA");
    assert_string_equal(rb_dns_rcode_name(10), "NOTZONE");
    assert_string_equal(rb_dns_rcode_name(18), "BADTIME");
    rb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_parse_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sign_matches_independent_hmac, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsigned_response_and_tsig_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_compressed_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canonical_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caa_tag_from_the_wire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
    };

    return cmocka_run_group_tests_name("dns_wire", tests, NULL, NULL);
}
