/*
 * test_approvals.c - who a person is (SUDO_USER rules), how many approvals a run needs, the
 * approval record files (durable write, read back with their owner, invalid ones named, temp
 * files skipped), whose records may speak for whom, the shared state_dir's modes, and what the
 * journal says of a run waiting for approvals.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollbackctl/approvals.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/identity.h"
#include "rollbackctl/journal.h"
#include "rollbackctl/phases.h"

static char tmpdir[256];
static char state_dir[300];
static char run_dir[400];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/rb-test-approvals-XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    snprintf(state_dir, sizeof(state_dir), "%s/state", tmpdir);
    snprintf(run_dir, sizeof(run_dir), "%s/runs/r1", state_dir);
    return mkdir(state_dir, 0700);
}

static int teardown(void **state)
{
    char cmd[400];

    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_identity_pick(void **state)
{
    (void)state;
    assert_string_equal(rb_identity_pick(0, "alice", "root"), "alice");
    assert_string_equal(rb_identity_pick(0, "", "root"), "root");
    assert_string_equal(rb_identity_pick(0, "root", "root"), "root");
    assert_string_equal(rb_identity_pick(0, NULL, "root"), "root");
    /* not root: SUDO_USER says nothing (anyone can set it) */
    assert_string_equal(rb_identity_pick(1000, "alice", "bob"), "bob");
    assert_null(rb_identity_pick(1000, NULL, NULL));
}

static void test_identity_user_of(void **state)
{
    char u[64];

    (void)state;
    rb_identity_user_of("alice@host1", u, sizeof(u));
    assert_string_equal(u, "alice");
    rb_identity_user_of("odd@name@host1", u, sizeof(u));
    assert_string_equal(u, "odd@name");
    rb_identity_user_of("bob", u, sizeof(u));
    assert_string_equal(u, "bob");
    rb_identity_user_of(NULL, u, sizeof(u));
    assert_string_equal(u, "");
}

static void test_needed(void **state)
{
    struct rb_approval ap = { .required = { -1, -1, -1, -1, -1 } };

    (void)state;
    /* no approval section: the initiator's confirmation alone */
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_CRITICAL, false), 1);
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_NONE, false), 1);
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_NONE, true), 2);
    ap.present = true;
    ap.required[RB_SEV_CRITICAL] = 2;
    ap.required[RB_SEV_HIGH] = 3;
    ap.required[RB_SEV_LOW] = 0;
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_CRITICAL, false), 2);
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_HIGH, false), 3);
    /* not listed: 1; listed 0: still the initiator's confirmation */
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_MEDIUM, false), 1);
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_LOW, false), 1);
    /* unknown severity: the strictest */
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_NONE, false), 3);
    /* a point of no return: one more */
    assert_int_equal(rb_approvals_needed(&ap, RB_SEV_CRITICAL, true), 3);
}

static void make_run_dir(void)
{
    char runs[350];
    struct rb_err err = RB_ERR_INIT;

    snprintf(runs, sizeof(runs), "%s/runs", state_dir);
    assert_int_equal(mkdir(runs, 0700), 0);
    assert_int_equal(mkdir(run_dir, 0700), 0);
    assert_int_equal(rb_approvals_dir_create(state_dir, run_dir, &err), 0);
}

static void write_file(const char *name, const char *text)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof(path), "%s/approvals/%s", run_dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_records_round_trip(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_approval_rec r = { .kind = "approve",
                                 .user = "bob",
                                 .host = "h1",
                                 .at = "2026-12-02T00:10:00.000Z",
                                 .comment = "checked",
                                 .pid = 42 };
    struct rb_approval_rec d = { .kind = "deny",
                                 .user = "carol",
                                 .host = "h2",
                                 .at = "2026-12-02T00:11:00.000Z",
                                 .comment = "no",
                                 .pid = 43 };
    struct rb_approval_rec *recs;
    const char *file;
    char path[600];
    struct stat st;
    size_t n;

    (void)state;
    make_run_dir();
    snprintf(path, sizeof(path), "%s/approvals", run_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700); /* not shared: owner-only */
    /* written in reverse order: read back in the order of their names (times) */
    assert_int_equal(rb_approval_write(a, run_dir, &d, &file, &err), 0);
    assert_int_equal(rb_approval_write(a, run_dir, &r, &file, &err), 0);
    assert_non_null(strstr(file, "approve-bob-42.json"));
    snprintf(path, sizeof(path), "%s/approvals/%s", run_dir, file);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    write_file(".half-written.json.tmp", "{");
    write_file("zz-garbage.json", "not json");
    write_file("zz-maybe.json", "{\"kind\":\"maybe\",\"user\":\"x\",\"host\":\"h\",\"at\":\"t\"}");

    assert_int_equal(rb_approvals_read(a, run_dir, &recs, &n, &err), 0);
    assert_int_equal(n, 4); /* the temp file is not a record */
    assert_string_equal(recs[0].kind, "approve");
    assert_string_equal(recs[0].user, "bob");
    assert_string_equal(recs[0].host, "h1");
    assert_string_equal(recs[0].at, "2026-12-02T00:10:00.000Z");
    assert_string_equal(recs[0].comment, "checked");
    assert_int_equal(recs[0].pid, 42);
    assert_int_equal(recs[0].owner, geteuid());
    assert_string_equal(recs[1].kind, "deny");
    assert_string_equal(recs[1].user, "carol");
    assert_null(recs[2].kind);
    assert_string_equal(recs[2].invalid, "it is not a JSON object");
    assert_null(recs[3].kind);
    assert_non_null(strstr(recs[3].invalid, "neither 'approve' nor 'deny'"));
    rb_arena_free(a);
}

