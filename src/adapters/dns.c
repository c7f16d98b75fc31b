/*
 * dns.c - what every DNS driver shares: finding a target's ops in the registry, absolute names,
 * the per-target timeout, and RRset text for messages.
 */
#include "rollbackctl/dns.h"

#include <ctype.h>
#include <string.h>

#include "rollbackctl/adapter.h"

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

int64_t rb_dns_target_timeout(const struct rb_target *t)
{
    const char *s = rb_target_opt(t, "timeout");
    int64_t ms = s != NULL ? rb_duration_parse(s) : -1;

    return ms > 0 ? ms : RB_DNS_TIMEOUT_MS;
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
