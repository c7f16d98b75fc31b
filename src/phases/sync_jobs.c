/*
 * sync_jobs.c - the runner of the sync phase's tables (the engine's action group, run.h): which
 * table starts when, up to sync.jobs of them at once, and what the progress line says of them.
 *
 * Order. A table starts once every table it depends on has finished (done or failed): those its
 * `after:` names, and those its target table references through a foreign key in the target's
 * catalog, read once at plan time (its upsert would otherwise meet rows whose parents have not
 * arrived; a deferred key is checked at the table's own commit, so it counts too). Among the
 * tables ready, runbook order. With sync.jobs 1 the tables run one at a time on the run's own
 * connections, each as the engine would apply it alone.
 *
 * Concurrency: one thread per table in flight, each on a view of the run (rb_run_worker) with
 * a pair of connections of its own, running the very code a table runs alone (sync.c): the
 * driver's deadlines, cancels, stall detection and retries stay as they are. libpq's
 * asynchronous API on one thread would have meant rewriting a table's twenty-odd statements
 * (checks, ledger, deletions, stage, COPY, rounding check, upsert, commit) as a state machine
 * around one poll loop; child processes would have had to send results, errors and progress
 * back over pipes and could not share the snapshot session. The journal stays the engine's:
 * workers never write it; this runner, on the engine's thread, brackets each table with the
 * engine's begin/end hooks (the "started", "done"/"failed" lines, at the moments they happen)
 * and sets the run's facts there. The run's own connection to the target holds the sync
 * advisory lock for every stream (a second session of ours asking for it would wait on the
 * first); the streams' sessions carry the run's name, so a resumed run ends those a killed
 * process left behind before it starts.
 *
 * `split:` the ranges of a table are entries of ph->tables like tables, with no order between
 * them: they run side by side on the streams, and a table that depends on the table waits for
 * all of them (its `after:` and foreign keys name each). Their bounds are journaled before the
 * first starts (rb_sync_split_ready), on this thread.
 *
 * Signals go to the engine's thread (workers block them): after one, no table starts, and those
 * in flight finish, as the engine lets the action in progress finish. Memory per stream stays
 * flat: the COPY pump holds one 64 KiB batch, whatever the row count.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/clock.h"
#include "rollbackctl/output.h"
#include "rollbackctl/pg.h"
#include "rollbackctl/progress.h"
#include "sync_priv.h"

/* The runner redraws the progress note this often while tables are in flight. */
#define JOBS_TICK_MS 250

/* Backends of this run left on the target by a killed process: ended before any table starts. */
static const char orphans_sql[] =
    "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()";

enum table_state { PENDING, RUNNING, FINISHED };

struct runner;

/* One table in flight on a thread of its own. */
struct stream {
    struct runner *r;
    struct rb_action *act;
    struct sync_table *st;
    struct rb_run *view; /* the run with connections of its own (arena freed with the run) */
    pthread_t thread;
    struct sync_stream report; /* rows and what it does now, under r->mu */
    struct sync_result res;
    struct rb_err err;
    int rc;
    bool ended; /* the worker returned (under r->mu) */
};

struct runner {
    struct rb_run *run;
    struct sync_phase *ph;
    struct rb_action *const *acts;
    const struct rb_group_hooks *h;
    size_t n;
    enum table_state *state;
    struct stream **streams; /* by table: the one in flight */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t running, done;
    int64_t rows_done; /* rows of the tables finished */
    int64_t started_ms;
    bool target_ready; /* this run's orphans on the target have been ended */
    bool ledger_ready; /* the ledger exists (streams would race to create it) */
    bool stop;         /* a hook said stop: start nothing more */
    const char *parts; /* what the progress line counts: "tables", with split "tables and ranges" */
    int rc;
    struct rb_err err;
};

void rb_sync_stream_rows(struct sync_stream *s, int64_t rows)
{
    pthread_mutex_lock(s->mu);
    s->rows = rows;
    s->doing[0] = '\0';
    pthread_mutex_unlock(s->mu);
}

void rb_sync_stream_doing(struct sync_stream *s, const char *what)
{
    pthread_mutex_lock(s->mu);
    snprintf(s->doing, sizeof(s->doing), "%s", what);
    pthread_mutex_unlock(s->mu);
}

/* --- order ----------------------------------------------------------------------------------- */

static bool depends(const struct sync_table *st, size_t j)
{
    for (size_t k = 0; k < st->n_deps; k++)
        if (st->deps[k] == j)
            return true;
    return false;
}

static void add_dep(struct sync_table *st, size_t j, const char *why)
{
    if (depends(st, j))
        return;
    st->deps[st->n_deps] = j;
    st->dep_why[st->n_deps++] = why;
}

