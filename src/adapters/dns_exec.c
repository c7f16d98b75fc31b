/*
 * dns_exec.c - the `exec` DNS driver: a DNS provider reached through its own CLI.
 *
 * The target's `command:` is an argv list; {{name}} {{type}} {{data}} {{ttl}} {{zone}} in any of
 * its words are replaced by the record's values (a whole word or part of one), and the result runs
 * without a shell (child.h), so record data can never be interpreted as shell syntax. Exit status 0
 * means done. The driver cannot read records, so plan says the current value is unknown and there
 * is no read-back: give the step a `verify:` if the provider can be checked.
 */
#include "rollbackctl/dns.h"

#include <stdio.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/child.h"

#define EXEC_TIMEOUT_MS (2 * 60 * 1000)

const char *rb_dns_exec_word(struct rb_arena *a, const char *word, const struct rb_dns_record *rec,
                             const char *zone)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *p = word, *res;
    char ttl[16];

    snprintf(ttl, sizeof(ttl), "%d", rec->ttl);
    while (*p != '\0') {
        const char *open = strstr(p, "{{"), *close, *val = NULL;
        size_t klen;

        if (open == NULL || (close = strstr(open + 2, "}}")) == NULL) {
            rb_buf_adds(&b, p);
            break;
        }
        rb_buf_add(&b, p, (size_t)(open - p));
        klen = (size_t)(close - open - 2);
        if (klen == 4 && strncmp(open + 2, "name", 4) == 0)
            val = rec->name;
        else if (klen == 4 && strncmp(open + 2, "type", 4) == 0)
            val = rec->type;
        else if (klen == 4 && strncmp(open + 2, "data", 4) == 0)
            val = rec->data;
        else if (klen == 3 && strncmp(open + 2, "ttl", 3) == 0)
            val = ttl;
        else if (klen == 4 && strncmp(open + 2, "zone", 4) == 0)
            val = zone != NULL ? zone : "";
        if (val != NULL)
            rb_buf_adds(&b, val);
        else
            rb_buf_add(&b, open, (size_t)(close + 2 - open)); /* unknown: left as written */
        p = close + 2;
    }
    res = rb_strndup(a, b.data, b.len);
    rb_buf_release(&b);
    return res;
}

static int exec_set(struct rb_arena *a, const struct rb_target *t, const struct rb_dns_record *rec,
                    struct rb_err *err)
{
    const struct rb_opt *cmd = rb_target_opt_node(t, "command");
    const char *zone = rb_target_opt(t, "zone"), *timeout = rb_target_opt(t, "timeout");
    int64_t timeout_ms = timeout != NULL ? rb_duration_parse(timeout) : -1;
    struct rb_child_result cr;
    const char **argv;
    size_t n, len;
    char *line;

    if (cmd == NULL || cmd->list.n == 0)
        return rb_errf(err, RB_E_FAILED,
                       "DNS target '%s': 'command' must be a list (an argv, no shell)", t->name);
    n = cmd->list.n;
    argv = rb_new_array(a, const char *, n + 1);
    for (size_t i = 0; i < n; i++)
        argv[i] = rb_dns_exec_word(a, cmd->list.items[i], rec, zone);
    /* the provider's CLI needs none of the runbook's secrets: they stay out of its environment */
    if (rb_child_run_env(a, argv, NULL, t->secret_env,
                         timeout_ms > 0 ? timeout_ms : EXEC_TIMEOUT_MS, &cr, err) < 0)
        return rb_err_wrap(err, "DNS target '%s'", t->name);
    if (cr.exited && cr.status == 0)
        return 0;
    /* The last line of stderr (or stdout) usually says why. */
    line = cr.err_tail[0] != '\0' ? cr.err_tail : cr.out_tail;
    len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ' '))
        line[--len] = '\0';
    if (strrchr(line, '\n') != NULL)
        line = strrchr(line, '\n') + 1;
    return rb_errf(err, RB_E_FAILED, "DNS command '%s' of target '%s' %s%s%.300s", argv[0], t->name,
                   rb_child_describe(a, &cr), line[0] != '\0' ? ": " : "", line);
}

const struct rb_dns_ops rb_dns_exec_ops = {
    .driver = "exec",
    .read_record = NULL,
    .set_record = exec_set,
};
