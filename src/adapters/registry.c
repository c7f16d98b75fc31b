/*
 * registry.c - every driver a runbook may name, its kind, its keys and its operations.
 *
 * The loader checks targets against these rows; phases fetch the ops pointer and cast it to the
 * ops struct of the kind. Keep the table sorted by kind, then name.
 */
#include "rollbackctl/adapter.h"
#include "rollbackctl/pg.h"

#include <string.h>

#include "rollbackctl/dns.h"
#include "rollbackctl/kubernetes.h"
#include "rollbackctl/metrics.h"
#include "rollbackctl/notify.h"

static const char *const pg_required[] = { "conninfo", NULL };
static const char *const pg_optional[] = { "password_env", "connect_timeout", NULL };

static const char *const k8s_optional[] = { "kubeconfig", "context", "namespace",
                                            "token_env",  "timeout", NULL };

static const char *const rfc2136_required[] = { "server", "zone", NULL };
static const char *const rfc2136_optional[] = { "tsig_key_file", "timeout", NULL };
static const char *const powerdns_required[] = { "url", "zone", NULL };
static const char *const powerdns_optional[] = { "api_key_env", "server_id", "timeout", NULL };
static const char *const dns_exec_required[] = { "command", NULL };
static const char *const dns_exec_optional[] = { "zone", "timeout", NULL };

static const char *const prom_required[] = { "url", NULL };
static const char *const prom_optional[] = { "pushgateway", "bearer_token_env", "timeout", NULL };

static const char *const smtp_required[] = { "url", "from", NULL };
static const char *const smtp_optional[] = { "username_env", "password_env", "ca_file", "timeout",
                                             NULL };
static const char *const webhook_optional[] = { "url", "url_env", "timeout", NULL };
static const char *const webhook_one_of[] = { "url", "url_env", NULL };

/* Not const: rb_driver_override_ops() lets a unit test put fake ops in a row. */
static struct rb_driver drivers[] = {
    { "postgres", RB_TARGET_DB, pg_required, pg_optional, NULL, &rb_pg_ops },
    { "kubernetes", RB_TARGET_CLUSTER, NULL, k8s_optional, NULL, &rb_k8s_ops },
    { "exec", RB_TARGET_DNS, dns_exec_required, dns_exec_optional, NULL, &rb_dns_exec_ops },
    { "powerdns", RB_TARGET_DNS, powerdns_required, powerdns_optional, NULL, &rb_powerdns_ops },
    { "rfc2136", RB_TARGET_DNS, rfc2136_required, rfc2136_optional, NULL, &rb_rfc2136_ops },
    { "prometheus", RB_TARGET_METRICS, prom_required, prom_optional, NULL, &rb_prometheus_ops },
    { "smtp", RB_TARGET_NOTIFY, smtp_required, smtp_optional, NULL, &rb_smtp_ops },
    { "webhook", RB_TARGET_NOTIFY, NULL, webhook_optional, webhook_one_of, &rb_webhook_ops },
};

const struct rb_driver *rb_driver_lookup(const char *name)
{
    size_t i;

    if (name == NULL)
        return NULL;
    for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (strcmp(drivers[i].name, name) == 0)
            return &drivers[i];
    return NULL;
}

const void *rb_driver_ops_for(const struct rb_target *t, enum rb_target_kind kind,
                              struct rb_err *err)
{
    const struct rb_driver *d = rb_driver_lookup(t->driver);

    if (d == NULL || d->kind != kind) {
        /* The loader checks kinds against the phases' needs, so this is a runbook mistake. */
        rb_errf(err, RB_E_RUNBOOK, "target '%s' is not a %s target (driver '%s')", t->name,
                rb_target_kind_name(kind), t->driver);
        return NULL;
    }
    if (d->ops == NULL) {
        rb_errf(err, RB_E_FAILED, "%s driver '%s' of target '%s' is not built yet",
                rb_target_kind_name(kind), t->driver, t->name);
        return NULL;
    }
    return d->ops;
}

const void *rb_driver_override_ops(const char *name, const void *ops)
{
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
        if (strcmp(drivers[i].name, name) == 0) {
            const void *was = drivers[i].ops;

            drivers[i].ops = ops;
            return was;
        }
    }
    return NULL;
}

const struct rb_driver *rb_driver_at(size_t i)
{
    return i < sizeof(drivers) / sizeof(drivers[0]) ? &drivers[i] : NULL;
}

const char *rb_driver_names(void)
{
    return "postgres, kubernetes, rfc2136, powerdns, exec, prometheus, smtp, webhook";
}

const char *rb_target_kind_name(enum rb_target_kind k)
{
    switch (k) {
    case RB_TARGET_DB:
        return "database";
    case RB_TARGET_CLUSTER:
        return "cluster";
    case RB_TARGET_DNS:
        return "dns";
    case RB_TARGET_METRICS:
        return "metrics";
    case RB_TARGET_NOTIFY:
        return "notification";
    }
    return "unknown";
}
