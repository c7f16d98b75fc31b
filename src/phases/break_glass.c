/*
 * break_glass.c - break-glass.sh: the runbook's rollback as a bash script a person can review and
 * run on the day rollbackctl itself cannot (rb_break_glass_script() of prepare.h).
 *
 * The script does what execute does, in the same order: freeze (kubectl), sync (psql, with the
 * very statements sync_sql.c builds for rollbackctl, so the two cannot drift), restore (each
 * step with its verify, looked at first as restore.c does: a rerun skips what is done), then the
 * verify queries side by side. It assesses nothing and asks nobody: whoever runs it decided.
 *
 * No secret is ever written into it: database passwords, cluster tokens and API keys are read
 * at run time from the variables the runbook's *_env keys name, which the script unexports (no
 * program it starts inherits them), and reach the programs through a private file (psql's
 * password file, kubectl's kubeconfig) or a process substitution, never their argv or
 * environment. Every value that
 * comes from the runbook is shell-quoted (rb_bg_shell_quote), so a name with quotes, spaces, $ or
 * ; passes literally; every program gets a deadline (psql connect and statement timeouts,
 * kubectl --request-timeout, nsupdate -t, curl --max-time, timeout(1)).
 */
#include "rollbackctl/prepare.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/child.h"
#include "rollbackctl/db.h"
#include "rollbackctl/dns.h"
#include "rollbackctl/probe.h"
#include "break_glass_priv.h"
#include "sync_priv.h"

#define BG_HTTP_TIMEOUT_S       30
#define BG_KUBE_TIMEOUT_MS      30000
#define BG_PG_CONNECT_TIMEOUT_S 10

/* ---- pure helpers (unit-tested) ---------------------------------------------------------------- */

const char *rb_bg_shell_quote(struct rb_arena *a, const char *s)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *res, *p;
    bool plain = s[0] != '\0';

    /* a whitelist, not a list of special characters: what is not known safe gets quoted */
    for (p = s; *p != '\0' && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("_./:=,@%+-", *p) != NULL;
    if (plain)
        return rb_strdup(a, s);
    rb_buf_addc(&b, '\'');
    for (p = s; *p != '\0'; p++) {
        if (*p == '\'')
            rb_buf_adds(&b, "'\\''");
        else
            rb_buf_addc(&b, *p);
    }
    rb_buf_addc(&b, '\'');
    res = rb_strndup(a, b.data, b.len);
    rb_buf_release(&b);
    return res;
}

