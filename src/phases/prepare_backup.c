/*
 * prepare_backup.c - prepare's backup checks (prepare.h): the legacy backup named by
 * prepare.backup exists, reads to its end, is recent enough, and restores into a scratch database
 * where the runbook's check query finds the data.
 *
 *   backup.exists        a regular file (its size shown)
 *   backup.intact        `pg_restore --list` reads the table of contents, then `pg_restore -f
 *                        /dev/null` reads every entry's data: --list alone reads only the TOC at
 *                        the head of a custom archive and succeeds on a file cut in half
 *   backup.recent        its mtime's age against max_age (the age shown; no max_age: READY)
 *   backup.restore_test  the scratch database (restore_test.conninfo) is refused when it is one
 *                        of the runbook's own database targets (same server and database, asked
 *                        of both servers); else it is emptied, the archive is restored into it
 *                        (pg_restore --no-owner --no-privileges --exit-on-error), and the check
 *                        query must return true
 *
 * The four checks are always recorded, in this order. The scratch is written through a run of
 * its own in execute mode, never begun (so nothing is journaled and no lock is taken): prepare's
 * own run is a check run whose sessions are read-only.
 */
#include "prepare_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/fsutil.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/preflight.h"

/* ---- shared with prepare_assets.c ------------------------------------------------------------ */

/* The last non-empty line of a child's output tail, or NULL. */
static const char *last_line(struct rb_arena *a, const char *tail)
{
    size_t n = tail != NULL ? strlen(tail) : 0;
    const char *p;

    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        n--;
    if (n == 0)
        return NULL;
    for (p = tail + n; p > tail && p[-1] != '\n'; p--)
        ;
    return rb_strndup(a, p, n - (size_t)(p - tail));
}

/*
 * The password file of one client run: 0600 in a private folder (0700) of its own, so no other
 * user can open it or plant a link where it goes. *dir and *file name them for passfile_remove.
 */
static int passfile_write(struct rb_arena *a, const struct rb_db_client *client, char **dir,
                          char **file, struct rb_err *err)
{
    const char *tmp =
        getenv("TMPDIR") != NULL && getenv("TMPDIR")[0] == '/' ? getenv("TMPDIR") : "/tmp";
    int fd;

    *dir = rb_sprintf(a, "%s/rollbackctl-pass.XXXXXX", tmp);
    *file = NULL;
    if (mkdtemp(*dir) == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to create a private folder in '%s': %s", tmp,
                       strerror(errno));
    *file = rb_sprintf(a, "%s/passfile", *dir);
    fd = open(*file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || rb_write_all(fd, client->passfile, strlen(client->passfile)) < 0) {
        rb_errf(err, RB_E_FAILED, "unable to write the password file '%s': %s", *file,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(*file);
        rmdir(*dir);
        return -1;
    }
    close(fd);
    return 0;
}

static void passfile_remove(const char *dir, const char *file)
{
    if (file != NULL)
        unlink(file);
    if (dir != NULL)
        rmdir(dir);
}

int rb_prepare_run_client(struct rb_run *run, const char *prog, const char *const *args,
                          const struct rb_db_client *client, int64_t timeout_ms,
                          struct rb_child_result *res, struct rb_err *err)
{
    struct rb_arena *a = run->arena;
    struct rb_child_result local;
    const char *env[2] = { NULL, NULL };
    const char **argv;
    const char *path, *line;
    char *dir = NULL, *file = NULL;
    size_t n = 0;
    int rc;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof(*res));
    if ((path = rb_preflight_find_program(a, prog, err)) == NULL)
        return rb_err_hint(err,
                           "install the PostgreSQL client programs (%s) or put their "
                           "folder in PATH",
                           prog);
    while (args[n] != NULL)
        n++;
    argv = rb_new_array(a, const char *, n + 2);
    argv[0] = path;
    memcpy(argv + 1, args, n * sizeof(*argv));
    argv[n + 1] = NULL;
    /*
     * The password in a private file, removed after: argv is visible to every user in ps, and
     * an environment (PGPASSWORD) in /proc/PID/environ for as long as the child runs.
     */
    if (client != NULL && client->passfile != NULL && client->passfile_var != NULL) {
        if (passfile_write(a, client, &dir, &file, err) < 0)
            return -1;
        env[0] = rb_sprintf(a, "%s=%s", client->passfile_var, file);
    }
    rc = rb_child_run_env(a, argv, env, rb_runbook_secret_env(a, run->rb), timeout_ms, res, err);
    passfile_remove(dir, file);
    if (rc < 0)
        return -1;
    if (res->exited && res->status == 0)
        return 0;
    line = last_line(a, res->err_tail);
    return rb_errf(err, RB_E_FAILED, "%s %s%s%s", prog, rb_child_describe(a, res),
                   line != NULL ? ": " : "", line != NULL ? line : "");
}

