/*
 * prepare_assets.c - prepare's `assets` check (prepare.h): tonight's set of what a rollback needs
 * on the day rollbackctl itself cannot run, under state_dir/prepare/<UTC timestamp>/:
 *
 *   snapshot.dump                  pg_dump -Fc of prepare.snapshot.target (none: said so)
 *   cluster-<target>-<ns>.json     each namespace freeze snapshots, taken as freeze takes it
 *                                  (rb_freeze_snapshot_take: never Secrets); no snapshot entry:
 *                                  every cluster target's namespace
 *   runbook/<name>                 the runbook, and the message templates it uses (their paths
 *                                  under the runbook's folder kept; others under runbook/external/)
 *   break-glass.sh                 rb_break_glass_script(), 0700 so it runs as ./break-glass.sh
 *   MANIFEST.sha256                `sha256sum -c` lines over every other file, written last
 *
 * Folders 0700, files 0600. The set is built in a hidden .partial-<timestamp> folder and renamed
 * into place only once complete, so a set under its timestamp is always whole; any failure
 * removes the partial folder and makes the check NOT_READY naming what failed. Then, and only
 * then, sets past prepare.keep (the newest kept) and stale partial folders are removed; removal
 * never follows a symbolic link (nftw FTW_PHYS) and touches nothing but real folders of ours.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "prepare_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/cluster.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/phases.h"

/* A partial folder older than this belongs to no prepare still running (each child has 1 h). */
#define STALE_PARTIAL_S (6 * 3600)

struct set {
    struct rb_run *run;
    const char *dir;    /* the partial folder, while building */
    const char **files; /* relative paths written, for the manifest */
    size_t n, cap;
    int64_t bytes;
    struct rb_buf notes; /* what was skipped, for the reason */
};

static void set_add(struct set *s, const char *rel, int64_t bytes)
{
    rb_arena_push(s->run->arena, s->files, s->n, s->cap, 16);
    s->files[s->n++] = rb_strdup(s->run->arena, rel);
    s->bytes += bytes;
}

static int write_file(struct set *s, const char *rel, const void *data, size_t len, mode_t mode,
                      struct rb_err *err)
{
    if (rb_write_file_atomic(rb_sprintf(s->run->arena, "%s/%s", s->dir, rel), data, len, mode,
                             err) < 0)
        return -1;
    set_add(s, rel, (int64_t)len);
    return 0;
}

/* The folders of a relative path, made 0700 inside the set. */
static int make_parents(struct set *s, const char *rel, struct rb_err *err)
{
    const char *slash = strrchr(rel, '/');

    if (slash == NULL)
        return 0;
    return rb_mkdir_p(rb_sprintf(s->run->arena, "%s/%.*s", s->dir, (int)(slash - rel), rel), 0700,
                      err);
}

/* ---- snapshot.dump --------------------------------------------------------------------------- */

static int add_dump(struct set *s, struct rb_err *err)
{
    struct rb_run *run = s->run;
    const char *name = run->rb->prepare.snapshot_target;
    const struct rb_target *t = name != NULL ? rb_runbook_target(run->rb, name) : NULL;
    const char *path = rb_sprintf(run->arena, "%s/snapshot.dump", s->dir);
    struct rb_db_client client;
    struct stat st;
    int fd;

    if (t == NULL) {
        rb_buf_addf(&s->notes, "; no snapshot.dump (no prepare.snapshot target)");
        return 0;
    }
    if (rb_db_client(run->arena, t, &client, err) < 0)
        return rb_err_wrap(err, "snapshot.dump");
    if (client.password_env != NULL && client.password == NULL)
        return rb_errf(err, RB_E_FAILED,
                       "snapshot.dump: environment variable '%s' (password_env of target '%s') "
                       "is not set",
                       client.password_env, name);
    /* made 0600 before pg_dump writes into it (pg_dump would create it by the umask) */
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to create '%s': %s", path, strerror(errno));
    close(fd);
    {
        const char *const args[] = { "--format=custom", "--file",        path,
                                     "--dbname",        client.conninfo, NULL };

        if (rb_prepare_run_client(run, "pg_dump", args, &client, RB_PREPARE_PG_TIMEOUT_MS, NULL,
                                  err) < 0)
            return rb_err_wrap(err, "snapshot.dump of target '%s'", name);
    }
    /* pg_dump does not fsync what it writes */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0 || fsync(fd) < 0 ||
        fstat(fd, &st) < 0) {
        rb_errf(err, RB_E_FAILED, "unable to sync '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    set_add(s, "snapshot.dump", (int64_t)st.st_size);
    return 0;
}

/* ---- cluster-<target>-<ns>.json ------------------------------------------------------------- */

static int add_cluster_one(struct set *s, const char *target, const char *ns, struct rb_err *err)
{
    struct rb_run *run = s->run;
    struct rb_cluster_snapshot snap;
    const char *used, *rel;
    char *text;
    int rc;

    if (rb_freeze_snapshot_take(run, target, ns, &used, &snap, err) < 0)
        return rb_err_wrap(err, "cluster snapshot of target '%s'", target);
    cJSON_Delete(snap.counts);
    rel = rb_sprintf(run->arena, "cluster-%s-%s.json", target, used);
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->files[i], rel) == 0) { /* two entries, one namespace: taken once */
            cJSON_Delete(snap.doc);
            return 0;
        }
    text = cJSON_Print(snap.doc);
    cJSON_Delete(snap.doc);
    if (text == NULL)
        abort();
    rc = write_file(s, rel, text, strlen(text), 0600, err);
    cJSON_free(text);
    return rc;
}

