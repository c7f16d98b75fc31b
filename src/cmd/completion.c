/*
 * completion.c - `rollbackctl completion bash|zsh|fish`: a completion script for the shell,
 * generated from main.c's command table, so there is no second list of commands and options to
 * keep in step with it.
 *
 * What each command takes is read from its row: the options from its help lines ("  --name
 * VALUE   what", the format `COMMAND --help` prints), positional arguments from its usage
 * (RUN_ID completes run ids, a|b|c the words given); the global options from the global help. A
 * value's choices are its placeholder when that lists them (md|json|html), else the first word
 * of its description when that does (critical|high|medium|low); a placeholder starting with FILE
 * or RUNBOOK completes file names. Run ids come from `rollbackctl [-f RUNBOOK] -q runs` with the
 * -f of the command line being completed (none with `-f -`: standard input is the runbook).
 * tests/integration/test_cli_completion.sh checks that every option and value completed is one
 * the command accepts.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/cmd.h"
#include "rollbackctl/output.h"

struct copt {
    const char *shrt;    /* "-f" or NULL */
    const char *lng;     /* "--runbook" or NULL */
    const char *metavar; /* "FILE", or NULL when the option takes no value */
    const char *choices; /* "text json" (space-separated), or NULL */
    bool file;           /* the value is a file name */
    const char *desc;    /* the help's description, on one line */
};

struct cmodel {
    const char *name, *summary;
    struct copt *opts;
    size_t n_opts;
    bool run_ids;            /* takes a RUN_ID */
    const char *pos_choices; /* a positional argument's words ("bash zsh fish"), or NULL */
};

static bool is_choice_list(const char *s, size_t n)
{
    size_t i;
    bool bar = false;

    for (i = 0; i < n; i++) {
        if (s[i] == '|')
            bar = true;
        else if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    }
    return bar && n > 0 && s[0] != '|' && s[n - 1] != '|';
}

static const char *bars_to_spaces(struct rb_arena *a, const char *s, size_t n)
{
    char *c = rb_strndup(a, s, n);

    for (char *p = c; *p != '\0'; p++)
        if (*p == '|')
            *p = ' ';
    return c;
}

/*
 * The options of help text: lines "  -x, --name VALUE   description" (at most 6 spaces before
 * the option, then two or more before the description); deeper-indented lines continue the
 * description of the option before them. Other lines are prose and ignored.
 */
static void parse_help(struct rb_arena *a, const char *help, struct copt **out, size_t *n)
{
    struct copt *v = NULL;
    size_t cap = 0;
    const char *line = help;

    *n = 0;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n'), *p = line, *q;
        size_t indent;

        if (end == NULL)
            end = line + strlen(line);
        while (p < end && *p == ' ')
            p++;
        indent = (size_t)(p - line);
        if (indent >= 1 && indent <= 6 && p < end && p[0] == '-' && p[1] != ' ') {
            struct copt o = { 0 };

            /* names: "-f, --runbook" */
            for (;;) {
                q = p;
                while (q < end && *q != ' ' && *q != ',')
                    q++;
                if (q - p >= 2 && p[1] == '-')
                    o.lng = rb_strndup(a, p, (size_t)(q - p));
                else
                    o.shrt = rb_strndup(a, p, (size_t)(q - p));
                if (q + 2 < end && q[0] == ',' && q[1] == ' ' && q[2] == '-') {
                    p = q + 2;
                    continue;
                }
                p = q;
                break;
            }
            /* one space then a placeholder: the option takes a value */
            if (p + 1 < end && p[0] == ' ' && p[1] != ' ') {
                q = p + 1;
                while (q < end && *q != ' ')
                    q++;
                o.metavar = rb_strndup(a, p + 1, (size_t)(q - p - 1));
                if (is_choice_list(o.metavar, strlen(o.metavar)))
                    o.choices = bars_to_spaces(a, o.metavar, strlen(o.metavar));
                o.file =
                    strncmp(o.metavar, "FILE", 4) == 0 || strncmp(o.metavar, "RUNBOOK", 7) == 0;
                p = q;
            }
            while (p < end && *p == ' ')
                p++;
            o.desc = rb_strndup(a, p, (size_t)(end - p));
            if (o.metavar != NULL && o.choices == NULL) {
                q = p;
                while (q < end && *q != ' ' && *q != ',' && *q != ';')
                    q++;
                if (is_choice_list(p, (size_t)(q - p)))
                    o.choices = bars_to_spaces(a, p, (size_t)(q - p));
            }
            rb_arena_push(a, v, *n, cap, 8);
            v[(*n)++] = o;
        } else if (indent > 6 && *n > 0 && p < end) {
            v[*n - 1].desc = rb_sprintf(a, "%s %.*s", v[*n - 1].desc, (int)(end - p), p);
        }
        line = *end == '\n' ? end + 1 : end;
    }
    *out = v;
}

