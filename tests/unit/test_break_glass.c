/*
 * test_break_glass.c - break-glass.sh's shell quoting and what the script holds (break_glass.c).
 *
 * The quoting is checked by bash itself: each nasty value, quoted, is handed to `bash -c 'printf
 * %s WORD'` (a child with an argv, child.h) and must come back byte for byte. Then a whole script
 * from a runbook held in memory with quotes, spaces, $ and ; in its names: bash -n accepts it, the
 * secret in the password variable is nowhere in it, the statements come from sync_sql.c, and DNS
 * data holding a line break (it would smuggle an nsupdate command in) is refused.
 * tests/integration/test_break_glass.sh runs a script against the servers.
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

#include "../../src/phases/break_glass_priv.h"
#include "rollbackctl/child.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/prepare.h"
#include "rollbackctl/runbook.h"

static const char *bash_says(struct rb_arena *a, const char *word)
{
    struct rb_child_result cr;
    struct rb_err err = RB_ERR_INIT;
    const char *argv[] = { "bash", "-c", rb_sprintf(a, "printf %%s %s", word), NULL };

    assert_int_equal(rb_child_run(a, argv, NULL, 10000, &cr, &err), 0);
    assert_true(cr.exited);
    assert_int_equal(cr.status, 0);
    return cr.out_tail;
}

static void test_quote_round_trips_through_bash(void **state)
{
    static const char *const values[] = {
        "plain",     "with space", "it's",        "'",
        "''",        "$HOME",      "${x:?no}",    "a;rm -rf /",
        "`id`",      "$(id)",      "back\\slash", "tab\there",
        "new\nline", "*?[a]",      "~root",       "#not a comment",
        "!bang",     "a&b|c>d<e",  "{a,b}",       "\"double\"",
        "-n",        "key=value",  "é ü",
    };
    struct rb_arena *a = rb_arena_new();

    (void)state;
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        assert_string_equal(bash_says(a, rb_bg_shell_quote(a, values[i])), values[i]);
    /* plain words stay readable; anything else is quoted; the empty word is still a word */
    assert_string_equal(rb_bg_shell_quote(a, "payroll-api"), "payroll-api");
    assert_string_equal(rb_bg_shell_quote(a, "app=payroll"), "app=payroll");
    assert_string_equal(rb_bg_shell_quote(a, "it's"), "'it'\\''s'");
    assert_string_equal(rb_bg_shell_quote(a, ""), "''");
    assert_string_equal(bash_says(a, rb_sprintf(a, "x%sy", rb_bg_shell_quote(a, ""))), "xy");
    rb_arena_free(a);
}

static void test_comment_and_ident(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    assert_string_equal(rb_bg_comment_text(a, "two\nlines\r"), "two lines ");
    assert_string_equal(rb_bg_ident(a, "legacy-db 2"), "legacy_db_2");
    assert_string_equal(rb_bg_ident(a, "new"), "new");
    rb_arena_free(a);
}

#define SECRET "s3cr3t-'$(touch /tmp/pwned)'"

