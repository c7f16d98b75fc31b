/*
 * runbook.h - the typed model of a runbook, and the loader that builds it.
 *
 * rb_runbook_load() parses the YAML (libyaml) into these structs, all owned by one arena; every
 * node keeps the line and column it came from, so any later phase can say which runbook line a
 * failure belongs to. The loader reports every problem it finds in one pass, as diagnostics
 * "FILE:LINE:COL: error: message" (see struct rb_diag), never only the first.
 *
 * The format is fixed by ../shared/runbook-contract.yaml and documented in docs/runbook.md.
 */
#ifndef ROLLBACKCTL_RUNBOOK_H
#define ROLLBACKCTL_RUNBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"

struct rb_expr; /* expr.h */

struct rb_pos {
    int line; /* 1-based; 0 = unknown */
    int col;  /* 1-based */
};

/* A list of strings (argv vectors, recipients, keys). */
struct rb_strlist {
    const char **items;
    size_t n;
    struct rb_pos pos;
};

/* One `key: value` of a target, kept generic so that adding a driver needs no loader change. */
struct rb_opt {
    const char *key;
    const char *value;      /* scalar value, `~` expanded for path-like keys; NULL for lists */
    struct rb_strlist list; /* sequence value (e.g. an exec driver's argv) */
    struct rb_pos pos;      /* position of the key */
    struct rb_pos value_pos;
};

enum rb_target_kind {
    RB_TARGET_DB = 1,  /* postgres */
    RB_TARGET_CLUSTER, /* kubernetes */
    RB_TARGET_DNS,     /* rfc2136, powerdns, exec */
    RB_TARGET_METRICS, /* prometheus */
    RB_TARGET_NOTIFY,  /* smtp, webhook */
};

struct rb_target {
    const char *name;
    const char *driver;
    enum rb_target_kind kind;
    struct rb_opt *opts;
    size_t n_opts;
    struct rb_pos pos;
    /* Every *_env variable the runbook names (set by the loader, NULL-terminated): a driver that
       starts a child drops them from its environment (child.h's env_drop), as phases do. */
    const char *const *secret_env;
};

/* Value of a target option, or NULL. */
const char *rb_target_opt(const struct rb_target *t, const char *key);
const struct rb_opt *rb_target_opt_node(const struct rb_target *t, const char *key);
/* The target's `timeout:` in ms, or dflt when it has none (the loader checked the duration). */
int64_t rb_target_timeout(const struct rb_target *t, int64_t dflt);

struct rb_signal {
    const char *name;
    const char *target; /* name of a db or metrics target */
    const char *sql;    /* db target: scalar query */
    const char *query;  /* metrics target: PromQL instant query */
    const char *file;   /* a JSON file holding {"name": value}; `key` picks another key */
    const char *key;
    struct rb_pos pos;
};

enum rb_severity { RB_SEV_NONE = 0, RB_SEV_CRITICAL, RB_SEV_HIGH, RB_SEV_MEDIUM, RB_SEV_LOW };
enum rb_impact { RB_IMPACT_NONE = 0, RB_IMPACT_HIGH, RB_IMPACT_MEDIUM, RB_IMPACT_LOW };
enum rb_decision_action {
    RB_ACT_NONE = 0,
    RB_ACT_ROLLBACK,
    RB_ACT_EVALUATE,
    RB_ACT_FIX_THEN_ROLLBACK,
    RB_ACT_FIX_FORWARD
};

const char *rb_severity_name(enum rb_severity s);
enum rb_severity rb_severity_parse(const char *s); /* RB_SEV_NONE if unknown */
const char *rb_impact_name(enum rb_impact i);
const char *rb_decision_action_name(enum rb_decision_action a);

struct rb_matrix_row {
    const char *scenario;
    struct rb_expr *when;
    const char *when_src;
    enum rb_severity severity;
    enum rb_impact impact;
    enum rb_decision_action action;
    const char *recovery_time;
    struct rb_pos pos;
};

struct rb_cond { /* one `rollback_if:` or `when:` expression */
    struct rb_expr *expr;
    const char *src;
    struct rb_pos pos;
};

/* One `decision.point_of_no_return` entry: when `when` is true, rolling back costs more. */
struct rb_ponr {
    struct rb_cond when;
    const char *message; /* shown by assess (in red) and to every approver */
    struct rb_pos pos;
};

struct rb_decision {
    struct rb_matrix_row *matrix;
    size_t n_matrix;
    struct rb_cond *rollback_if;
    size_t n_rollback_if;
    struct rb_ponr *ponr; /* point_of_no_return */
    size_t n_ponr;
    bool present;
    struct rb_pos pos;
};

struct rb_approval {
    int required[5];    /* indexed by enum rb_severity; -1 = not given (approve.c: 1) */
    int64_t timeout_ms; /* 0 = not given */
    bool present;
    struct rb_pos pos;
};