static const struct copt *find_opt(const struct copt *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if ((v[i].lng != NULL && strcmp(v[i].lng, name) == 0) ||
            (v[i].shrt != NULL && strcmp(v[i].shrt, name) == 0))
            return &v[i];
    return NULL;
}

/* A command as completion sees it: options from its help, positional arguments from its usage. */
static void model_of(struct rb_arena *a, const struct rb_cmd *c, struct cmodel *m)
{
    const char *p = c->usage;
    bool skip_value = false;

    memset(m, 0, sizeof(*m));
    m->name = c->name;
    m->summary = c->summary;
    parse_help(a, c->help, &m->opts, &m->n_opts);
    while (*p != '\0') {
        const char *q;
        char *tok;
        size_t n;

        while (*p == ' ' || *p == '[')
            p++;
        q = p;
        while (*q != '\0' && *q != ' ')
            q++;
        n = (size_t)(q - p);
        while (n > 0 && p[n - 1] == ']')
            n--;
        tok = rb_strndup(a, p, n);
        p = q;
        if (n == 0)
            continue;
        if (skip_value) {
            skip_value = false;
        } else if (tok[0] == '-') {
            const struct copt *o = find_opt(m->opts, m->n_opts, tok);

            skip_value = o != NULL && o->metavar != NULL;
        } else if (strcmp(tok, "RUN_ID") == 0) {
            m->run_ids = true;
        } else if (is_choice_list(tok, n)) {
            m->pos_choices = bars_to_spaces(a, tok, n);
        }
    }
}

/* s in single quotes for a POSIX-like shell (bash, zsh): ' becomes '\'' */
static void sq(struct rb_buf *b, const char *s)
{
    rb_buf_addf(b, "'");
    for (; *s != '\0'; s++) {
        if (*s == '\'')
            rb_buf_addf(b, "'\\''");
        else
            rb_buf_addf(b, "%c", *s);
    }
    rb_buf_addf(b, "'");
}

/* s in single quotes for fish: \ and ' escaped with a backslash */
static void fq(struct rb_buf *b, const char *s)
{
    rb_buf_addf(b, "'");
    for (; *s != '\0'; s++) {
        if (*s == '\'' || *s == '\\')
            rb_buf_addf(b, "\\");
        rb_buf_addf(b, "%c", *s);
    }
    rb_buf_addf(b, "'");
}

struct gen {
    struct rb_arena *a;
    struct cmodel *cmds;
    size_t n_cmds;
    struct copt *glob;
    size_t n_glob;
    const char *runbook_short, *runbook_long; /* the global option naming the runbook */
};

/* "-f|--runbook" for a case pattern */
static const char *pattern_of(struct rb_arena *a, const struct copt *o)
{
    if (o->shrt != NULL && o->lng != NULL)
        return rb_sprintf(a, "%s|%s", o->shrt, o->lng);
    return o->shrt != NULL ? o->shrt : o->lng;
}

static void names_into(struct rb_buf *b, const struct copt *v, size_t n, bool *first)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].shrt != NULL) {
            rb_buf_addf(b, "%s%s", *first ? "" : " ", v[i].shrt);
            *first = false;
        }
        if (v[i].lng != NULL) {
            rb_buf_addf(b, "%s%s", *first ? "" : " ", v[i].lng);
            *first = false;
        }
    }
}