const char *rb_bg_comment_text(struct rb_arena *a, const char *s)
{
    char *c = rb_strdup(a, s != NULL ? s : "");

    for (char *p = c; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return c;
}

const char *rb_bg_ident(struct rb_arena *a, const char *name)
{
    char *c = rb_strdup(a, name);

    for (char *p = c; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    return c;
}

/* ---- the generator ------------------------------------------------------------------------------ */

struct bg {
    struct rb_run *run;
    struct rb_arena *a;
    const struct rb_runbook *rb;
    struct rb_buf body; /* everything after the preamble, written first */
    bool *used;         /* by target index: its psql_/kube_ function is needed */
    bool psql, kubectl, nsupdate, curl, timeout_tool;
    struct rb_err *err;
};

static const char *q(struct bg *g, const char *s)
{
    return rb_bg_shell_quote(g->a, s != NULL ? s : "");
}

static const char *cm(struct bg *g, const char *s)
{
    return rb_bg_comment_text(g->a, s);
}

/* The function-name part of a target: its name as an identifier, numbered when two collide. */
static const char *target_ident(struct bg *g, const struct rb_target *t)
{
    const char *id = rb_bg_ident(g->a, t->name);
    size_t self = (size_t)(t - g->rb->targets);

    for (size_t i = 0; i < g->rb->n_targets; i++)
        if (i != self && strcmp(rb_bg_ident(g->a, g->rb->targets[i].name), id) == 0)
            return rb_sprintf(g->a, "%s_%zu", id, self + 1);
    return id;
}

/* Seconds for a shell command's deadline (at least 1). */
static long secs(int64_t ms)
{
    return ms >= 1000 ? (long)((ms + 999) / 1000) : 1;
}

/* A sleep(1) argument: seconds with the milliseconds kept ("0.500"). */
static const char *sleep_text(struct bg *g, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    return rb_sprintf(g->a, "%lld.%03lld", (long long)(ms / 1000), (long long)(ms % 1000));
}

static bool env_name_ok(const char *s)
{
    if (s == NULL || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static const struct rb_target *use_target(struct bg *g, const char *name, enum rb_target_kind kind,
                                          const char *what)
{
    const struct rb_target *t = rb_runbook_target(g->rb, name);

    if (t == NULL) {
        rb_errf(g->err, RB_E_RUNBOOK, "%s names no target '%s'", what, name != NULL ? name : "");
        return NULL;
    }
    if (t->kind != kind) {
        rb_errf(g->err, RB_E_RUNBOOK, "%s: target '%s' is not a %s target", what, t->name,
                rb_target_kind_name(kind));
        return NULL;
    }
    if ((kind == RB_TARGET_DB && strcmp(t->driver, "postgres") != 0) ||
        (kind == RB_TARGET_CLUSTER && strcmp(t->driver, "kubernetes") != 0)) {
        rb_errf(g->err, RB_E_FAILED, "%s: break-glass.sh cannot drive target '%s' (driver '%s')",
                what, t->name, t->driver);
        return NULL;
    }
    g->used[t - g->rb->targets] = true;
    if (kind == RB_TARGET_DB)
        g->psql = true;
    if (kind == RB_TARGET_CLUSTER)
        g->kubectl = true;
    return t;
}

static const char *psql_fn(struct bg *g, const struct rb_target *t)
{
    return rb_sprintf(g->a, "psql_%s", target_ident(g, t));
}

static const char *kube_fn(struct bg *g, const struct rb_target *t)
{
    return rb_sprintf(g->a, "kube_%s", target_ident(g, t));
}

/* "-n 'ns' " for a cluster command: the entry's namespace, else the target's, else the context's. */
static const char *ns_flag(struct bg *g, const struct rb_target *t, const char *own)
{
    const char *ns = own != NULL ? own : rb_target_opt(t, "namespace");

    return ns != NULL ? rb_sprintf(g->a, "-n %s ", q(g, ns)) : "";
}

static const char *ns_shown(const struct rb_target *t, const char *own)
{
    const char *ns = own != NULL ? own : rb_target_opt(t, "namespace");

    return ns != NULL ? ns : "(the context's)";
}

static void say(struct bg *g, const char *text)
{
    rb_buf_addf(&g->body, "rb_say %s\n", q(g, text));
}

/* A file name part: the slug of a name (never empty, never a path). */
static const char *file_part(struct bg *g, const char *s)
{
    const char *slug = rb_name_slug(g->a, s != NULL ? s : "");

    return slug[0] != '\0' ? slug : "x";
}

/* ---- freeze ------------------------------------------------------------------------------------- */

static int freeze_entry(struct bg *g, size_t i)
{
    const struct rb_freeze_action *f = &g->rb->freeze[i];
    const struct rb_target *t = use_target(g, f->target, RB_TARGET_CLUSTER, "freeze");
    struct rb_buf *b = &g->body;
    const char *k, *n;
    int no = (int)i + 1;

    if (t == NULL)
        return -1;
    k = kube_fn(g, t);
    n = ns_flag(g, t, f->namespace_);
    switch (f->kind) {
    case RB_FREEZE_SCALE: {
        const char *file =
            rb_sprintf(g->a, "$RB_BG_OUT/freeze-%d-replicas-%s", no, file_part(g, f->deployment));

        rb_buf_addf(b,
                    "\n# freeze %d (runbook line %d): scale deployment '%s' in namespace '%s' of "
                    "'%s' to %d.\n# The count it had first is kept in a file (never overwritten "
                    "by a rerun), to put it back.\n",
                    no, f->pos.line, cm(g, f->deployment), cm(g, ns_shown(t, f->namespace_)),
                    cm(g, t->name), f->replicas);
        say(g, rb_sprintf(g->a, "freeze: scale deployment %s to %d", f->deployment, f->replicas));
        rb_buf_addf(b, "rb_file=\"%s\"\n", file);
        rb_buf_addf(b,
                    "if [ ! -s \"$rb_file\" ]; then\n"
                    "    %s %sget deployment %s -o 'jsonpath={.spec.replicas}' >\"$rb_file.tmp\"\n"
                    "    mv \"$rb_file.tmp\" \"$rb_file\"\n"
                    "fi\n",
                    k, n, q(g, f->deployment));
        rb_buf_addf(b,
                    "printf 'deployment %%s had %%s replicas (kept in %%s); to put them back: "
                    "kubectl %%sscale deployment/%%s --replicas=%%s\\n' %s \"$(cat \"$rb_file\")\" "
                    "\"$rb_file\" %s %s \"$(cat \"$rb_file\")\"\n",
                    q(g, f->deployment), q(g, n), q(g, f->deployment));
        rb_buf_addf(b, "%s %sscale deployment/%s --replicas=%d\n", k, n, q(g, f->deployment),
                    f->replicas);
        break;
    }
    case RB_FREEZE_SUSPEND_CRONJOBS:
        rb_buf_addf(b,
                    "\n# freeze %d (runbook line %d): suspend every CronJob matching '%s' in "
                    "namespace '%s' of '%s'\n# (a merge patch, as rollbackctl sends it); the "
                    "names go to a file, to resume them later.\n",
                    no, f->pos.line, cm(g, f->selector), cm(g, ns_shown(t, f->namespace_)),
                    cm(g, t->name));
        say(g, rb_sprintf(g->a, "freeze: suspend cronjobs %s", f->selector));
        rb_buf_addf(b, "rb_names=$(%s %sget cronjobs -l %s -o name)\n", k, n, q(g, f->selector));
        rb_buf_addf(b, "[ -n \"$rb_names\" ] || printf 'no cronjob matches %%s\\n' %s\n",
                    q(g, f->selector));
        rb_buf_addf(b,
                    "for rb_cj in $rb_names; do\n"
                    "    printf '%%s\\n' \"$rb_cj\" >>\"$RB_BG_OUT/freeze-%d-suspended-cronjobs\"\n"
                    "    %s %spatch \"$rb_cj\" --type=merge -p '{\"spec\":{\"suspend\":true}}'\n"
                    "done\n",
                    no, k, n);
        break;
    case RB_FREEZE_DELETE_JOBS:
        rb_buf_addf(b,
                    "\n# freeze %d (runbook line %d): delete the Jobs matching '%s' in namespace "
                    "'%s' of '%s'\n# (their pods go too: background propagation), saved to a "
                    "file first.\n",
                    no, f->pos.line, cm(g, f->selector), cm(g, ns_shown(t, f->namespace_)),
                    cm(g, t->name));
        say(g, rb_sprintf(g->a, "freeze: delete jobs %s", f->selector));
        rb_buf_addf(
            b, "%s %sget jobs -l %s -o yaml >\"$RB_BG_OUT/freeze-%d-jobs-$RB_BG_STAMP.yaml\"\n", k,
            n, q(g, f->selector), no);
        rb_buf_addf(b, "%s %sdelete jobs -l %s --cascade=background\n", k, n, q(g, f->selector));
        break;
    case RB_FREEZE_SNAPSHOT:
        rb_buf_addf(b,
                    "\n# freeze %d (runbook line %d): save namespace '%s' of '%s' as freeze does "
                    "(Deployments,\n# StatefulSets, CronJobs, Jobs, ConfigMaps, Services; never "
                    "Secrets).\n",
                    no, f->pos.line, cm(g, ns_shown(t, f->namespace_)), cm(g, t->name));
        say(g, "freeze: snapshot of the namespace");
        rb_buf_addf(b,
                    "%s %sget deployments,statefulsets,cronjobs,jobs,configmaps,services -o yaml "
                    ">\"$RB_BG_OUT/freeze-%d-snapshot-%s-$RB_BG_STAMP.yaml\"\n",
                    k, n, no, file_part(g, t->name));
        break;
    }
    return 0;
}

/* ---- sync --------------------------------------------------------------------------------------- */

static int sync_table(struct bg *g, size_t i, struct sync_phase *ph, const struct rb_target *from,
                      const struct rb_target *to)
{
    const struct rb_sync_table *t = &g->rb->sync.tables[i];
    struct sync_table st;
    struct rb_buf *b = &g->body;
    const char *data = rb_sprintf(g->a, "\"$RB_BG_TMP/sync-%zu.copy\"", i + 1);
    int no = (int)i + 1;

    memset(&st, 0, sizeof(st));
    st.ph = ph;
    st.t = t;
    rb_sync_build_sql(g->run, &st);
    rb_buf_addf(b,
                "\n# sync table '%s' (runbook line %d, %s): rows of '%s' changed since the "
                "cutover,\n# into '%s'. First the rows to a private file: a source that fails "
                "half-way must not\n# leave a half-filled stage to commit. Then one transaction "
                "on the target: the advisory lock\n# rollbackctl's sync holds (never two writers), "
                "the stage, COPY from the file, the upsert.\n",
                cm(g, t->name), t->pos.line,
                t->critical ? "critical: a failure stops the script"
                            : "not critical: a failure is reported",
                cm(g, t->source_table), cm(g, t->target_table));
    rb_buf_addf(b, "rb_sync_%d() {\n", no);
    rb_buf_addf(b, "    rb_say %s\n", q(g, rb_sprintf(g->a, "sync: %s", t->name)));
    rb_buf_addf(b, "    %s -c %s >%s || return 1\n", psql_fn(g, from), q(g, st.copy_out_sql), data);
    rb_buf_addf(b, "    printf '%%s rows read from %%s\\n' \"$(wc -l <%s)\" %s\n", data,
                q(g, from->name));
    rb_buf_addf(b, "    rb_out=$(%s -1 -At \\\n", psql_fn(g, to));
    rb_buf_addf(b, "        -c %s \\\n", q(g, "SET LOCAL lock_timeout = '" SYNC_LOCK_WAIT "'"));
    rb_buf_addf(b, "        -c %s \\\n",
                q(g, rb_sprintf(g->a, "SELECT pg_advisory_xact_lock(%d, %d)", SYNC_LOCK_CLASS,
                                SYNC_LOCK_OBJ)));
    rb_buf_addf(b, "        -c %s \\\n", q(g, st.stage_sql));
    rb_buf_addf(b, "        -c %s \\\n", q(g, st.stage_keys_sql));
    rb_buf_addf(b, "        -c %s \\\n", q(g, st.copy_in_sql));
    rb_buf_addf(b, "        -c %s <%s) || return 1\n", q(g, st.upsert_sql), data);
    rb_buf_addf(b,
                "    IFS='|' read -r rb_ins rb_upd <<<\"${rb_out##*$'\\n'}\"\n"
                "    printf '%%s: %%s inserted, %%s updated (equal rows left alone)\\n' %s "
                "\"$rb_ins\" \"$rb_upd\"\n"
                "    rm -f %s\n"
                "}\n",
                q(g, to->name), data);
    if (t->critical)
        rb_buf_addf(b, "rb_sync_%d\n", no);
    else
        rb_buf_addf(b,
                    "rb_sync_%d || printf 'sync table %%s FAILED (not critical): going on\\n' %s\n",
                    no, q(g, t->name));
    return 0;
}

/* ---- probes (restore verifies, verify checks) --------------------------------------------------- */

/* The body of a bash function that returns 0 when the probe passes. */
static int probe_fn(struct bg *g, const char *fname, const struct rb_probe *p, const char *what)
{
    struct rb_buf *b = &g->body;

    rb_buf_addf(b, "%s() {\n", fname);
    switch (p->kind) {
    case RB_PROBE_SQL: {
        const struct rb_target *t = use_target(g, p->target, RB_TARGET_DB, what);

        if (t == NULL)
            return -1;
        rb_buf_addf(b,
                    "    local rb_v\n"
                    "    rb_v=$(%s -At -c %s) || return 1\n"
                    "    rb_v=${rb_v%%%%$'\\n'*}\n"
                    "    [ \"${rb_v%%%%|*}\" = t ]\n",
                    psql_fn(g, t), q(g, p->sql));
        break;
    }
    case RB_PROBE_HTTP: {
        long to = p->timeout_ms > 0 ? secs(p->timeout_ms) : BG_HTTP_TIMEOUT_S;

        g->curl = true;
        rb_buf_addf(b, "    [ \"$(curl -s -o /dev/null -w '%%{http_code}' --max-time %ld -X %s", to,
                    q(g, p->method != NULL ? p->method : "GET"));
        for (size_t i = 0; i < p->n_headers; i++)
            rb_buf_addf(b, " -H %s",
                        q(g, rb_sprintf(g->a, "%s: %s", p->headers[i].name, p->headers[i].value)));
        if (p->body != NULL)
            rb_buf_addf(b, " --data-binary %s", q(g, p->body));
        rb_buf_addf(b, " %s)\" = %d ]\n", q(g, p->url),
                    p->expect_status > 0 ? p->expect_status : 200);
        break;
    }
    case RB_PROBE_RUN:
        g->timeout_tool = true;
        rb_buf_addf(b, "    timeout -k 10 %ld",
                    secs(p->timeout_ms > 0 ? p->timeout_ms : RB_PROBE_RUN_TIMEOUT_MS));
        for (size_t i = 0; i < p->argv.n; i++)
            rb_buf_addf(b, " %s", q(g, p->argv.items[i]));
        rb_buf_adds(b, " >/dev/null\n");
        break;
    case RB_PROBE_NONE:
        rb_buf_adds(b, "    true\n");
        break;
    }
    rb_buf_adds(b, "}\n");
    return 0;
}

static const char *probe_text(struct bg *g, const struct rb_probe *p)
{
    switch (p->kind) {
    case RB_PROBE_SQL:
        return rb_sprintf(g->a, "sql on '%s' returns true: %s", p->target, p->sql);
    case RB_PROBE_HTTP:
        return rb_sprintf(g->a, "%s %s answers %d", p->method != NULL ? p->method : "GET", p->url,
                          p->expect_status > 0 ? p->expect_status : 200);
    case RB_PROBE_RUN:
        return rb_sprintf(g->a, "%s exits 0", rb_argv_text(g->a, p->argv.items));
    case RB_PROBE_NONE:
        break;
    }
    return "nothing";
}

/* ---- restore ------------------------------------------------------------------------------------ */

static bool one_line(const char *s)
{
    return s == NULL || strpbrk(s, "\r\n") == NULL;
}

static int dns_act(struct bg *g, const struct rb_restore_step *s, const char *what)
{
    const struct rb_target *t = use_target(g, s->target, RB_TARGET_DNS, what);
    struct rb_buf *b = &g->body;
    const char *zone, *name, *data;

    if (t == NULL)
        return -1;
    zone = rb_target_opt(t, "zone");
    name = rb_dns_fqdn(g->a, s->dns_name, zone);
    data = rb_dns_data_fqdn(g->a, s->dns_type, s->dns_data, zone);
    if (!one_line(name) || !one_line(data) || !one_line(s->dns_type) || !one_line(zone))
        return rb_errf(g->err, RB_E_RUNBOOK, "%s: a DNS name, type or data holds a line break",
                       what);
    if (strcmp(t->driver, "rfc2136") == 0) {
        const char *server = rb_target_opt(t, "server"), *key = rb_target_opt(t, "tsig_key_file");
        const char *host = server, *port = "53", *colon;

        if (!one_line(server))
            return rb_errf(g->err, RB_E_RUNBOOK, "%s: server of '%s' holds a line break", what,
                           t->name);
        if (server[0] == '[' && strchr(server, ']') != NULL) { /* [v6]:port */
            const char *close = strchr(server, ']');

            host = rb_strndup(g->a, server + 1, (size_t)(close - server - 1));
            if (close[1] == ':')
                port = close + 2;
        } else if ((colon = strchr(server, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
            host = rb_strndup(g->a, server, (size_t)(colon - server));
            port = colon + 1;
        }
        g->nsupdate = true;
        rb_buf_addf(b, "    nsupdate -t %ld", secs(rb_dns_target_timeout(t)));
        if (key != NULL)
            rb_buf_addf(b, " -k %s", q(g, key));
        /*
         * A quoted delimiter: nothing in the here-document is expanded. Unlike rollbackctl, which
         * reads the RRset first, a rerun sends the update again: same record, the serial moves.
         */
        rb_buf_addf(b,
                    " <<'RB_NSUPDATE_END'\nserver %s %s\nzone %s\nupdate delete %s %s\n"
                    "update add %s %d %s %s\nsend\nRB_NSUPDATE_END\n",
                    host, port, rb_dns_fqdn(g->a, zone, NULL), name, s->dns_type, name, s->dns_ttl,
                    s->dns_type, data);
    } else if (strcmp(t->driver, "powerdns") == 0) {
        const char *url = rb_target_opt(t, "url"), *sid = rb_target_opt(t, "server_id");
        const char *env = rb_target_opt(t, "api_key_env");
        size_t n = strlen(url);
        const char *json = rb_powerdns_replace_body(g->a, name, s->dns_type, s->dns_ttl, data);

        while (n > 0 && url[n - 1] == '/')
            n--;
        g->curl = true;
        rb_buf_addf(
            b, "    curl -sS --fail --max-time %ld -X PATCH -H 'Content-Type: application/json'",
            secs(rb_dns_target_timeout(t)));
        /* the key as a header read from a process substitution: in no argv, in no file */
        if (env != NULL)
            rb_buf_addf(b, " -H @<(printf 'X-API-Key: %%s\\n' \"$%s\")", env);
        rb_buf_addf(
            b, " --data-binary %s %s\n", q(g, json),
            q(g, rb_sprintf(g->a, "%.*s/api/v1/servers/%s/zones/%s", (int)n, url,
                            sid != NULL ? sid : "localhost", rb_dns_fqdn(g->a, zone, NULL))));
    } else if (strcmp(t->driver, "exec") == 0) {
        const struct rb_opt *cmd = rb_target_opt_node(t, "command");
        const char *to = rb_target_opt(t, "timeout");
        int64_t ms = to != NULL ? rb_duration_parse(to) : -1;
        const struct rb_dns_record rec = { name, s->dns_type, data, s->dns_ttl };

        if (cmd == NULL || cmd->list.n == 0)
            return rb_errf(g->err, RB_E_RUNBOOK, "%s: DNS target '%s' has no command", what,
                           t->name);
        g->timeout_tool = true;
        /* the words exactly as the exec driver substitutes them */
        rb_buf_addf(b, "    timeout -k 10 %ld", secs(ms > 0 ? ms : 2 * 60 * 1000));
        for (size_t i = 0; i < cmd->list.n; i++)
            rb_buf_addf(b, " %s", q(g, rb_dns_exec_word(g->a, cmd->list.items[i], &rec, zone)));
        rb_buf_adds(b, "\n");
    } else {
        return rb_errf(g->err, RB_E_FAILED, "%s: break-glass.sh cannot drive DNS driver '%s'", what,
                       t->driver);
    }
    return 0;
}

static int restore_step(struct bg *g, size_t i, const char *const *secrets)
{
    const struct rb_restore_step *s = &g->rb->restore[i];
    struct rb_buf *b = &g->body;
    const char *what = rb_sprintf(g->a, "restore step '%s'", s->name);
    const char *verify = rb_sprintf(g->a, "rb_restore_%zu_verify", i + 1);
    bool has_verify = s->verify.kind != RB_PROBE_NONE;
    int no = (int)i + 1;

    rb_buf_addf(b, "\n# restore %d (runbook line %d): %s\n", no, s->pos.line, cm(g, s->name));
    if (has_verify)
        rb_buf_addf(b,
                    "# verify: %s (%d attempts, %ss apart). Looked at first: when it passes, "
                    "the step is done.\n",
                    cm(g, probe_text(g, &s->verify)),
                    s->verify.retry.attempts > 0 ? s->verify.retry.attempts : 1,
                    sleep_text(g, s->verify.retry.interval_ms));
    rb_buf_addf(b, "rb_restore_%d_act() {\n", no);
    switch (s->kind) {
    case RB_STEP_RUN: {
        bool any_asked = false;

        g->timeout_tool = true;
        /*
         * as restore.c: the runbook's secrets are not passed on unless the step names them; the
         * script holds them unexported, so a step that names one gets it exported in a subshell
         */
        rb_buf_adds(b, "    ");
        for (size_t k = 0; secrets[k] != NULL; k++)
            for (size_t j = 0; j < s->n_env; j++)
                if (strcmp(s->env[j].name, secrets[k]) == 0 && s->env[j].value == NULL) {
                    rb_buf_addf(b, "%s %s", any_asked ? "" : "(export", secrets[k]);
                    any_asked = true;
                    break;
                }
        if (any_asked)
            rb_buf_adds(b, " && ");
        rb_buf_addf(b, "timeout -k 10 %ld env",
                    secs(s->timeout_ms > 0 ? s->timeout_ms : RB_CHILD_DEFAULT_TIMEOUT_MS));
        for (size_t k = 0; secrets[k] != NULL; k++) {
            bool asked = false;

            for (size_t j = 0; j < s->n_env && !asked; j++)
                asked = strcmp(s->env[j].name, secrets[k]) == 0;
            if (!asked)
                rb_buf_addf(b, " -u %s", q(g, secrets[k]));
        }
        rb_buf_adds(b, " --"); /* env's options end; then its NAME=VALUE words, then argv */
        for (size_t j = 0; j < s->n_env; j++)
            if (s->env[j].value != NULL)
                rb_buf_addf(b, " %s",
                            q(g, rb_sprintf(g->a, "%s=%s", s->env[j].name, s->env[j].value)));
        for (size_t j = 0; j < s->argv.n; j++)
            rb_buf_addf(b, " %s", q(g, s->argv.items[j]));
        rb_buf_adds(b, any_asked ? ")\n" : "\n");
        break;
    }
    case RB_STEP_SQL: {
        const struct rb_target *t = use_target(g, s->target, RB_TARGET_DB, what);

        if (t == NULL)
            return -1;
        rb_buf_addf(b, "    %s -1 -c %s\n", psql_fn(g, t), q(g, s->statement));
        break;
    }
    case RB_STEP_DNS:
        if (dns_act(g, s, what) < 0)
            return -1;
        break;
    case RB_STEP_SCALE: {
        const struct rb_target *t = use_target(g, s->target, RB_TARGET_CLUSTER, what);

        if (t == NULL)
            return -1;
        rb_buf_addf(b, "    %s %sscale deployment/%s --replicas=%d\n", kube_fn(g, t),
                    ns_flag(g, t, s->namespace_), q(g, s->deployment), s->replicas);
        break;
    }
    }
    rb_buf_adds(b, "}\n");
    if (has_verify && probe_fn(g, verify, &s->verify, what) < 0)
        return -1;
    rb_buf_addf(b, "rb_say %s\n", q(g, rb_sprintf(g->a, "restore: %s", s->name)));
    if (has_verify)
        rb_buf_addf(b,
                    "if %s; then\n"
                    "    printf 'already done: its verify passes\\n'\n"
                    "else\n"
                    "    rb_restore_%d_act\n"
                    "    rb_verify %d %s %s || rb_fail %s\n"
                    "fi\n",
                    verify, no, s->verify.retry.attempts > 0 ? s->verify.retry.attempts : 1,
                    sleep_text(g, s->verify.retry.interval_ms), verify,
                    q(g, rb_sprintf(g->a, "restore step '%s': its verify did not pass", s->name)));
    else
        rb_buf_addf(b, "rb_restore_%d_act\n", no);
    return 0;
}

/* ---- verify ------------------------------------------------------------------------------------- */

static int verify_check(struct bg *g, size_t i)
{
    const struct rb_check *c = &g->rb->checks[i];
    struct rb_buf *b = &g->body;
    const char *what = rb_sprintf(g->a, "verify check '%s'", c->name);

    rb_buf_addf(b, "\n# check %zu (runbook line %d): %s\n", i + 1, c->pos.line, cm(g, c->name));
    switch (c->kind) {
    case RB_CHECK_COMPARE:
        rb_buf_addf(b,
                    "# compares every row of sync table '%s' on both sides: this script does not; "
                    "run `rollbackctl verify`.\n",
                    cm(g, c->compare_table));
        say(g, rb_sprintf(g->a,
                          "verify: %s: not checked here (a full comparison): run "
                          "rollbackctl verify",
                          c->name));
        break;
    case RB_CHECK_EQUAL:
    case RB_CHECK_TOTALS: {
        const struct rb_target *tn = use_target(g, c->new_q.target, RB_TARGET_DB, what);
        const struct rb_target *tl = use_target(g, c->legacy_q.target, RB_TARGET_DB, what);
        bool totals = c->kind == RB_CHECK_TOTALS;

        if (tn == NULL || tl == NULL)
            return -1;
        if (totals)
            rb_buf_addf(b,
                        "# totals: per-key sums that must agree within %s; rows sorted, shown "
                        "side by side.\n",
                        cm(g, c->tolerance != NULL ? c->tolerance : "0.00"));
        say(g, rb_sprintf(g->a, "verify: %s (%s): %s | %s", c->name, totals ? "totals" : "equal",
                          tn->name, tl->name));
        rb_buf_addf(b, "rb_a=$(%s -At -c %s%s) || rb_a='(the query failed)'\n", psql_fn(g, tn),
                    q(g, c->new_q.sql), totals ? " | sort" : "");
        rb_buf_addf(b, "rb_b=$(%s -At -c %s%s) || rb_b='(the query failed)'\n", psql_fn(g, tl),
                    q(g, c->legacy_q.sql), totals ? " | sort" : "");
        rb_buf_adds(b, "paste <(printf '%s\\n' \"$rb_a\") <(printf '%s\\n' \"$rb_b\")\n"
                       "if [ \"$rb_a\" = \"$rb_b\" ]; then printf 'the same on both sides\\n'; "
                       "else printf 'they DIFFER: look before you go on\\n'; fi\n");
        break;
    }
    case RB_CHECK_PROBE: {
        const char *fname = rb_sprintf(g->a, "rb_check_%zu", i + 1);

        if (probe_fn(g, fname, &c->probe, what) < 0)
            return -1;
        say(g, rb_sprintf(g->a, "verify: %s: %s", c->name, probe_text(g, &c->probe)));
        rb_buf_addf(b,
                    "if rb_verify %d %s %s; then printf 'passed\\n'; else printf 'FAILED\\n'; "
                    "fi\n",
                    c->probe.retry.attempts > 0 ? c->probe.retry.attempts : 1,
                    sleep_text(g, c->probe.retry.interval_ms), fname);
        break;
    }
    }
    return 0;
}

/* ---- preamble: header, tools, variables, connections ------------------------------------------- */

static void header(struct bg *g, struct rb_buf *b)
{
    const struct rb_runbook *rb = g->rb;
    char now[40];
    bool any = false;

    rb_time_format_rfc3339(time(NULL), now, sizeof(now));
    rb_buf_addf(b,
                "#!/usr/bin/env bash\n"
                "# break-glass.sh - the rollback of runbook '%s' by hand, for the day rollbackctl "
                "itself cannot run.\n#\n"
                "# Generated by rollbackctl %s at %s from\n#   %s (sha256 %s).\n"
                "# A runbook changed since then makes this script stale: `rollbackctl prepare` "
                "writes a new one.\n#\n",
                cm(g, rb->name), RB_VERSION, now, cm(g, rb->path), rb->sha256);
    rb_buf_adds(b,
                "# It does what `rollbackctl execute` does, in the same order: freeze (kubectl), "
                "sync (psql, with\n"
                "# the statements rollbackctl's sync runs), restore (each step, then its verify), "
                "and the verify\n"
                "# queries side by side. It does NOT assess the situation and asks nobody for "
                "approval: the\n"
                "# person running it has decided. It sends no message: tell people yourself. It "
                "keeps no journal\n"
                "# and does not write rollbackctl's ledger (rollbackctl_ledger): the upserts are "
                "idempotent, so\n"
                "# running it twice leaves the same legacy tables, and restore steps whose verify "
                "passes are skipped.\n#\n"
                "# Read it first, then:   bash break-glass.sh\n"
                "# It stops at the first failure (set -euo pipefail). Replica counts, saved Jobs "
                "and the namespace\n"
                "# snapshot go to $BREAK_GLASS_OUT (default ./break-glass-out, 0700).\n#\n");
    rb_buf_adds(b,
                "# Environment variables (the runbook's *_env keys; no secret is in this file):\n");
    for (size_t i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];

        for (size_t k = 0; k < t->n_opts; k++) {
            const struct rb_opt *o = &t->opts[k];
            size_t n = strlen(o->key);

            if (o->value == NULL || n < 4 || strcmp(o->key + n - 4, "_env") != 0)
                continue;
            rb_buf_addf(b, "#   %-24s %s of target '%s'%s\n", cm(g, o->value), cm(g, o->key),
                        cm(g, t->name), g->used[i] ? "" : " (not used here)");
            any = true;
        }
    }
    if (!any)
        rb_buf_adds(b, "#   (none)\n");
    if (rb->prepare.n_contacts > 0) {
        rb_buf_adds(b, "#\n# Contacts:\n");
        for (size_t i = 0; i < rb->prepare.n_contacts; i++) {
            const struct rb_contact *c = &rb->prepare.contacts[i];

            rb_buf_addf(b, "#   %s%s%s%s%s%s%s\n", cm(g, c->role != NULL ? c->role : "contact"),
                        c->name != NULL ? ": " : "", c->name != NULL ? cm(g, c->name) : "",
                        c->email != NULL ? " <" : "", c->email != NULL ? cm(g, c->email) : "",
                        c->email != NULL ? ">" : "",
                        c->phone != NULL ? rb_sprintf(g->a, " %s", cm(g, c->phone)) : "");
        }
    }
    if (rb->n_messages > 0) {
        rb_buf_adds(b, "#\n# Messages rollbackctl would send (this script does not):\n");
        for (size_t i = 0; i < rb->n_messages; i++) {
            const struct rb_message *m = &rb->messages[i];

            rb_buf_addf(b, "#   %s via '%s'", cm(g, m->name), cm(g, m->via));
            for (size_t k = 0; k < m->to.n; k++)
                rb_buf_addf(b, "%s%s", k == 0 ? " to " : ", ", cm(g, m->to.items[k]));
            rb_buf_adds(b, "\n");
        }
    }
    rb_buf_adds(b, "\nset -euo pipefail\n"
                   "umask 077\n\n"
                   "rb_say() { printf '\\n== %s\\n' \"$*\"; }\n"
                   "rb_fail() { printf 'break-glass: %s\\n' \"$*\" >&2; exit 1; }\n"
                   "rb_need() { command -v \"$1\" >/dev/null 2>&1 || rb_fail \"$1 is not installed "
                   "($2)\"; }\n"
                   "rb_need_env() { [ -n \"${!1:-}\" ] || rb_fail \"set $1 ($2)\"; }\n"
                   "# rb_pgpass PASSWORD: a libpq password file line for any server (: and \\ "
                   "escaped)\n"
                   "rb_pgpass() { local s=${1//\\\\/\\\\\\\\}; printf '*:*:*:*:%s\\n' "
                   "\"${s//:/\\\\:}\"; }\n"
                   "# rb_verify ATTEMPTS INTERVAL_S FUNCTION: FUNCTION passes within ATTEMPTS "
                   "tries, INTERVAL_S apart\n"
                   "rb_verify() {\n"
                   "    local rb_n=$1 rb_i=$2 rb_k\n"
                   "    shift 2\n"
                   "    for ((rb_k = 1; rb_k <= rb_n; rb_k++)); do\n"
                   "        \"$@\" && return 0\n"
                   "        [ \"$rb_k\" -lt \"$rb_n\" ] && sleep \"$rb_i\"\n"
                   "    done\n"
                   "    return 1\n"
                   "}\n\n");
}

static void tools(struct bg *g, struct rb_buf *b)
{
    if (g->psql)
        rb_buf_adds(b, "rb_need psql 'the PostgreSQL client, Debian: postgresql-client'\n");
    if (g->kubectl)
        rb_buf_adds(b, "rb_need kubectl 'Debian: kubernetes-client'\n");
    if (g->nsupdate)
        rb_buf_adds(b, "rb_need nsupdate 'Debian: bind9-dnsutils'\n");
    if (g->curl)
        rb_buf_adds(b, "rb_need curl 'Debian: curl'\n");
    if (g->timeout_tool)
        rb_buf_adds(b, "rb_need timeout 'coreutils'\n");
}

static int db_function(struct bg *g, struct rb_buf *b, const struct rb_target *t)
{
    struct rb_db_client c;
    const char *ct = rb_target_opt(t, "connect_timeout");
    int64_t ct_ms = ct != NULL ? rb_duration_parse(ct) : -1;

    if (rb_db_client(g->a, t, &c, g->err) < 0)
        return -1;
    rb_buf_addf(b,
                "\n# database target '%s': %s\n"
                "# The session settings rollbackctl pins (UTC, ISO dates, exact floats), so that "
                "COPY text is the same;\n# a statement deadline as long as the sync's "
                "(statement_timeout=6h).\n",
                cm(g, t->name), cm(g, c.conninfo));
    if (c.password_env == NULL && c.password != NULL)
        rb_buf_adds(b, "# Its conninfo holds a password, left out here: give it in PGPASSWORD or "
                       "~/.pgpass.\n");
    if (c.password_env != NULL) {
        /* PGPASSWORD would sit in /proc/PID/environ of every psql for as long as it runs */
        rb_buf_addf(b,
                    "# The password from $%s (password_env), into a private password file "
                    "(printf is a builtin: no argv).\n"
                    "rb_pgpass \"${%s:?set %s}\" >\"$RB_BG_TMP/pgpass-%s\"\n",
                    c.password_env, c.password_env, c.password_env, target_ident(g, t));
    }
    rb_buf_addf(b, "%s() {\n    ", psql_fn(g, t));
    if (c.password_env != NULL)
        rb_buf_addf(b, "%s=\"$RB_BG_TMP/pgpass-%s\" ", c.passfile_var, target_ident(g, t));
    rb_buf_addf(b,
                "PGCONNECT_TIMEOUT=%ld PGTZ=UTC PGDATESTYLE='ISO, MDY' "
                "PGOPTIONS=\"${PGOPTIONS:-} -c extra_float_digits=1 -c statement_timeout=6h\" \\\n"
                "        psql -X -q -v ON_ERROR_STOP=1",
                ct_ms > 0 ? secs(ct_ms) : BG_PG_CONNECT_TIMEOUT_S);
    if (c.conninfo[0] != '\0')
        rb_buf_addf(b, " -d %s", q(g, c.conninfo));
    rb_buf_adds(b, " \"$@\"\n}\n");
    return 0;
}

static void kube_function(struct bg *g, struct rb_buf *b, const struct rb_target *t)
{
    const char *kc = rb_target_opt(t, "kubeconfig"), *ctx = rb_target_opt(t, "context");
    const char *tok = rb_target_opt(t, "token_env"), *id = target_ident(g, t);
    long to = secs(rb_target_timeout(t, BG_KUBE_TIMEOUT_MS));
    const char *sel =
        rb_sprintf(g->a, "%s%s%s%s", kc != NULL ? " --kubeconfig " : "", kc != NULL ? q(g, kc) : "",
                   ctx != NULL ? " --context " : "", ctx != NULL ? q(g, ctx) : "");

    rb_buf_addf(b, "\n# cluster target '%s': kubeconfig %s, context %s\n", cm(g, t->name),
                cm(g, kc != NULL ? kc : "$KUBECONFIG or ~/.kube/config"),
                cm(g, ctx != NULL ? ctx : "(current-context)"));
    if (tok == NULL) {
        rb_buf_addf(b, "kube_%s() { kubectl --request-timeout=%lds%s \"$@\"; }\n", id, to, sel);
        return;
    }
    /*
     * kubectl reads no token from the environment, and --token would show it in ps: the token
     * goes into a private kubeconfig written by printf (a builtin: no argv), listed before the
     * target's own so its user and context win, on the cluster of the target's context.
     */
    rb_buf_addf(b,
                "# The token comes from $%s (token_env): kubectl has no variable for it and "
                "--token would show it\n"
                "# in ps, so it goes into a private kubeconfig (printf is a builtin: no argv), on "
                "the context's cluster.\n",
                tok);
    rb_buf_addf(b, "rb_kc_%s=%s\n", id,
                kc != NULL ? q(g, kc) : "\"${KUBECONFIG:-$HOME/.kube/config}\"");
    rb_buf_addf(b,
                "rb_kcv_%s=$(KUBECONFIG=\"$rb_kc_%s\" kubectl --request-timeout=%lds%s%s "
                "config view --minify -o \\\n"
                "    'jsonpath={.contexts[0].context.cluster}|{.contexts[0].context.namespace}')\n",
                id, id, to, ctx != NULL ? " --context " : "", ctx != NULL ? q(g, ctx) : "");
    rb_buf_addf(
        b,
        "rb_json() { local s=${1//\\\\/\\\\\\\\}; s=${s//\\\"/\\\\\\\"}; printf '%%s' "
        "\"$s\"; }\n"
        "printf '{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"users\":[{\"name\":"
        "\"rollbackctl-break-glass\",\"user\":{\"token\":\"%%s\"}}],\"contexts\":[{\"name\":"
        "\"rollbackctl-break-glass\",\"context\":{\"cluster\":\"%%s\",\"namespace\":"
        "\"%%s\",\"user\":\"rollbackctl-break-glass\"}}]}\\n' \\\n"
        "    \"$(rb_json \"${%s:?set %s}\")\" \"$(rb_json \"${rb_kcv_%s%%%%|*}\")\" "
        "\"$(rb_json \"${rb_kcv_%s#*|}\")\" >\"$RB_BG_TMP/kubeconfig-%s\"\n",
        tok, tok, id, id, id);
    rb_buf_addf(b,
                "kube_%s() { KUBECONFIG=\"$RB_BG_TMP/kubeconfig-%s:$rb_kc_%s\" kubectl "
                "--request-timeout=%lds --context rollbackctl-break-glass \"$@\"; }\n",
                id, id, id, to);
}

/* The variables the script reads, checked before it changes anything. */
static void env_checks(struct bg *g, struct rb_buf *b)
{
    for (size_t i = 0; i < g->rb->n_targets; i++) {
        const struct rb_target *t = &g->rb->targets[i];
        const char *v = NULL, *key = NULL;

        if (g->used[i] && t->kind == RB_TARGET_DB)
            key = "password_env";
        else if (g->used[i] && t->kind == RB_TARGET_CLUSTER)
            key = "token_env";
        else if (g->used[i] && t->kind == RB_TARGET_DNS)
            key = "api_key_env";
        if (key != NULL)
            v = rb_target_opt(t, key);
        if (v != NULL)
            rb_buf_addf(b, "rb_need_env %s %s\n", v,
                        q(g, rb_sprintf(g->a, "%s of target '%s'", key, t->name)));
    }
}

static int check_env_names(struct bg *g)
{
    for (size_t i = 0; i < g->rb->n_targets; i++) {
        const struct rb_target *t = &g->rb->targets[i];

        for (size_t k = 0; k < t->n_opts; k++) {
            const struct rb_opt *o = &t->opts[k];
            size_t n = strlen(o->key);

            if (o->value != NULL && n >= 4 && strcmp(o->key + n - 4, "_env") == 0 &&
                !env_name_ok(o->value))
                return rb_errf(g->err, RB_E_RUNBOOK,
                               "%s of target '%s' is not a variable name a shell can read: '%s'",
                               o->key, t->name, o->value);
        }
    }
    return 0;
}

const char *rb_break_glass_script(struct rb_run *run, struct rb_err *err)
{
    struct bg g;
    struct rb_buf out = RB_BUF_INIT;
    const struct rb_runbook *rb = run->rb;
    const char **secrets;
    const char *res = NULL;
    struct sync_phase ph;
    int rc = 0;

    memset(&g, 0, sizeof(g));
    g.run = run;
    g.a = run->arena;
    g.rb = rb;
    g.err = err;
    g.body = (struct rb_buf)RB_BUF_INIT;
    g.used = rb_new_array(g.a, bool, rb->n_targets + 1);
    memset(g.used, 0, sizeof(bool) * (rb->n_targets + 1));
    secrets = rb_runbook_secret_env(g.a, rb);
    if (check_env_names(&g) < 0)
        return NULL;

    if (rb->n_freeze > 0)
        rb_buf_adds(&g.body, "\n# ---- freeze: stop the new system writing "
                             "---------------------------------------------------\n");
    for (size_t i = 0; i < rb->n_freeze && rc == 0; i++)
        rc = freeze_entry(&g, i);
    if (rc == 0 && rb->sync.present && rb->sync.n_tables > 0) {
        const struct rb_target *from = use_target(&g, rb->sync.from, RB_TARGET_DB, "sync from");
        const struct rb_target *to = use_target(&g, rb->sync.to, RB_TARGET_DB, "sync to");

        rb_buf_adds(&g.body, "\n# ---- sync: every change since the cutover back to legacy "
                             "-----------------------------------\n");
        ph.from = rb->sync.from;
        ph.to = rb->sync.to;
        if (from == NULL || to == NULL)
            rc = -1;
        for (size_t i = 0; i < rb->sync.n_tables && rc == 0; i++)
            rc = sync_table(&g, i, &ph, from, to);
    }
    if (rc == 0 && rb->n_restore > 0)
        rb_buf_adds(&g.body, "\n# ---- restore: bring legacy back, one verified step at a time "
                             "-------------------------------\n");
    for (size_t i = 0; i < rb->n_restore && rc == 0; i++)
        rc = restore_step(&g, i, secrets);
    if (rc == 0 && rb->n_checks > 0)
        rb_buf_adds(&g.body, "\n# ---- verify: the checks' queries, side by side (nothing is "
                             "decided here) -----------------\n");
    for (size_t i = 0; i < rb->n_checks && rc == 0; i++)
        rc = verify_check(&g, i);

    if (rc == 0) {
        header(&g, &out);
        tools(&g, &out);
        env_checks(&g, &out);
        if (secrets[0] != NULL) {
            /* exported by the operator's shell, they would reach psql, kubectl, nsupdate, curl */
            rb_buf_adds(&out, "# The runbook's secrets stay variables of this shell, exported to "
                              "no program it starts\n# (a restore step whose env: names one gets "
                              "that one).\nexport -n");
            for (size_t k = 0; secrets[k] != NULL; k++)
                rb_buf_addf(&out, " %s", secrets[k]);
            rb_buf_adds(&out, "\n");
        }
        rb_buf_adds(&out, "\nRB_BG_OUT=${BREAK_GLASS_OUT:-$PWD/break-glass-out}\n"
                          "RB_BG_STAMP=$(date -u +%Y%m%dT%H%M%SZ)\n"
                          "mkdir -p \"$RB_BG_OUT\" && chmod 700 \"$RB_BG_OUT\"\n"
                          "RB_BG_TMP=$(mktemp -d \"${TMPDIR:-/tmp}/break-glass.XXXXXX\")\n"
                          "trap 'rm -rf \"$RB_BG_TMP\"' EXIT\n");
        for (size_t i = 0; i < rb->n_targets && rc == 0; i++) {
            if (!g.used[i])
                continue;
            if (rb->targets[i].kind == RB_TARGET_DB)
                rc = db_function(&g, &out, &rb->targets[i]);
            else if (rb->targets[i].kind == RB_TARGET_CLUSTER)
                kube_function(&g, &out, &rb->targets[i]);
        }
    }
    if (rc == 0) {
        rb_buf_add(&out, g.body.data, g.body.len);
        rb_buf_addf(&out, "\nrb_say %s\n",
                    q(&g, "done: the rollback ran to its end; see the verify lines above"));
        res = rb_strndup(g.a, out.data, out.len);
    }
    rb_buf_release(&out);
    rb_buf_release(&g.body);
    return res;
}
