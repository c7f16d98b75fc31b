/*
 * test_runbook.c - the loader: the model built from the contract runbook, flow and block style,
 * problems reported all in one pass, sorted, with exact positions, action ids kept unique, and
 * the hash of the bytes read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollbackctl/expr.h"
#include "rollbackctl/runbook.h"

static const char *source_dir(void)
{
    const char *s = getenv("RB_SOURCE_DIR");

    return s != NULL ? s : ".";
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

/* The diagnostics as printed, in one string. */
static char *printed(const struct rb_diags *d)
{
    static char buf[16384];
    FILE *f = fmemopen(buf, sizeof(buf), "w");

    rb_diags_print(d, f);
    fclose(f);
    return buf;
}

static struct rb_runbook *load_str(struct rb_arena *a, const char *yaml, struct rb_diags *d)
{
    rb_diags_init(d, a, "t.yaml");
    return rb_runbook_load_buffer(a, "t.yaml", yaml, strlen(yaml), d);
}

static int lookup_signals(void *ctx, const char *name, struct rb_value *v)
{
    (void)ctx;
    if (strcmp(name, "calc_error_ratio") == 0) {
        v->type = RB_VAL_NUMBER;
        v->str = "0.10";
        return 0;
    }
    if (strcmp(name, "severity") == 0) {
        v->type = RB_VAL_STRING;
        v->str = "critical";
        return 0;
    }
    return -1;
}