const char *rb_prepare_err_text(struct rb_arena *a, const struct rb_err *err)
{
    if (err->hint[0] == '\0')
        return rb_strdup(a, err->msg);
    return rb_sprintf(a, "%s (%s)", err->msg, err->hint);
}

const char *rb_prepare_size_text(struct rb_arena *a, int64_t bytes)
{
    static const char *const units[] = { "KB", "MB", "GB", "TB" };
    int64_t whole = bytes, tenths = 0;
    size_t u = 0;

    if (bytes < 1024)
        return rb_sprintf(a, "%lld bytes", (long long)bytes);
    /* one decimal, rounded down: enough to compare tonight's dump with last night's */
    while (whole >= 1024 * 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        whole /= 1024;
        u++;
    }
    tenths = (whole * 10 / 1024) % 10;
    whole /= 1024;
    if (u == 0)
        return rb_sprintf(a, "%lld KB", (long long)whole);
    return rb_sprintf(a, "%lld.%lld %s", (long long)whole, (long long)tenths, units[u]);
}

/* ---- backup.exists --------------------------------------------------------------------------- */

struct backup_state {
    const char *file;
    bool exists; /* a regular file we could stat */
    struct stat st;
    bool intact;
};

static void check_exists(struct rb_run *run, struct rb_prepare_report *r, struct backup_state *b)
{
    int64_t t0 = rb_now_ms();

    if (stat(b->file, &b->st) < 0) {
        rb_prepare_record(
            run, r, "backup.exists", false, t0,
            "backup file '%s' %s: check the backup job and prepare.backup.file", b->file,
            errno == ENOENT ? "does not exist"
                            : rb_sprintf(run->arena, "cannot be read: %s", strerror(errno)));
        return;
    }
    if (!S_ISREG(b->st.st_mode)) {
        rb_prepare_record(run, r, "backup.exists", false, t0,
                          "backup file '%s' is not a regular file: name the pg_dump archive in "
                          "prepare.backup.file",
                          b->file);
        return;
    }
    b->exists = true;
    rb_prepare_record(run, r, "backup.exists", true, t0, "'%s' is a regular file of %s", b->file,
                      rb_prepare_size_text(run->arena, (int64_t)b->st.st_size));
}

/* ---- backup.intact --------------------------------------------------------------------------- */

/* What `pg_restore --list` says of the archive: its header's entry count, the tables of data. */
struct toc {
    long entries;     /* "; TOC Entries: N" (-1 when not found) */
    long table_data;  /* lines of TABLE DATA entries */
    const char *from; /* "; dbname: X" */
};

static int read_toc(struct rb_run *run, const char *list_file, struct toc *toc, struct rb_err *err)
{
    char line[4096];
    FILE *f = fopen(list_file, "r");

    toc->entries = -1;
    toc->table_data = 0;
    toc->from = NULL;
    if (f == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to read pg_restore's list '%s': %s", list_file,
                       strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p;

        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == ';') {
            /* the header's count; "; Selected TOC Entries:" heads the list further down */
            if ((p = strstr(line, "TOC Entries:")) != NULL && toc->entries < 0 &&
                strstr(line, "Selected") == NULL)
                toc->entries = strtol(p + strlen("TOC Entries:"), NULL, 10);
            else if ((p = strstr(line, "dbname:")) != NULL && toc->from == NULL) {
                p += strlen("dbname:");
                toc->from = rb_strdup(run->arena, p + strspn(p, " "));
            }
            continue;
        }
        if (strstr(line, " TABLE DATA ") != NULL)
            toc->table_data++;
    }
    fclose(f);
    return 0;
}