enum rb_freeze_kind {
    RB_FREEZE_SCALE = 1,
    RB_FREEZE_SUSPEND_CRONJOBS,
    RB_FREEZE_DELETE_JOBS,
    RB_FREEZE_SNAPSHOT
};

struct rb_freeze_action {
    enum rb_freeze_kind kind;
    const char *target;
    const char *namespace_; /* optional override of the target's namespace */
    const char *deployment; /* scale */
    int replicas;           /* scale */
    const char *selector;   /* suspend_cronjobs, delete_jobs */
    struct rb_pos pos;
};

struct rb_column_map {
    const char *target_column;
    const char *source_expr; /* SQL expression evaluated on the source */
    struct rb_pos pos;
};

/* What sync does with a table's legacy rows deleted in new (`deletions.policy`). */
enum rb_deletions_policy {
    RB_DELETIONS_IGNORE = 0, /* today's behaviour: sync neither looks nor counts */
    RB_DELETIONS_REPORT,     /* found and counted at risk (records lost), nothing changed */
    RB_DELETIONS_DELETE,     /* DELETEd from legacy in the table's transaction */
    RB_DELETIONS_SOFT_DELETE /* soft_column set to soft_value in the table's transaction */
};
/* The runbook's words for them, indexed by the enum, NULL-terminated: "ignore", ... */
extern const char *const rb_deletions_policy_names[];

/*
 * A sync table's `deletions:` (issue 14): which legacy rows count as ones new should
 * still have, and, optionally, new's own record of deletions.
 */
struct rb_sync_deletions {
    bool present;
    const char *scope; /* SQL condition on the legacy (target) table; NULL: every legacy row */
    /* `tombstones:` a source-side table recording deletions (an audit/trigger table), or NULL */
    const char *tomb_table;
    struct rb_column_map *tomb_key; /* one per target key column, in t->key order: expression over
                                       tomb_table giving that column's value */
    size_t n_tomb_key;
    const char *tomb_deleted_at; /* its column holding when the row was deleted */
    const char *tomb_where;      /* optional extra predicate on tomb_table (e.g. which table) */
    /* `policy:` what sync does with them (default ignore: sync does not look) */
    enum rb_deletions_policy policy;
    const char *soft_column; /* `soft_delete.column`: the legacy column that marks a void row */
    const char *soft_value;  /* `soft_delete.value`: its value for a void row (a literal) */
    int64_t max;             /* `max`: most rows delete/soft_delete may change in one run; -1 unset */
    struct rb_pos pos, tomb_pos, policy_pos;
};

struct rb_sync_table {
    const char *name;
    bool critical;
    const char *source_table;
    const char *changed_since; /* source column compared with the cutover */
    const char *where;         /* optional extra SQL predicate on the source */
    const char *target_table;
    struct rb_strlist key; /* target key columns (a unique index must exist) */
    struct rb_column_map *columns;
    size_t n_columns;
    struct rb_sync_deletions deletions;
    /* `after:` sync tables (by name) this one starts only once they have finished */
    struct rb_strlist after;
    /*
     * `split:` 1 (default) to RB_SYNC_SPLIT_MAX: the table's changed rows in that many ranges of
     * its (single, integer) key, each an action, a transaction and a ledger row of its own
     * (sync/<name>#<n>), run side by side on the streams of sync.jobs (src/phases/sync.c).
     */
    int split;
    struct rb_pos split_pos;
    struct rb_pos pos;
    struct rb_pos source_pos, target_pos, columns_pos;
};

/* `sync.jobs`: at most this many tables in flight at once, each on its own connection pair. */
#define RB_SYNC_JOBS_MAX 16
/* `split:` at most this many key ranges per table. */
#define RB_SYNC_SPLIT_MAX 64

struct rb_sync {
    const char *from;
    const char *to;
    struct rb_sync_table *tables;
    size_t n_tables;
    int jobs; /* `jobs:` 1 (default) to RB_SYNC_JOBS_MAX */
    /*
     * `presync: true`: the tables are synced once before the freeze (phase presync, while the new
     * system still runs) and the sync phase then copies only what changed from the pre-sync's
     * snapshot on (src/phases/presync.c).
     */
    bool presync;
    bool present;
    struct rb_pos pos;
};

struct rb_retry {
    int attempts; /* 1 when not given */
    int64_t interval_ms;
};

/* A probe that must pass: used by restore steps' `verify:` and by verify checks. */
enum rb_probe_kind { RB_PROBE_NONE = 0, RB_PROBE_SQL, RB_PROBE_HTTP, RB_PROBE_RUN };

struct rb_header {
    const char *name;
    const char *value;
};