static void test_contract_model(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    struct rb_runbook *rb;
    const struct rb_target *t;
    const struct rb_sync_table *st;
    struct rb_err err = RB_ERR_INIT;
    bool b;
    char *path = rb_sprintf(a, "%s/tests/runbooks/good/contract.yaml", source_dir());

    setenv("HOME", "/home/op", 1);
    rb_diags_init(&d, a, path);
    rb = rb_runbook_load(a, path, &d);
    assert_non_null(rb);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n_warnings, 0);

    assert_int_equal(rb->version, 1);
    assert_string_equal(rb->name, "payroll-rollback");
    assert_string_equal(rb->cutover_src, "2026-11-01T00:00:00Z");
    assert_int_equal((long long)rb->cutover, 1793491200LL);
    assert_string_equal(rb->state_dir, "/var/lib/rollbackctl/payroll");

    /* targets, in document order, with kinds from the registry and generic options */
    assert_int_equal(rb->n_targets, 7);
    assert_string_equal(rb->targets[0].name, "new");
    assert_int_equal(rb->targets[0].pos.line, 14);
    assert_int_equal(rb->targets[0].pos.col, 3);
    t = rb_runbook_target(rb, "legacy");
    assert_non_null(t);
    assert_int_equal(t->kind, RB_TARGET_DB);
    assert_string_equal(rb_target_opt(t, "conninfo"),
                        "host=legacy-db dbname=payroll user=rollback");
    assert_string_equal(rb_target_opt(t, "password_env"), "LEGACY_PGPASSWORD");
    assert_int_equal(rb_target_opt_node(t, "password_env")->value_pos.line, 20);
    assert_int_equal(rb_target_opt_node(t, "password_env")->value_pos.col, 19);
    t = rb_runbook_target(rb, "cluster");
    assert_int_equal(t->kind, RB_TARGET_CLUSTER);
    assert_string_equal(rb_target_opt(t, "kubeconfig"), "/home/op/.kube/config");
    assert_int_equal(rb_runbook_target(rb, "dns")->kind, RB_TARGET_DNS);
    assert_int_equal(rb_runbook_target(rb, "metrics")->kind, RB_TARGET_METRICS);
    assert_int_equal(rb_runbook_target(rb, "mail")->kind, RB_TARGET_NOTIFY);
    assert_string_equal(rb_runbook_target(rb, "chat")->driver, "webhook");
    assert_null(rb_runbook_target(rb, "nope"));

    /* signals */
    assert_int_equal(rb->n_signals, 4);
    assert_string_equal(rb->signals[0].name, "calc_error_ratio");
    assert_string_equal(rb->signals[0].target, "new");
    assert_non_null(rb->signals[0].sql);
    assert_string_equal(rb->signals[3].target, "metrics");
    assert_string_equal(rb->signals[3].query, "count(integration_up == 0)");
    assert_null(rb->signals[3].sql);

    /* decision: enums and expressions parsed at load time, evaluated later */
    assert_true(rb->decision.present);
    assert_int_equal(rb->decision.n_matrix, 3);
    assert_int_equal(rb->decision.matrix[0].severity, RB_SEV_CRITICAL);
    assert_int_equal(rb->decision.matrix[0].impact, RB_IMPACT_HIGH);
    assert_int_equal(rb->decision.matrix[0].action, RB_ACT_ROLLBACK);
    assert_string_equal(rb->decision.matrix[0].recovery_time, "2h-4h");
    assert_string_equal(rb->decision.matrix[0].when_src, "calc_error_ratio > 0.10");
    assert_int_equal(rb->decision.matrix[2].action, RB_ACT_FIX_FORWARD);
    assert_int_equal(rb->decision.matrix[2].severity, RB_SEV_MEDIUM);
    assert_int_equal(rb_expr_eval_bool(rb->decision.matrix[0].when, lookup_signals, NULL, &b, &err),
                     0);
    assert_false(b); /* 0.10 > 0.10 */
    assert_int_equal(rb->decision.n_rollback_if, 3);
    assert_string_equal(rb->decision.rollback_if[0].src, "severity == \"critical\"");
    assert_int_equal(
        rb_expr_eval_bool(rb->decision.rollback_if[0].expr, lookup_signals, NULL, &b, &err), 0);
    assert_true(b);

    /* approval */
    assert_true(rb->approval.present);
    assert_int_equal(rb->approval.required[RB_SEV_CRITICAL], 1);
    assert_int_equal(rb->approval.required[RB_SEV_HIGH], 2);
    assert_int_equal(rb->approval.required[RB_SEV_LOW], 2);
    assert_int_equal(rb->approval.timeout_ms, 30 * 60 * 1000);

    /* freeze */
    assert_int_equal(rb->n_freeze, 4);
    assert_int_equal(rb->freeze[0].kind, RB_FREEZE_SCALE);
    assert_string_equal(rb->freeze[0].deployment, "payroll-api");
    assert_int_equal(rb->freeze[0].replicas, 0);
    assert_string_equal(rb->freeze[0].target, "cluster");
    assert_int_equal(rb->freeze[1].kind, RB_FREEZE_SUSPEND_CRONJOBS);
    assert_string_equal(rb->freeze[1].selector, "app=payroll");
    assert_int_equal(rb->freeze[2].kind, RB_FREEZE_DELETE_JOBS);
    assert_int_equal(rb->freeze[3].kind, RB_FREEZE_SNAPSHOT);

    /* sync: tables in order, columns in document order */
    assert_string_equal(rb->sync.from, "new");
    assert_string_equal(rb->sync.to, "legacy");
    assert_int_equal(rb->sync.n_tables, 3);
    st = rb_runbook_sync_table(rb, "new_employees");
    assert_true(st->critical);
    assert_string_equal(st->source_table, "employees");
    assert_string_equal(st->changed_since, "created_at");
    assert_null(st->where);
    assert_string_equal(st->target_table, "employees");
    assert_int_equal(st->key.n, 1);
    assert_string_equal(st->key.items[0], "employee_id");
    assert_int_equal(st->n_columns, 4);
    assert_string_equal(st->columns[0].target_column, "employee_id");
    assert_string_equal(st->columns[0].source_expr, "id");
    assert_string_equal(st->columns[3].target_column, "status");
    assert_int_equal(st->columns[3].pos.line, 113);
    assert_int_equal(st->pos.line, 101);
    st = rb_runbook_sync_table(rb, "processed_payments");
    assert_string_equal(st->where, "status = 'completed'");
    assert_string_equal(st->columns[5].target_column, "fed_tax");
    st = rb_runbook_sync_table(rb, "tax_changes");
    assert_false(st->critical);
    assert_string_equal(st->key.items[0], "emp_id");
    assert_int_equal(st->n_columns, 3);
    assert_string_equal(st->columns[2].source_expr, "allowances");

    /* restore */
    assert_int_equal(rb->n_restore, 6);
    assert_int_equal(rb->restore[0].kind, RB_STEP_RUN);
    assert_int_equal(rb->restore[0].argv.n, 3);
    assert_string_equal(rb->restore[0].argv.items[2], "legacy-db");
    assert_int_equal(rb->restore[0].timeout_ms, 120000);
    assert_int_equal(rb->restore[0].verify.kind, RB_PROBE_SQL);
    assert_string_equal(rb->restore[0].verify.target, "legacy");
    assert_string_equal(rb->restore[0].verify.sql, "select true");
    assert_int_equal(rb->restore[1].verify.kind, RB_PROBE_HTTP);
    assert_string_equal(rb->restore[1].verify.url, "http://legacy-app:8080/health");
    assert_string_equal(rb->restore[1].verify.method, "GET");
    assert_int_equal(rb->restore[1].verify.expect_status, 200);
    assert_int_equal(rb->restore[1].verify.retry.attempts, 20);
    assert_int_equal(rb->restore[1].verify.retry.interval_ms, 3000);
    assert_int_equal(rb->restore[2].kind, RB_STEP_SQL);
    assert_int_equal(rb->restore[2].verify.kind, RB_PROBE_NONE);
    assert_string_equal(rb->restore[2].target, "legacy");
    assert_int_equal(rb->restore[4].kind, RB_STEP_DNS);
    assert_string_equal(rb->restore[4].dns_name, "payroll.example.com.");
    assert_string_equal(rb->restore[4].dns_type, "CNAME");
    assert_string_equal(rb->restore[4].dns_data, "legacy-app.example.com.");
    assert_int_equal(rb->restore[4].dns_ttl, 60);
    assert_int_equal(rb->restore[5].kind, RB_STEP_SCALE);
    assert_string_equal(rb->restore[5].deployment, "legacy-payroll-worker");
    assert_int_equal(rb->restore[5].replicas, 2);

    /* verify */
    assert_int_equal(rb->n_checks, 5);
    assert_int_equal(rb->checks[0].kind, RB_CHECK_COMPARE);
    assert_string_equal(rb->checks[0].compare_table, "processed_payments");
    assert_int_equal(rb->checks[1].kind, RB_CHECK_EQUAL);
    assert_string_equal(rb->checks[1].new_q.target, "new");
    assert_string_equal(rb->checks[1].legacy_q.sql, "select count(*) from employees");
    assert_int_equal(rb->checks[2].kind, RB_CHECK_TOTALS);
    assert_string_equal(rb->checks[2].tolerance, "0.01");
    assert_int_equal(rb->checks[3].kind, RB_CHECK_PROBE);
    assert_int_equal(rb->checks[3].probe.kind, RB_PROBE_HTTP);
    assert_string_equal(rb->checks[3].probe.method, "POST");
    assert_string_equal(rb->checks[3].probe.body, "{\"user\": \"healthcheck\"}");
    assert_int_equal(rb->checks[4].probe.kind, RB_PROBE_RUN);
    assert_string_equal(rb->checks[4].probe.argv.items[0], "/opt/payroll/bin/check-gl");

    /* communicate: templates resolved against the runbook's folder */
    assert_int_equal(rb->n_messages, 3);
    assert_string_equal(rb->messages[0].via, "mail");
    assert_int_equal(rb->messages[0].to.n, 2);
    assert_string_equal(rb->messages[0].to.items[1], "hr@company.com");
    assert_string_equal(rb->messages[0].subject, "Urgent: Payroll System Update");
    assert_string_equal(
        rb->messages[0].template_path,
        rb_sprintf(a, "%s/tests/runbooks/good/templates/leadership.txt", source_dir()));
    assert_null(rb->messages[0].when.expr);
    assert_non_null(rb->messages[1].when.expr);
    assert_string_equal(rb->messages[1].when.src, "outcome == \"succeeded\"");
    assert_string_equal(rb->messages[2].via, "chat");
    assert_int_equal(rb->messages[2].to.n, 0);

    /* prepare */
    assert_true(rb->prepare.present);
    assert_true(rb->prepare.has_backup);
    assert_string_equal(rb->prepare.backup_target, "legacy");
    assert_string_equal(rb->prepare.backup_file, "/backups/legacy/payroll.dump");
    assert_int_equal(rb->prepare.backup_max_age_ms, 24LL * 3600 * 1000);
    assert_string_equal(rb->prepare.restore_test_check, "select count(*) > 0 from payroll_history");
    assert_string_equal(rb->prepare.snapshot_target, "new");
    assert_true(rb->prepare.permissions);
    assert_int_equal(rb->prepare.keep, RB_PREPARE_KEEP_DEFAULT); /* no `keep:`: the last 7 sets */
    assert_true(rb->prepare.channels);
    assert_int_equal(rb->prepare.n_contacts, 1);
    assert_string_equal(rb->prepare.contacts[0].phone, "+1 555 0100");
    assert_null(rb->prepare.contacts[0].name);
}