/* The scan of the words before the cursor: the command, and the runbook given with -f. */
static void sh_scan(struct gen *g, struct rb_buf *b, const char *words, const char *first, bool zsh)
{
    rb_buf_addf(b, "    for ((i = %s; i < %s; i++)); do\n        w=${%s[i]}\n        case $w in\n",
                first, zsh ? "CURRENT" : "COMP_CWORD", words);
    rb_buf_addf(b, "        %s%s|%s%s) ((i++)); rb=${%s[i]} ;;\n", zsh ? "(" : "", g->runbook_short,
                g->runbook_long, zsh ? "" : "", words);
    rb_buf_addf(b, "        %s%s=*) rb=${w#%s=} ;;\n", zsh ? "(" : "", g->runbook_long,
                g->runbook_long);
    rb_buf_addf(b, "        %s%s?*) rb=${w#%s} ;;\n", zsh ? "(" : "", g->runbook_short,
                g->runbook_short);
    for (size_t i = 0; i < g->n_glob; i++) {
        const struct copt *o = &g->glob[i];

        if (o->metavar == NULL || (o->lng != NULL && strcmp(o->lng, g->runbook_long) == 0))
            continue;
        rb_buf_addf(b, "        %s%s) ((i++)) ;;\n", zsh ? "(" : "", pattern_of(g->a, o));
    }
    rb_buf_addf(b, "        %s--) break ;;\n        %s-*) ;;\n", zsh ? "(" : "", zsh ? "(" : "");
    rb_buf_addf(b, "        %s*) if [[ -z $cmd ]]; then cmd=$w; fi ;;\n        esac\n    done\n",
                zsh ? "(" : "");
    rb_buf_addf(b, "    rb=${rb/#\\~/$HOME}\n");
}

/* case "$prev" arms completing the values of options (bash and zsh) */
static void sh_values(struct gen *g, struct rb_buf *b, const struct copt *v, size_t n, bool zsh,
                      const char *indent)
{
    for (size_t i = 0; i < n; i++) {
        const struct copt *o = &v[i];

        if (o->metavar == NULL)
            continue;
        rb_buf_addf(b, "%s%s%s)", indent, zsh ? "(" : "", pattern_of(g->a, o));
        if (o->file)
            rb_buf_addf(b, " %s; return ;;\n", zsh ? "_files" : "_rollbackctl_files");
        else if (o->choices != NULL && zsh)
            rb_buf_addf(b, " compadd -- %s; return ;;\n", o->choices);
        else if (o->choices != NULL)
            rb_buf_addf(b, " COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return ;;\n", o->choices);
        else
            rb_buf_addf(b, " return ;; # %s: free text\n", o->metavar);
    }
}

static bool takes_values(const struct cmodel *m)
{
    for (size_t i = 0; i < m->n_opts; i++)
        if (m->opts[i].metavar != NULL)
            return true;
    return false;
}