static int add_cluster(struct set *s, struct rb_err *err)
{
    const struct rb_runbook *rb = s->run->rb;
    size_t taken = 0;

    for (size_t i = 0; i < rb->n_freeze; i++) {
        const struct rb_freeze_action *f = &rb->freeze[i];

        if (f->kind != RB_FREEZE_SNAPSHOT)
            continue;
        if (add_cluster_one(s, f->target, f->namespace_, err) < 0)
            return -1;
        taken++;
    }
    if (taken > 0)
        return 0;
    for (size_t i = 0; i < rb->n_targets; i++)
        if (rb->targets[i].kind == RB_TARGET_CLUSTER &&
            add_cluster_one(s, rb->targets[i].name, NULL, err) < 0)
            return -1;
    return 0;
}

/* ---- runbook/ -------------------------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL ? slash + 1 : path;
}

static int copy_in(struct set *s, const char *src, const char *rel, struct rb_err *err)
{
    size_t len;
    char *data = rb_read_file(src, &len, err);
    int rc;

    if (data == NULL)
        return -1;
    rc = make_parents(s, rel, err);
    if (rc == 0)
        rc = write_file(s, rel, data, len, 0600, err);
    free(data);
    return rc;
}

/*
 * Where a template goes: its path under the runbook's folder when it is there (the copied
 * runbook's `template:` lines then still point at it), else runbook/external/<base name>, a
 * number in front when two templates share a base name.
 */
/* A relative path that stays below its folder: no leading '/', no "." or ".." component. */
static bool below(const char *rel)
{
    if (rel[0] == '\0' || rel[0] == '/')
        return false;
    for (const char *c = rel; *c != '\0';) {
        size_t n = strcspn(c, "/");

        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += n;
        c += *c == '/';
    }
    return true;
}

static const char *template_rel(struct set *s, const char *path)
{
    struct rb_arena *a = s->run->arena;
    const char *dir = s->run->rb->dir;
    size_t dl = dir != NULL ? strlen(dir) : 0;
    const char *in = NULL, *rel;

    /* the loader left a template of a runbook in "." relative; others carry the folder */
    if (dir == NULL || strcmp(dir, ".") == 0)
        in = path;
    else if (strncmp(path, dir, dl) == 0 && path[dl] == '/')
        in = path + dl + 1;
    if (in != NULL && below(in))
        rel = rb_sprintf(a, "runbook/%s", in);
    else
        rel = rb_sprintf(a, "runbook/external/%s", base_name(path));
    for (int n = 2;; n++) {
        bool taken = false;

        for (size_t i = 0; i < s->n && !taken; i++)
            taken = strcmp(s->files[i], rel) == 0;
        if (!taken)
            return rel;
        rel = rb_sprintf(a, "runbook/external/%d-%s", n, base_name(path));
    }
}