static void test_check_env(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    struct rb_runbook *rb;
    char *path = rb_sprintf(a, "%s/tests/runbooks/good/contract.yaml", source_dir());

    rb_diags_init(&d, a, "c.yaml");
    rb = rb_runbook_load(a, path, &d);
    assert_non_null(rb);
    setenv("LEGACY_PGPASSWORD", "s3cret", 1);
    setenv("SMTP_USER", "u", 1);
    unsetenv("SMTP_PASSWORD");
    setenv("CHAT_WEBHOOK_URL", "", 1);
    rb_runbook_check_env(rb, &d, false);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(d.n_warnings, 5); /* 2 variables, 3 templates */
    assert_non_null(strstr(printed(&d),
                           "c.yaml:39:19: warning: environment variable 'SMTP_PASSWORD' "
                           "(password_env of target 'mail') is not set\n"
                           "c.yaml:42:14: warning: environment variable 'CHAT_WEBHOOK_URL' "
                           "(url_env of target 'chat') is empty\n"
                           "c.yaml:182:15: warning: template '"));
    assert_non_null(strstr(printed(&d), "templates/staff.txt' of message 'Staff' is not readable"));
    assert_null(strstr(printed(&d), "s3cret"));
    rb_diags_init(&d, a, "c.yaml");
    rb_runbook_check_env(rb, &d, true);
    assert_int_equal(d.n_errors, 5);
    assert_non_null(
        strstr(printed(&d), "c.yaml:39:19: error: environment variable 'SMTP_PASSWORD'"));
}

