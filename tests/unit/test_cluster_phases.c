/*
 * test_cluster_phases.c - freeze's and restore's cluster code against fake cluster ops, no server:
 * the fakes sit in the `kubernetes` registry row (rb_driver_override_ops), so the phases reach
 * them through the same lookup as the real adapter.
 *
 * Each case plans a real run (EXECUTE mode, a real journal in a temporary folder), applies the
 * action and checks the outcome: what the fake cluster holds afterwards, the error and its kind,
 * what was journaled (progress) before the change, and the action's result. Also: a permission
 * the fake denies stops planning before anything changes, and validate's diagnostics for a
 * driver that lacks optional operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/cluster.h"
#include "rollbackctl/driver_needs.h"
#include "rollbackctl/phases.h"
#include "rollbackctl/run.h"

/* ---- the fake cluster ------------------------------------------------------------------------- */

enum fake_failure { FAIL_NONE, FAIL_REFUSED, FAIL_TIMEOUT };

static struct fake {
    int replicas;                  /* of the one deployment */
    enum fake_failure scale_fails; /* how the next scale fails */
    int scale_calls, get_calls, can_i_calls;
    const char *deny_verb; /* can_i says no to this verb, or NULL */
    const char *marker;    /* a file scale creates (what restore's verify looks for), or NULL */
    struct {
        const char *name;
        bool suspended;
    } cronjobs[4];
    size_t n_cronjobs;
    int suspend_calls;
    uint64_t journal_seq_at_first_suspend;
    struct rb_run *run; /* to see what was journaled when the fake is called */
} fake;

static struct rb_k8s *fake_open(struct rb_run *run, const char *target, struct rb_err *err)
{
    (void)run;
    (void)target;
    (void)err;
    return (struct rb_k8s *)&fake; /* never dereferenced by the phases */
}

static const char *fake_namespace(const struct rb_k8s *k)
{
    (void)k;
    return "payroll";
}

static const char *fake_server(const struct rb_k8s *k)
{
    (void)k;
    return "https://fake.invalid";
}

static int fake_get_replicas(struct rb_k8s *k, const char *ns, const char *resource,
                             const char *name, int *replicas, struct rb_err *err)
{
    (void)k;
    (void)ns;
    (void)resource;
    (void)name;
    (void)err;
    fake.get_calls++;
    *replicas = fake.replicas;
    return 0;
}

static int fake_scale(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                      int replicas, struct rb_err *err)
{
    (void)k;
    (void)resource;
    fake.scale_calls++;
    switch (fake.scale_fails) {
    case FAIL_REFUSED:
        rb_errf(err, RB_E_FAILED,
                "unable to scale '%s' in namespace '%s': 403 forbidden: admission webhook "
                "\"freeze-guard\" denied the request",
                name, ns);
        return rb_err_kind(err, RB_K_REFUSED);
    case FAIL_TIMEOUT:
        rb_errf(err, RB_E_FAILED,
                "unable to scale '%s' in namespace '%s': unable to reach 'cluster': operation "
                "timed out",
                name, ns);
        return rb_err_kind(err, RB_K_TIMEOUT);
    case FAIL_NONE:
        break;
    }
    fake.replicas = replicas;
    if (fake.marker != NULL) {
        FILE *f = fopen(fake.marker, "w");

        if (f != NULL)
            fclose(f);
    }
    return 0;
}

static int fake_list(struct rb_k8s *k, const char *ns, const char *resource, const char *selector,
                     bool keep_objects, struct rb_cluster_list *out, struct rb_err *err)
{
    (void)k;
    (void)ns;
    (void)selector;
    (void)err;
    memset(out, 0, sizeof(*out));
    out->items = rb_new_array(fake.run->arena, struct rb_cluster_item, 4);
    if (strcmp(resource, "cronjobs") == 0) {
        for (size_t i = 0; i < fake.n_cronjobs; i++)
            out->items[i] =
                (struct rb_cluster_item){ fake.cronjobs[i].name, fake.cronjobs[i].suspended };
        out->n = fake.n_cronjobs;
    }
    if (keep_objects)
        out->objects = cJSON_CreateArray();
    return 0;
}

