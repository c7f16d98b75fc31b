/*
 * test_dns_answer.c - what an operator reads for each DNS error answer (rb_dns_answer_err), with
 * the answers Knot, PowerDNS and BIND give; and the pure helpers of dns.c a dns step relies on:
 * names inside MX/SRV data made absolute, and "the RRset already is this record".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/dns.h"
#include "rollbackctl/dns_wire.h"

static struct rb_dns_answer_ctx ctx(bool update)
{
    struct rb_dns_answer_ctx c;

    memset(&c, 0, sizeof(c));
    c.server = "10.0.0.53";
    c.zone = "example.com.";
    c.key_name = "rollback-key.";
    c.name = "payroll.example.com.";
    c.type = "A";
    c.what = update ? "the update of 'payroll.example.com.' A"
                    : "the query for 'payroll.example.com.' A";
    c.update = update;
    c.now = 1764000000;
    return c;
}

static const struct rb_tsig_info no_tsig = { .present = false };

static struct rb_tsig_info tsig_error(uint16_t error)
{
    struct rb_tsig_info t;

    memset(&t, 0, sizeof(t));
    t.present = true;
    t.error = error;
    return t;
}

/* PowerDNS: a bad secret, an unknown key, a clock skew: NOTAUTH and no TSIG record at all. */
static void test_unsigned_notauth_to_signed_request(void **state)
{
    struct rb_dns_answer_ctx c = ctx(false);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    assert_int_equal(rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &no_tsig, &err), -1);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' rejected TSIG key 'rollback-key.' for the "
                                 "query for 'payroll.example.com.' A (NOTAUTH, unsigned answer): "
                                 "it does not know the key, the secret differs, or our clock is "
                                 "off");
    assert_non_null(strstr(err.hint, "the key name and algorithm in tsig_key_file"));
    assert_non_null(strstr(err.hint, "the secret is the server's"));
    assert_non_null(strstr(err.hint, "clock is within 300 s"));
    assert_int_equal(err.kind, RB_K_REFUSED);
    assert_null(strstr(err.msg, "not authoritative"));
}

/* The same answer to an unsigned request still means what it says. */
static void test_notauth_unsigned_request(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    c.key_name = NULL;
    rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &no_tsig, &err);
    assert_string_equal(err.msg,
                        "DNS server '10.0.0.53' is not authoritative for zone 'example.com.' "
                        "(NOTAUTH)");
    assert_non_null(strstr(err.hint, "primary server"));
}

/* An unsigned NOTAUTH to the update after a signed query passed: not the key, the policy. */
static void test_unsigned_notauth_after_signed_read(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    c.signed_read_ok = true;
    rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &no_tsig, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' refused the update of "
                                 "'payroll.example.com.' A with TSIG key 'rollback-key.' (NOTAUTH, "
                                 "unsigned answer): it accepts the key for queries, so its policy "
                                 "does not allow this update for this key");
    assert_non_null(strstr(err.hint, "TSIG-ALLOW-DNSUPDATE"));
}

/* Knot: BADKEY to an update its ACL forbids, though the signed read passed. */
static void test_badkey_after_signed_read_is_policy(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_tsig_info t = tsig_error(RB_DNS_BADKEY);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    c.signed_read_ok = true;
    rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &t, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' does not allow TSIG key 'rollback-key.' "
                                 "to make the update of 'payroll.example.com.' A (NOTAUTH/BADKEY): "
                                 "it accepts the key for queries, so its policy does not allow "
                                 "this update for this key");
    assert_non_null(strstr(err.hint, "allow the key to update A records at 'payroll.example.com.'"));
    assert_int_equal(err.kind, RB_K_REFUSED);
}

/* BADKEY without a passing signed read: the key really is unknown (BIND, Knot). */
static void test_badkey_unknown_key(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_tsig_info t = tsig_error(RB_DNS_BADKEY);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &t, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' does not know TSIG key 'rollback-key.' "
                                 "(NOTAUTH/BADKEY)");
    assert_non_null(strstr(err.hint, "key name or algorithm"));
}

static void test_badsig_and_badtime(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_tsig_info t = tsig_error(RB_DNS_BADSIG);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &t, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' rejected the signature of TSIG key "
                                 "'rollback-key.' (NOTAUTH/BADSIG)");
    t = tsig_error(RB_DNS_BADTIME);
    t.other_time = 1764086400;
    rb_dns_answer_err(&c, RB_DNS_NOTAUTH, &t, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' rejected our request time "
                                 "(NOTAUTH/BADTIME): its clock says 1764086400, ours 1764000000");
    assert_non_null(strstr(err.hint, "synchronise the clocks (NTP)"));
}