struct rb_probe {
    enum rb_probe_kind kind;
    const char *target; /* sql */
    const char *sql;    /* sql: must return true */
    const char *url;    /* http */
    const char *method; /* http, default GET */
    const char *body;   /* http */
    struct rb_header *headers;
    size_t n_headers;
    int expect_status;      /* http, default 200 */
    struct rb_strlist argv; /* run */
    int64_t timeout_ms;     /* run/http; 0 = default */
    struct rb_retry retry;
    struct rb_pos pos;
};

enum rb_step_kind { RB_STEP_RUN = 1, RB_STEP_SQL, RB_STEP_DNS, RB_STEP_SCALE };

struct rb_env_var {
    const char *name;
    const char *value; /* NULL: `NAME:` with no value, ours passed on (even a runbook secret) */
};

struct rb_restore_step {
    const char *name;
    enum rb_step_kind kind;
    struct rb_strlist argv; /* run */
    struct rb_env_var *env; /* run */
    size_t n_env;
    int64_t timeout_ms;    /* run; 0 = default */
    const char *target;    /* sql, dns, scale */
    const char *statement; /* sql */
    const char *dns_name;  /* dns */
    const char *dns_type;
    const char *dns_data;
    int dns_ttl;
    const char *deployment; /* scale */
    const char *namespace_;
    int replicas;
    struct rb_probe verify; /* kind NONE when absent */
    const char *fingerprint; /* what the step does, without its name (see rb_action) */
    struct rb_pos pos;
};

struct rb_query_ref {
    const char *target;
    const char *sql;
    struct rb_pos pos;
};

enum rb_check_kind { RB_CHECK_COMPARE = 1, RB_CHECK_EQUAL, RB_CHECK_TOTALS, RB_CHECK_PROBE };

struct rb_check {
    const char *name;
    enum rb_check_kind kind;
    const char *compare_table; /* compare: a sync table name */
    bool fail_on_deleted;      /* compare: legacy rows deleted in new fail the check (default: listed only) */
    struct rb_query_ref new_q; /* equal, totals */
    struct rb_query_ref legacy_q;
    const char *tolerance; /* totals: exact decimal string, default "0.00" */
    struct rb_probe probe; /* sql, http, run */
    const char *fingerprint; /* what the check does, without its name (see rb_action) */
    struct rb_pos pos;
};

struct rb_message {
    const char *name;
    const char *via; /* a notify target */
    struct rb_strlist to;
    const char *subject;
    const char *template_path; /* resolved against the runbook's folder */
    struct rb_cond when;       /* expr NULL when absent */
    struct rb_pos pos;
    struct rb_pos template_pos; /* the `template:` value */
    struct rb_pos subject_pos;  /* the `subject:` value (it may hold {{variables}} too) */
};

struct rb_contact {
    const char *role;
    const char *name;
    const char *email;
    const char *phone;
    struct rb_pos pos;
};

#define RB_PREPARE_KEEP_DEFAULT 7

struct rb_prepare {
    bool present;
    bool has_backup;
    const char *backup_target;
    const char *backup_file;
    int64_t backup_max_age_ms;
    const char *restore_test_conninfo; /* NULL when no restore_test */
    const char *restore_test_check;
    const char *snapshot_target; /* NULL when absent */
    bool permissions;
    bool channels;
    int keep; /* `keep:` sets of assets kept under state_dir/prepare (default 7, at least 1) */
    struct rb_contact *contacts;
    size_t n_contacts;
    struct rb_pos pos, backup_pos;
};

struct rb_runbook {
    const char *path; /* as given */
    const char *dir;  /* folder holding the runbook, for relative paths */
    int version;
    const char *name;
    const char *cutover_src; /* as written, RFC 3339 */
    time_t cutover;          /* UTC seconds */
    const char *state_dir;   /* `~` expanded */
    char sha256[65];         /* of the bytes the loader read (hex): journaled, compared on resume */

    const char *text;        /* those bytes (borrowed from rb_runbook_load_buffer's caller; the
                                loaders' own copy is arena-owned): prepare's copy of the runbook */
    size_t text_len;
    struct rb_target *targets;
    size_t n_targets;
    struct rb_signal *signals;
    size_t n_signals;
    struct rb_decision decision;
    struct rb_approval approval;
    struct rb_freeze_action *freeze;
    size_t n_freeze;
    struct rb_sync sync;
    struct rb_restore_step *restore;
    size_t n_restore;
    struct rb_check *checks;
    size_t n_checks;
    struct rb_message *messages;
    size_t n_messages;
    struct rb_prepare prepare;
    /*
     * `metrics: { textfile_dir: DIR }`: a node_exporter textfile-collector folder that gets a copy
     * of state_dir/metrics.prom (as rollbackctl-<runbook slug>.prom) after every run. NULL when
     * absent; relative paths are against the runbook's folder.
     */
    const char *metrics_textfile_dir;
    struct rb_pos metrics_pos;
};