static const char flow_yaml[] =
    "{version: 1, name: flow, cutover: '2026-11-01T01:00:00+01:00', state_dir: ~/rb,\n"
    " targets: {new: {driver: postgres, conninfo: 'dbname=n'}, legacy: {driver: postgres, "
    "conninfo: 'dbname=l'}},\n"
    " sync: {from: new, to: legacy, tables: [{name: t, source: {table: a, changed_since: c},\n"
    "        target: {table: b, key: [id, k]}, columns: {id: x, k: y, v: z}}]},\n"
    " verify: [{name: c, compare: {table: t}}]}\n";

static const char block_yaml[] = "version: 1\n"
                                 "name: block\n"
                                 "cutover: 2026-11-01T00:00:00Z\n"
                                 "state_dir: ~/rb\n"
                                 "targets:\n"
                                 "  new:\n"
                                 "    driver: postgres\n"
                                 "    conninfo: dbname=n\n"
                                 "  legacy:\n"
                                 "    driver: postgres\n"
                                 "    conninfo: dbname=l\n"
                                 "sync:\n"
                                 "  from: new\n"
                                 "  to: legacy\n"
                                 "  tables:\n"
                                 "    - name: t\n"
                                 "      source:\n"
                                 "        table: a\n"
                                 "        changed_since: c\n"
                                 "      target:\n"
                                 "        table: b\n"
                                 "        key:\n"
                                 "          - id\n"
                                 "          - k\n"
                                 "      columns:\n"
                                 "        id: x\n"
                                 "        k: y\n"
                                 "        v: z\n"
                                 "verify:\n"
                                 "  - name: c\n"
                                 "    compare:\n"
                                 "      table: t\n";

static void test_flow_equals_block(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d1, d2;
    struct rb_runbook *f, *b;
    size_t i;

    setenv("HOME", "/home/op", 1);
    f = load_str(a, flow_yaml, &d1);
    assert_int_equal(d1.n, 0);
    assert_non_null(f);
    b = load_str(a, block_yaml, &d2);
    assert_int_equal(d2.n, 0);
    assert_non_null(b);
    assert_int_equal((long long)f->cutover, (long long)b->cutover);
    assert_string_equal(f->state_dir, "/home/op/rb");
    assert_string_equal(b->state_dir, "/home/op/rb");
    assert_int_equal(f->sync.n_tables, 1);
    assert_int_equal(f->sync.tables[0].key.n, 2);
    assert_int_equal(f->sync.tables[0].n_columns, b->sync.tables[0].n_columns);
    for (i = 0; i < f->sync.tables[0].n_columns; i++) {
        assert_string_equal(f->sync.tables[0].columns[i].target_column,
                            b->sync.tables[0].columns[i].target_column);
        assert_string_equal(f->sync.tables[0].columns[i].source_expr,
                            b->sync.tables[0].columns[i].source_expr);
    }
    assert_string_equal(f->checks[0].compare_table, "t");
    /* positions are those of each style */
    assert_int_equal(f->sync.tables[0].pos.line, 3);
    assert_int_equal(b->sync.tables[0].pos.line, 16);
    assert_int_equal(b->sync.tables[0].pos.col, 7);
}

