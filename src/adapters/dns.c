/*
 * dns.c - what every DNS driver shares: finding a target's ops in the registry, absolute names
 * (of the record and inside its data), whether an RRset already is a record, the per-target
 * timeout, and RRset text for messages.
 */
#include "rollbackctl/dns.h"

#include <ctype.h>
#include <string.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/dns_wire.h"

const struct rb_dns_ops *rb_dns_ops_for(const struct rb_target *t, struct rb_err *err)
{
    return rb_driver_ops_for(t, RB_TARGET_DNS, err);
}

static char *lower_dup(struct rb_arena *a, const char *s, bool add_dot)
{
    char *r = rb_sprintf(a, "%s%s", s, add_dot ? "." : "");

    for (char *p = r; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return r;
}

const char *rb_dns_fqdn(struct rb_arena *a, const char *name, const char *zone)
{
    size_t n = strlen(name), zn;
    const char *z;

    if (n > 0 && name[n - 1] == '.')
        return lower_dup(a, name, false);
    if (zone == NULL || zone[0] == '\0' || strcmp(zone, ".") == 0)
        return lower_dup(a, name, true);
    z = lower_dup(a, zone, false);
    zn = strlen(z);
    if (zn > 0 && z[zn - 1] == '.')
        zn--;
    /* "payroll.example.com" with zone "example.com.": already complete, only the dot is missing. */
    if ((n == zn && strncasecmp(name, z, zn) == 0) ||
        (n > zn && name[n - zn - 1] == '.' && strncasecmp(name + n - zn, z, zn) == 0))
        return lower_dup(a, name, true);
    if (strcmp(name, "@") == 0)
        return rb_sprintf(a, "%.*s.", (int)zn, z);
    return lower_dup(a, rb_sprintf(a, "%s.%.*s", name, (int)zn, z), true);
}

const char *rb_dns_data_fqdn(struct rb_arena *a, const char *type, const char *data,
                             const char *zone)
{
    const char *words[5], *p = data;
    size_t n = 0, want;
    const char *res;

    if (strcasecmp(type, "CNAME") == 0 || strcasecmp(type, "NS") == 0 ||
        strcasecmp(type, "PTR") == 0)
        want = 1;
    else if (strcasecmp(type, "MX") == 0)
        want = 2; /* PREFERENCE EXCHANGE */
    else if (strcasecmp(type, "SRV") == 0)
        want = 4; /* PRIORITY WEIGHT PORT TARGET */
    else
        return data;
    /* Split on blanks; data of another shape is left for the driver to refuse with its message. */
    while (*p != '\0') {
        size_t len;

        p += strspn(p, " \t");
        len = strcspn(p, " \t");
        if (len == 0)
            break;
        if (n == want)
            return data;
        words[n++] = rb_strndup(a, p, len);
        p += len;
    }
    if (n != want)
        return data;
    words[want - 1] = rb_dns_fqdn(a, words[want - 1], zone);
    res = words[0];
    for (size_t i = 1; i < n; i++)
        res = rb_sprintf(a, "%s %s", res, words[i]);
    return res;
}

bool rb_dns_rrset_matches(struct rb_arena *a, const struct rb_dns_rrset *set,
                          const struct rb_dns_record *rec)
{
    struct rb_err err = RB_ERR_INIT;
    int code = rb_dns_type_code(rec->type);
    const char *want;

    if (set->n != 1 || set->ttl != rec->ttl || code == 0)
        return false;
    want = rb_dns_canonical(a, code, rec->data, &err);
    return want != NULL && strcmp(set->values[0], want) == 0;
}

int64_t rb_dns_target_timeout(const struct rb_target *t)
{
    return rb_target_timeout(t, RB_DNS_TIMEOUT_MS);
}

const char *rb_dns_rrset_text(struct rb_arena *a, const struct rb_dns_rrset *set)
{
    const char *s;

    if (set->n == 0)
        return "(none)";
    s = set->values[0];
    for (size_t i = 1; i < set->n; i++)
        s = rb_sprintf(a, "%s, %s", s, set->values[i]);
    return s;
}