static const char nasty_runbook[] =
    "version: 1\n"
    "name: \"it's $HOME; a rollback\"\n"
    "cutover: 2026-11-01T00:00:00Z\n"
    "state_dir: /tmp/rb-unit-break-glass\n"
    "targets:\n"
    "  new: { driver: postgres, conninfo: \"host=127.0.0.1 dbname='pay roll' user=rb\" }\n"
    "  legacy-db:\n"
    "    driver: postgres\n"
    "    conninfo: \"host=127.0.0.1 dbname=legacy user=rb\"\n"
    "    password_env: RB_UNIT_BG_PASSWORD\n"
    "  cluster: { driver: kubernetes, kubeconfig: \"/tmp/kube config\", context: \"a'b\", "
    "namespace: payroll, token_env: RB_UNIT_BG_TOKEN }\n"
    "  mail: { driver: smtp, url: \"smtp://127.0.0.1:9\", from: a@b.c, password_env: "
    "RB_UNIT_BG_SMTP }\n"
    "  pdns: { driver: powerdns, url: \"http://127.0.0.1:8081/\", zone: example.test, "
    "api_key_env: RB_UNIT_BG_PDNS }\n"
    "  dnscli: { driver: exec, zone: example.test., command: [dnscli, set, \"{{name}}\", "
    "\"--data={{data}} {{ttl}}\"] }\n"
    "freeze:\n"
    "  - scale: { target: cluster, deployment: payroll-api, replicas: 0 }\n"
    "  - suspend_cronjobs: { target: cluster, selector: \"app in (pay; roll)\" }\n"
    "sync:\n"
    "  from: new\n"
    "  to: legacy-db\n"
    "  tables:\n"
    "    - name: t\n"
    "      source: { table: \"Src Table\", changed_since: created_at, where: \"note = 'it''s'\" }\n"
    "      target: { table: \"\\\"LEGACY\\\".\\\"T\\\"\", key: [id] }\n"
    "      columns: { id: id, note: \"note || ' $x; `y`'\" }\n"
    "restore:\n"
    "  - name: \"Say 'hello'; $x\"\n"
    "    run: [printf, \"%s\\n\", \"$HOME; it's\"]\n"
    "    verify: { target: legacy-db, sql: \"select 'it''s' <> ''\" }\n"
    "  - name: pdns\n"
    "    dns: { target: pdns, name: payroll, type: TXT, data: \"\\\"it's $x\\\"\", ttl: 60 }\n"
    "  - name: cli\n"
    "    dns: { target: dnscli, name: payroll, type: CNAME, data: legacy, ttl: 30 }\n";