static void test_all_problems_one_pass(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    const char *yaml = "version: 1\n"
                       "name: x\n"
                       "cutover: 2026-11-01\n"
                       "state_dir: /tmp/x\n"
                       "targets:\n"
                       "  new: {driver: postgres, conninfo: a}\n"
                       "  mail: {driver: smtp, url: 'smtp://m', from: a@b}\n"
                       "sync: {from: mail, to: new, tables: []}\n"
                       "decision:\n"
                       "  rollback_if: ['severity == \"critical\" or affected > 3']\n"
                       "verify:\n"
                       "  - {name: a, compare: {table: nope}}\n"
                       "  - {name: a, run: [true]}\n"
                       "restor: []\n";

    assert_null(load_str(a, yaml, &d));
    assert_int_equal(d.n_errors, 6);
    assert_string_equal(
        printed(&d),
        "t.yaml:3:10: error: invalid time '2026-11-01' for 'cutover' (expected RFC 3339, e.g. "
        "2026-11-01T00:00:00Z)\n"
        "t.yaml:8:14: error: target 'mail' is a notification target; 'sync.from' needs a database "
        "target\n"
        "t.yaml:10:44: error: unknown signal or variable 'affected' in 'decision.rollback_if'\n"
        "t.yaml:12:32: error: no sync table named 'nope' for 'verify.compare.table'\n"
        "t.yaml:13:6: error: duplicate check 'a' (first at line 12)\n"
        "t.yaml:14:1: error: unknown key 'restor'; did you mean 'restore'?\n");
}

static void test_yaml_level_problems(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;

    assert_null(load_str(a, "version: 1\nname: &n x\nstate_dir: *n\n", &d));
    assert_non_null(strstr(
        printed(&d), "t.yaml:2:7: error: anchors are not supported ('&n'); write the value out\n"));
    assert_non_null(
        strstr(printed(&d),
               "t.yaml:3:12: error: aliases are not supported ('*n'); write the value out\n"));

    assert_null(load_str(a, "version: 1\nname: a\nname: b\n", &d));
    assert_non_null(
        strstr(printed(&d), "t.yaml:3:1: error: duplicate key 'name' (first at line 2)\n"));

    assert_null(load_str(a, "version: 1\nname: [a\n", &d));
    assert_int_equal(d.n_errors, 1);
    assert_non_null(strstr(printed(&d), "t.yaml:3:1: error: invalid YAML: "));

    assert_null(load_str(a, "", &d));
    assert_string_equal(printed(&d), "t.yaml:1:1: error: the runbook is empty\n");

    assert_null(load_str(a, "- a\n- b\n", &d));
    assert_string_equal(
        printed(&d),
        "t.yaml:1:1: error: expected a mapping at the top of the runbook, found a list\n");

    assert_null(load_str(a, "a: 1\n---\nb: 2\n", &d));
    assert_non_null(strstr(
        printed(&d), "t.yaml:2:1: error: a runbook is one YAML document; found a second one\n"));

    rb_diags_init(&d, a, "/nonexistent/x.yaml");
    assert_null(rb_runbook_load(a, "/nonexistent/x.yaml", &d));
    assert_string_equal(
        printed(&d),
        "/nonexistent/x.yaml: error: unable to open runbook: No such file or directory\n");
}