/* PowerDNS: REFUSED for an A record where a CNAME is. */
static void test_refused_beside_cname(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    c.cname_at_name = true;
    rb_dns_answer_err(&c, RB_DNS_REFUSED, &no_tsig, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' refused the update of "
                                 "'payroll.example.com.' A (REFUSED): 'payroll.example.com.' holds "
                                 "a CNAME, and a CNAME cannot share its name with other data");
    assert_non_null(strstr(err.hint, "remove the CNAME at 'payroll.example.com.' first"));

    c.cname_at_name = false;
    rb_dns_answer_err(&c, RB_DNS_REFUSED, &no_tsig, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' refused the update of "
                                 "'payroll.example.com.' A (REFUSED)");
    assert_non_null(strstr(err.hint, "does not allow key 'rollback-key.' to update it"));
}

static void test_servfail_is_not_refused(void **state)
{
    struct rb_dns_answer_ctx c = ctx(true);
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    rb_dns_answer_err(&c, RB_DNS_SERVFAIL, &no_tsig, &err);
    assert_string_equal(err.msg, "DNS server '10.0.0.53' failed to process the update of "
                                 "'payroll.example.com.' A (SERVFAIL)");
    assert_int_not_equal(err.kind, RB_K_REFUSED);
}

/* Names inside MX and SRV data are relative to the zone, as CNAME/NS/PTR data are. */
static void test_data_fqdn(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    assert_string_equal(rb_dns_data_fqdn(a, "MX", "10 mail", "example.com."),
                        "10 mail.example.com.");
    assert_string_equal(rb_dns_data_fqdn(a, "MX", " 10   Mail.example.com ", "example.com."),
                        "10 mail.example.com.");
    assert_string_equal(rb_dns_data_fqdn(a, "MX", "10 mail.other.org.", "example.com."),
                        "10 mail.other.org.");
    assert_string_equal(rb_dns_data_fqdn(a, "MX", "0 .", "example.com."), "0 .");
    assert_string_equal(rb_dns_data_fqdn(a, "SRV", "0 5 8080 app", "example.com."),
                        "0 5 8080 app.example.com.");
    assert_string_equal(rb_dns_data_fqdn(a, "CNAME", "legacy-app", "example.com"),
                        "legacy-app.example.com.");
    assert_string_equal(rb_dns_data_fqdn(a, "PTR", "@", "example.com."), "example.com.");
    /* Not the type's shape: left for the driver to refuse, unchanged. */
    assert_string_equal(rb_dns_data_fqdn(a, "MX", "mail", "example.com."), "mail");
    assert_string_equal(rb_dns_data_fqdn(a, "SRV", "0 5 app", "example.com."), "0 5 app");
    assert_string_equal(rb_dns_data_fqdn(a, "TXT", "v=spf1 mx", "example.com."), "v=spf1 mx");
    assert_string_equal(rb_dns_data_fqdn(a, "A", "192.0.2.1", "example.com."), "192.0.2.1");
    rb_arena_free(a);
}

static void test_rrset_matches(void **state)
{
    struct rb_arena *a = rb_arena_new();
    const char *one[] = { "10 mail.example.com." }, *two[] = { "10 mail.example.com.", "20 b." };
    struct rb_dns_rrset set = { one, 1, 300 };
    struct rb_dns_record rec = { "example.com.", "MX", "10 Mail.Example.com.", 300 };

    (void)state;
    assert_true(rb_dns_rrset_matches(a, &set, &rec));
    rec.ttl = 60;
    assert_false(rb_dns_rrset_matches(a, &set, &rec)); /* the TTL differs: replace */
    rec.ttl = 300;
    rec.data = "20 mail.example.com.";
    assert_false(rb_dns_rrset_matches(a, &set, &rec));
    rec.data = "10 mail.example.com.";
    set.values = two;
    set.n = 2;
    assert_false(rb_dns_rrset_matches(a, &set, &rec)); /* more records than the one wanted */
    set.n = 0;
    set.ttl = -1;
    assert_false(rb_dns_rrset_matches(a, &set, &rec));
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsigned_notauth_to_signed_request),
        cmocka_unit_test(test_notauth_unsigned_request),
        cmocka_unit_test(test_unsigned_notauth_after_signed_read),
        cmocka_unit_test(test_badkey_after_signed_read_is_policy),
        cmocka_unit_test(test_badkey_unknown_key),
        cmocka_unit_test(test_badsig_and_badtime),
        cmocka_unit_test(test_refused_beside_cname),
        cmocka_unit_test(test_servfail_is_not_refused),
        cmocka_unit_test(test_data_fqdn),
        cmocka_unit_test(test_rrset_matches),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