/* Whether table i waits, directly or through others, for table j. */
static bool waits_for(const struct sync_phase *ph, size_t i, size_t j, bool *seen)
{
    const struct sync_table *st = ph->tables[i];

    if (seen[i])
        return false;
    seen[i] = true;
    for (size_t k = 0; k < st->n_deps; k++)
        if (st->deps[k] == j || waits_for(ph, st->deps[k], j, seen))
            return true;
    return false;
}

static void foreign_keys(struct rb_run *run, struct sync_phase *ph, struct rb_db *dst)
{
    struct rb_buf sql = RB_BUF_INIT;
    struct rb_err e = RB_ERR_INIT;
    struct rb_db_result *r;
    size_t i;

    rb_buf_adds(&sql, "WITH t(i, rel) AS (VALUES ");
    for (i = 0; i < ph->n_tables; i++)
        rb_buf_addf(&sql, "%s(%zu, to_regclass(%s))", i > 0 ? ", " : "", i,
                    rb_pg_quote_literal(run->arena, ph->tables[i]->tgt_q));
    rb_buf_adds(&sql, ") SELECT a.i, b.i, c.conname FROM pg_constraint c "
                      "JOIN t a ON a.rel = c.conrelid JOIN t b ON b.rel = c.confrelid "
                      "WHERE c.contype = 'f' AND a.rel <> b.rel ORDER BY 1, 2, 3");
    r = rb_db_query(dst, run->arena, 30000, sql.data, 0, NULL, &e);
    rb_buf_release(&sql);
    if (r == NULL) {
        rb_warn(run->ctx,
                "sync: the foreign keys between the target tables could not be read from '%s' "
                "(%s): only 'after:' orders the tables",
                ph->to, e.msg);
        return;
    }
    for (size_t row = 0; row < r->nrows; row++) {
        size_t a = (size_t)strtoull(rb_db_text(r, row, 0), NULL, 10);
        size_t b = (size_t)strtoull(rb_db_text(r, row, 1), NULL, 10);
        bool *seen;

        if (a >= ph->n_tables || b >= ph->n_tables || depends(ph->tables[a], b))
            continue;
        seen = rb_new_array(run->arena, bool, ph->n_tables);
        if (waits_for(ph, b, a, seen)) {
            rb_warn(run->ctx,
                    "sync: foreign key '%s' of '%s' on '%s' would make sync/%s and sync/%s wait "
                    "for each other: it does not order them",
                    rb_db_text(r, row, 2), ph->tables[a]->t->target_table, ph->to,
                    ph->tables[a]->t->name, ph->tables[b]->t->name);
            continue;
        }
        add_dep(ph->tables[a], b,
                rb_sprintf(run->arena, "foreign key '%s' on '%s'", rb_db_text(r, row, 2), ph->to));
    }
}

void rb_sync_order(struct rb_run *run, struct sync_phase *ph, struct rb_db *dst)
{
    size_t i;

    for (i = 0; i < ph->n_tables; i++) {
        struct sync_table *st = ph->tables[i];

        st->deps = rb_new_array(run->arena, size_t, ph->n_tables);
        st->dep_why = rb_new_array(run->arena, const char *, ph->n_tables);
        st->n_deps = 0;
        for (size_t k = 0; k < st->t->after.n; k++)
            for (size_t j = 0; j < ph->n_tables; j++)
                if (j != i && strcmp(ph->tables[j]->t->name, st->t->after.items[k]) == 0)
                    add_dep(st, j, "after:");
    }
    if (dst != NULL && ph->n_tables > 1)
        foreign_keys(run, ph, dst);
}

/* --- the target: the lock for every stream, this run's orphans ended ------------------------ */

/*
 * Sessions of this run on the target that are not ours: a killed process's, whose transactions
 * can never commit but may hold row locks the tables now need. Ended once, before the first
 * table; best effort (a table that cannot reach the target says so itself).
 */
static void end_orphans(struct runner *r)
{
    struct rb_run *run = r->run;
    const char *name = rb_sprintf(run->arena, "rollbackctl %s", run->run_id);
    struct rb_err e = RB_ERR_INIT;
    struct rb_db_result *res;
    struct rb_db *dst;

    if (r->target_ready)
        return;
    r->target_ready = true;
    if ((dst = rb_db_target(run, r->ph->to, &e)) == NULL ||
        (res = rb_db_query(dst, run->arena, 30000, orphans_sql, 1, &name, &e)) == NULL) {
        rb_verbose(run->ctx, "  sync: sessions of this run left on '%s' not looked for: %s",
                   r->ph->to, e.msg);
        return;
    }
    if (res->nrows == 1 && strcmp(rb_db_text(res, 0, 0), "0") != 0)
        rb_info(
            run->ctx, "  sync: ended %s session%s on '%s' left by this run's interrupted process",
            rb_db_text(res, 0, 0), strcmp(rb_db_text(res, 0, 0), "1") == 0 ? "" : "s", r->ph->to);
}