static void gen_bash(struct gen *g, struct rb_buf *b)
{
    bool first = true;

    rb_buf_addf(b, "# bash completion for rollbackctl, generated by 'rollbackctl completion bash'\n"
                   "# from its command table. Load it with: source <(rollbackctl completion bash)\n"
                   "# (installed as share/bash-completion/completions/rollbackctl).\n\n");
    rb_buf_addf(b, "_rollbackctl_files() {\n    local IFS=$'\\n'\n"
                   "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
                   "    compopt -o filenames 2>/dev/null\n}\n\n");
    rb_buf_addf(b, "# the run ids of the runbook named on the command line (none with -f -: stdin "
                   "is the runbook)\n"
                   "_rollbackctl_run_ids() {\n    [[ $2 == - ]] && return\n"
                   "    \"$1\" ${2:+-f \"$2\"} -q runs 2>/dev/null </dev/null\n}\n\n");
    rb_buf_addf(b, "_rollbackctl() {\n    local cur=${COMP_WORDS[COMP_CWORD]} prev='' cmd='' rb='' "
                   "w i opts=''\n"
                   "    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}\n");
    sh_scan(g, b, "COMP_WORDS", "1", false);
    rb_buf_addf(b, "    case $prev in\n");
    sh_values(g, b, g->glob, g->n_glob, false, "    ");
    rb_buf_addf(b, "    esac\n    case $cmd in\n");
    for (size_t i = 0; i < g->n_cmds; i++) {
        const struct cmodel *m = &g->cmds[i];
        bool f1 = true;

        if (m->n_opts == 0)
            continue;
        rb_buf_addf(b, "    %s)\n", m->name);
        if (takes_values(m)) {
            rb_buf_adds(b, "        case $prev in\n");
            sh_values(g, b, m->opts, m->n_opts, false, "        ");
            rb_buf_adds(b, "        esac\n");
        }
        rb_buf_addf(b, "        opts='");
        names_into(b, m->opts, m->n_opts, &f1);
        rb_buf_addf(b, "' ;;\n");
    }
    rb_buf_addf(b, "    esac\n    if [[ $cur == -* ]]; then\n        COMPREPLY=($(compgen -W \"");
    names_into(b, g->glob, g->n_glob, &first);
    rb_buf_addf(b, " $opts\" -- \"$cur\"))\n        return\n    fi\n");
    rb_buf_addf(b, "    if [[ -z $cmd ]]; then\n        COMPREPLY=($(compgen -W '");
    for (size_t i = 0; i < g->n_cmds; i++)
        rb_buf_addf(b, "%s%s", i > 0 ? " " : "", g->cmds[i].name);
    rb_buf_addf(b, "' -- \"$cur\"))\n        return\n    fi\n    case $cmd in\n");
    for (size_t i = 0; i < g->n_cmds; i++) {
        const struct cmodel *m = &g->cmds[i];

        if (m->run_ids)
            rb_buf_addf(b,
                        "    %s) COMPREPLY=($(compgen -W \"$(_rollbackctl_run_ids "
                        "\"${COMP_WORDS[0]}\" \"$rb\")\" -- \"$cur\")) ;;\n",
                        m->name);
        else if (m->pos_choices != NULL)
            rb_buf_addf(b, "    %s) COMPREPLY=($(compgen -W '%s' -- \"$cur\")) ;;\n", m->name,
                        m->pos_choices);
    }
    rb_buf_addf(b, "    esac\n}\ncomplete -F _rollbackctl rollbackctl\n");
}

/* zsh _describe items: 'name:description', one per option name */
static void zsh_items(struct rb_buf *b, const struct copt *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *names[2] = { v[i].shrt, v[i].lng };

        for (int k = 0; k < 2; k++) {
            struct rb_buf item = RB_BUF_INIT;

            if (names[k] == NULL)
                continue;
            rb_buf_addf(&item, "%s:%s", names[k], v[i].desc);
            rb_buf_adds(b, " ");
            sq(b, item.data);
            rb_buf_release(&item);
        }
    }
}

static void gen_zsh(struct gen *g, struct rb_buf *b)
{
    rb_buf_addf(b, "#compdef rollbackctl\n"
                   "# zsh completion for rollbackctl, generated by 'rollbackctl completion zsh' "
                   "from its\n# command table. Installed as share/zsh/vendor-completions/"
                   "_rollbackctl; or put it as\n# _rollbackctl in a folder of $fpath, or "
                   "source <(rollbackctl completion zsh) after compinit.\n\n");
    rb_buf_addf(b, "_rollbackctl() {\n    local cur=${words[CURRENT]} prev=${words[CURRENT-1]} "
                   "cmd='' rb='' w\n    local -i i\n    local -a cmds opts ids\n");
    sh_scan(g, b, "words", "2", true);
    rb_buf_addf(b, "    case $prev in\n");
    sh_values(g, b, g->glob, g->n_glob, true, "    ");
    rb_buf_addf(b, "    esac\n    case $cmd in\n");
    for (size_t i = 0; i < g->n_cmds; i++) {
        const struct cmodel *m = &g->cmds[i];

        if (m->n_opts == 0)
            continue;
        rb_buf_addf(b, "    (%s)\n", m->name);
        if (takes_values(m)) {
            rb_buf_adds(b, "        case $prev in\n");
            sh_values(g, b, m->opts, m->n_opts, true, "        ");
            rb_buf_adds(b, "        esac\n");
        }
        rb_buf_addf(b, "        opts=(");
        zsh_items(b, m->opts, m->n_opts);
        rb_buf_addf(b, " ) ;;\n");
    }
    rb_buf_addf(b, "    esac\n    if [[ $cur == -* ]]; then\n        opts+=(");
    zsh_items(b, g->glob, g->n_glob);
    rb_buf_addf(b, " )\n        _describe -t options option opts\n        return\n    fi\n");
    rb_buf_addf(b, "    if [[ -z $cmd ]]; then\n        cmds=(");
    for (size_t i = 0; i < g->n_cmds; i++) {
        rb_buf_adds(b, "\n            ");
        sq(b, rb_sprintf(g->a, "%s:%s", g->cmds[i].name, g->cmds[i].summary));
    }
    rb_buf_addf(b, "\n        )\n        _describe -t commands command cmds\n        return\n"
                   "    fi\n    case $cmd in\n");
    for (size_t i = 0; i < g->n_cmds; i++) {
        const struct cmodel *m = &g->cmds[i];

        if (m->run_ids)
            rb_buf_addf(b,
                        "    (%s)\n        [[ $rb == - ]] && return\n"
                        "        ids=(${(f)\"$(${words[1]} ${rb:+-f} ${rb:+\"$rb\"} -q runs "
                        "2>/dev/null </dev/null)\"})\n        compadd -- $ids ;;\n",
                        m->name);
        else if (m->pos_choices != NULL)
            rb_buf_addf(b, "    (%s) compadd -- %s ;;\n", m->name, m->pos_choices);
    }
    rb_buf_addf(b, "    esac\n}\n\n"
                   "if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then\n"
                   "    _rollbackctl \"$@\"\nelse\n    compdef _rollbackctl rollbackctl\nfi\n");
}