static void test_expression_columns(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    const char *yaml = "version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\nstate_dir: /x\n"
                       "targets: {new: {driver: postgres, conninfo: a}}\n"
                       "signals: {ratio: {target: new, sql: select 1}}\n"
                       "decision:\n"
                       "  matrix:\n"
                       "    - {scenario: s, when: ratio >> 1, severity: high}\n"
                       "  rollback_if:\n"
                       "    - \"ratio > 0.1 and (ratio < 2\"\n"
                       "    - 'severity = \"high\"'\n"
                       "    - ratio > 1 and ratoi < 3\n";

    assert_null(load_str(a, yaml, &d));
    assert_string_equal(
        printed(&d),
        "t.yaml:9:34: error: invalid expression in 'decision.matrix.when': expected a value, found "
        "'>'\n"
        "t.yaml:11:24: error: invalid expression in 'decision.rollback_if': unclosed '('\n"
        "t.yaml:12:17: error: invalid expression in 'decision.rollback_if': unknown operator '='; "
        "use '=='\n"
        "t.yaml:13:21: error: unknown signal or variable 'ratoi' in 'decision.rollback_if'; did "
        "you mean 'ratio'?\n");
}

/* deletions: (issue 14): the tombstone key kept in target key order whatever the order written;
   policy, soft_delete and max read; the default policy is ignore;
   a table without deletions: has none (present false, scope NULL); fail_on_deleted read. */
static void test_sync_deletions_model(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    const struct rb_sync_table *st;
    const struct rb_runbook *rb;
    const char *yaml =
        "version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\nstate_dir: /x\n"
        "targets: {new: {driver: postgres, conninfo: a}, legacy: {driver: postgres, conninfo: b}}\n"
        "sync:\n"
        "  from: new\n"
        "  to: legacy\n"
        "  tables:\n"
        "    - name: pay\n"
        "      source: {table: p, changed_since: c}\n"
        "      target: {table: h, key: [emp, pid]}\n"
        "      columns: {emp: e, pid: id}\n"
        "      deletions:\n"
        "        scope: \"pay_date >= date '2025-01-01'\"\n"
        "        tombstones:\n"
        "          table: deleted_rows\n"
        "          key: {pid: \"(old_row->>'id')::bigint\", emp: \"(old_row->>'e')::int\"}\n"
        "          deleted_at: deleted_at\n"
        "          where: \"table_name = 'p'\"\n"
        "        policy: soft_delete\n"
        "        soft_delete: {column: IS VOID, value: 'Y'}\n"
        "        max: 25\n"
        "    - name: plain\n"
        "      source: {table: q, changed_since: c}\n"
        "      target: {table: r, key: [id]}\n"
        "      columns: {id: id}\n"
        "verify:\n"
        "  - {name: a, compare: {table: pay, fail_on_deleted: true}}\n"
        "  - {name: b, compare: {table: plain}}\n";

    rb = load_str(a, yaml, &d);
    assert_non_null(rb);
    st = rb_runbook_sync_table(rb, "pay");
    assert_true(st->deletions.present);
    assert_string_equal(st->deletions.scope, "pay_date >= date '2025-01-01'");
    assert_string_equal(st->deletions.tomb_table, "deleted_rows");
    assert_string_equal(st->deletions.tomb_deleted_at, "deleted_at");
    assert_string_equal(st->deletions.tomb_where, "table_name = 'p'");
    assert_int_equal(st->deletions.n_tomb_key, 2);
    assert_string_equal(st->deletions.tomb_key[0].target_column, "emp");
    assert_string_equal(st->deletions.tomb_key[0].source_expr, "(old_row->>'e')::int");
    assert_string_equal(st->deletions.tomb_key[1].target_column, "pid");
    assert_string_equal(st->deletions.tomb_key[1].source_expr, "(old_row->>'id')::bigint");
    assert_int_equal(st->deletions.policy, RB_DELETIONS_SOFT_DELETE);
    assert_string_equal(st->deletions.soft_column, "IS VOID");
    assert_string_equal(st->deletions.soft_value, "Y");
    assert_int_equal(st->deletions.max, 25);
    st = rb_runbook_sync_table(rb, "plain");
    assert_false(st->deletions.present);
    assert_int_equal(st->deletions.policy, RB_DELETIONS_IGNORE);
    assert_null(st->deletions.scope);
    assert_null(st->deletions.tomb_table);
    assert_int_equal(rb->n_checks, 2);
    assert_true(rb->checks[0].fail_on_deleted);
    assert_false(rb->checks[1].fail_on_deleted);
}

