/*
 * test_run_metrics.c - rollbackctl's own metrics: the text format (HELP and TYPE for every name,
 * label values escaped, unknown figures without a sample), the Pushgateway URL (percent-escaped
 * segments, the @base64 form for '/' and empty values), and rb_metrics_publish: metrics.prom and
 * the textfile folder written, a push through the ops it is given with job and grouping key, a
 * driver without push and a failing push as warnings. When Debian's prometheus-pushgateway is
 * installed, a real one on loopback receives the push (GET /metrics finds the sample).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rollbackctl/fsutil.h"
#include "rollbackctl/http.h"
#include "rollbackctl/run_metrics.h"

#define PUSHGATEWAY_BIN "/usr/bin/prometheus-pushgateway"

static cJSON *model(void)
{
    return cJSON_Parse(
        "{\"outcome\":\"succeeded\",\"finished_at\":\"2026-12-01T10:01:40.500Z\","
        "\"metrics\":{\"records_at_risk\":975,\"records_recovered\":975,\"records_lost\":0,"
        "\"recovery_ratio\":1,\"execution_ms\":100500,\"downtime_ms\":null},"
        "\"phases\":[{\"name\":\"sync\",\"duration_ms\":40250},{\"name\":\"verify\","
        "\"duration_ms\":null}]}");
}

static void test_text_format(void **state)
{
    struct rb_buf b = RB_BUF_INIT;
    cJSON *r = model();
    static const char *const names[] = {
        "rollbackctl_records_at_risk",      "rollbackctl_records_recovered",
        "rollbackctl_records_lost",         "rollbackctl_recovery_ratio",
        "rollbackctl_run_duration_seconds", "rollbackctl_phase_duration_seconds",
        "rollbackctl_downtime_seconds",     "rollbackctl_last_run_timestamp_seconds",
        "rollbackctl_run_success",
    };
    char want[256];

    (void)state;
    rb_run_metrics_text(&b, "pay\"roll\\x\nnew", r);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(want, sizeof(want), "# HELP %s ", names[i]);
        assert_non_null(strstr(b.data, want));
        snprintf(want, sizeof(want), "# TYPE %s gauge\n", names[i]);
        assert_non_null(strstr(b.data, want));
    }
    assert_non_null(
        strstr(b.data, "rollbackctl_records_at_risk{runbook=\"pay\\\"roll\\\\x\\nnew\"} 975\n"));
    assert_non_null(strstr(
        b.data, "rollbackctl_run_duration_seconds{runbook=\"pay\\\"roll\\\\x\\nnew\"} 100.5\n"));
    assert_non_null(strstr(b.data, "phase=\"sync\"} 40.25\n"));
    assert_null(strstr(b.data, "phase=\"verify\""));              /* no duration: no sample */
    assert_null(strstr(b.data, "rollbackctl_downtime_seconds{")); /* no freeze: no sample */
    assert_non_null(strstr(b.data, "rollbackctl_last_run_timestamp_seconds{runbook="
                                   "\"pay\\\"roll\\\\x\\nnew\"} 1796119300.5\n"));
    assert_non_null(
        strstr(b.data, "rollbackctl_run_success{runbook=\"pay\\\"roll\\\\x\\nnew\"} 1\n"));
    rb_buf_release(&b);
    cJSON_Delete(r);
}

static void test_pushgateway_url(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    assert_string_equal(
        rb_pushgateway_url(a, "http://gw:9091/", "rollbackctl", "runbook", "payroll"),
        "http://gw:9091/metrics/job/rollbackctl/runbook/payroll");
    assert_string_equal(rb_pushgateway_url(a, "http://gw", "rollbackctl", "runbook", "pay roll+x"),
                        "http://gw/metrics/job/rollbackctl/runbook/pay%20roll%2Bx");
    /* "a/b" base64url is YS9i; "pay/r" is cGF5L3I= */
    assert_string_equal(rb_pushgateway_url(a, "http://gw", "rollbackctl", "runbook", "a/b"),
                        "http://gw/metrics/job/rollbackctl/runbook@base64/YS9i");
    assert_string_equal(rb_pushgateway_url(a, "http://gw", "rollbackctl", "runbook", "pay/r"),
                        "http://gw/metrics/job/rollbackctl/runbook@base64/cGF5L3I=");
    assert_string_equal(rb_pushgateway_url(a, "http://gw", "rollbackctl", "runbook", ""),
                        "http://gw/metrics/job/rollbackctl/runbook@base64/=");
    rb_arena_free(a);
}