/* complete's flags for one option: -s/-l, its value, its description */
static void fish_opt(struct rb_buf *b, const struct copt *o, const char *cond)
{
    rb_buf_adds(b, "complete -c rollbackctl");
    if (cond != NULL)
        rb_buf_addf(b, " -n '%s'", cond);
    if (o->shrt != NULL)
        rb_buf_addf(b, " -s %s", o->shrt + 1);
    if (o->lng != NULL)
        rb_buf_addf(b, " -l %s", o->lng + 2);
    if (o->file)
        rb_buf_adds(b, " -r -F");
    else if (o->choices != NULL)
        rb_buf_addf(b, " -x -a '%s'", o->choices);
    else if (o->metavar != NULL)
        rb_buf_adds(b, " -x");
    rb_buf_adds(b, " -d ");
    fq(b, o->desc);
    rb_buf_adds(b, "\n");
}

static void gen_fish(struct gen *g, struct rb_buf *b)
{
    rb_buf_addf(b, "# fish completion for rollbackctl, generated by 'rollbackctl completion fish' "
                   "from its\n# command table: rollbackctl completion fish > "
                   "~/.config/fish/completions/rollbackctl.fish\n\n");
    /* the scan of the words before the cursor, as in bash and zsh */
    rb_buf_addf(b, "function __rollbackctl_word --description 'the command, or the runbook, of "
                   "the command line'\n"
                   "    set -l toks (commandline -opc)\n    set -l cmd\n    set -l rb\n"
                   "    set -l i 2\n    while test $i -le (count $toks)\n"
                   "        set -l w $toks[$i]\n        switch $w\n");
    rb_buf_addf(b,
                "            case %s %s\n                set i (math $i + 1)\n"
                "                set rb $toks[$i]\n",
                g->runbook_short, g->runbook_long);
    rb_buf_addf(b,
                "            case '%s=*'\n                set rb (string replace -- '%s=' '' "
                "$w)\n",
                g->runbook_long, g->runbook_long);
    rb_buf_addf(b, "            case '%s?*'\n                set rb (string sub -s 3 -- $w)\n",
                g->runbook_short);
    for (size_t i = 0; i < g->n_glob; i++) {
        const struct copt *o = &g->glob[i];

        if (o->metavar == NULL || (o->lng != NULL && strcmp(o->lng, g->runbook_long) == 0))
            continue;
        rb_buf_addf(b, "            case %s%s%s\n                set i (math $i + 1)\n",
                    o->shrt != NULL ? o->shrt : "", o->shrt != NULL && o->lng != NULL ? " " : "",
                    o->lng != NULL ? o->lng : "");
    }
    rb_buf_addf(b, "            case '-*'\n            case '*'\n"
                   "                test -z \"$cmd\"; and set cmd $w\n        end\n"
                   "        set i (math $i + 1)\n    end\n"
                   "    if test \"$argv[1]\" = runbook\n"
                   "        string replace -r -- '^~' $HOME $rb\n"
                   "    else\n        printf '%%s\\n' $cmd\n    end\nend\n\n");
    rb_buf_addf(b, "function __rollbackctl_using\n    set -l c (__rollbackctl_word command)\n"
                   "    test -n \"$c\"; and contains -- $c $argv\nend\n\n"
                   "function __rollbackctl_run_ids\n    set -l rb (__rollbackctl_word runbook)\n"
                   "    test \"$rb\" = -; and return\n    set -l toks (commandline -opc)\n"
                   "    if test -n \"$rb\"\n        $toks[1] -f $rb -q runs 2>/dev/null "
                   "</dev/null\n    else\n        $toks[1] -q runs 2>/dev/null </dev/null\n"
                   "    end\nend\n\ncomplete -c rollbackctl -f\n");
    for (size_t i = 0; i < g->n_cmds; i++) {
        rb_buf_addf(b,
                    "complete -c rollbackctl -n 'test -z (__rollbackctl_word command)' -a %s "
                    "-d ",
                    g->cmds[i].name);
        fq(b, g->cmds[i].summary);
        rb_buf_adds(b, "\n");
    }
    for (size_t i = 0; i < g->n_glob; i++)
        fish_opt(b, &g->glob[i], NULL);
    for (size_t i = 0; i < g->n_cmds; i++) {
        const struct cmodel *m = &g->cmds[i];
        const char *cond = rb_sprintf(g->a, "__rollbackctl_using %s", m->name);

        for (size_t k = 0; k < m->n_opts; k++)
            fish_opt(b, &m->opts[k], cond);
        if (m->run_ids)
            rb_buf_addf(b, "complete -c rollbackctl -n '%s' -a '(__rollbackctl_run_ids)'\n", cond);
        else if (m->pos_choices != NULL)
            rb_buf_addf(b, "complete -c rollbackctl -n '%s' -a '%s'\n", cond, m->pos_choices);
    }
}

