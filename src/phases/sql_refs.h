/*
 * sql_refs.h - which tables a runbook's free SQL touches, as far as a small tokenizer can tell
 * (sql_refs.c): prepare's permissions.<target> asks the catalogs for exactly these.
 *
 * Runbook SQL (signals, restore statements, verify queries) is free text; this reads it without a
 * grammar. It knows comments, string and dollar quoting, quoted identifiers and qualified names,
 * the statement's verb (SELECT, INSERT INTO, UPDATE, DELETE FROM, TRUNCATE, after a WITH list) and
 * the tables named after FROM, JOIN and USING inside queries. Anything else (CALL, DO, CREATE,
 * MERGE...) is reported as not understood, never guessed at. Pure: unit-tested
 * (tests/unit/test_sql_refs.c).
 */
#ifndef ROLLBACKCTL_SQL_REFS_H
#define ROLLBACKCTL_SQL_REFS_H

#include <stddef.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/sync.h" /* RB_PRIV_* */

/* One table and the privileges the SQL needs on it (RB_PRIV_* bits). */
struct rb_sql_ref {
    const char *table; /* as written, an SQL name: payroll_history, legacy."EMPLOYEE_TAX" */
    /*
     * The same name with every part quoted as PostgreSQL reads it (a bare part folded to lower
     * case): "payroll_history", "legacy"."EMPLOYEE_TAX". Two spellings of one table are one ref,
     * and it compares equal to rb_pg_quote_qualified() of a runbook's table name.
     */
    const char *quoted;
    unsigned privs;
};

struct rb_sql_refs {
    struct rb_sql_ref *v; /* each table once (by its quoted name), in the order first named */
    size_t n, cap;
    /*
     * The first word of each statement that was not understood ("CALL", "MERGE"), ", "-joined,
     * or NULL when every one was. Transaction control and settings (BEGIN, COMMIT, SET...) need
     * no table privilege and are not listed.
     */
    const char *unchecked;
};

/*
 * Add the tables of every statement of sql (';'-separated) to out, whose fields start zeroed.
 * A name that is a WITH query of the same statement, or a function in FROM, is no table.
 * Strings are arena-owned.
 */
void rb_sql_refs_add(struct rb_arena *a, const char *sql, struct rb_sql_refs *out);

#endif