static void check_intact(struct rb_run *run, struct rb_prepare_report *r, struct backup_state *b)
{
    int64_t t0 = rb_now_ms();
    struct rb_err err = RB_ERR_INIT;
    const char *tmp = getenv("TMPDIR");
    char *list_file;
    struct toc toc = { -1, 0, NULL };
    int fd, rc;

    if (!b->exists) {
        rb_prepare_record(run, r, "backup.intact", false, t0,
                          "no backup file to read (see backup.exists)");
        return;
    }
    /* the list goes to a private file: a child's captured output keeps only its last 4 KB */
    list_file = rb_sprintf(run->arena, "%s/rollbackctl-toc-XXXXXX",
                           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if ((fd = mkstemp(list_file)) < 0) {
        rb_prepare_record(run, r, "backup.intact", false, t0,
                          "unable to make a temporary file in '%s': %s (set TMPDIR)",
                          tmp != NULL ? tmp : "/tmp", strerror(errno));
        return;
    }
    close(fd);
    {
        const char *const list_args[] = { "--list", "-f", list_file, b->file, NULL };

        rc = rb_prepare_run_client(run, "pg_restore", list_args, NULL, RB_PREPARE_PG_TIMEOUT_MS,
                                   NULL, &err);
    }
    if (rc == 0)
        rc = read_toc(run, list_file, &toc, &err);
    unlink(list_file);
    if (rc == 0 && toc.entries <= 0)
        rc = rb_errf(&err, RB_E_FAILED, "pg_restore --list found no table of contents");
    if (rc == 0) {
        /* the data: every entry read and decompressed, written nowhere */
        const char *const read_args[] = { "-f", "/dev/null", b->file, NULL };

        rc = rb_prepare_run_client(run, "pg_restore", read_args, NULL, RB_PREPARE_PG_TIMEOUT_MS,
                                   NULL, &err);
    }
    if (rc < 0) {
        rb_prepare_record(run, r, "backup.intact", false, t0,
                          "backup file '%s' is not a whole pg_dump archive: %s", b->file, err.msg);
        return;
    }
    b->intact = true;
    rb_prepare_record(run, r, "backup.intact", true, t0,
                      "the archive of database '%s' reads to its end: %ld TOC entries, %ld tables "
                      "of data",
                      toc.from != NULL ? toc.from : "?", toc.entries, toc.table_data);
}

/* ---- backup.recent --------------------------------------------------------------------------- */

/* An age for people: "3h12m" (to the minute), "45s" under a minute. */
static const char *age_text(int64_t age_s, char *buf, size_t len)
{
    int64_t ms = age_s >= 60 ? (age_s / 60) * 60000 : age_s * 1000;

    return rb_duration_format(ms, buf, len);
}

static void check_recent(struct rb_run *run, struct rb_prepare_report *r, struct backup_state *b)
{
    const struct rb_prepare *p = &run->rb->prepare;
    int64_t t0 = rb_now_ms(), age_s;
    char age[32], max[32];

    if (!b->exists) {
        rb_prepare_record(run, r, "backup.recent", false, t0,
                          "no backup file to date (see backup.exists)");
        return;
    }
    /* wall clock against wall clock: the mtime is a wall-clock time */
    age_s = (int64_t)time(NULL) - (int64_t)b->st.st_mtime;
    if (age_s < 0) {
        rb_prepare_record(run, r, "backup.recent", false, t0,
                          "backup file '%s' is dated %llds in the future: check this machine's "
                          "clock and the backup host's",
                          b->file, (long long)-age_s);
        return;
    }
    r->backup_age_s = age_s;
    age_text(age_s, age, sizeof(age));
    if (p->backup_max_age_ms <= 0) {
        /* an age is still worth showing; refusing every night for a missing key helps nobody */
        rb_prepare_record(run, r, "backup.recent", true, t0,
                          "written %s ago; no max_age set (add prepare.backup.max_age to check it)",
                          age);
        return;
    }
    rb_duration_format(p->backup_max_age_ms, max, sizeof(max));
    if (age_s * 1000 > p->backup_max_age_ms) {
        rb_prepare_record(run, r, "backup.recent", false, t0,
                          "backup file '%s' was written %s ago, over max_age %s: check that the "
                          "backup job still runs",
                          b->file, age, max);
        return;
    }
    rb_prepare_record(run, r, "backup.recent", true, t0, "written %s ago, max_age %s", age, max);
}

/* ---- backup.restore_test --------------------------------------------------------------------- */

/*
 * Which server and database a session is in. The system identifier (pg_control_system(), which
 * PUBLIC may call unless an administrator revoked it) names a cluster; the postmaster's start time
 * tells two servers apart where it cannot be read; current_database() the database within.
 */
struct db_identity {
    const char *database;
    const char *started;
    const char *system_id; /* NULL when pg_control_system() may not be called */
};

static int db_identity(struct rb_run *run, struct rb_db *db, struct db_identity *id,
                       struct rb_err *err)
{
    struct rb_db_result *res;
    const char *may;
    bool null;

    memset(id, 0, sizeof(*id));
    res = rb_db_query(db, run->arena, 0,
                      "SELECT current_database(), pg_catalog.pg_postmaster_start_time()::text, "
                      "pg_catalog.has_function_privilege('pg_catalog.pg_control_system()', "
                      "'EXECUTE')::text",
                      0, NULL, err);
    if (res == NULL)
        return -1;
    if (res->nrows != 1 || res->ncols != 3)
        return rb_errf(err, RB_E_FAILED, "unexpected answer to the identity query");
    id->database = rb_db_text(res, 0, 0);
    id->started = rb_db_text(res, 0, 1);
    may = rb_db_text(res, 0, 2);
    if (strcmp(may, "true") == 0 &&
        rb_db_scalar(db, run->arena, 0,
                     "SELECT system_identifier::text FROM pg_catalog.pg_control_system()",
                     &id->system_id, &null, err) < 0)
        return -1;
    return 0;
}

static bool same_database(const struct db_identity *a, const struct db_identity *b)
{
    if (strcmp(a->database, b->database) != 0 || strcmp(a->started, b->started) != 0)
        return false;
    return a->system_id == NULL || b->system_id == NULL || strcmp(a->system_id, b->system_id) == 0;
}

/*
 * Refuse a scratch that is one of the runbook's database targets: each target is asked who it
 * is. A target that cannot be asked refuses too: restoring over a database we cannot rule out
 * being the legacy one is not a risk prepare takes.
 */
static int scratch_is_ours(struct rb_run *run, const struct db_identity *scratch,
                           struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;

    for (size_t i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];
        struct db_identity id;
        struct rb_db *db;

        if (t->kind != RB_TARGET_DB)
            continue;
        if ((db = rb_db_target(run, t->name, err)) == NULL || db_identity(run, db, &id, err) < 0) {
            rb_err_wrap(err, "cannot tell that the scratch database is not target '%s'", t->name);
            return -1;
        }
        if (same_database(scratch, &id)) {
            rb_errf(err, RB_E_FAILED,
                    "refused: the scratch database '%s' is target '%s' of the runbook (same "
                    "server and database); nothing was changed",
                    scratch->database, t->name);
            return rb_err_hint(err, "point prepare.backup.restore_test.conninfo at a database "
                                    "kept for restore tests alone");
        }
    }
    return 0;
}