static int add_runbook(struct set *s, struct rb_err *err)
{
    const struct rb_runbook *rb = s->run->rb;

    const char *rel = rb_sprintf(
        s->run->arena, "runbook/%s",
        strcmp(rb->path, RB_RUNBOOK_STDIN_NAME) == 0 ? "runbook.yaml" : base_name(rb->path));

    /* the bytes the run was planned from (and hashed), also when they came from `-f -` */
    if (make_parents(s, rel, err) < 0 || write_file(s, rel, rb->text, rb->text_len, 0600, err) < 0)
        return rb_err_wrap(err, "copy of the runbook");
    for (size_t i = 0; i < rb->n_messages; i++) {
        const char *path = rb->messages[i].template_path;
        bool seen = false;

        if (path == NULL)
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen = rb->messages[j].template_path != NULL &&
                   strcmp(rb->messages[j].template_path, path) == 0;
        if (!seen && copy_in(s, path, template_rel(s, path), err) < 0)
            return rb_err_wrap(err, "copy of template '%s'", path);
    }
    return 0;
}

/* ---- MANIFEST.sha256 ------------------------------------------------------------------------- */

static int by_path(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int add_manifest(struct set *s, struct rb_err *err)
{
    struct rb_buf m = RB_BUF_INIT;
    const char **sorted = rb_new_array(s->run->arena, const char *, s->n + 1);
    int rc = 0;

    memcpy(sorted, s->files, s->n * sizeof(*sorted));
    qsort(sorted, s->n, sizeof(*sorted), by_path);
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        char hex[65];

        rc = rb_sha256_file_hex(rb_sprintf(s->run->arena, "%s/%s", s->dir, sorted[i]), hex, err);
        if (rc == 0)
            rb_buf_addf(&m, "%s  %s\n", hex, sorted[i]);
    }
    if (rc == 0)
        rc = write_file(s, "MANIFEST.sha256", m.data, m.len, 0600, err);
    rb_buf_release(&m);
    return rc < 0 ? rb_err_wrap(err, "MANIFEST.sha256") : 0;
}