/*
 * The sync lock on the run's own connection to the target, for every stream (re-taken before
 * each table starts: it also reconnects a connection that broke), and the ledger made before
 * the first stream. A connection lost is tried again as a table would be, 1 s then 2 s later.
 */
static int hold_lock(struct runner *r, struct sync_table *st, struct rb_err *err)
{
    struct rb_run *run = r->run;

    for (int attempt = 1;; attempt++) {
        struct rb_db *dst = rb_db_target(run, r->ph->to, err);

        if (dst != NULL && rb_sync_take_lock(run, r->ph, dst, err) == 0 &&
            (r->ledger_ready || rb_sync_ledger_ready(run, dst, err) == 0)) {
            r->ledger_ready = true;
            return 0;
        }
        if (attempt == SYNC_ATTEMPTS || !rb_err_is(err, RB_K_CONN_LOST))
            return rb_sync_table_err(run, st, st->t->pos, err);
        rb_db_target_close(run, r->ph->to);
        rb_sleep_ms((int64_t)SYNC_BACKOFF_MS << (attempt - 1));
    }
}

/* --- streams --------------------------------------------------------------------------------- */

static void *stream_main(void *arg)
{
    struct stream *s = arg;
    struct runner *r = s->r;

    s->rc = rb_sync_table_work(s->view, s->st, &s->report, &s->res, &s->err);
    /* its connections go now; its arena (the strings of its result) when the run ends */
    rb_db_target_close(s->view, r->ph->to);
    rb_db_target_close(s->view, r->ph->from);
    pthread_mutex_lock(&r->mu);
    s->ended = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void free_arena(void *a)
{
    rb_arena_free(a);
}

/* Table i ended (rc, res, aerr): its result and facts here, then the engine's end hook. */
static void finish(struct runner *r, size_t i, int rc, struct sync_result *res,
                   const struct rb_err *aerr)
{
    struct rb_err e = RB_ERR_INIT;
    int hrc;

    rb_sync_table_finish(r->run, r->acts[i], rc, res);
    r->state[i] = FINISHED;
    r->done++;
    if (rc == 0)
        r->rows_done += res->at_risk;
    hrc = r->h->end(r->h, r->acts[i], rc, aerr, &e);
    if (hrc != 0)
        r->stop = true;
    if (hrc < 0 && r->rc == 0) {
        r->rc = -1;
        r->err = e;
    }
}

/* sync.jobs 1: the table on the run's own connections and progress line, as if alone. */
static void run_inline(struct runner *r, size_t i)
{
    struct rb_err aerr = RB_ERR_INIT;
    struct sync_result res;
    int rc;

    memset(&res, 0, sizeof(res));
    rb_progress_begin(r->run->ctx, r->acts[i]->name);
    end_orphans(r);
    rc = rb_sync_table_work(r->run, r->ph->tables[i], NULL, &res, &aerr);
    rb_progress_end(r->run->ctx);
    finish(r, i, rc, &res, &aerr);
}

/* Start table i on a thread of its own; a failure to is the table's failure. */
static void start_stream(struct runner *r, size_t i)
{
    struct rb_run *run = r->run;
    struct stream *s = rb_new(run->arena, struct stream);
    struct rb_arena *a;
    sigset_t block, old;
    int rc;

    s->r = r;
    s->act = r->acts[i];
    s->st = r->ph->tables[i];
    end_orphans(r);
    if (hold_lock(r, s->st, &s->err) < 0) {
        finish(r, i, -1, &s->res, &s->err);
        return;
    }
    a = rb_arena_new();
    rb_arena_on_free(run->arena, free_arena, a);
    s->view = rb_run_worker(run, a);
    s->report.mu = &r->mu;
    r->streams[i] = s;
    r->state[i] = RUNNING;
    r->running++;
    /* SIGINT and the rest reach the engine's thread, whose flag stops what starts next */
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = pthread_create(&s->thread, NULL, stream_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        r->running--;
        r->streams[i] = NULL;
        rb_errf(&s->err, RB_E_FAILED, "sync table '%s': unable to start a thread for it: %s",
                s->st->t->name, strerror(rc));
        finish(r, i, -1, &s->res, &s->err);
    }
}

/* The first pending table whose dependencies have all finished, or n. */
static size_t next_ready(const struct runner *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct sync_table *st = r->ph->tables[i];
        bool ready = r->state[i] == PENDING;

        for (size_t k = 0; ready && k < st->n_deps; k++)
            ready = r->state[st->deps[k]] == FINISHED;
        if (ready)
            return i;
    }
    return r->n;
}

/*
 * The total first (a narrow terminal cuts the line's end), then each stream: "206878 of 240000
 * rows, 45000 rows/s, 1 of 3 tables done; payments_a 36773/80000, payments_b upsert". Under mu.
 */
