/*
 * runbook_check.c - the checks that depend on the machine a command runs on, not on the file:
 * environment variables named by `*_env` keys and the template files of `communicate`; and the
 * list of those variable names, which children (`run` steps and probes) must not inherit.
 *
 * They are separate from loading because `validate` on a laptop should not fail for a secret
 * that only exists on the rollback host; commands that actually need them ask for errors.
 */
#include "rollbackctl/runbook.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/fsutil.h"
#include "rollbackctl/template.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);

    return ls > lx && strcmp(s + ls - lx, suffix) == 0;
}

/*
 * A template that can be read is parsed: its problems (an unknown variable...) are errors at
 * TEMPLATE:LINE:COL whatever as_errors says, since they are mistakes in the text, not the machine.
 */
static void check_template(struct rb_diags *diags, const struct rb_message *m)
{
    struct rb_err err = RB_ERR_INIT;
    struct rb_template_problem *probs;
    size_t len = 0, n = 0;
    char *text = rb_read_file(m->template_path, &len, &err);

    if (text == NULL) {
        rb_diag_add(diags, RB_DIAG_ERROR, m->template_pos, "%s", err.msg);
        return;
    }
    rb_template_parse(diags->arena, text, len, NULL, &probs, &n);
    for (size_t i = 0; i < n; i++)
        rb_diag_add_file(diags, RB_DIAG_ERROR, m->template_path, probs[i].pos, "%s", probs[i].msg);
    free(text);
}

void rb_runbook_check_env_vars(const struct rb_runbook *rb, struct rb_diags *diags, bool as_errors)
{
    enum rb_diag_level lvl = as_errors ? RB_DIAG_ERROR : RB_DIAG_WARNING;
    size_t i, j;

    if (rb == NULL)
        return;
    for (i = 0; i < rb->n_targets; i++) {
        const struct rb_target *t = &rb->targets[i];

        for (j = 0; j < t->n_opts; j++) {
            const struct rb_opt *o = &t->opts[j];
            const char *v;

            if (o->value == NULL || !ends_with(o->key, "_env"))
                continue;
            v = getenv(o->value);
            if (v == NULL || *v == '\0')
                rb_diag_add(diags, lvl, o->value_pos,
                            "environment variable '%s' (%s of target '%s') is %s", o->value, o->key,
                            t->name, v == NULL ? "not set" : "empty");
        }
    }
}

void rb_runbook_check_templates(const struct rb_runbook *rb, struct rb_diags *diags, bool as_errors)
{
    enum rb_diag_level lvl = as_errors ? RB_DIAG_ERROR : RB_DIAG_WARNING;
    size_t i;

    if (rb == NULL)
        return;
    for (i = 0; i < rb->n_messages; i++) {
        const struct rb_message *m = &rb->messages[i];

        if (m->template_path != NULL && access(m->template_path, R_OK) != 0)
            rb_diag_add(diags, lvl, m->template_pos,
                        "template '%s' of message '%s' is not readable", m->template_path,
                        m->name != NULL ? m->name : "?");
        else if (m->template_path != NULL)
            check_template(diags, m);
    }
}

void rb_runbook_check_env(const struct rb_runbook *rb, struct rb_diags *diags, bool as_errors)
{
    rb_runbook_check_env_vars(rb, diags, as_errors);
    rb_runbook_check_templates(rb, diags, as_errors);
}

const char **rb_runbook_secret_env(struct rb_arena *a, const struct rb_runbook *rb)
{
    size_t n = 0, i, j, k;
    const char **names;

    for (i = 0; rb != NULL && i < rb->n_targets; i++)
        n += rb->targets[i].n_opts;
    names = rb_new_array(a, const char *, n + 1);
    n = 0;
    for (i = 0; rb != NULL && i < rb->n_targets; i++)
        for (j = 0; j < rb->targets[i].n_opts; j++) {
            const struct rb_opt *o = &rb->targets[i].opts[j];
            bool seen = false;

            if (o->value == NULL || !ends_with(o->key, "_env"))
                continue;
            for (k = 0; k < n && !seen; k++)
                seen = strcmp(names[k], o->value) == 0;
            if (!seen)
                names[n++] = o->value;
        }
    names[n] = NULL;
    return names;
}
