/*
 * test_plan_file.c - the plan hash and the plan file with a fake phase, no servers: the hash
 * covers the actions' definitions and not what the plan observed nor the text for people; a
 * file written and read back agrees with its run, whatever the order of its keys; an edited
 * definition in the file is refused as tampering while an edited observation is not; the
 * comparison names a changed field, a new, a removed and a moved action; a file that is not a
 * plan file is a usage error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollbackctl/engine.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/plan_file.h"
#include "run_fixture.h"

/* One planned action: its name, its fields as JSON text, and the text people read. */
struct fake {
    const char *name;
    const char *fields;
    const char *detail;
};

static const struct fake *script;
static size_t script_n;

static int fake_plan(struct rb_run *run, struct rb_err *err)
{
    (void)err;
    for (size_t i = 0; i < script_n; i++) {
        struct rb_action *act =
            rb_run_add_action(run, "restore", script[i].name, "a step", RB_IDEMPOTENT, NULL, NULL);

        act->fields = cJSON_Parse(script[i].fields);
        rb_action_detailf(act, "%s", script[i].detail);
    }
    return 0;
}

static const struct rb_phase fake_phases[] = { { "restore", fake_plan } };

static int setup(void **state)
{
    struct rb_test_run *f = calloc(1, sizeof(*f));

    if (f == NULL || rb_test_run_open(f, "plan-file", NULL) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct rb_test_run *f = *state;
    int rc = rb_test_run_close(f);

    free(f);
    return rc;
}

/* A run of the fake phase over these actions, planned and hashed. */
static struct rb_run *planned(struct rb_test_run *f, const struct fake *s, size_t n)
{
    struct rb_run *run = rb_run_new(&f->ctx, f->rb, RB_MODE_PLAN);
    struct rb_err err = RB_ERR_INIT;
    char sha[65];

    script = s;
    script_n = n;
    run->phases = fake_phases;
    run->n_phases = 1;
    run->offline = true;
    assert_int_equal(rb_engine_plan_quiet(run, &err), 0);
    assert_int_equal(rb_plan_sha256(run, sha, &err), 0);
    assert_string_equal(sha, run->plan_sha256);
    return run;
}

static const struct fake base[] = {
    { "restore/a",
      "{\"kind\":\"sql\",\"target\":\"legacy\",\"sql\":\"update t set x = 1\","
      "\"observed\":{\"rows\":5}}",
      "sql on 'legacy'" },
    { "restore/b",
      "{\"kind\":\"dns\",\"name\":\"payroll.\",\"new\":\"10.0.0.9\",\"observed\":null}", "dns" },
};

static void hash_covers_definitions_only(void **state)
{
    struct rb_test_run *f = *state;
    const char *h = planned(f, base, 2)->plan_sha256;
    /* other observations, other text, keys in another order: the same plan */
    const struct fake same[] = {
        { "restore/a",
          "{\"observed\":{\"rows\":900},\"sql\":\"update t set x = 1\",\"kind\":\"sql\","
          "\"target\":\"legacy\"}",
          "something else for people" },
        base[1],
    };
    const struct fake other[] = {
        { "restore/a", "{\"kind\":\"sql\",\"target\":\"legacy\",\"sql\":\"update t set x = 2\"}",
          "sql on 'legacy'" },
        base[1],
    };
    const struct fake reordered[] = { base[1], base[0] };

    assert_string_equal(h, planned(f, same, 2)->plan_sha256);
    assert_string_not_equal(h, planned(f, other, 2)->plan_sha256);
    assert_string_not_equal(h, planned(f, reordered, 2)->plan_sha256);
    assert_string_not_equal(h, planned(f, base, 1)->plan_sha256);
}

static void file_round_trip(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_run *run = planned(f, base, 2);
    const char *path = rb_sprintf(f->ctx.arena, "%s/p.json", f->dir);
    struct rb_plan_file pf;
    struct rb_err err = RB_ERR_INIT;
    struct stat st;

    assert_int_equal(rb_plan_file_write(path, run, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), 0);
    assert_string_equal(pf.plan_sha256, run->plan_sha256);
    assert_string_equal(pf.runbook_sha256, f->rb->sha256);
    assert_null(pf.severity);
    assert_int_equal(rb_plan_file_compare(&f->ctx, &pf, planned(f, base, 2), &err), 0);
}

/* The file at path rewritten with edit applied to its document. */
static void rewrite(const char *path, void (*edit)(cJSON *doc))
{
    struct rb_err err = RB_ERR_INIT;
    char *text = rb_read_file(path, NULL, &err), *out;
    cJSON *doc = cJSON_Parse(text);

    free(text);
    edit(doc);
    out = cJSON_Print(doc);
    assert_int_equal(rb_write_file_atomic(path, out, strlen(out), 0600, &err), 0);
    cJSON_free(out);
    cJSON_Delete(doc);
}

static cJSON *fields_of(cJSON *doc, int i)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "actions"), i), "fields");
}

