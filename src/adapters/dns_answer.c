/*
 * dns_answer.c - what a DNS server's error answer means, in the words an operator needs.
 *
 * The rfc2136 driver hands over the RCODE, the TSIG record's error and what it found out around
 * the request (was it signed, did a signed query with the same key pass, is there a CNAME at the
 * name); this file picks the sentence and the hint. It is pure so that every server's quirk is
 * pinned by a unit test (tests/unit/test_dns_answer.c) without a server:
 *   - PowerDNS answers a bad secret, an unknown key and a clock skew alike: NOTAUTH, no TSIG;
 *   - Knot answers an update its ACL forbids with BADKEY, although it knows the key;
 *   - PowerDNS refuses an A record next to a CNAME with a bare REFUSED.
 */
#include "rollbackctl/dns_wire.h"

#include <stdio.h>
#include <string.h>

static int refused(struct rb_err *err)
{
    return rb_err_kind(err, RB_K_REFUSED);
}

/* The TSIG record reports an error: the server could not or would not accept our signature. */
static int tsig_err(const struct rb_dns_answer_ctx *c, int rcode, const struct rb_tsig_info *tsig,
                    struct rb_err *err)
{
    const char *key = c->key_name != NULL ? c->key_name : "(none)", *rc = rb_dns_rcode_name(rcode);

    switch (tsig->error) {
    case RB_DNS_BADSIG:
        rb_errf(err, RB_E_FAILED,
                "DNS server '%s' rejected the signature of TSIG key '%s' (%s/BADSIG)", c->server,
                key, rc);
        rb_err_hint(err, "the secret in the target's tsig_key_file does not match the server's key");
        return refused(err);
    case RB_DNS_BADKEY:
        if (c->update && c->signed_read_ok) {
            /* Knot: the key is known (the signed query passed), its ACL does not allow this. */
            rb_errf(err, RB_E_FAILED,
                    "DNS server '%s' does not allow TSIG key '%s' to make %s (%s/BADKEY): it "
                    "accepts the key for queries, so its policy does not allow this update for "
                    "this key",
                    c->server, key, c->what, rc);
            rb_err_hint(err,
                        "allow the key to update %s records at '%s' in the server's policy (Knot: "
                        "an acl with 'action: update' and this key on the zone; BIND: "
                        "allow-update or update-policy)",
                        c->type, c->name);
            return refused(err);
        }
        rb_errf(err, RB_E_FAILED, "DNS server '%s' does not know TSIG key '%s' (%s/BADKEY)",
                c->server, key, rc);
        rb_err_hint(err, "the key name or algorithm in tsig_key_file differs from the server's");
        return refused(err);
    case RB_DNS_BADTIME:
        rb_errf(err, RB_E_FAILED,
                "DNS server '%s' rejected our request time (%s/BADTIME): its clock says %llu, "
                "ours %llu",
                c->server, rc, (unsigned long long)tsig->other_time, (unsigned long long)c->now);
        rb_err_hint(err, "synchronise the clocks (NTP); TSIG allows %d seconds", RB_TSIG_FUDGE);
        return refused(err);
    }
    rb_errf(err, RB_E_FAILED, "DNS server '%s' reports TSIG error %s for %s", c->server,
            rb_dns_rcode_name(tsig->error), c->what);
    return refused(err);
}

/*
 * NOTAUTH without a TSIG record to a signed request. RFC 8945 says an error about the key comes
 * with a TSIG record naming it; PowerDNS sends none, for any of the three causes, so we cannot tell
 * which one it was and name all three.
 */
static int unsigned_notauth(const struct rb_dns_answer_ctx *c, struct rb_err *err)
{
    if (c->update && c->signed_read_ok) {
        rb_errf(err, RB_E_FAILED,
                "DNS server '%s' refused %s with TSIG key '%s' (NOTAUTH, unsigned answer): it "
                "accepts the key for queries, so its policy does not allow this update for this "
                "key",
                c->server, c->what, c->key_name);
        rb_err_hint(err,
                    "allow the key to update zone '%s' on the server (PowerDNS: the zone's "
                    "TSIG-ALLOW-DNSUPDATE metadata and allow-dnsupdate-from; BIND: allow-update or "
                    "update-policy)",
                    c->zone);
        return refused(err);
    }
    rb_errf(err, RB_E_FAILED,
            "DNS server '%s' rejected TSIG key '%s' for %s (NOTAUTH, unsigned answer): it does not "
            "know the key, the secret differs, or our clock is off",
            c->server, c->key_name, c->what);
    rb_err_hint(err,
                "check each: the key name and algorithm in tsig_key_file are the server's (unknown "
                "key); the secret is the server's (bad signature); this machine's clock is within "
                "%d s of the server's (NTP)",
                RB_TSIG_FUDGE);
    return refused(err);
}

int rb_dns_answer_err(const struct rb_dns_answer_ctx *c, int rcode, const struct rb_tsig_info *tsig,
                      struct rb_err *err)
{
    const char *key = c->key_name != NULL ? c->key_name : "(none)";

    if (tsig->present && tsig->error != 0)
        return tsig_err(c, rcode, tsig, err);
    switch (rcode) {
    case RB_DNS_REFUSED:
        if (c->update && c->cname_at_name) {
            rb_errf(err, RB_E_FAILED,
                    "DNS server '%s' refused %s (REFUSED): '%s' holds a CNAME, and a CNAME "
                    "cannot share its name with other data",
                    c->server, c->what, c->name);
            rb_err_hint(err,
                        "remove the CNAME at '%s' first (a step of its own), or make this step "
                        "change the CNAME instead",
                        c->name);
            return refused(err);
        }
        rb_errf(err, RB_E_FAILED, "DNS server '%s' refused %s (REFUSED)", c->server, c->what);
        if (!c->update)
            rb_err_hint(err, "the server does not serve zone '%s' or does not let us query it",
                        c->zone);
        else
            rb_err_hint(err,
                        "the server does not serve zone '%s', or does not allow key '%s' to "
                        "update it",
                        c->zone, key);
        return refused(err);
    case RB_DNS_NOTAUTH:
        if (c->key_name != NULL && !tsig->present)
            return unsigned_notauth(c, err);
        rb_errf(err, RB_E_FAILED, "DNS server '%s' is not authoritative for zone '%s' (NOTAUTH)",
                c->server, c->zone);
        rb_err_hint(err, "point the target at the zone's primary server, and check the zone name");
        return refused(err);
    case RB_DNS_NOTZONE:
        rb_errf(err, RB_E_FAILED, "DNS server '%s': the name is outside zone '%s' (NOTZONE) in %s",
                c->server, c->zone, c->what);
        return refused(err);
    case RB_DNS_SERVFAIL:
        rb_errf(err, RB_E_FAILED, "DNS server '%s' failed to process %s (SERVFAIL)", c->server,
                c->what);
        return rb_err_hint(err,
                           "see the server's log (a read-only zone file or journal is common)");
    case RB_DNS_FORMERR:
    case RB_DNS_NOTIMP:
        rb_errf(err, RB_E_FAILED, "DNS server '%s' does not support %s (%s)", c->server, c->what,
                rb_dns_rcode_name(rcode));
        return refused(err);
    }
    return rb_errf(err, RB_E_FAILED, "DNS server '%s' answered %s to %s", c->server,
                   rb_dns_rcode_name(rcode), c->what);
}