/* ---- removal and retention ------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    /* FTW_PHYS: a symbolic link is this entry itself, removed as a link, never followed */
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -r of a real folder of ours; a link or a file in its place is left alone. */
static int remove_tree(const char *dir)
{
    struct stat st;

    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return -1;
    return nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* "20261202T031500Z" or "20261202T031500Z-2": a complete set's name. */
static bool set_name(const char *n)
{
    size_t i;

    for (i = 0; i < 15; i++)
        if (i == 8 ? n[i] != 'T' : (n[i] < '0' || n[i] > '9'))
            return false;
    if (n[15] != 'Z')
        return false;
    if (n[16] == '\0')
        return true;
    if (n[16] != '-' || n[17] == '\0')
        return false;
    for (i = 17; n[i] != '\0'; i++)
        if (n[i] < '0' || n[i] > '9')
            return false;
    return true;
}

/* Names sort as times: a set made in the same second as another gets "-2", after it. */
static int by_set_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keep the newest `keep` sets; remove older ones and stale partial folders. Returns removed. */
static size_t retain(struct rb_run *run, const char *base, int keep)
{
    DIR *d = opendir(base);
    const char **sets = NULL;
    size_t n = 0, cap = 0, removed = 0;
    struct dirent *e;
    time_t now = time(NULL);

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        const char *path = rb_sprintf(run->arena, "%s/%s", base, e->d_name);
        struct stat st;

        if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if (strncmp(e->d_name, ".partial-", 9) == 0) {
            if (now - st.st_mtime > STALE_PARTIAL_S && remove_tree(path) == 0)
                removed++;
            continue;
        }
        if (!set_name(e->d_name))
            continue;
        rb_arena_push(run->arena, sets, n, cap, 16);
        sets[n++] = rb_strdup(run->arena, e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(sets, n, sizeof(*sets), by_set_name);
    for (size_t i = 0; keep > 0 && n > (size_t)keep && i < n - (size_t)keep; i++)
        if (remove_tree(rb_sprintf(run->arena, "%s/%s", base, sets[i])) == 0)
            removed++;
    if (removed > 0)
        rb_fsync_dir(base);
    return removed;
}

/* ---- the set --------------------------------------------------------------------------------- */

/* fsync of the set's folders (the files were synced as they were written). */
static int sync_dirs(struct set *s, struct rb_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const char *slash = strrchr(s->files[i], '/');

        if (slash != NULL && rb_fsync_dir(rb_sprintf(s->run->arena, "%s/%.*s", s->dir,
                                                     (int)(slash - s->files[i]), s->files[i])) < 0)
            return rb_errf(err, RB_E_FAILED, "unable to sync a folder of '%s': %s", s->dir,
                           strerror(errno));
    }
    if (rb_fsync_dir(s->dir) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to sync '%s': %s", s->dir, strerror(errno));
    return 0;
}

/* The folder a new set is built in, and the name it will have: free names, made 0700. */
static int new_set_dir(struct rb_run *run, const char *base, const char **partial,
                       const char **final, struct rb_err *err)
{
    char ts[32];
    time_t now = time(NULL);
    struct tm tm;

    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y%m%dT%H%M%SZ", &tm);
    for (int n = 1; n < 100; n++) {
        const char *name =
            n == 1 ? rb_strdup(run->arena, ts) : rb_sprintf(run->arena, "%s-%d", ts, n);
        struct stat st;

        *final = rb_sprintf(run->arena, "%s/%s", base, name);
        *partial = rb_sprintf(run->arena, "%s/.partial-%s", base, name);
        if (lstat(*final, &st) == 0 || errno != ENOENT)
            continue;
        if (mkdir(*partial, 0700) == 0)
            return 0;
        if (errno != EEXIST)
            return rb_errf(err, RB_E_FAILED, "unable to create '%s': %s", *partial,
                           strerror(errno));
    }
    return rb_errf(err, RB_E_FAILED, "no free name for a new set under '%s'", base);
}

static int build(struct set *s, struct rb_err *err)
{
    const char *script;

    if (add_dump(s, err) < 0 || add_cluster(s, err) < 0 || add_runbook(s, err) < 0)
        return -1;
    if ((script = rb_break_glass_script(s->run, err)) == NULL)
        return rb_err_wrap(err, "break-glass.sh");
    if (write_file(s, "break-glass.sh", script, strlen(script), 0700, err) < 0)
        return rb_err_wrap(err, "break-glass.sh");
    if (add_manifest(s, err) < 0)
        return -1;
    return sync_dirs(s, err);
}

void rb_prepare_assets(struct rb_run *run, struct rb_prepare_report *r)
{
    const char *state_dir = run->rb->state_dir;
    int64_t t0 = rb_now_ms();
    struct rb_err err = RB_ERR_INIT;
    struct set s = { .run = run, .notes = RB_BUF_INIT };
    const char *base, *final = NULL;
    size_t removed;

    if (state_dir == NULL) {
        rb_prepare_record(run, r, "assets", false, t0,
                          "the runbook has no state_dir to write the assets under");
        return;
    }
    base = rb_sprintf(run->arena, "%s/prepare", state_dir);
    if (rb_mkdir_p(state_dir, 0700, &err) < 0 || rb_check_state_dir(state_dir, &err) < 0 ||
        rb_mkdir_private(base, 0700, &err) < 0 ||
        new_set_dir(run, base, &s.dir, &final, &err) < 0) {
        rb_prepare_record(run, r, "assets", false, t0, "no assets written: %s",
                          rb_prepare_err_text(run->arena, &err));
        rb_buf_release(&s.notes);
        return;
    }
    if (build(&s, &err) == 0 && rename(s.dir, final) < 0)
        rb_errf(&err, RB_E_FAILED, "unable to rename '%s' to '%s': %s", s.dir, final,
                strerror(errno));
    if (err.cls != RB_E_NONE) {
        remove_tree(s.dir);
        rb_prepare_record(run, r, "assets", false, t0, "no assets written (%s removed): %s", s.dir,
                          rb_prepare_err_text(run->arena, &err));
        rb_buf_release(&s.notes);
        return;
    }
    /* the set is whole under its name now; a folder sync that fails only risks it after a crash */
    rb_fsync_dir(base);
    r->assets_dir = final;
    removed = retain(run, base, run->rb->prepare.keep);
    rb_prepare_record(run, r, "assets", true, t0, "written to %s (%zu files, %s)%s%s", final, s.n,
                      rb_prepare_size_text(run->arena, s.bytes), s.notes.data,
                      removed > 0 ? rb_sprintf(run->arena, "; %zu older sets removed (keep %d)",
                                               removed, run->rb->prepare.keep)
                                  : "");
    rb_buf_release(&s.notes);
}
