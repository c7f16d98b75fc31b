/*
 * approvals.c - the approval records of a run (state_dir/runs/<id>/approvals/, one .json file
 * each): writing one durably, reading them all with their owners, and what the journal says of a
 * run waiting for them. approve and deny write here and never the journal; the waiting run reads
 * here and journals what counts (src/phases/approve.c).
 */
#include "rollbackctl/approvals.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/fsutil.h"

/* A record is a few hundred bytes; anything much larger is not one of ours. */
#define RB_APPROVAL_MAX_BYTES 65536

int64_t rb_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void rb_rfc3339_ms(int64_t epoch_ms, char *out, size_t len)
{
    time_t t = (time_t)(epoch_ms / 1000);
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%.20s.%03dZ", base, (int)(epoch_ms % 1000));
}

const char *rb_approvals_dir(struct rb_arena *a, const char *run_dir)
{
    return rb_sprintf(a, "%s/approvals", run_dir);
}

int rb_approvals_dir_create(const char *state_dir, const char *run_dir, struct rb_err *err)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s/approvals", run_dir);
    if (rb_mkdir_private(dir, 0700, err) < 0 || rb_dir_share(dir, state_dir, 02770, err) < 0)
        return -1;
    if (rb_fsync_dir(run_dir) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to sync directory '%s': %s", run_dir,
                       strerror(errno));
    return 0;
}

/* Letters, digits, '-', '_' and '.' of a user name, for a file name; others become '_'. */
static void file_safe(const char *in, char *out, size_t len)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < len; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (c == '.' && i > 0);

        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

int rb_approval_write(struct rb_arena *a, const char *run_dir, const struct rb_approval_rec *r,
                      const char **file_out, struct rb_err *err)
{
    const char *dir = rb_approvals_dir(a, run_dir);
    char stamp[40], user[64], *text;
    const char *file, *path;
    struct stat st;
    cJSON *o;
    size_t len;
    int rc;

    /* the folder the waiting run made: a real folder, never a link someone planted */
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        rb_errf(err, RB_E_FAILED, "run folder '%s' has no approvals folder", run_dir);
        return rb_err_hint(err, "the run makes it when it starts waiting for approvals");
    }
    snprintf(stamp, sizeof(stamp), "%s", r->at);
    for (char *p = stamp; *p != '\0'; p++)
        if (*p == ':' || *p == '.')
            *p = '-';
    file_safe(r->user, user, sizeof(user));
    file = rb_sprintf(a, "%s-%s-%s-%ld.json", stamp, r->kind, user, r->pid);
    path = rb_sprintf(a, "%s/%s", dir, file);

    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", r->kind);
    cJSON_AddStringToObject(o, "user", r->user);
    cJSON_AddStringToObject(o, "host", r->host);
    cJSON_AddStringToObject(o, "at", r->at);
    cJSON_AddStringToObject(o, "comment", r->comment != NULL ? r->comment : "");
    cJSON_AddNumberToObject(o, "pid", (double)r->pid);
    if (r->plan_sha256 != NULL)
        cJSON_AddStringToObject(o, "plan_sha256", r->plan_sha256);
    else
        cJSON_AddNullToObject(o, "plan_sha256");
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    len = strlen(text);

    /* readable by the run whoever wrote it (root, another user of the group): the folder's mode
     * is what keeps others out; the write never follows a name planted in that folder */
    rc = rb_write_file_atomic(path, text, len, 0644, err);
    free(text);
    if (rc < 0)
        return rb_err_wrap(err, "approval record not written");
    if (file_out != NULL)
        *file_out = file;
    return 0;
}

static int cmp_rec(const void *x, const void *y)
{
    return strcmp(((const struct rb_approval_rec *)x)->file,
                  ((const struct rb_approval_rec *)y)->file);
}

static const char *str_member(struct rb_arena *a, const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? rb_strdup(a, v->valuestring) : NULL;
}