static int fake_set_suspend(struct rb_k8s *k, const char *ns, const char *name, bool suspend,
                            bool *not_found, struct rb_err *err)
{
    (void)k;
    (void)ns;
    if (fake.suspend_calls++ == 0)
        fake.journal_seq_at_first_suspend = fake.run->journal.seq;
    if (not_found != NULL)
        *not_found = false;
    for (size_t i = 0; i < fake.n_cronjobs; i++) {
        if (strcmp(fake.cronjobs[i].name, name) == 0) {
            fake.cronjobs[i].suspended = suspend;
            return 0;
        }
    }
    if (not_found != NULL)
        *not_found = true;
    return rb_errf(err, RB_E_FAILED, "404 not found: cronjob '%s'", name);
}

static int fake_delete_jobs(struct rb_k8s *k, const char *ns, const char *selector,
                            struct rb_err *err)
{
    (void)k;
    (void)ns;
    (void)selector;
    (void)err;
    return 0;
}

static int fake_can_i(struct rb_k8s *k, const char *verb, const char *group, const char *resource,
                      const char *subresource, const char *ns, const char *name, bool *allowed,
                      const char **reason, struct rb_err *err)
{
    (void)k;
    (void)group;
    (void)resource;
    (void)subresource;
    (void)ns;
    (void)name;
    (void)err;
    fake.can_i_calls++;
    *allowed = fake.deny_verb == NULL || strcmp(fake.deny_verb, verb) != 0;
    if (reason != NULL)
        *reason = NULL;
    return 0;
}

static const struct rb_cluster_ops fake_ops = {
    .driver = "kubernetes",
    .open = fake_open,
    .namespace_of = fake_namespace,
    .server = fake_server,
    .get_replicas = fake_get_replicas,
    .scale = fake_scale,
    .list = fake_list,
    .set_suspend = fake_set_suspend,
    .delete_jobs = fake_delete_jobs,
    .can_i = fake_can_i,
    /* snapshot and describe stay NULL: optional */
};

/* The same without any optional operation, for validate's diagnostics. */
static const struct rb_cluster_ops bare_ops = {
    .driver = "kubernetes",
    .open = fake_open,
    .namespace_of = fake_namespace,
    .server = fake_server,
    .get_replicas = fake_get_replicas,
    .scale = fake_scale,
    .list = fake_list,
    .set_suspend = fake_set_suspend,
    .delete_jobs = fake_delete_jobs,
};

/* ---- a run ------------------------------------------------------------------------------------ */

struct world {
    struct rb_arena *arena;
    struct rb_ctx ctx;
    char dir[64];
    const void *real_ops;
    struct rb_run *run; /* closed (its journal) at teardown */
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
    snprintf(w->dir, sizeof(w->dir), "/tmp/rb-test-cluster-XXXXXX");
    if (mkdtemp(w->dir) == NULL)
        return -1;
    w->real_ops = rb_driver_override_ops("kubernetes", &fake_ops);
    memset(&fake, 0, sizeof(fake));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    char cmd[128];

    rb_driver_override_ops("kubernetes", w->real_ops);
    if (w->run != NULL)
        rb_journal_close(&w->run->journal);
    rb_arena_free(w->arena);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", w->dir);
    free(w);
    return 0;
}

static const char *runbook_yaml(struct world *w, const char *sections)
{
    return rb_sprintf(w->arena,
                      "version: 1\n"
                      "name: cluster-test\n"
                      "cutover: \"2026-11-01T00:00:00Z\"\n"
                      "state_dir: %s/state\n"
                      "targets:\n"
                      "  cluster: { driver: kubernetes, namespace: payroll }\n"
                      "%s",
                      w->dir, sections);
}

