/*
 * template.c - parsing and rendering the {{name}} templates of `communicate` (template.h).
 *
 * Parsing collects every problem with its position (unclosed "{{", a name that is not a name, an
 * unknown variable) instead of stopping at the first, like the runbook loader does. Rendering is
 * one pass over the parts: a value is copied as it is, never parsed again.
 */
#include "rollbackctl/template.h"

#include <ctype.h>
#include <string.h>

#include "rollbackctl/buf.h"

const char *const rb_message_vars[] = {
    "run_id",
    "name",
    "reason",
    "severity",
    "outcome",
    "initiated_by",
    "started_at",
    "finished_at",
    "downtime",
    "records_at_risk",
    "records_recovered",
    "records_lost",
    "recovery_rate",
    "verification",
    "scenario",
    "approvals",
    "gaps",
    "phase",
    "dry_run",
    NULL,
};

struct parser {
    struct rb_arena *a;
    const char *const *known;
    struct rb_template_part *parts;
    size_t n, cap;
    struct rb_template_problem *probs;
    size_t n_probs, cap_probs;
};

static void add_part(struct parser *p, const char *text, size_t len, const char *var,
                     struct rb_pos pos)
{
    if (var == NULL && len == 0)
        return;
    rb_arena_push(p->a, p->parts, p->n, p->cap, 16);
    p->parts[p->n].text = text;
    p->parts[p->n].len = len;
    p->parts[p->n].var = var;
    p->parts[p->n].pos = pos;
    p->n++;
}

static void problem(struct parser *p, struct rb_pos pos, const char *msg)
{
    rb_arena_push(p->a, p->probs, p->n_probs, p->cap_probs, 8);
    p->probs[p->n_probs].pos = pos;
    p->probs[p->n_probs].msg = msg;
    p->n_probs++;
}

static bool is_known(const char *const *known, const char *name)
{
    for (size_t i = 0; known[i] != NULL; i++)
        if (strcmp(known[i], name) == 0)
            return true;
    return false;
}

/* Columns count characters, not bytes: a UTF-8 continuation byte does not move the column. */
static void advance(struct rb_pos *pos, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\n') {
            pos->line++;
            pos->col = 1;
        } else if ((c & 0xC0) != 0x80) {
            pos->col++;
        }
    }
}

struct rb_template *rb_template_parse(struct rb_arena *a, const char *src, size_t len,
                                      const char *const *known,
                                      struct rb_template_problem **problems, size_t *n_problems)
{
    struct parser p = { a, known != NULL ? known : rb_message_vars, NULL, 0, 0, NULL, 0, 0 };
    struct rb_pos pos = { 1, 1 };
    size_t i = 0, lit = 0; /* lit: start of the literal text not yet added */
    struct rb_template *t;

    while (i < len) {
        struct rb_pos at = pos;
        size_t j, name_start, name_end;

        if (src[i] == '\0') {
            problem(&p, pos, "a NUL byte in the template");
            advance(&pos, src + i, 1);
            i++;
            continue;
        }
        if (src[i] == '\\' && len - i >= 3 && src[i + 1] == '{' && src[i + 2] == '{') {
            /* "\{{": the text before, then a literal "{{" (the backslash dropped) */
            add_part(&p, src + lit, i - lit, NULL, pos);
            add_part(&p, src + i + 1, 2, NULL, pos);
            advance(&pos, src + i, 3);
            i += 3;
            lit = i;
            continue;
        }
        if (!(src[i] == '{' && i + 1 < len && src[i + 1] == '{')) {
            advance(&pos, src + i, 1);
            i++;
            continue;
        }
        add_part(&p, src + lit, i - lit, NULL, pos);
        j = i + 2;
        while (j < len && (src[j] == ' ' || src[j] == '\t'))
            j++;
        name_start = j;
        while (j < len && (isalnum((unsigned char)src[j]) || src[j] == '_'))
            j++;
        name_end = j;
        while (j < len && (src[j] == ' ' || src[j] == '\t'))
            j++;
        if (j + 1 < len && src[j] == '}' && src[j + 1] == '}' && name_end > name_start) {
            const char *name = rb_strndup(a, src + name_start, name_end - name_start);
            struct rb_pos npos = at;

            advance(&npos, src + i, name_start - i);
            if (!is_known(p.known, name))
                problem(&p, npos,
                        rb_sprintf(a,
                                   "unknown variable '%s' (known: run_id, name, reason, "
                                   "severity, outcome, initiated_by, started_at, finished_at, "
                                   "downtime, records_at_risk, records_recovered, "
                                   "records_lost, recovery_rate, verification, scenario, "
                                   "approvals, gaps)",
                                   name));
            add_part(&p, NULL, 0, name, npos);
            advance(&pos, src + i, j + 2 - i);
            i = j + 2;
            lit = i;
            continue;
        }
        problem(&p, at,
                name_end > name_start || (j < len && src[j] != '}')
                    ? "'{{' is not closed by '}}' after a variable name (write '\\{{' for a "
                      "literal '{{')"
                    : "expected a variable name between '{{' and '}}' (write '\\{{' for a "
                      "literal '{{')");
        advance(&pos, src + i, 2);
        i += 2;
        lit = i;
    }
    add_part(&p, src + lit, len - lit, NULL, pos);
    *problems = p.probs;
    *n_problems = p.n_probs;
    if (p.n_probs > 0)
        return NULL;
    t = rb_new(a, struct rb_template);
    t->parts = p.parts;
    t->n = p.n;
    return t;
}

char *rb_template_render(struct rb_arena *a, const struct rb_template *t,
                         rb_template_lookup_fn lookup, void *ctx)
{
    struct rb_buf b = RB_BUF_INIT;
    char *out;

    for (size_t i = 0; i < t->n; i++) {
        const struct rb_template_part *pt = &t->parts[i];

        if (pt->var == NULL) {
            rb_buf_add(&b, pt->text, pt->len);
        } else {
            const char *v = lookup != NULL ? lookup(ctx, pt->var) : NULL;

            rb_buf_adds(&b, v != NULL ? v : RB_TEMPLATE_UNKNOWN);
        }
    }
    out = rb_strndup(a, b.data, b.len);
    rb_buf_release(&b);
    return out;
}