/* One record file: its owner from the open fd (no link followed), then its JSON. */
static void read_one(struct rb_arena *a, const char *dir, struct rb_approval_rec *r)
{
    const char *path = rb_sprintf(a, "%s/%s", dir, r->file);
    char buf[RB_APPROVAL_MAX_BYTES + 1];
    struct stat st;
    ssize_t n;
    size_t len = 0;
    cJSON *o;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0) {
        r->invalid = rb_sprintf(a, "unable to open it: %s", strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        r->invalid = "it is not a plain file";
        return;
    }
    r->owner = st.st_uid;
    while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (len >= RB_APPROVAL_MAX_BYTES) {
        r->invalid = "it is too large to be an approval record";
        return;
    }
    buf[len] = '\0';
    o = cJSON_Parse(buf);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        r->invalid = "it is not a JSON object";
        return;
    }
    r->kind = str_member(a, o, "kind");
    r->user = str_member(a, o, "user");
    r->host = str_member(a, o, "host");
    r->at = str_member(a, o, "at");
    r->comment = str_member(a, o, "comment");
    r->plan_sha256 = str_member(a, o, "plan_sha256");
    {
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(o, "pid");

        r->pid = cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0;
    }
    cJSON_Delete(o);
    if (r->kind == NULL || (strcmp(r->kind, "approve") != 0 && strcmp(r->kind, "deny") != 0))
        r->invalid = "its kind is neither 'approve' nor 'deny'";
    else if (r->user == NULL || r->user[0] == '\0' || r->host == NULL || r->at == NULL)
        r->invalid = "it lacks user, host or at";
    if (r->invalid != NULL)
        r->kind = NULL;
    if (r->comment == NULL)
        r->comment = "";
}

bool rb_approval_plan_ok(const struct rb_approval_rec *r, const char *run_plan)
{
    if (r->kind != NULL && strcmp(r->kind, "deny") == 0)
        return true;
    return r->plan_sha256 == NULL || run_plan == NULL || strcmp(r->plan_sha256, run_plan) == 0;
}

static bool is_record_name(const char *name)
{
    size_t n = strlen(name);

    /* only finished records end in .json (temp files end in .tmp; hidden names are skipped) */
    return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

int rb_approvals_read(struct rb_arena *a, const char *run_dir, struct rb_approval_rec **recs,
                      size_t *n, struct rb_err *err)
{
    const char *dir = rb_approvals_dir(a, run_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    struct rb_approval_rec *v = NULL;
    size_t cap = 0;

    *recs = NULL;
    *n = 0;
    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        return rb_errf(err, RB_E_FAILED, "unable to list approvals in '%s': %s", dir,
                       strerror(errno));
    }
    while ((de = readdir(d)) != NULL) {
        if (!is_record_name(de->d_name))
            continue;
        rb_arena_push(a, v, *n, cap, 8);
        memset(&v[*n], 0, sizeof(v[*n]));
        v[*n].file = rb_strdup(a, de->d_name);
        (*n)++;
    }
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        read_one(a, dir, &v[i]);
    if (*n > 1)
        qsort(v, *n, sizeof(*v), cmp_rec);
    *recs = v;
    return 0;
}

bool rb_approval_owner_ok(const struct rb_approval_rec *r, char *why, size_t len)
{
    struct passwd *pw = getpwnam(r->user);
    struct passwd *owner;

    if (r->owner == 0)
        return true; /* root may speak for the person who ran sudo */
    if (pw == NULL) {
        snprintf(why, len, "it names user '%s', who has no account on this host", r->user);
        return false;
    }
    if (pw->pw_uid == r->owner)
        return true;
    owner = getpwuid(r->owner);
    if (owner != NULL)
        snprintf(why, len, "it names user '%s' but was written by '%s'", r->user, owner->pw_name);
    else
        snprintf(why, len, "it names user '%s' but was written by uid %ld", r->user,
                 (long)r->owner);
    return false;
}

cJSON *rb_approvals_waiting(const struct rb_journal_log *log)
{
    cJSON *w = NULL;

    for (size_t i = 0; i < log->n; i++) {
        const struct rb_journal_entry *e = &log->entries[i];

        if (strcmp(e->event, "run_finished") == 0) {
            cJSON_Delete(w);
            w = NULL;
            continue;
        }
        if (strcmp(e->action, RB_APPROVE_ACTION) != 0)
            continue;
        if (strcmp(e->event, "started") == 0) {
            if (w == NULL)
                w = cJSON_CreateObject();
        } else if (strcmp(e->event, "done") == 0 || strcmp(e->event, "failed") == 0) {
            cJSON_Delete(w);
            w = NULL;
        } else if (strcmp(e->event, "progress") == 0 && w != NULL) {
            const cJSON *it;

            cJSON_ArrayForEach(it, e->data) {
                cJSON_DeleteItemFromObjectCaseSensitive(w, it->string);
                cJSON_AddItemToObject(w, it->string, cJSON_Duplicate(it, 1));
            }
        }
    }
    return w;
}