static const struct rb_runbook *load(struct world *w, const char *sections, struct rb_diags *d)
{
    const char *yaml = runbook_yaml(w, sections);
    const struct rb_runbook *rb;

    rb_diags_init(d, w->arena, "t.yaml");
    rb = rb_runbook_load_buffer(w->arena, "t.yaml", yaml, strlen(yaml), d);
    if (rb == NULL)
        rb_diags_print(d, stderr);
    assert_non_null(rb);
    return rb;
}

/* A run that executes, with its journal open in the temporary folder. */
static struct rb_run *execute_run(struct world *w, const char *sections)
{
    struct rb_diags d;
    struct rb_run *run = rb_run_new(&w->ctx, load(w, sections, &d), RB_MODE_EXECUTE);
    struct rb_err err = RB_ERR_INIT;

    rb_run_id_new(run->run_id);
    run->run_dir = rb_sprintf(w->arena, "%s/run", w->dir);
    assert_int_equal(rb_journal_create(&run->journal, run->run_dir, run->run_id, &err), 0);
    fake.run = run;
    w->run = run;
    return run;
}

static struct rb_action *action_of(struct rb_run *run, const char *phase, size_t nth)
{
    for (size_t i = 0; i < run->n_actions; i++)
        if (strcmp(run->actions[i]->phase, phase) == 0 && nth-- == 0)
            return run->actions[i];
    fail_msg("no action %zu in phase %s", nth, phase);
    return NULL;
}

/* The data of the action's last journaled "progress" event, or NULL. Owned by *log. */
static const cJSON *journaled_progress(struct rb_run *run, const struct rb_action *act,
                                       struct rb_journal_log *log)
{
    struct rb_err err = RB_ERR_INIT;
    const cJSON *found = NULL;

    assert_int_equal(rb_journal_read(run->journal.path, log, &err), 0);
    for (size_t i = 0; i < log->n; i++)
        if (strcmp(log->entries[i].event, "progress") == 0 &&
            strcmp(log->entries[i].action, act->name) == 0)
            found = log->entries[i].data;
    return found;
}

static const char *const scale_freeze =
    "freeze:\n"
    "  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }\n";

/* ---- freeze: scale ---------------------------------------------------------------------------- */

static void test_freeze_scale_refused(void **state)
{
    struct world *w = *state;
    struct rb_run *run = execute_run(w, scale_freeze);
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_action *act;
    const cJSON *p;

    fake.replicas = 3;
    fake.scale_fails = FAIL_REFUSED;
    assert_int_equal(rb_freeze_plan(run, &err), 0);
    assert_int_equal(fake.can_i_calls, 2); /* get and patch of deployments/scale, asked first */
    act = action_of(run, "freeze", 0);
    assert_int_equal(act->apply(run, act, &err), -1);
    assert_non_null(strstr(err.msg, "unable to scale 'payroll-api' in namespace 'payroll': 403 "
                                    "forbidden: admission webhook"));
    assert_int_equal(err.kind, RB_K_REFUSED);
    assert_null(act->result);
    assert_int_equal(fake.replicas, 3); /* nothing changed */
    /* the count read before scaling was journaled first, and is what a re-apply will find */
    p = journaled_progress(run, act, &log);
    assert_non_null(p);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "original_replicas")->valueint, 3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(p, "namespace")->valuestring, "payroll");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->prior, "original_replicas")->valueint,
                     3);
    rb_journal_log_release(&log);
}

