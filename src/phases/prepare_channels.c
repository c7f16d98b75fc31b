/*
 * prepare_channels.c - prepare's channel.<target> checks (rb_prepare_channels, prepare.h): every
 * target of the runbook answers and accepts its credentials tonight, and nothing is sent or
 * changed to find out.
 *
 *   database  connects and logs in (the check run's read-only session); the server's version
 *   cluster   the driver's version slot: GET /version, then one SelfSubjectAccessReview (proof of
 *             the credentials, since /version is often public)
 *   dns       the driver's check slot: rfc2136 a TSIG-signed SOA query for the zone, powerdns a
 *             GET of the zone with the API key. exec cannot be asked without running its command,
 *             which changes DNS: READY, saying so, once its program is found
 *   metrics   the driver's ready slot: /-/ready of Prometheus, and of the Pushgateway if any
 *   notify    the driver's check slot: smtp connects, EHLO, AUTH when configured, NOOP, QUIT;
 *             webhook a HEAD (no post: a receiver acts on every POST)
 *
 * Each answer within the target's own timeout (the drivers read it); each check on its own, so
 * one dead channel hides none of the others.
 */
#include "rollbackctl/prepare.h"

#include <string.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/db.h"
#include "rollbackctl/dns.h"
#include "rollbackctl/driver_needs.h"
#include "rollbackctl/http.h"
#include "rollbackctl/metrics.h"
#include "rollbackctl/notify.h"
#include "rollbackctl/preflight.h"

#define DB_CHECK_TIMEOUT_MS 10000 /* the version query, when the target has no `timeout:` */

static void db_channel(struct rb_run *run, struct rb_prepare_report *r, const struct rb_target *t,
                       const char *name, int64_t t0)
{
    struct rb_err err = RB_ERR_INIT;
    struct rb_db_result *res;
    struct rb_db *db;

    if ((db = rb_db_target(run, t->name, &err)) == NULL ||
        (res = rb_db_query(db, run->arena, rb_target_timeout(t, DB_CHECK_TIMEOUT_MS),
                           "SELECT current_setting('server_version'), current_user, "
                           "current_database()",
                           0, NULL, &err)) == NULL) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    if (res->nrows < 1 || res->ncols < 3) {
        rb_prepare_record(run, r, name, false, t0, "'%s' answered the version query with no row",
                          t->name);
        return;
    }
    rb_prepare_record(run, r, name, true, t0, "logged in as '%s' to database '%s': PostgreSQL %s",
                      rb_db_text(res, 0, 1), rb_db_text(res, 0, 2), rb_db_text(res, 0, 0));
}

static void cluster_channel(struct rb_run *run, struct rb_prepare_report *r,
                            const struct rb_target *t, const char *name, int64_t t0)
{
    const struct rb_cluster_ops *ops;
    struct rb_err err = RB_ERR_INIT;
    const char *version = NULL;
    struct rb_k8s *k = rb_cluster_open(run, t->name, &ops, &err);

    if (k == NULL) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    if (ops->version == NULL) {
        rb_prepare_record(run, r, name, false, t0,
                          "driver '%s' cannot be checked: it has no version operation",
                          ops->driver);
        return;
    }
    if (ops->version(k, run->arena, &version, &err) < 0) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    rb_prepare_record(run, r, name, true, t0,
                      "%s answered with the target's credentials: version %s, and a "
                      "SelfSubjectAccessReview was accepted",
                      ops->server(k), version != NULL ? version : "?");
}

static void dns_channel(struct rb_run *run, struct rb_prepare_report *r, const struct rb_target *t,
                        const char *name, int64_t t0)
{
    struct rb_err err = RB_ERR_INIT;
    const struct rb_dns_ops *ops = rb_dns_ops_for(t, &err);
    const struct rb_opt *cmd;
    const char *what = NULL, *path;

    if (ops == NULL) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    if (ops->check != NULL) {
        if (ops->check(run->arena, t, &what, &err) < 0)
            rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        else
            rb_prepare_record(run, r, name, true, t0, "%s", what != NULL ? what : "answered");
        return;
    }
    /*
     * No check slot (exec): its command is the only way in, and running it changes DNS. READY,
     * since there is nothing to fix tonight, saying what could not be checked; a command that is
     * not there at all would fail on the night, so that much is looked at.
     */
    cmd = rb_target_opt_node(t, "command");
    if (cmd != NULL && cmd->list.n > 0) {
        if ((path = rb_preflight_find_program(run->arena, cmd->list.items[0], &err)) == NULL) {
            rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
            return;
        }
        rb_prepare_record(run, r, name, true, t0,
                          "driver '%s' cannot be checked without changing DNS; its command is "
                          "there (%s)",
                          ops->driver, path);
        return;
    }
    rb_prepare_record(run, r, name, true, t0, "driver '%s' cannot be checked without changing DNS",
                      ops->driver);
}

static void metrics_channel(struct rb_run *run, struct rb_prepare_report *r,
                            const struct rb_target *t, const char *name, int64_t t0)
{
    struct rb_err err = RB_ERR_INIT;
    const struct rb_metrics_ops *ops = rb_metrics_ops_for(t, &err);
    const char *url = rb_target_opt(t, "url"), *pgw = rb_target_opt(t, "pushgateway");

    if (ops == NULL || (ops->ready != NULL && ops->ready(run->arena, t, &err) < 0)) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    if (ops->ready == NULL) {
        rb_prepare_record(run, r, name, true, t0, "driver '%s' cannot be checked: not checked",
                          ops->driver);
        return;
    }
    rb_prepare_record(run, r, name, true, t0, "'%s' answered /-/ready%s%s%s",
                      url != NULL ? rb_http_redact_url(run->arena, url) : t->name,
                      pgw != NULL ? ", and so did its pushgateway '" : "",
                      pgw != NULL ? rb_http_redact_url(run->arena, pgw) : "",
                      pgw != NULL ? "'" : "");
}

static void notify_channel(struct rb_run *run, struct rb_prepare_report *r,
                           const struct rb_target *t, const char *name, int64_t t0)
{
    struct rb_err err = RB_ERR_INIT;
    const struct rb_notify_ops *ops = rb_notify_ops_for(t, &err);
    const char *what = NULL;

    if (ops == NULL) {
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
        return;
    }
    if (ops->check == NULL) {
        rb_prepare_record(run, r, name, true, t0,
                          "driver '%s' cannot be checked without sending: not checked",
                          ops->driver);
        return;
    }
    if (ops->check(run->arena, t, &what, &err) < 0)
        rb_prepare_record(run, r, name, false, t0, "%s", err.msg);
    else
        rb_prepare_record(run, r, name, true, t0, "%s", what != NULL ? what : "answered");
}

void rb_prepare_channels(struct rb_run *run, struct rb_prepare_report *r)
{
    const struct rb_runbook *rb = run->rb;

    for (size_t i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];
        const char *name = rb_sprintf(run->arena, "channel.%s", t->name);
        int64_t t0 = rb_now_ms();

        switch (t->kind) {
        case RB_TARGET_DB:
            db_channel(run, r, t, name, t0);
            break;
        case RB_TARGET_CLUSTER:
            cluster_channel(run, r, t, name, t0);
            break;
        case RB_TARGET_DNS:
            dns_channel(run, r, t, name, t0);
            break;
        case RB_TARGET_METRICS:
            metrics_channel(run, r, t, name, t0);
            break;
        case RB_TARGET_NOTIFY:
            notify_channel(run, r, t, name, t0);
            break;
        }
    }
}