/* ---- publish ---------------------------------------------------------------------------------- */

static struct {
    int calls;
    char job[64], label[64], value[64], target[64];
    bool fail;
} fake;

static int fake_push(struct rb_arena *a, const struct rb_target *t, const char *job,
                     const char *label, const char *value, const char *body, struct rb_err *err)
{
    (void)a, (void)body;
    fake.calls++;
    snprintf(fake.job, sizeof(fake.job), "%s", job);
    snprintf(fake.label, sizeof(fake.label), "%s", label);
    snprintf(fake.value, sizeof(fake.value), "%s", value);
    snprintf(fake.target, sizeof(fake.target), "%s", t->name);
    return fake.fail ? rb_errf(err, RB_E_FAILED, "pushgateway down") : 0;
}

struct fixture {
    struct rb_arena *a;
    struct rb_ctx ctx;
    struct rb_runbook rb;
    struct rb_target targets[2];
    struct rb_opt opts[3];
    char dir[64];
};

static struct fixture *fixture_new(const char *pushgateway)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->a = rb_arena_new();
    f->ctx.arena = f->a;
    f->ctx.out = stdout;
    f->ctx.diag = fopen(getenv("RB_TEST_VERBOSE") != NULL ? "/dev/stderr" : "/dev/null", "w");
    snprintf(f->dir, sizeof(f->dir), "/tmp/rb-metrics-test.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->rb.name = "pay/roll";
    f->rb.state_dir = f->dir;
    f->rb.metrics_textfile_dir = rb_sprintf(f->a, "%s/textfile", f->dir);
    assert_int_equal(rb_mkdir_p(f->rb.metrics_textfile_dir, 0700, &(struct rb_err)RB_ERR_INIT), 0);
    f->opts[0] = (struct rb_opt){ .key = "url", .value = "http://127.0.0.1:1" };
    f->opts[1] = (struct rb_opt){ .key = "pushgateway", .value = pushgateway };
    f->opts[2] = (struct rb_opt){ .key = "timeout", .value = "5s" };
    f->targets[0] = (struct rb_target){ .name = "db", .driver = "postgres", .kind = RB_TARGET_DB };
    f->targets[1] = (struct rb_target){ .name = "metrics",
                                        .driver = "prometheus",
                                        .kind = RB_TARGET_METRICS,
                                        .opts = f->opts,
                                        .n_opts = 3 };
    f->rb.targets = f->targets;
    f->rb.n_targets = 2;
    return f;
}

static void fixture_free(struct fixture *f)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    fclose(f->ctx.diag);
    rb_arena_free(f->a);
    free(f);
}