static void test_freeze_scale_timeout_then_reapply(void **state)
{
    struct world *w = *state;
    struct rb_run *run = execute_run(w, scale_freeze);
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_action *act;

    fake.replicas = 3;
    fake.scale_fails = FAIL_TIMEOUT;
    assert_int_equal(rb_freeze_plan(run, &err), 0);
    act = action_of(run, "freeze", 0);
    assert_int_equal(act->apply(run, act, &err), -1);
    assert_int_equal(err.kind, RB_K_TIMEOUT); /* the kind survives the phase's wrapping */
    assert_non_null(strstr(err.msg, "timed out"));
    assert_non_null(journaled_progress(run, act, &log));
    rb_journal_log_release(&log);

    /* The timed-out PATCH took effect after all; the re-apply must keep the original count 3, not
       the 0 it finds now. */
    fake.replicas = 0;
    fake.scale_fails = FAIL_NONE;
    fake.get_calls = 0;
    err = (struct rb_err)RB_ERR_INIT;
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.replicas, 0);
    assert_int_equal(fake.get_calls,
                     1); /* only the read-back: the original came from the journal */
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->result, "original_replicas")->valueint,
                     3);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(act->result, "message")->valuestring,
                        "'payroll-api' scaled from 3 to 0 replicas");
}

static void test_freeze_permission_denied_changes_nothing(void **state)
{
    struct world *w = *state;
    struct rb_run *run = execute_run(w, scale_freeze);
    struct rb_err err = RB_ERR_INIT;

    fake.replicas = 3;
    fake.deny_verb = "patch";
    assert_int_equal(rb_freeze_plan(run, &err), -1);
    assert_string_equal(err.msg,
                        "cannot patch deployments/scale 'payroll-api' in namespace 'payroll'");
    assert_non_null(strstr(err.hint, "nothing was changed"));
    assert_int_equal(run->n_actions, 0);
    assert_int_equal(fake.scale_calls, 0);
    assert_int_equal(fake.replicas, 3);
}

/* Nothing to change (a rerun, or a system already stopped by hand): no write, and it says so. */
static void test_freeze_scale_already_there(void **state)
{
    struct world *w = *state;
    struct rb_run *run = execute_run(w, scale_freeze);
    struct rb_err err = RB_ERR_INIT;
    struct rb_action *act;

    fake.replicas = 0;
    assert_int_equal(rb_freeze_plan(run, &err), 0);
    act = action_of(run, "freeze", 0);
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.scale_calls, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(act->result, "message")->valuestring,
                        "'payroll-api' already at 0 replicas: nothing to change");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(act->result, "unchanged")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->result, "original_replicas")->valueint,
                     0);
}

/* ---- freeze: suspend_cronjobs ----------------------------------------------------------------- */

static void test_freeze_suspend_cronjobs(void **state)
{
    struct world *w = *state;
    struct rb_run *run = execute_run(
        w, "freeze:\n  - suspend_cronjobs: { target: cluster, selector: app=payroll }\n");
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_action *act;
    const cJSON *p, *res;
    uint64_t seq_before;

    fake.n_cronjobs = 3;
    fake.cronjobs[0].name = "payroll-nightly";
    fake.cronjobs[1].name = "payroll-paused";
    fake.cronjobs[1].suspended = true;
    fake.cronjobs[2].name = "payroll-tax-export";
    assert_int_equal(rb_freeze_plan(run, &err), 0);
    act = action_of(run, "freeze", 0);
    seq_before = run->journal.seq;
    assert_int_equal(act->apply(run, act, &err), 0);

    assert_true(fake.cronjobs[0].suspended);
    assert_true(fake.cronjobs[1].suspended);
    assert_true(fake.cronjobs[2].suspended);
    assert_int_equal(fake.suspend_calls, 2); /* the one already suspended is left alone */
    /* which ones this run suspends was journaled before the first patch */
    assert_true(fake.journal_seq_at_first_suspend > seq_before);
    p = journaled_progress(run, act, &log);
    assert_non_null(p);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(p, "suspended")), 2);
    rb_journal_log_release(&log);
    res = act->result;
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(res, "already_suspended"), 0)
            ->valuestring,
        "payroll-paused");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(res, "message")->valuestring,
                        "suspended 2 cronjobs: 'payroll-nightly', 'payroll-tax-export'");
}