/* sync.presync: false unless said; with it, no table may take the pre-sync's names. */
static void test_sync_presync(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    const struct rb_runbook *rb;
    const char *head =
        "version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\nstate_dir: /x\n"
        "targets: {new: {driver: postgres, conninfo: a}, legacy: {driver: postgres, conninfo: b}}\n"
        "sync:\n"
        "  from: new\n"
        "  to: legacy\n";
    const char *tables = "  tables:\n"
                         "    - name: presync/pay\n"
                         "      source: {table: p, changed_since: c}\n"
                         "      target: {table: h, key: [id]}\n"
                         "      columns: {id: id}\n";

    rb = load_str(a, rb_sprintf(a, "%s%s", head, tables), &d);
    assert_non_null(rb);
    assert_false(rb->sync.presync);
    rb = load_str(a, rb_sprintf(a, "%s  presync: true\n%s", head, tables), &d);
    assert_null(rb);
    assert_non_null(strstr(printed(&d),
                           "11:7: error: sync table 'presync/pay': with 'sync.presync' a "
                           "name may not begin with 'presync/'"));
    rb = load_str(a, rb_sprintf(a, "%s  presync: yes please\n%s", head, tables), &d);
    assert_null(rb);
    /* presync/records-at-risk is the pre-sync's count of the records at risk */
    rb = load_str(a,
                  rb_sprintf(a, "%s  presync: true\n%s", head,
                             "  tables:\n    - name: records-at-risk\n      source: {table: p, "
                             "changed_since: c}\n      target: {table: h, key: [id]}\n"
                             "      columns: {id: id}\n"),
                  &d);
    assert_null(rb);
    assert_non_null(strstr(printed(&d), "11:7: error: sync table 'records-at-risk': with "
                                        "'sync.presync' its pre-sync would have the action id "
                                        "'presync/records-at-risk' of the count of the records at "
                                        "risk; rename it"));
    rb = load_str(a,
                  rb_sprintf(a, "%s  presync: true\n%s", head,
                             "  tables:\n    - name: pay\n      source: {table: p, "
                             "changed_since: c}\n      target: {table: h, key: [id]}\n"
                             "      columns: {id: id}\n"),
                  &d);
    assert_non_null(rb);
    assert_true(rb->sync.presync);
}

/* Action ids are made of names; the loader keeps them unique and hashes the bytes it read. */
static void test_action_ids_and_hash(void **state)
{
    struct rb_arena *a = *state;
    struct rb_diags d;
    struct rb_runbook *rb;
    const char *good = "version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\nstate_dir: /x\n"
                       "targets: {}\n";

    assert_string_equal(rb_name_slug(a, "  Start API!! "), "start-api");
    assert_string_equal(rb_name_slug(a, "Point DNS at legacy (v2)"), "point-dns-at-legacy-v2");
    assert_string_equal(rb_name_slug(a, "\xc3\x9c"
                                        "berpr\xc3\xbc"
                                        "fung 2"),
                        "berpr-fung-2");
    assert_string_equal(rb_name_slug(a, "--"), "");

    rb = load_str(a, good, &d);
    assert_non_null(rb);
    /* sha256 of exactly these bytes (python3 hashlib) */
    assert_string_equal(rb->sha256,
                        "ae594ca7d85573524384dcfb415c661810c5771cda2e46873c5a2e7eca03dece");

    assert_null(load_str(a,
                         "version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\nstate_dir: /x\n"
                         "targets: {}\n"
                         "restore:\n"
                         "  - {name: Start API, run: [true]}\n"
                         "  - {name: start-api, run: [true]}\n"
                         "  - {name: Start  API!, run: [true]}\n"
                         "verify:\n"
                         "  - {name: Start API, run: [true]}\n"
                         "  - {name: report, run: [true]}\n",
                         &d));
    assert_string_equal(
        printed(&d), "t.yaml:8:6: error: restore step 'start-api' and 'Start API' (line 7) would "
                     "both have the action id 'restore/start-api'; rename one\n"
                     "t.yaml:9:6: error: restore step 'Start  API!' and 'Start API' (line 7) "
                     "would both have the action id 'restore/start-api'; rename one\n"
                     "t.yaml:12:6: error: check 'report' would have the action id "
                     "'verify/report' of the verification report; rename it\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_contract_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flow_equals_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_problems_one_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_level_problems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expression_columns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_action_ids_and_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_deletions_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_presync, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
