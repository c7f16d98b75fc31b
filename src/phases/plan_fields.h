/*
 * plan_fields.h - pieces of an action's plan fields (rb_action.fields) that several phases
 * build alike: a probe (a restore step's verify, a verify check) and an argv. Private to
 * src/phases; the vocabulary is documented in docs/json.md.
 */
#ifndef ROLLBACKCTL_PLAN_FIELDS_H
#define ROLLBACKCTL_PLAN_FIELDS_H

#include <cjson/cJSON.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/runbook.h"

/*
 * A probe as fields: {"kind": "sql", "target", "sql"}, {"kind": "http", "method", "url" (no
 * userinfo, no query), "expect_status", "headers" (names only), "sends_body" (true when one is
 * sent)}, {"kind": "exec", "argv"}, each with "timeout_ms" (null: the default) and "retry"
 * {attempts, interval_ms}. Header values and bodies may hold credentials: never copied. A
 * probe of kind NONE is JSON null. The caller owns the result.
 */
cJSON *rb_probe_fields(struct rb_arena *a, const struct rb_probe *p);

/* An argv as a JSON array of strings. The caller owns the result. */
cJSON *rb_argv_fields(const struct rb_strlist *argv);

#endif
