/*
 * report_bundle.c - the files a report leaves: report.md and report.json in the run folder, and
 * the evidence bundle (FILE.tar.gz with MANIFEST.sha256) for auditors. See report.h.
 *
 * The bundle is assembled in a private temp folder from files the run itself wrote (the journal,
 * the verification report, the notification copies) and renderings of the report, then packed by
 * Debian's tar through rb_child_run (an argv vector, a deadline): no second tar writer to trust.
 */
#include "rollbackctl/report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rollbackctl/child.h"
#include "rollbackctl/fsutil.h"

#define BUNDLE_TAR_TIMEOUT_MS (2 * 60 * 1000)

int rb_report_write_files(const char *run_dir, const cJSON *report, struct rb_err *err)
{
    struct rb_buf md = RB_BUF_INIT;
    char path[4096];
    char *json;
    int rc;

    rb_report_markdown(&md, report);
    snprintf(path, sizeof(path), "%s/report.md", run_dir);
    rc = rb_write_file_atomic(path, md.data, md.len, 0600, err);
    rb_buf_release(&md);
    if (rc < 0)
        return -1;
    json = cJSON_Print(report);
    if (json == NULL)
        return rb_errf(err, RB_E_FAILED, "out of memory rendering report.json");
    rb_buf_adds(&md, json);
    rb_buf_addc(&md, '\n'); /* text tools expect the last line to end */
    snprintf(path, sizeof(path), "%s/report.json", run_dir);
    rc = rb_write_file_atomic(path, md.data, md.len, 0600, err);
    rb_buf_release(&md);
    cJSON_free(json);
    return rc;
}

/* ---- the bundle ------------------------------------------------------------------------------- */

struct bundle {
    struct rb_arena *a;
    const char *tmp;        /* the private temp folder */
    const char *top;        /* tmp/rollbackctl-<run_id> */
    const char *files[256]; /* relative to top, in the order written (MANIFEST order) */
    size_t n;
    const char *dirs[8]; /* sub-folders made under top, removed after */
    size_t n_dirs;
};

static int put(struct bundle *b, const char *rel, const void *data, size_t len, struct rb_err *err)
{
    if (b->n == sizeof(b->files) / sizeof(b->files[0]))
        return rb_errf(err, RB_E_FAILED, "too many files for the bundle (at most %zu)", b->n);
    if (rb_write_file_atomic(rb_sprintf(b->a, "%s/%s", b->top, rel), data, len, 0600, err) < 0)
        return -1;
    b->files[b->n++] = rb_strdup(b->a, rel);
    return 0;
}

static int put_buf(struct bundle *b, const char *rel, struct rb_buf *buf, struct rb_err *err)
{
    int rc = put(b, rel, buf->data, buf->len, err);

    rb_buf_release(buf);
    return rc;
}

static int put_json(struct bundle *b, const char *rel, const cJSON *v, struct rb_err *err)
{
    char *s = v != NULL ? cJSON_Print(v) : NULL;
    struct rb_buf buf = RB_BUF_INIT;

    rb_buf_adds(&buf, s != NULL ? s : "null");
    rb_buf_addc(&buf, '\n');
    cJSON_free(s);
    return put_buf(b, rel, &buf, err);
}

/* A file of the run folder, copied when it is there (verification.json is only after verify). */
static int put_copy(struct bundle *b, const char *run_dir, const char *rel, size_t max_len,
                    struct rb_err *err)
{
    struct rb_err rerr = RB_ERR_INIT;
    size_t len;
    char *data = rb_read_file(rb_sprintf(b->a, "%s/%s", run_dir, rel), &len, &rerr);
    int rc;

    if (data == NULL)
        return 1;
    rc = put(b, rel, data, max_len > 0 && max_len < len ? max_len : len, err);
    free(data);
    return rc;
}

