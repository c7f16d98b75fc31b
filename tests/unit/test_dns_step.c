/*
 * test_dns_step.c - restore's dns step against fake DNS ops in the `rfc2136` registry row
 * (rb_driver_override_ops), no server: a record already right is not sent again and the step says
 * "already points at" (plan too); a change journals the old value and its TTL before the driver is
 * called; a TTL-only change is a change; names inside MX and SRV data reach the driver relative
 * to the zone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/dns.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/run.h"

/* ---- the fake server: one RRset --------------------------------------------------------------- */

static struct fake {
    const char *value; /* canonical, NULL: no record */
    int ttl;
    int set_calls, read_calls;
    struct rb_dns_record last; /* what set_record was given */
    uint64_t journal_seq_at_set;
    struct rb_run *run;
} fake;

static int fake_read(struct rb_arena *a, const struct rb_target *t, const char *name,
                     const char *type, struct rb_dns_rrset *out, struct rb_err *err)
{
    (void)t;
    (void)name;
    (void)type;
    (void)err;
    fake.read_calls++;
    memset(out, 0, sizeof(*out));
    out->ttl = -1;
    if (fake.value != NULL) {
        out->values = rb_new_array(a, const char *, 1);
        out->values[0] = rb_strdup(a, fake.value);
        out->n = 1;
        out->ttl = fake.ttl;
    }
    return 0;
}

static int fake_set(struct rb_arena *a, const struct rb_target *t, const struct rb_dns_record *rec,
                    struct rb_err *err)
{
    (void)t;
    (void)err;
    fake.set_calls++;
    fake.journal_seq_at_set = fake.run->journal.seq;
    fake.last.name = rb_strdup(a, rec->name);
    fake.last.type = rb_strdup(a, rec->type);
    fake.last.data = rb_strdup(a, rec->data);
    fake.last.ttl = rec->ttl;
    fake.value = fake.last.data;
    fake.ttl = rec->ttl;
    return 0;
}

static const struct rb_dns_ops fake_ops = {
    .driver = "rfc2136",
    .read_record = fake_read,
    .set_record = fake_set,
};

/* ---- a run ------------------------------------------------------------------------------------ */

struct world {
    struct rb_arena *arena;
    struct rb_ctx ctx;
    char dir[64];
    const void *real_ops;
    struct rb_run *run;
    int n_runs;
};

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return -1;
    w->arena = rb_arena_new();
    w->ctx.arena = w->arena;
    w->ctx.out = stdout;
    w->ctx.diag = stderr;
    snprintf(w->dir, sizeof(w->dir), "/tmp/rb-test-dns-XXXXXX");
    if (mkdtemp(w->dir) == NULL)
        return -1;
    w->real_ops = rb_driver_override_ops("rfc2136", &fake_ops);
    memset(&fake, 0, sizeof(fake));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    char cmd[128];

    rb_driver_override_ops("rfc2136", w->real_ops);
    if (w->run != NULL && w->run->mode == RB_MODE_EXECUTE)
        rb_journal_close(&w->run->journal);
    rb_arena_free(w->arena);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->dir);
    free(w);
    return 0;
}

static struct rb_run *new_run(struct world *w, enum rb_mode mode, const char *dns)
{
    const char *yaml = rb_sprintf(w->arena,
                                  "version: 1\n"
                                  "name: dns-test\n"
                                  "cutover: \"2026-11-01T00:00:00Z\"\n"
                                  "state_dir: %s/state\n"
                                  "targets:\n"
                                  "  dns: { driver: rfc2136, server: 192.0.2.53, zone: example.test. }\n"
                                  "restore:\n"
                                  "  - name: Point payroll DNS at legacy\n"
                                  "    dns: %s\n",
                                  w->dir, dns);
    struct rb_err err = RB_ERR_INIT;
    const struct rb_runbook *rb;
    struct rb_diags d;
    struct rb_run *run;

    rb_diags_init(&d, w->arena, "t.yaml");
    rb = rb_runbook_load_buffer(w->arena, "t.yaml", yaml, strlen(yaml), &d);
    if (rb == NULL)
        rb_diags_print(&d, stderr);
    assert_non_null(rb);
    run = rb_run_new(&w->ctx, rb, mode);
    if (mode == RB_MODE_EXECUTE) {
        rb_run_id_new(run->run_id);
        run->run_dir = rb_sprintf(w->arena, "%s/run%d", w->dir, ++w->n_runs);
        assert_int_equal(rb_journal_create(&run->journal, run->run_dir, run->run_id, &err), 0);
    }
    fake.run = run;
    w->run = run;
    assert_int_equal(rb_restore_plan(run, &err), 0);
    assert_int_equal(run->n_actions, 1);
    return run;
}

static const char *const cname_step =
    "{ target: dns, name: payroll, type: CNAME, data: legacy-app, ttl: 60 }";

