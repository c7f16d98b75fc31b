/*
 * metrics.h - metrics targets (`driver: prometheus`): read one number with an instant query, and
 * publish the run's own metrics to the target's Pushgateway.
 *
 * One ops struct per driver, reached through the driver registry (adapter.h):
 * rb_metrics_ops_for(target). Drivers take the target's options as written in the runbook (url,
 * bearer_token_env, pushgateway, timeout) and an arena for everything they hand back; they never
 * read other runbook sections. Optional slots are NULL when a driver cannot do that operation.
 *
 *   query  src/adapters/prometheus.c   (the assess phase's `query:` signals)
 *   push   src/adapters/pushgateway.c  (the run's metrics at the end of a run; a warning on failure)
 *   ready  src/adapters/prometheus.c   (prepare's channel check: GET /-/ready, and the
 *                                        Pushgateway's /-/ready when the target has one)
 */
#ifndef ROLLBACKCTL_METRICS_H
#define ROLLBACKCTL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

#define RB_METRICS_TIMEOUT_MS 10000 /* per request, when the target has no `timeout:` */

struct rb_metrics_ops {
    const char *driver;
    /*
     * Instant query (/api/v1/query) of promql. *value gets the result as the server printed it
     * (decimal text, "NaN", "+Inf"; arena-owned): the value of a vector with one sample, "0" for
     * an empty vector, the value of a scalar. Several samples, any other result type, an HTTP or
     * API error, or no answer before the deadline: -1 with err naming the query.
     */
    int (*query)(struct rb_arena *a, const struct rb_target *t, const char *promql,
                 const char **value, struct rb_err *err);
    /*
     * Optional. Replace the metrics of group {job, label=value} on the target's `pushgateway`
     * with body (Prometheus text format). -1 with err when the target has no pushgateway or the
     * push did not succeed before the deadline.
     */
    int (*push)(struct rb_arena *a, const struct rb_target *t, const char *job, const char *label,
                const char *value, const char *body, struct rb_err *err);
    /*
     * Optional. 0 when the server answers its readiness endpoint (/-/ready) with the credentials,
     * and so does the target's `pushgateway` when it has one.
     */
    int (*ready)(struct rb_arena *a, const struct rb_target *t, struct rb_err *err);
};

extern const struct rb_metrics_ops rb_prometheus_ops;

/*
 * The body of a /api/v1/query answer (http_status as received) to one value, as the query slot
 * describes it: 0 with *value (arena-owned), or -1 with err naming promql (several series:
 * "aggregate it, e.g. with sum()"; status "error": the API's error text). Pure: unit-tested.
 */
int rb_prometheus_parse(struct rb_arena *a, const char *promql, long http_status,
                        const char *body, size_t len, const char **value, struct rb_err *err);

/* The ops of a metrics target's driver, or NULL with err when the driver is not built. */
const struct rb_metrics_ops *rb_metrics_ops_for(const struct rb_target *t, struct rb_err *err);

/*
 * The Pushgateway driver of the push slot (src/adapters/pushgateway.c): PUT body to
 * <pushgateway>/metrics/job/<job>/<label>/<value> (the value percent-escaped, or in the
 * Pushgateway's `@base64` form when empty or holding '/'), under the target's timeout. Accepted
 * answers: 200, 202.
 */
int rb_pushgateway_push(struct rb_arena *a, const struct rb_target *t, const char *job,
                        const char *label, const char *value, const char *body, struct rb_err *err);
/* The URL that push sends to (base without trailing '/'). Arena-owned. */
const char *rb_pushgateway_url(struct rb_arena *a, const char *base, const char *job,
                               const char *label, const char *value);

/* The target's `timeout:` in ms, or RB_METRICS_TIMEOUT_MS. */
int64_t rb_metrics_target_timeout(const struct rb_target *t);

#endif