int rb_cmd_completion(struct rb_ctx *ctx, int argc, char **argv, struct rb_err *err)
{
    static const struct {
        const char *shell;
        void (*gen)(struct gen *, struct rb_buf *);
    } shells[] = { { "bash", gen_bash }, { "zsh", gen_zsh }, { "fish", gen_fish } };
    const struct rb_cmd_table *t = ctx->commands;
    struct rb_buf b = RB_BUF_INIT;
    struct gen g = { 0 };
    size_t i, s;

    if (argc != 2 || argv[1][0] == '-')
        return rb_errf(err, RB_E_USAGE, "completion needs one shell: bash, zsh or fish");
    for (s = 0; s < sizeof(shells) / sizeof(shells[0]); s++)
        if (strcmp(argv[1], shells[s].shell) == 0)
            break;
    if (s == sizeof(shells) / sizeof(shells[0]))
        return rb_errf(err, RB_E_USAGE, "no completion for shell '%s' (bash, zsh or fish)",
                       argv[1]);
    g.a = ctx->arena;
    g.n_cmds = t->n;
    g.cmds = rb_new_array(ctx->arena, struct cmodel, t->n);
    for (i = 0; i < t->n; i++)
        model_of(ctx->arena, &t->rows[i], &g.cmds[i]);
    parse_help(ctx->arena, t->global_help, &g.glob, &g.n_glob);
    for (i = 0; i < g.n_glob; i++)
        if (g.glob[i].file && g.glob[i].shrt != NULL && g.glob[i].lng != NULL) {
            g.runbook_short = g.glob[i].shrt;
            g.runbook_long = g.glob[i].lng;
        }
    if (g.runbook_short == NULL)
        return rb_errf(err, RB_E_FAILED, "no runbook option in the global help");
    shells[s].gen(&g, &b);
    if (ctx->output == RB_OUTPUT_JSON) {
        /* one JSON document, as every command gives: the script is its string */
        cJSON *d = cJSON_CreateObject();

        cJSON_AddStringToObject(d, "shell", shells[s].shell);
        cJSON_AddStringToObject(d, "script", b.data);
        rb_out_json(ctx, d);
        cJSON_Delete(d);
    } else {
        fwrite(b.data, 1, b.len, ctx->out);
    }
    rb_buf_release(&b);
    return 0;
}