static void move_kind_last(cJSON *doc)
{
    cJSON *f = fields_of(doc, 0);

    cJSON_AddItemToObject(f, "kind", cJSON_DetachItemFromObjectCaseSensitive(f, "kind"));
}

static void edit_observed(cJSON *doc)
{
    cJSON_ReplaceItemInObjectCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(fields_of(doc, 0), "observed"), "rows",
        cJSON_CreateNumber(12345));
}

static void edit_definition(cJSON *doc)
{
    cJSON_ReplaceItemInObjectCaseSensitive(fields_of(doc, 1), "new",
                                           cJSON_CreateString("10.6.6.6"));
}

static void tampering(void **state)
{
    struct rb_test_run *f = *state;
    struct rb_run *run = planned(f, base, 2);
    const char *path = rb_sprintf(f->ctx.arena, "%s/t.json", f->dir);
    struct rb_plan_file pf;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_plan_file_write(path, run, &err), 0);
    rewrite(path, move_kind_last);
    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), 0);
    rewrite(path, edit_observed);
    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), 0);
    rewrite(path, edit_definition);
    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), -1);
    assert_int_equal(err.cls, RB_E_FAILED);
    assert_non_null(strstr(err.msg, "does not match its plan_sha256"));
}

/* The error comparing the file of plan `then` with a plan of `now`. */
static const char *compared(struct rb_test_run *f, const struct fake *then, size_t nt,
                            const struct fake *now, size_t nn)
{
    const char *path = rb_sprintf(f->ctx.arena, "%s/c.json", f->dir);
    struct rb_plan_file pf;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_plan_file_write(path, planned(f, then, nt), &err), 0);
    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), 0);
    assert_int_equal(rb_plan_file_compare(&f->ctx, &pf, planned(f, now, nn), &err), -1);
    assert_int_equal(err.cls, RB_E_FAILED);
    return rb_strdup(f->ctx.arena, err.msg);
}

static void differences_named(void **state)
{
    struct rb_test_run *f = *state;
    const struct fake changed[] = {
        base[0],
        { "restore/b", "{\"kind\":\"dns\",\"name\":\"payroll.\",\"new\":\"10.0.0.7\"}", "dns" },
    };
    const struct fake added[] = { base[0], base[1], { "restore/c", "{\"kind\":\"exec\"}", "" } };
    const struct fake moved[] = { base[1], base[0] };
    const char *msg;

    msg = compared(f, base, 2, changed, 2);
    assert_non_null(strstr(
        msg, "action 'restore/b' differs: new is \"10.0.0.9\" in the plan, \"10.0.0.7\" now"));
    assert_non_null(
        strstr(compared(f, base, 2, added, 3), "action 'restore/c' is new since the plan"));
    assert_non_null(
        strstr(compared(f, added, 3, base, 2), "action 'restore/c' is no longer planned"));
    assert_non_null(strstr(compared(f, base, 2, moved, 2), "moved"));
}

static void not_a_plan_file(void **state)
{
    struct rb_test_run *f = *state;
    const char *path = rb_sprintf(f->ctx.arena, "%s/n.json", f->dir);
    struct rb_plan_file pf;
    struct rb_err err = RB_ERR_INIT;

    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), -1);
    assert_int_equal(err.cls, RB_E_USAGE);
    assert_int_equal(rb_write_file_atomic(path, "{\"format_version\":1}", 20, 0600, &err), 0);
    rb_err_clear(&err);
    assert_int_equal(rb_plan_file_read(f->ctx.arena, path, &pf, &err), -1);
    assert_int_equal(err.cls, RB_E_USAGE);
    assert_non_null(strstr(err.msg, "is not a rollbackctl plan file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hash_covers_definitions_only, setup, teardown),
        cmocka_unit_test_setup_teardown(file_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(differences_named, setup, teardown),
        cmocka_unit_test_setup_teardown(not_a_plan_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