/* Diagnostics: collected, then printed by the caller. */
enum rb_diag_level { RB_DIAG_WARNING = 1, RB_DIAG_ERROR };

struct rb_diag {
    enum rb_diag_level level;
    struct rb_pos pos;
    const char *msg;
    const char *file; /* NULL: the runbook (rb_diags.file); else another file (a template) */
};

struct rb_diags {
    const char *file;
    struct rb_diag *items;
    size_t n, cap;
    size_t n_errors, n_warnings;
    struct rb_arena *arena;
};

void rb_diags_init(struct rb_diags *d, struct rb_arena *a, const char *file);
void rb_diag_add(struct rb_diags *d, enum rb_diag_level lvl, struct rb_pos pos, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
/* The same for a problem in another file than the runbook (a message template). */
void rb_diag_add_file(struct rb_diags *d, enum rb_diag_level lvl, const char *file,
                      struct rb_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Prints "FILE:LINE:COL: error: msg" lines, in order of position ("FILE: error: msg" at 0:0). */
void rb_diags_print(const struct rb_diags *d, FILE *out);
/* The diagnostics in print order (by position, stable); arena-owned array of d->n pointers. */
const struct rb_diag **rb_diags_sorted(const struct rb_diags *d);

/*
 * The slug an action id is made of: lowercase ASCII letters and digits, each run of other
 * characters one '-', none at either end ("Start API" -> "start-api"). A restore step's action is
 * "restore/<slug>", a check's "verify/<slug>": from the name alone, so that editing the runbook
 * between attempts renames no other step. The loader refuses two names of a list with one slug.
 */
const char *rb_name_slug(struct rb_arena *a, const char *name);

/*
 * Load and check a runbook. Returns the model (arena-owned) or NULL when it has errors; either way
 * every problem found is in diags. A missing or unreadable file is one error at 0:0.
 */
struct rb_runbook *rb_runbook_load(struct rb_arena *a, const char *path, struct rb_diags *diags);
/* The same for YAML already in memory; path names it in the model and resolves relative paths. */
/* What a runbook read from standard input (`-f -`) is called: its path in diagnostics. */
#define RB_RUNBOOK_STDIN_NAME "<stdin>"
/* The same from an open stream (`-f -`: stdin), named path in diagnostics; f is not closed. */
struct rb_runbook *rb_runbook_load_stream(struct rb_arena *a, FILE *f, const char *path,
                                          struct rb_diags *diags);
struct rb_runbook *rb_runbook_load_buffer(struct rb_arena *a, const char *path, const char *data,
                                          size_t len, struct rb_diags *diags);

/*
 * Checks that depend on the environment at run time (env variables named by *_env keys, template
 * files). validate reports them as warnings; commands that need them call this with as_errors.
 */
void rb_runbook_check_env(const struct rb_runbook *rb, struct rb_diags *diags, bool as_errors);
/*
 * Its two halves: the variables *_env keys name (a problem of the environment, not of the
 * runbook: commands that need them fail with exit 1) and the template files (read and parsed).
 */
void rb_runbook_check_env_vars(const struct rb_runbook *rb, struct rb_diags *diags, bool as_errors);
void rb_runbook_check_templates(const struct rb_runbook *rb, struct rb_diags *diags,
                                bool as_errors);
/*
 * The names of the variables every `*_env` key of every target names (LEGACY_PGPASSWORD,
 * SMTP_PASSWORD, ...), once each, NULL-terminated, arena-owned: secrets that children of `run`
 * steps and probes do not inherit.
 */
const char **rb_runbook_secret_env(struct rb_arena *a, const struct rb_runbook *rb);

/* Lookups by name; NULL when absent. */
const struct rb_target *rb_runbook_target(const struct rb_runbook *rb, const char *name);
const struct rb_sync_table *rb_runbook_sync_table(const struct rb_runbook *rb, const char *name);

/* Durations ("30s", "5m", "2h30m", "1d", "250ms") to milliseconds; -1 when malformed. */
int64_t rb_duration_parse(const char *s);
/* Milliseconds to a compact string ("2h30m", "45s", "120ms"); writes into out. */
const char *rb_duration_format(int64_t ms, char *out, size_t outlen);
/* RFC 3339 ("2026-11-01T00:00:00Z", offsets, fractions) to UTC seconds; -1 on error. */
int rb_time_parse_rfc3339(const char *s, time_t *out);
/* UTC seconds to "2026-11-01T00:00:00Z". */
const char *rb_time_format_rfc3339(time_t t, char *out, size_t outlen);
/* `~` and `~/x` expanded against $HOME; other paths unchanged. Arena-owned. */
const char *rb_path_expand(struct rb_arena *a, const char *path);

#endif