static void test_publish_files_and_push(void **state)
{
    struct fixture *f = fixture_new("http://gw:9091");
    const struct rb_metrics_ops ops = { .driver = "prometheus", .push = fake_push };
    const struct rb_metrics_ops no_push = { .driver = "prometheus" };
    char *got;

    (void)state;
    memset(&fake, 0, sizeof(fake));
    assert_int_equal(rb_metrics_publish(&f->ctx, &f->rb, "x 1\n", &ops), 0);
    got = rb_read_file(rb_sprintf(f->a, "%s/metrics.prom", f->dir), NULL,
                       &(struct rb_err)RB_ERR_INIT);
    assert_string_equal(got, "x 1\n");
    free(got);
    got = rb_read_file(rb_sprintf(f->a, "%s/textfile/rollbackctl-pay-roll.prom", f->dir), NULL,
                       &(struct rb_err)RB_ERR_INIT);
    assert_string_equal(got, "x 1\n");
    free(got);
    assert_int_equal(fake.calls, 1); /* the metrics target only, not the database */
    assert_string_equal(fake.job, "rollbackctl");
    assert_string_equal(fake.label, "runbook");
    assert_string_equal(fake.value, "pay/roll");
    assert_string_equal(fake.target, "metrics");
    /* a failing push and a driver without push: warnings, counted */
    fake.fail = true;
    assert_int_equal(rb_metrics_publish(&f->ctx, &f->rb, "x 2\n", &ops), 1);
    assert_int_equal(rb_metrics_publish(&f->ctx, &f->rb, "x 3\n", &no_push), 1);
    got = rb_read_file(rb_sprintf(f->a, "%s/metrics.prom", f->dir), NULL,
                       &(struct rb_err)RB_ERR_INIT);
    assert_string_equal(got, "x 3\n"); /* the files are written whatever the push did */
    free(got);
    fixture_free(f);
}

/* ---- a real Pushgateway ------------------------------------------------------------------------ */

static int free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void test_real_pushgateway(void **state)
{
    struct fixture *f;
    const struct rb_metrics_ops ops = { .driver = "prometheus", .push = rb_pushgateway_push };
    struct rb_http_response res = { 0 };
    struct rb_err err = RB_ERR_INIT;
    struct rb_buf body = RB_BUF_INIT;
    char listen[64], base[64];
    cJSON *r = model();
    pid_t pid;
    int port, i, ready = 0;

    (void)state;
    if (access(PUSHGATEWAY_BIN, X_OK) != 0)
        skip();
    port = free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    f = fixture_new(base); /* before the server starts: a failing assertion here leaves none */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);

        dup2(devnull, 1);
        dup2(devnull, 2);
        /* in memory only: Debian's default persistence file is the machine's, not the test's */
        execl(PUSHGATEWAY_BIN, PUSHGATEWAY_BIN, listen, "--persistence.file=", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 100 && !ready; i++) {
        struct rb_http_request req = { .url = rb_sprintf(f->a, "%s/-/ready", base),
                                       .timeout_ms = 1000 };

        rb_err_clear(&err);
        ready = rb_http_do(f->a, &req, &res, &err) == 0 && res.status == 200;
        if (!ready)
            usleep(100 * 1000);
    }
    if (!ready) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
        fixture_free(f);
        fail_msg("the pushgateway did not become ready on %s", base);
    }
    rb_run_metrics_text(&body, f->rb.name, r);
    {
        struct rb_http_request req = { .url = rb_sprintf(f->a, "%s/metrics", base),
                                       .timeout_ms = 5000 };
        int pushed = rb_metrics_publish(&f->ctx, &f->rb, body.data, &ops);
        int got = rb_http_do(f->a, &req, &res, &err);

        if (pushed != 0 || got != 0 || res.status != 200) { /* stop the server before failing */
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
        }
        assert_int_equal(pushed, 0);
        assert_int_equal(got, 0);
        assert_int_equal(res.status, 200);
    }
    /* kill the server first, so that a failing assertion does not leave it running */
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    /* the grouping key's runbook (with its '/', sent @base64) is the samples' label */
    assert_non_null(strstr(res.body, "rollbackctl_run_success{instance=\"\",job=\"rollbackctl\","
                                     "runbook=\"pay/roll\"} 1"));
    assert_non_null(strstr(res.body,
                           "rollbackctl_records_recovered{instance=\"\",job=\"rollbackctl\","
                           "runbook=\"pay/roll\"} 975"));
    /* a pushgateway that does not answer (the one just stopped): a warning, counted */
    assert_int_equal(rb_metrics_publish(&f->ctx, &f->rb, body.data, &ops), 1);
    rb_buf_release(&body);
    cJSON_Delete(r);
    fixture_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_format),
        cmocka_unit_test(test_pushgateway_url),
        cmocka_unit_test(test_publish_files_and_push),
        cmocka_unit_test(test_real_pushgateway),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