/* "notifications/leadership.txt": relative, inside the run folder, no "..", plain characters. */
static bool safe_rel_path(const char *p)
{
    const char *s;

    if (p == NULL || p[0] == '\0' || p[0] == '/' || strstr(p, "..") != NULL)
        return false;
    for (s = p; *s != '\0'; s++)
        if (!(*s == '/' || *s == '.' || *s == '-' || *s == '_' || (*s >= 'a' && *s <= 'z') ||
              (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
            return false;
    return strchr(p, '/') == strrchr(p, '/'); /* one folder deep at most */
}

static int mkdir_for(struct bundle *b, const char *rel, struct rb_err *err)
{
    const char *slash = strrchr(rel, '/');
    const char *dir;

    if (slash == NULL)
        return 0;
    dir = rb_strndup(b->a, rel, (size_t)(slash - rel));
    for (size_t i = 0; i < b->n_dirs; i++)
        if (strcmp(b->dirs[i], dir) == 0)
            return 0;
    if (b->n_dirs == sizeof(b->dirs) / sizeof(b->dirs[0]))
        return rb_errf(err, RB_E_FAILED, "too many folders for the bundle");
    if (mkdir(rb_sprintf(b->a, "%s/%s", b->top, dir), 0700) < 0 && errno != EEXIST)
        return rb_errf(err, RB_E_FAILED, "unable to create '%s/%s': %s", b->top, dir,
                       strerror(errno));
    b->dirs[b->n_dirs++] = dir;
    return 0;
}

/* The plan as it was executed: every `started` line of the journal, in order. */
static void plan_text(struct rb_buf *out, const struct rb_journal_log *log)
{
    size_t i;

    rb_buf_adds(out, "# the actions of this run as the journal's 'started' lines have them\n"
                     "# seq  started at                phase        action  (idempotency)"
                     "  summary\n");
    for (i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(e->data, "summary");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e->data, "idempotency");

        if (strcmp(e->event, "started") != 0)
            continue;
        rb_buf_addf(out, "%4llu  %s  %-12s %s  (%s)  %s\n", (unsigned long long)e->seq, e->ts,
                    e->phase, e->action, cJSON_IsString(id) ? id->valuestring : "?",
                    cJSON_IsString(s) ? s->valuestring : "");
    }
}

static void cleanup(struct bundle *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        unlink(rb_sprintf(b->a, "%s/%s", b->top, b->files[i]));
    unlink(rb_sprintf(b->a, "%s/MANIFEST.sha256", b->top));
    for (i = b->n_dirs; i-- > 0;)
        rmdir(rb_sprintf(b->a, "%s/%s", b->top, b->dirs[i]));
    rmdir(b->top);
    rmdir(b->tmp);
}

static int manifest(struct bundle *b, const struct rb_journal_log *log, struct rb_err *err)
{
    struct rb_buf m = RB_BUF_INIT;
    size_t i;
    int rc;

    for (i = 0; i < b->n; i++) {
        struct rb_err rerr = RB_ERR_INIT;
        size_t len;
        char *data = rb_read_file(rb_sprintf(b->a, "%s/%s", b->top, b->files[i]), &len, &rerr);
        char hex[65];

        if (data == NULL) {
            rb_buf_release(&m);
            *err = rerr;
            return -1;
        }
        rb_sha256_hex(data, len, hex);
        free(data);
        rb_buf_addf(&m, "%s  %s\n", hex, b->files[i]);
    }
    /* a comment line: sha256sum -c skips it; the chain head proves which journal this is */
    rb_buf_addf(&m, "# journal chain head (sha256 of its last line): %s\n", log->last_hash);
    rc = rb_write_file_atomic(rb_sprintf(b->a, "%s/MANIFEST.sha256", b->top), m.data, m.len, 0600,
                              err);
    rb_buf_release(&m);
    return rc;
}

static int pack(struct bundle *b, const char *file, const char *const *env_drop,
                struct rb_err *err)
{
    const char *partial = rb_sprintf(b->a, "%s.partial", file);
    const char *name = strrchr(b->top, '/') + 1;
    const char *argv[] = { "tar",           "--create", "--gzip",    "--file",    partial,
                           "--directory",   b->tmp,     "--owner=0", "--group=0", "--numeric-owner",
                           "--mode=go-rwx", "--",       name,        NULL };
    struct rb_child_result res;

    if (rb_child_run_env(b->a, argv, NULL, env_drop, BUNDLE_TAR_TIMEOUT_MS, &res, err) < 0)
        return rb_err_wrap(err, "unable to pack bundle '%s'", file);
    if (!res.exited || res.status != 0) {
        unlink(partial);
        rb_errf(err, RB_E_FAILED, "unable to pack bundle '%s': tar %s: %s", file,
                rb_child_describe(b->a, &res), res.err_tail);
        return rb_err_hint(err, "check that the folder of '%s' is writable and has room", file);
    }
    /* payroll rows can be in it (verification differences): readable by the operator only */
    if (chmod(partial, 0600) < 0 || rename(partial, file) < 0) {
        rb_errf(err, RB_E_FAILED, "unable to rename '%s' to '%s': %s", partial, file,
                strerror(errno));
        unlink(partial);
        return -1;
    }
    {
        const char *slash = strrchr(file, '/');

        rb_fsync_dir(slash == NULL   ? "."
                     : slash == file ? "/"
                                     : rb_strndup(b->a, file, (size_t)(slash - file)));
    }
    return 0;
}

int rb_report_bundle(struct rb_arena *a, const char *run_dir, const struct rb_journal_log *log,
                     const cJSON *report, const char *file, const char *const *env_drop,
                     struct rb_err *err)
{
    struct bundle b = { .a = a };
    const char *tmpdir =
        getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] == '/' ? getenv("TMPDIR") : "/tmp";
    char *tmpl = rb_sprintf(a, "%s/rollbackctl-bundle.XXXXXX", tmpdir);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(report, "run_id");
    const cJSON *n;
    struct rb_buf buf = RB_BUF_INIT;
    int rc = -1;

    if (mkdtemp(tmpl) == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to create a temp folder in '%s': %s", tmpdir,
                       strerror(errno));
    b.tmp = tmpl;
    b.top = rb_sprintf(a, "%s/rollbackctl-%s", tmpl, cJSON_IsString(id) ? id->valuestring : "run");
    if (mkdir(b.top, 0700) < 0) {
        rb_errf(err, RB_E_FAILED, "unable to create '%s': %s", b.top, strerror(errno));
        rmdir(b.tmp);
        return -1;
    }
    /* the journal up to its last good line: the lines this report was built from */
    rc = put_copy(&b, run_dir, "journal.jsonl", log->good_bytes, err);
    if (rc > 0)
        rb_errf(err, RB_E_FAILED, "no journal in '%s'", run_dir);
    rc = rc != 0 ? -1 : rc;
    /* and its chain head, so the copy can be checked as the run folder is (none before heads) */
    if (rc == 0 && put_copy(&b, run_dir, "journal.jsonl.head", 0, err) < 0)
        rc = -1;
    if (rc < 0)
        goto out;
    rc = -1;
    rb_report_markdown(&buf, report);
    if (put_buf(&b, "report.md", &buf, err) < 0 || put_json(&b, "report.json", report, err) < 0)
        goto out;
    rb_report_html(&buf, report);
    if (put_buf(&b, "report.html", &buf, err) < 0)
        goto out;
    plan_text(&buf, log);
    if (put_buf(&b, "plan.txt", &buf, err) < 0 ||
        put_json(&b, "assessment.json", cJSON_GetObjectItemCaseSensitive(report, "assessment"),
                 err) < 0 ||
        put_copy(&b, run_dir, "verification.json", 0, err) < 0 ||
        put_copy(&b, run_dir, "verification.txt", 0, err) < 0)
        goto out;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(report, "notifications")) {
        const cJSON *copy = cJSON_GetObjectItemCaseSensitive(n, "copy");

        if (!cJSON_IsString(copy) || !safe_rel_path(copy->valuestring))
            continue; /* not sent, or a path that would leave the run folder: not copied */
        if (mkdir_for(&b, copy->valuestring, err) < 0 ||
            put_copy(&b, run_dir, copy->valuestring, 0, err) < 0)
            goto out;
    }
    if (manifest(&b, log, err) < 0 || pack(&b, file, env_drop, err) < 0)
        goto out;
    rc = 0;
out:
    rb_buf_release(&buf);
    cleanup(&b);
    return rc;
}