static void test_read_without_folder(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_approval_rec *recs;
    size_t n = 99;

    (void)state;
    assert_int_equal(rb_approvals_read(a, run_dir, &recs, &n, &err), 0);
    assert_int_equal(n, 0);
    rb_arena_free(a);
}

static void test_owner_rules(void **state)
{
    struct passwd *me = getpwuid(geteuid());
    struct rb_approval_rec r = { .kind = "approve", .host = "h", .at = "t" };
    char why[256];

    (void)state;
    assert_non_null(me);
    r.user = me->pw_name;
    r.owner = geteuid();
    assert_true(rb_approval_owner_ok(&r, why, sizeof(why)));
    r.user = "someone-with-no-account-here";
    r.owner = 0; /* root may speak for SUDO_USER */
    assert_true(rb_approval_owner_ok(&r, why, sizeof(why)));
    r.owner = 54321;
    assert_false(rb_approval_owner_ok(&r, why, sizeof(why)));
    assert_non_null(strstr(why, "has no account on this host"));
    r.user = me->pw_name;
    r.owner = geteuid() == 0 ? 54321 : 0;
    if (r.owner != 0) {
        assert_false(rb_approval_owner_ok(&r, why, sizeof(why)));
        assert_non_null(strstr(why, "but was written by uid 54321"));
    }
}

static void test_shared_modes(void **state)
{
    struct rb_err err = RB_ERR_INIT;
    char path[600];
    struct stat st;

    (void)state;
    assert_false(rb_state_dir_shared(state_dir));
    assert_int_equal(chmod(state_dir, 02770), 0);
    assert_true(rb_state_dir_shared(state_dir));
    make_run_dir();
    snprintf(path, sizeof(path), "%s/approvals", run_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02770);
    /* the group bits without setgid are not the shared setup */
    assert_int_equal(chmod(state_dir, 0770), 0);
    assert_false(rb_state_dir_shared(state_dir));
    assert_int_equal(rb_approvals_dir_create(state_dir, run_dir, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void append(struct rb_journal *j, const char *action, const char *event, const char *data)
{
    struct rb_err err = RB_ERR_INIT;
    cJSON *d = data != NULL ? cJSON_Parse(data) : NULL;

    assert_int_equal(
        rb_journal_append(j, action[0] != '\0' ? "approve" : "", action, event, d, &err), 0);
    cJSON_Delete(d);
}

static cJSON *waiting_now(void)
{
    char path[600];
    struct rb_journal_log log;
    struct rb_err err = RB_ERR_INIT;
    cJSON *w;

    snprintf(path, sizeof(path), "%s/journal.jsonl", run_dir);
    assert_int_equal(rb_journal_read(path, &log, &err), 0);
    w = rb_approvals_waiting(&log);
    rb_journal_log_release(&log);
    return w;
}

static void test_waiting_from_journal(void **state)
{
    struct rb_journal j;
    struct rb_err err = RB_ERR_INIT;
    cJSON *w;

    (void)state;
    assert_int_equal(rb_journal_create(&j, run_dir, "r1", &err), 0);
    append(&j, "", "run_started", "{\"initiated_by\":\"alice@h\"}");
    assert_null(waiting_now());
    append(&j, RB_APPROVE_ACTION, "started", NULL);
    append(
        &j, RB_APPROVE_ACTION, "progress",
        "{\"needed\":2,\"deadline\":\"D\",\"deadline_ms\":1,\"approvals\":[{\"user\":\"alice\"}]}");
    w = waiting_now();
    assert_non_null(w);
    assert_int_equal(cJSON_GetObjectItem(w, "needed")->valueint, 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(w, "approvals")), 1);
    cJSON_Delete(w);
    /* a later progress replaces the approvals; a crash and a new "started" keeps what was had */
    append(&j, RB_APPROVE_ACTION, "progress",
           "{\"approvals\":[{\"user\":\"alice\"},{\"user\":\"bob\"}]}");
    append(&j, RB_APPROVE_ACTION, "started", NULL);
    w = waiting_now();
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(w, "approvals")), 2);
    assert_string_equal(cJSON_GetObjectItem(w, "deadline")->valuestring, "D");
    cJSON_Delete(w);
    append(&j, RB_APPROVE_ACTION, "done", "{}");
    assert_null(waiting_now());
    rb_journal_close(&j);
}

static void test_rfc3339(void **state)
{
    char out[40];

    (void)state;
    rb_rfc3339_ms(1796169509090LL, out, sizeof(out));
    assert_string_equal(out, "2026-12-01T23:58:29.090Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_pick),
        cmocka_unit_test(test_identity_user_of),
        cmocka_unit_test(test_needed),
        cmocka_unit_test_setup_teardown(test_records_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_without_folder, setup, teardown),
        cmocka_unit_test(test_owner_rules),
        cmocka_unit_test_setup_teardown(test_shared_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiting_from_journal, setup, teardown),
        cmocka_unit_test(test_rfc3339),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
