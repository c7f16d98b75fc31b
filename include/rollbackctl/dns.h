/*
 * dns.h - DNS targets: read the current RRset of a name, replace it with one record.
 *
 * One ops struct per driver (rfc2136.c, powerdns.c, dns_exec.c), reached through the driver
 * registry (adapter.h): rb_dns_ops_for(target). Drivers take the target's options as written in the
 * runbook and an arena for everything they hand back. read_record may be NULL (a driver that cannot
 * read, such as exec): plan then says the current value is unknown.
 */
#ifndef ROLLBACKCTL_DNS_H
#define ROLLBACKCTL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

#define RB_DNS_TIMEOUT_MS 5000 /* per operation, when the target has no `timeout:` */

/* One record to put in place of the whole RRset at name/type. */
struct rb_dns_record {
    const char *name; /* FQDN with trailing dot (see rb_dns_fqdn) */
    const char *type; /* "A", "AAAA", "CNAME", "TXT", "MX", "NS", "PTR", "SRV" */
    const char *data; /* presentation format: "192.0.2.1", "legacy-app.example.com." */
    int ttl;
};

/* The RRset as read from the server: values in presentation format, canonical (names lowercase). */
struct rb_dns_rrset {
    const char **values; /* arena-owned; n == 0 when the name has no such RRset */
    size_t n;
    int ttl; /* of the first record, -1 when none */
};

struct rb_dns_ops {
    const char *driver;
    int (*read_record)(struct rb_arena *a, const struct rb_target *t, const char *name,
                       const char *type, struct rb_dns_rrset *out, struct rb_err *err);
    /* Replace the RRset with rec; returns once the server confirmed (read back where possible). */
    int (*set_record)(struct rb_arena *a, const struct rb_target *t,
                      const struct rb_dns_record *rec, struct rb_err *err);
    /*
     * Optional: does the server answer for the zone with the target's credentials, changing
     * nothing (rfc2136: a TSIG-signed SOA query; powerdns: GET of the zone with the API key)?
     * *what (may be NULL) gets one line on what answered ("SOA serial 2026120101"), arena-owned.
     */
    int (*check)(struct rb_arena *a, const struct rb_target *t, const char **what,
                 struct rb_err *err);
};

extern const struct rb_dns_ops rb_rfc2136_ops;
extern const struct rb_dns_ops rb_powerdns_ops;
extern const struct rb_dns_ops rb_dns_exec_ops;

/*
 * The JSON body of a PowerDNS PATCH that replaces the RRset fqdn/type with one record: what the
 * powerdns driver sends, and what break-glass.sh sends for the same step. Arena-owned.
 */
const char *rb_powerdns_replace_body(struct rb_arena *a, const char *fqdn, const char *type, int ttl,
                                     const char *content);

/*
 * One word of an exec target's `command:` with {{name}} {{type}} {{data}} {{ttl}} {{zone}}
 * replaced by rec's values (an unknown {{x}} left as written): what the exec driver runs, and
 * what break-glass.sh writes for the same step. Pure; arena-owned.
 */
const char *rb_dns_exec_word(struct rb_arena *a, const char *word, const struct rb_dns_record *rec,
                             const char *zone);

/* The ops of a DNS target's driver, or NULL with err when the driver is not a built DNS driver. */
const struct rb_dns_ops *rb_dns_ops_for(const struct rb_target *t, struct rb_err *err);

/*
 * A runbook name made absolute: "x." stays; "payroll.example.com" (ends with the zone) gets a dot;
 * any other relative name is taken relative to the zone ("payroll" -> "payroll.example.com.").
 * Lowercased. Arena-owned.
 */
const char *rb_dns_fqdn(struct rb_arena *a, const char *name, const char *zone);

/*
 * The names inside a record's data made absolute as rb_dns_fqdn() does: the whole data of CNAME,
 * NS and PTR, the exchange of MX ("10 mail" -> "10 mail.example.com."), the target of SRV. Other
 * types, and data that does not have the type's shape (the driver refuses it), are returned as
 * written. Arena-owned.
 */
const char *rb_dns_data_fqdn(struct rb_arena *a, const char *type, const char *data,
                             const char *zone);

/*
 * True when set is exactly rec's record: one value, equal to rec->data in canonical form, with
 * rec->ttl. Then a replace would change nothing (and a server such as PowerDNS would still bump
 * the zone's serial and notify its secondaries).
 */
bool rb_dns_rrset_matches(struct rb_arena *a, const struct rb_dns_rrset *set,
                          const struct rb_dns_record *rec);

/* The target's `timeout:` in ms, or RB_DNS_TIMEOUT_MS. */
int64_t rb_dns_target_timeout(const struct rb_target *t);

/* "a, b" for messages and plan output; "(none)" when empty. Arena-owned. */
const char *rb_dns_rrset_text(struct rb_arena *a, const struct rb_dns_rrset *set);

#endif