/* Every schema but the system's dropped with what is in it, public made anew (empty). */
static int empty_scratch(struct rb_run *run, struct rb_db *db, const char *dbname,
                         struct rb_err *err)
{
    struct rb_db_result *res;

    if (rb_db_begin(db, err) < 0)
        return -1;
    res = rb_db_query(db, run->arena, 0,
                      "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname !~ '^pg_' AND "
                      "nspname <> 'information_schema' ORDER BY nspname",
                      0, NULL, err);
    for (size_t i = 0; res != NULL && i < res->nrows; i++) {
        const char *sql = rb_sprintf(run->arena, "DROP SCHEMA %s CASCADE",
                                     rb_pg_quote_ident(run->arena, rb_db_text(res, i, 0)));

        if (rb_db_exec(db, 0, sql, 0, NULL, err) < 0) {
            res = NULL;
            break;
        }
    }
    if (res == NULL || rb_db_exec(db, 0, "CREATE SCHEMA public", 0, NULL, err) < 0 ||
        rb_db_commit(db, 0, err) < 0) {
        struct rb_err ignored = RB_ERR_INIT;

        rb_db_rollback(db, 0, &ignored);
        rb_err_wrap(err, "unable to empty the scratch database '%s'", dbname);
        /* DROP SCHEMA needs ownership of each schema (or of the database's objects) */
        return rb_err_hint(err, "the restore_test role must own the scratch database and every "
                                "schema in it (e.g. make it the database's owner and create "
                                "nothing there by hand)");
    }
    return 0;
}