static void test_script_of_a_nasty_runbook(void **state)
{
    struct rb_ctx ctx;
    struct rb_diags d;
    struct rb_err err = RB_ERR_INIT;
    struct rb_runbook *rb;
    struct rb_run *run;
    const char *script, *path;
    struct rb_child_result cr;
    FILE *f;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.out = stdout;
    ctx.diag = stderr;
    ctx.arena = rb_arena_new();
    setenv("RB_UNIT_BG_PASSWORD", SECRET, 1);
    setenv("RB_UNIT_BG_TOKEN", "tok-" SECRET, 1);
    setenv("RB_UNIT_BG_PDNS", "key-" SECRET, 1);
    rb_diags_init(&d, ctx.arena, "nasty.yaml");
    rb = rb_runbook_load_buffer(ctx.arena, "nasty.yaml", nasty_runbook, sizeof(nasty_runbook) - 1,
                                &d);
    if (rb == NULL)
        rb_diags_print(&d, stderr);
    assert_non_null(rb);
    run = rb_run_new_check(&ctx, rb);
    script = rb_break_glass_script(run, &err);
    if (script == NULL)
        fprintf(stderr, "%s\n", err.msg);
    assert_non_null(script);

    assert_null(strstr(script, "s3cr3t"));
    assert_non_null(strstr(script, "#!/usr/bin/env bash\n"));
    assert_non_null(strstr(script, rb->sha256));
    assert_non_null(strstr(script, "set -euo pipefail\n"));
    /* the password into a private password file, the variable unexported: no child's environment */
    assert_non_null(strstr(script, "rb_pgpass \"${RB_UNIT_BG_PASSWORD:?"));
    assert_non_null(strstr(script, "PGPASSFILE=\"$RB_BG_TMP/pgpass-legacy_db\" "));
    assert_null(strstr(script, "PGPASSWORD="));
    assert_non_null(strstr(script, "\nexport -n RB_UNIT_BG_PASSWORD"));
    assert_non_null(strstr(script, "rb_need_env RB_UNIT_BG_TOKEN"));
    assert_non_null(strstr(script, "psql_legacy_db() {"));
    assert_non_null(strstr(script, "kube_cluster() {"));
    assert_non_null(strstr(script, "RB_UNIT_BG_SMTP"));         /* listed in the header ... */
    assert_null(strstr(script, "rb_need_env RB_UNIT_BG_SMTP")); /* ... not needed */
    assert_null(strstr(script, "rb_need nsupdate"));            /* no dns step: not asked for */
    assert_non_null(strstr(script, "-n payroll scale deployment/payroll-api --replicas=0"));
    assert_non_null(strstr(script, "-l 'app in (pay; roll)'"));
    /* sync_sql.c's statements, shell-quoted */
    assert_non_null(strstr(script, "FROM \"Src Table\" WHERE \"created_at\" >= "
                                   "'\\''2026-11-01T00:00:00Z'\\''::timestamptz AND (note = "
                                   "'\\''it'\\'''\\''s'\\'')"));
    assert_non_null(strstr(script, "INSERT INTO \"LEGACY\".\"T\" AS t"));
    /* the run step drops the runbook's secrets and keeps its words literal */
    assert_non_null(strstr(script, "env -u RB_UNIT_BG_PASSWORD"));
    assert_non_null(strstr(script, "-- printf '%s\n' '$HOME; it'\\''s'"));

    /* powerdns: the key as a header from a process substitution; exec: its words substituted */
    assert_non_null(strstr(script, "-H @<(printf 'X-API-Key: %s\\n' \"$RB_UNIT_BG_PDNS\")"));
    assert_non_null(strstr(script, "http://127.0.0.1:8081/api/v1/servers/localhost/zones/"
                                   "example.test."));
    assert_non_null(strstr(script, "\"name\":\"payroll.example.test.\",\"type\":\"TXT\""));
    assert_non_null(strstr(script, "dnscli set payroll.example.test. "
                                   "'--data=legacy.example.test. 30'"));

    /* bash reads it */
    path = rb_sprintf(ctx.arena, "/tmp/rb-unit-break-glass-%ld.sh", (long)getpid());
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(script, f);
    assert_int_equal(fclose(f), 0);
    {
        const char *argv[] = { "bash", "-n", path, NULL };

        assert_int_equal(rb_child_run(ctx.arena, argv, NULL, 10000, &cr, &err), 0);
        if (cr.status != 0)
            fprintf(stderr, "%s", cr.err_tail);
        assert_true(cr.exited);
        assert_int_equal(cr.status, 0);
    }
    unlink(path);
    rb_arena_free(ctx.arena);
}

/* A line break in DNS data would end nsupdate's command early and start another: refused. */
static void test_dns_data_with_a_line_break(void **state)
{
    static const char text[] =
        "version: 1\nname: x\ncutover: 2026-11-01T00:00:00Z\n"
        "state_dir: /tmp/rb-unit-break-glass\n"
        "targets:\n"
        "  dns: { driver: rfc2136, server: \"127.0.0.1:53\", zone: example. }\n"
        "restore:\n"
        "  - name: txt\n"
        "    dns: { target: dns, name: a, type: TXT, data: \"x\\nsend\" }\n";
    struct rb_ctx ctx;
    struct rb_diags d;
    struct rb_err err = RB_ERR_INIT;
    struct rb_runbook *rb;

    (void)state;
    memset(&ctx, 0, sizeof(ctx));
    ctx.out = stdout;
    ctx.diag = stderr;
    ctx.arena = rb_arena_new();
    rb_diags_init(&d, ctx.arena, "x.yaml");
    rb = rb_runbook_load_buffer(ctx.arena, "x.yaml", text, sizeof(text) - 1, &d);
    assert_non_null(rb);
    assert_null(rb_break_glass_script(rb_run_new_check(&ctx, rb), &err));
    assert_string_equal(err.msg, "restore step 'txt': a DNS name, type or data holds a line break");
    rb_arena_free(ctx.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote_round_trips_through_bash),
        cmocka_unit_test(test_comment_and_ident),
        cmocka_unit_test(test_script_of_a_nasty_runbook),
        cmocka_unit_test(test_dns_data_with_a_line_break),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