static void draw(struct runner *r)
{
    struct rb_buf streams = RB_BUF_INIT;
    int64_t rows = r->rows_done, expected = 0, ms = rb_now_ms() - r->started_ms;
    char rate[48] = "";

    if (!r->run->ctx->progress)
        return;
    for (size_t i = 0; i < r->n; i++) {
        const struct sync_table *st = r->ph->tables[i];
        const struct stream *s = r->streams[i];

        if (expected >= 0)
            expected = st->at_risk >= 0 ? expected + st->at_risk : -1;
        if (r->state[i] != RUNNING || s == NULL)
            continue;
        rows += s->report.rows;
        rb_buf_addf(&streams, "%s%s ", streams.len > 0 ? ", " : "; ", st->label);
        if (s->report.doing[0] != '\0')
            rb_buf_adds(&streams, s->report.doing);
        else if (st->at_risk >= 0)
            rb_buf_addf(&streams, "%" PRId64 "/%" PRId64, s->report.rows, st->at_risk);
        else
            rb_buf_addf(&streams, "%" PRId64 " rows", s->report.rows);
    }
    if (ms >= RB_RATE_MIN_MS && rows > 0)
        snprintf(rate, sizeof(rate), ", %" PRId64 " rows/s", rows * 1000 / ms);
    if (expected >= 0)
        rb_progress_note(r->run->ctx, "%" PRId64 " of %" PRId64 " rows%s, %zu of %zu %s done%s",
                         rows, expected, rate, r->done, r->n, r->parts,
                         streams.len > 0 ? streams.data : "");
    else
        rb_progress_note(r->run->ctx, "%" PRId64 " rows%s, %zu of %zu %s done%s", rows, rate,
                         r->done, r->n, r->parts, streams.len > 0 ? streams.data : "");
    rb_buf_release(&streams);
}

/* Wait until a stream ends (redrawing the progress note meanwhile), then finish those ended. */
static void collect(struct runner *r)
{
    size_t ended[RB_SYNC_JOBS_MAX + 1], n_ended = 0;

    pthread_mutex_lock(&r->mu);
    for (;;) {
        struct timespec ts;

        for (size_t i = 0; i < r->n && n_ended <= RB_SYNC_JOBS_MAX; i++)
            if (r->state[i] == RUNNING && r->streams[i]->ended)
                ended[n_ended++] = i;
        if (n_ended > 0)
            break;
        draw(r);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += JOBS_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    }
    pthread_mutex_unlock(&r->mu);
    for (size_t k = 0; k < n_ended; k++) {
        struct stream *s = r->streams[ended[k]];

        pthread_join(s->thread, NULL);
        r->running--;
        finish(r, ended[k], s->rc, &s->res, &s->err);
    }
}

int rb_sync_run_tables(struct rb_run *run, struct rb_action *const *acts, size_t n,
                       const struct rb_group_hooks *h, struct rb_err *err)
{
    struct sync_phase *ph = acts[0]->group->arg;
    struct runner r;
    bool parallel = ph->jobs > 1, drawing = false;

    memset(&r, 0, sizeof(r));
    r.run = run;
    r.ph = ph;
    r.acts = acts;
    r.h = h;
    r.n = n;
    r.state = rb_new_array(run->arena, enum table_state, n);
    r.streams = rb_new_array(run->arena, struct stream *, n);
    r.started_ms = rb_now_ms();
    r.parts = "tables";
    for (size_t i = 0; i < n; i++)
        if (ph->tables[i]->range > 0)
            r.parts = "tables and ranges";
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    /* split tables: their ranges' bounds journaled before any range can commit (sync.c) */
    rb_sync_split_ready(run, ph);
    for (;;) {
        size_t i;

        while (!r.stop && r.running < (size_t)ph->jobs && !rb_interrupted() &&
               (i = next_ready(&r)) < n) {
            struct rb_err e = RB_ERR_INIT;
            int brc = h->begin(h, acts[i], &e);

            if (brc == 1) { /* done in an earlier attempt */
                r.state[i] = FINISHED;
                r.done++;
                continue;
            }
            if (brc < 0) {
                r.stop = true;
                if (r.rc == 0) {
                    r.rc = -1;
                    r.err = e;
                }
                break;
            }
            if (!parallel) {
                run_inline(&r, i);
                continue;
            }
            if (!drawing) {
                rb_progress_begin(run->ctx, "sync");
                drawing = true;
            }
            start_stream(&r, i);
        }
        if (r.running == 0)
            break;
        collect(&r);
    }
    if (drawing)
        rb_progress_end(run->ctx);
    rb_sync_snapshot_release(ph);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    if (r.rc < 0)
        *err = r.err;
    return r.rc;
}