static void check_restore(struct rb_run *run, struct rb_prepare_report *r,
                          const struct backup_state *b)
{
    const struct rb_prepare *p = &run->rb->prepare;
    int64_t t0 = rb_now_ms();
    struct rb_err err = RB_ERR_INIT;
    struct rb_opt opt = { .key = "conninfo", .value = p->restore_test_conninfo };
    struct rb_target scratch = { .name = "prepare.backup.restore_test",
                                 .driver = "postgres",
                                 .kind = RB_TARGET_DB,
                                 .opts = &opt,
                                 .n_opts = 1 };
    const struct rb_db_ops *ops;
    struct rb_db_client client;
    struct db_identity id;
    struct rb_run *wrun;
    struct rb_db *db;
    const char *value = NULL;
    bool null = false;

    if (p->restore_test_conninfo == NULL) {
        rb_prepare_record(run, r, "backup.restore_test", false, t0,
                          "a backup never restored is not proven: add "
                          "prepare.backup.restore_test (conninfo of a scratch database, check)");
        return;
    }
    if (!b->intact) {
        /* the scratch keeps its last good restore for people to look at */
        rb_prepare_record(run, r, "backup.restore_test", false, t0, "not tried: %s",
                          b->exists ? "the backup file is not a whole archive (see backup.intact)"
                                    : "no backup file (see backup.exists)");
        return;
    }
    if ((ops = rb_db_ops_for(&scratch, &err)) == NULL ||
        rb_db_client(run->arena, &scratch, &client, &err) < 0) {
        rb_prepare_record(run, r, "backup.restore_test", false, t0, "%s",
                          rb_prepare_err_text(run->arena, &err));
        return;
    }
    /* a writable session: a run of its own in execute mode, never begun (no journal, no lock) */
    wrun = rb_run_new(run->ctx, run->rb, RB_MODE_EXECUTE);
    if ((db = ops->open(wrun, &scratch, &err)) == NULL) {
        rb_prepare_record(run, r, "backup.restore_test", false, t0,
                          "unable to connect to the scratch database: %s",
                          rb_prepare_err_text(run->arena, &err));
        return;
    }
    if (db_identity(wrun, db, &id, &err) < 0 || scratch_is_ours(run, &id, &err) < 0 ||
        empty_scratch(wrun, db, id.database, &err) < 0) {
        ops->close(wrun, &scratch);
        rb_prepare_record(run, r, "backup.restore_test", false, t0, "%s",
                          rb_prepare_err_text(run->arena, &err));
        return;
    }
    {
        const char *const args[] = { "--no-owner", "--no-privileges", "--exit-on-error",
                                     "-d",         client.conninfo,   b->file,
                                     NULL };

        if (rb_prepare_run_client(run, "pg_restore", args, &client, RB_PREPARE_PG_TIMEOUT_MS, NULL,
                                  &err) < 0) {
            ops->close(wrun, &scratch);
            rb_prepare_record(run, r, "backup.restore_test", false, t0,
                              "restore into the scratch database '%s' failed: %s", id.database,
                              err.msg);
            return;
        }
    }
    if (p->restore_test_check == NULL) {
        ops->close(wrun, &scratch);
        rb_prepare_record(run, r, "backup.restore_test", true, t0,
                          "restored into the scratch database '%s'; no check query (add "
                          "restore_test.check to prove the data is there)",
                          id.database);
        return;
    }
    if (rb_db_scalar(db, wrun->arena, 0, p->restore_test_check, &value, &null, &err) < 0) {
        ops->close(wrun, &scratch);
        rb_prepare_record(run, r, "backup.restore_test", false, t0,
                          "restored into '%s', but the check query failed: %s", id.database,
                          err.msg);
        return;
    }
    ops->close(wrun, &scratch);
    if (null || (strcmp(value, "t") != 0 && strcmp(value, "true") != 0)) {
        rb_prepare_record(run, r, "backup.restore_test", false, t0,
                          "restored into '%s', but the check query returned %s, not true: the "
                          "backup lacks the data it checks (%s)",
                          id.database, null ? "NULL" : rb_sprintf(run->arena, "'%s'", value),
                          p->restore_test_check);
        return;
    }
    rb_prepare_record(run, r, "backup.restore_test", true, t0,
                      "restored into the scratch database '%s'; the check query returned true",
                      id.database);
}

void rb_prepare_backup(struct rb_run *run, struct rb_prepare_report *r)
{
    static const char *const names[] = { "backup.exists", "backup.intact", "backup.recent",
                                         "backup.restore_test" };
    const struct rb_prepare *p = &run->rb->prepare;
    struct backup_state b;

    if (!p->has_backup || p->backup_file == NULL) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            rb_prepare_record(run, r, names[i], false, rb_now_ms(),
                              "the runbook names no backup (prepare.backup)");
        return;
    }
    memset(&b, 0, sizeof(b));
    b.file = p->backup_file;
    check_exists(run, r, &b);
    check_intact(run, r, &b);
    check_recent(run, r, &b);
    check_restore(run, r, &b);
}