/* Every matching cronjob already suspended: no patch, and the message says there was nothing. */
static void test_freeze_suspend_nothing_to_change(void **state)
{
    struct world *w = *state;
    struct rb_run *run = execute_run(
        w, "freeze:\n  - suspend_cronjobs: { target: cluster, selector: app=payroll }\n");
    struct rb_err err = RB_ERR_INIT;
    struct rb_action *act;

    fake.n_cronjobs = 1;
    fake.cronjobs[0].name = "payroll-paused";
    fake.cronjobs[0].suspended = true;
    assert_int_equal(rb_freeze_plan(run, &err), 0);
    act = action_of(run, "freeze", 0);
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.suspend_calls, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(act->result, "message")->valuestring,
                        "nothing to change: 1 cronjob already suspended: 'payroll-paused'");
}

/* ---- restore: scale --------------------------------------------------------------------------- */

static void test_restore_scale_verified(void **state)
{
    struct world *w = *state;
    const char *marker = rb_sprintf(w->arena, "%s/scaled", w->dir);
    struct rb_run *run = execute_run(
        w, rb_sprintf(w->arena,
                      "restore:\n"
                      "  - name: Start legacy API\n"
                      "    scale: { target: cluster, deployment: legacy-api, replicas: 2 }\n"
                      "    verify: { run: [test, -f, %s] }\n",
                      marker));
    struct rb_err err = RB_ERR_INIT;
    struct rb_journal_log log;
    struct rb_action *act;
    const cJSON *p;

    fake.replicas = 0;
    fake.marker = marker;
    assert_int_equal(rb_restore_plan(run, &err), 0);
    act = action_of(run, "restore", 0);
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.replicas, 2);
    assert_int_equal(fake.scale_calls, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(act->result, "verified")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->result, "before")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(act->result, "replicas")->valueint, 2);
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(act->result, "message")->valuestring,
                           "'legacy-api' scaled 0 -> 2; verified: "));
    p = journaled_progress(run, act, &log);
    assert_non_null(p);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(p, "before")->valueint, 0);
    rb_journal_log_release(&log);

    /* applied again (a resume): the verify passes first, so nothing is scaled twice */
    cJSON_Delete(act->result);
    act->result = NULL;
    assert_int_equal(act->apply(run, act, &err), 0);
    assert_int_equal(fake.scale_calls, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(act->result, "already_done")));
}

/* ---- validate: optional operations ------------------------------------------------------------ */

static void test_validate_names_missing_cluster_operations(void **state)
{
    struct world *w = *state;
    struct rb_diags d;
    const struct rb_runbook *rb;
    const struct rb_diag **v;

    rb = load(w,
              "freeze:\n"
              "  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }\n"
              "  - snapshot: { target: cluster }\n",
              &d);
    /* the real driver has every operation: nothing to say */
    rb_driver_override_ops("kubernetes", w->real_ops);
    rb_runbook_check_drivers(rb, &d);
    assert_int_equal(d.n, 0);

    rb_driver_override_ops("kubernetes", &bare_ops);
    rb_runbook_check_drivers(rb, &d);
    assert_int_equal(d.n_warnings, 2);
    assert_int_equal(d.n_errors, 1);
    v = rb_diags_sorted(&d);
    assert_int_equal(v[0]->level, RB_DIAG_WARNING);
    assert_int_equal(v[0]->pos.line, 6); /* the target */
    assert_non_null(strstr(v[0]->msg, "target 'cluster' (driver 'kubernetes') cannot check "
                                      "permissions"));
    assert_non_null(strstr(v[1]->msg, "cannot describe its requests"));
    assert_int_equal(v[2]->level, RB_DIAG_ERROR);
    assert_int_equal(v[2]->pos.line, 9); /* the snapshot entry */
    assert_string_equal(v[2]->msg,
                        "snapshot: target 'cluster' (driver 'kubernetes') cannot take snapshots");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_freeze_scale_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freeze_scale_timeout_then_reapply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freeze_scale_already_there, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freeze_suspend_nothing_to_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freeze_permission_denied_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_freeze_suspend_cronjobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_scale_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validate_names_missing_cluster_operations, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