/* The data of the action's last journaled "progress" event, or NULL. Owned by *log. */
static const cJSON *journaled_progress(struct rb_run *run, struct rb_journal_log *log)
{
    struct rb_err err = RB_ERR_INIT;
    const cJSON *found = NULL;

    assert_int_equal(rb_journal_read(run->journal.path, log, &err), 0);
    for (size_t i = 0; i < log->n; i++)
        if (strcmp(log->entries[i].event, "progress") == 0)
            found = log->entries[i].data;
    return found;
}

static const char *res_str(const struct rb_action *act, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(act->result, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- cases ------------------------------------------------------------------------------------ */

static void test_already_right_sends_nothing(void **state)
{
    struct world *w = *state;
    struct rb_run *run;
    struct rb_action *act;
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;

    fake.value = "legacy-app.example.test.";
    fake.ttl = 60;
    run = new_run(w, RB_MODE_EXECUTE, cname_step);
    act = run->actions[0];
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.set_calls, 0);
    assert_string_equal(res_str(act, "message"), "payroll.example.test. CNAME already points at "
                                                 "legacy-app.example.test. (ttl 60)");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(act->result, "changed")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->result, "old_ttl")->valueint, 60);
    assert_null(journaled_progress(run, &log)); /* nothing is about to change */
    rb_journal_log_release(&log);
}

static void test_change_journals_old_value_and_ttl_first(void **state)
{
    struct world *w = *state;
    struct rb_run *run;
    struct rb_action *act;
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;
    const cJSON *p;

    fake.value = "new-app.example.test.";
    fake.ttl = 300;
    run = new_run(w, RB_MODE_EXECUTE, cname_step);
    act = run->actions[0];
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.set_calls, 1);
    assert_string_equal(fake.last.data, "legacy-app.example.test.");
    p = journaled_progress(run, &log);
    assert_non_null(p);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "old")->valuestring,
                        "new-app.example.test.");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "old_ttl")->valueint, 300);
    assert_true(fake.journal_seq_at_set >= 1); /* the progress line was written before the set */
    assert_int_equal(log.entries[log.n - 1].seq, fake.journal_seq_at_set);
    rb_journal_log_release(&log);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->result, "old_ttl")->valueint, 300);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(act->result, "changed")));
    assert_string_equal(res_str(act, "message"), "payroll.example.test. CNAME "
                                                 "new-app.example.test. -> legacy-app.example.test.");

    /* Applied again (a rerun, a resume): the fake now holds the record, nothing more is sent.
       (The engine applies an action once per run; the first result is the test's to drop.) */
    cJSON_Delete(act->result);
    act->result = NULL;
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.set_calls, 1);
}

static void test_ttl_only_is_a_change(void **state)
{
    struct world *w = *state;
    struct rb_run *run;
    struct rb_action *act;
    struct rb_err err = RB_ERR_INIT;

    fake.value = "legacy-app.example.test.";
    fake.ttl = 300;
    run = new_run(w, RB_MODE_EXECUTE, cname_step);
    act = run->actions[0];
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.set_calls, 1);
    assert_int_equal(fake.last.ttl, 60);
    assert_string_equal(res_str(act, "message"),
                        "payroll.example.test. CNAME legacy-app.example.test.: ttl 300 -> 60");
}

static void test_mx_and_srv_names_relative_to_zone(void **state)
{
    struct world *w = *state;
    struct rb_run *run;
    struct rb_action *act;
    struct rb_err err = RB_ERR_INIT;

    run = new_run(w, RB_MODE_EXECUTE, "{ target: dns, name: '@', type: MX, data: 10 mail }");
    act = run->actions[0];
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_string_equal(fake.last.name, "example.test.");
    assert_string_equal(fake.last.data, "10 mail.example.test.");
    assert_string_equal(res_str(act, "new"), "10 mail.example.test.");
    rb_journal_close(&run->journal);

    memset(&fake, 0, sizeof(fake));
    run = new_run(w, RB_MODE_EXECUTE,
                  "{ target: dns, name: _app._tcp, type: SRV, data: 0 5 8080 app }");
    act = run->actions[0];
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_string_equal(fake.last.name, "_app._tcp.example.test.");
    assert_string_equal(fake.last.data, "0 5 8080 app.example.test.");
}

static void test_plan_says_already_points_at(void **state)
{
    struct world *w = *state;
    struct rb_run *run;

    fake.value = "legacy-app.example.test.";
    fake.ttl = 60;
    run = new_run(w, RB_MODE_PLAN, cname_step);
    assert_non_null(strstr(run->actions[0]->detail.data,
                           "  already points at legacy-app.example.test. (ttl 60): nothing to "
                           "change\n"));
    assert_int_equal(fake.set_calls, 0);

    memset(&fake, 0, sizeof(fake));
    fake.value = "new-app.example.test.";
    fake.ttl = 300;
    run = new_run(w, RB_MODE_PLAN, cname_step);
    assert_non_null(strstr(run->actions[0]->detail.data,
                           "  new-app.example.test. (ttl 300) -> legacy-app.example.test. "
                           "(ttl 60)\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_already_right_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_journals_old_value_and_ttl_first, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ttl_only_is_a_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mx_and_srv_names_relative_to_zone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan_says_already_points_at, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
