/*
 * sql_refs.c - the tables a runbook's free SQL touches, read by a tokenizer (see sql_refs.h).
 *
 * Two steps: the text becomes tokens (words, quoted identifiers, punctuation; comments, strings,
 * dollar-quoted bodies and numbers are recognised so that nothing inside them is read as a name),
 * then each ';'-separated statement is read for its verb and for the tables after FROM, JOIN and
 * USING. A FROM counts only where a query is (the statement itself, or a parenthesis opening with
 * SELECT, VALUES or WITH): EXTRACT(year FROM x) and IS DISTINCT FROM are no table references.
 * What it cannot read it says it cannot read; a wrong guess would be a false NOT_READY at night.
 */
#include "sql_refs.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "rollbackctl/buf.h"

enum tok_kind { T_WORD = 1, T_QIDENT, T_OTHER, T_PUNCT };

struct tok {
    enum tok_kind kind;
    const char *s; /* in the SQL text */
    size_t len;
};

struct toks {
    struct tok *v;
    size_t n, cap;
    struct rb_arena *arena;
};

static void tok_push(struct toks *t, enum tok_kind kind, const char *s, size_t len)
{
    rb_arena_push(t->arena, t->v, t->n, t->cap, 64);
    t->v[t->n++] = (struct tok){ kind, s, len };
}

static bool ident_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c >= 0x80;
}

static bool ident_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

/* Past a string starting at its opening quote p (backslash escapes when escapes). */
static const char *skip_string(const char *p, bool escapes)
{
    for (p++; *p != '\0'; p++) {
        if (escapes && *p == '\\' && p[1] != '\0')
            p++;
        else if (*p == '\'' && p[1] == '\'')
            p++;
        else if (*p == '\'')
            return p + 1;
    }
    return p;
}

/* $tag$...$tag$ starting at p: past its end, or NULL when p starts no dollar quote. */
static const char *skip_dollar(const char *p)
{
    const char *q = p + 1, *end;
    size_t taglen;

    while (*q != '\0' && *q != '$' && ident_char((unsigned char)*q))
        q++;
    if (*q != '$')
        return NULL; /* "$1" was taken as a parameter before */
    taglen = (size_t)(q - p) + 1;
    for (end = q + 1; (end = strchr(end, '$')) != NULL; end++)
        if (strncmp(end, p, taglen) == 0)
            return end + taglen;
    return p + strlen(p);
}

static void lex(const char *p, struct toks *out)
{
    while (*p != '\0') {
        unsigned char c = (unsigned char)*p;
        const char *start = p;

        if (isspace(c)) {
            p++;
        } else if (c == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (c == '/' && p[1] == '*') {
            int depth = 1; /* PostgreSQL nests block comments */

            for (p += 2; *p != '\0' && depth > 0; p++) {
                if (p[0] == '/' && p[1] == '*')
                    depth++, p++;
                else if (p[0] == '*' && p[1] == '/')
                    depth--, p++;
            }
        } else if (c == '\'') {
            p = skip_string(p, false);
            tok_push(out, T_OTHER, start, (size_t)(p - start));
        } else if (c == '"') {
            for (p++; *p != '\0'; p++) {
                if (*p == '"' && p[1] == '"')
                    p++;
                else if (*p == '"')
                    break;
            }
            if (*p == '"')
                p++;
            tok_push(out, T_QIDENT, start, (size_t)(p - start));
        } else if (c == '$' && isdigit((unsigned char)p[1])) {
            for (p++; isdigit((unsigned char)*p); p++)
                ;
            tok_push(out, T_OTHER, start, (size_t)(p - start)); /* a parameter */
        } else if (c == '$' && skip_dollar(p) != NULL) {
            p = skip_dollar(p);
            tok_push(out, T_OTHER, start, (size_t)(p - start));
        } else if (isdigit(c)) {
            while (isalnum((unsigned char)*p) || *p == '.' || *p == '_')
                p++;
            tok_push(out, T_OTHER, start, (size_t)(p - start));
        } else if (ident_start(c)) {
            while (ident_char((unsigned char)*p))
                p++;
            /* E'...' (backslash escapes), B'', X'', N'': one string with its prefix */
            if (*p == '\'') {
                p = skip_string(p, p - start == 1 && (c == 'e' || c == 'E'));
                tok_push(out, T_OTHER, start, (size_t)(p - start));
            } else {
                tok_push(out, T_WORD, start, (size_t)(p - start));
            }
        } else {
            p++;
            tok_push(out, T_PUNCT, start, 1);
        }
    }
}

static bool is_word(const struct toks *t, size_t i, const char *w)
{
    return i < t->n && t->v[i].kind == T_WORD && t->v[i].len == strlen(w) &&
           strncasecmp(t->v[i].s, w, t->v[i].len) == 0;
}

static bool is_punct(const struct toks *t, size_t i, char c)
{
    return i < t->n && t->v[i].kind == T_PUNCT && t->v[i].s[0] == c;
}

/* Words that end a table reference or start a clause: never a table or an alias. */
static bool clause_word(const struct toks *t, size_t i)
{
    static const char *const words[] = {
        "select",      "where",  "join",   "on",    "using",     "group",  "order",   "limit",
        "offset",      "having", "window", "union", "intersect", "except", "for",     "returning",
        "set",         "inner",  "left",   "right", "full",      "cross",  "natural", "values",
        "tablesample", "fetch",  "as",     "with",  "and",       "or",     "not",     "lateral",
        "only",        "into",   "from",   "do",    "default",   NULL
    };

    for (size_t k = 0; words[k] != NULL; k++)
        if (is_word(t, i, words[k]))
            return true;
    return false;
}

/* Index past the parenthesis opening at i (its matching close), or t->n when unbalanced. */
static size_t skip_parens(const struct toks *t, size_t i, size_t end)
{
    int depth = 0;

    for (; i < end; i++) {
        if (is_punct(t, i, '('))
            depth++;
        else if (is_punct(t, i, ')') && --depth == 0)
            return i + 1;
    }
    return end;
}

/* A name at i: word or quoted identifier, then (. part)*; *next gets the index after it. */
static bool name_at(const struct toks *t, size_t i, size_t end, size_t *next)
{
    if (i >= end || (t->v[i].kind != T_WORD && t->v[i].kind != T_QIDENT) ||
        (t->v[i].kind == T_WORD && clause_word(t, i)))
        return false;
    i++;
    while (i + 1 < end && is_punct(t, i, '.') &&
           (t->v[i + 1].kind == T_WORD || t->v[i + 1].kind == T_QIDENT))
        i += 2;
    *next = i;
    return true;
}

struct stmt {
    struct rb_arena *arena;
    const struct toks *t;
    struct rb_sql_refs *out;
    const struct tok *ctes; /* names of the statement's WITH queries */
    size_t n_ctes;
};

static bool same_name(const struct tok *a, const struct tok *b)
{
    if (a->kind != b->kind || a->len != b->len)
        return false;
    return a->kind == T_WORD ? strncasecmp(a->s, b->s, a->len) == 0
                             : memcmp(a->s, b->s, a->len) == 0;
}

/* The name of tokens [first, after) (parts and dots) with each part quoted, bare ones folded. */
static const char *quoted_name(struct rb_arena *a, const struct toks *t, size_t first, size_t after)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    for (size_t i = first; i < after; i++) {
        const struct tok *k = &t->v[i];

        if (k->kind == T_PUNCT) {
            rb_buf_addf(&b, ".");
        } else if (k->kind == T_QIDENT) {
            rb_buf_add(&b, k->s, k->len);
        } else {
            rb_buf_addf(&b, "\"");
            for (size_t c = 0; c < k->len; c++)
                rb_buf_addf(&b, "%c", (char)tolower((unsigned char)k->s[c]));
            rb_buf_addf(&b, "\"");
        }
    }
    out = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return out;
}

static void add_ref(struct stmt *st, size_t first, size_t after, unsigned privs)
{
    const struct tok *a = &st->t->v[first], *z = &st->t->v[after - 1];
    struct rb_sql_refs *o = st->out;
    const char *name, *quoted;

    if (after == first + 1)
        for (size_t k = 0; k < st->n_ctes; k++)
            if (same_name(a, &st->ctes[k]))
                return; /* a WITH query of this statement, not a table */
    name = rb_strndup(st->arena, a->s, (size_t)(z->s + z->len - a->s));
    quoted = quoted_name(st->arena, st->t, first, after);
    for (size_t k = 0; k < o->n; k++) {
        if (strcmp(o->v[k].quoted, quoted) == 0) {
            o->v[k].privs |= privs;
            return;
        }
    }
    rb_arena_push(st->arena, o->v, o->n, o->cap, 8);
    o->v[o->n++] = (struct rb_sql_ref){ name, quoted, privs };
}

/* The table references after FROM/JOIN/USING at i (a list when list): each read (SELECT). */
static void read_refs(struct stmt *st, size_t i, size_t end, bool list)
{
    const struct toks *t = st->t;

    for (;;) {
        size_t after;

        while (is_word(t, i, "lateral") || is_word(t, i, "only"))
            i++;
        if (is_punct(t, i, '(')) {
            i = skip_parens(t, i, end); /* a subquery: scan_queries reads inside it */
        } else if (!name_at(t, i, end, &after)) {
            return;
        } else if (is_punct(t, after, '(')) {
            i = skip_parens(t, after, end); /* a function: generate_series(1, 3) */
        } else {
            add_ref(st, i, after, RB_PRIV_SELECT);
            i = after;
        }
        if (is_punct(t, i, '*'))
            i++;
        if (is_word(t, i, "as"))
            i++;
        if (i < end && (t->v[i].kind == T_QIDENT || (t->v[i].kind == T_WORD && !clause_word(t, i))))
            i++; /* the alias */
        if (is_punct(t, i, '('))
            i = skip_parens(t, i, end); /* the alias's column names */
        if (!list || !is_punct(t, i, ','))
            return;
        i++;
    }
}

static void statement(struct rb_arena *a, const struct toks *t, size_t begin, size_t end,
                      struct rb_sql_refs *out, struct rb_buf *unchecked);

static bool verb_is(const struct toks *t, size_t i, const char *const *verbs)
{
    for (size_t k = 0; verbs[k] != NULL; k++)
        if (is_word(t, i, verbs[k]))
            return true;
    return false;
}

/*
 * The FROM/JOIN/USING references of [begin, end) where a query is; a parenthesis opening with a
 * data-modifying statement (a WITH query that inserts, updates or deletes) is read as a statement.
 */
static void scan_queries(struct stmt *st, size_t begin, size_t end, size_t skip_from,
                         struct rb_buf *unchecked)
{
    static const char *const query_verbs[] = { "select", "values", "with", "table", NULL };
    static const char *const dml_verbs[] = { "insert", "update", "delete", NULL };
    const struct toks *t = st->t;
    bool is_query[64];
    int depth = 0;

    is_query[0] = true;
    for (size_t i = begin; i < end; i++) {
        if (is_punct(t, i, '(')) {
            if (verb_is(t, i + 1, dml_verbs)) {
                size_t close = skip_parens(t, i, end);

                statement(st->arena, t, i + 1, close > i + 1 ? close - 1 : close, st->out,
                          unchecked);
                i = close - 1;
                continue;
            }
            if (depth + 1 < (int)(sizeof(is_query) / sizeof(is_query[0])))
                is_query[++depth] = verb_is(t, i + 1, query_verbs);
            continue;
        }
        if (is_punct(t, i, ')')) {
            if (depth > 0)
                depth--;
            continue;
        }
        if (!is_query[depth] || i == skip_from)
            continue;
        if (is_word(t, i, "from") && !(i > begin && is_word(t, i - 1, "distinct")))
            read_refs(st, i + 1, end, true);
        else if (is_word(t, i, "join"))
            read_refs(st, i + 1, end, false);
        else if (is_word(t, i, "using") && !is_punct(t, i + 1, '('))
            read_refs(st, i + 1, end, true);
    }
}

static void statement(struct rb_arena *a, const struct toks *t, size_t begin, size_t end,
                      struct rb_sql_refs *out, struct rb_buf *unchecked)
{
    static const char *const harmless[] = { "begin",    "start",     "commit",  "end",
                                            "rollback", "abort",     "set",     "reset",
                                            "show",     "savepoint", "release", NULL };
    struct stmt st = { a, t, out, NULL, 0 };
    struct tok *ctes = NULL;
    size_t i = begin, after, skip_from = (size_t)-1;

    while (is_punct(t, i, '(') && i < end)
        i++; /* (SELECT ...) */
    if (i >= end)
        return;
    if (is_word(t, i, "with")) {
        ctes = rb_new_array(a, struct tok, end - begin);
        i++;
        if (is_word(t, i, "recursive"))
            i++;
        while (i < end && (t->v[i].kind == T_WORD || t->v[i].kind == T_QIDENT)) {
            ctes[st.n_ctes++] = t->v[i++];
            if (is_punct(t, i, '('))
                i = skip_parens(t, i, end);
            if (is_word(t, i, "as"))
                i++;
            if (is_word(t, i, "not"))
                i++;
            if (is_word(t, i, "materialized"))
                i++;
            if (is_punct(t, i, '('))
                i = skip_parens(t, i, end);
            if (!is_punct(t, i, ','))
                break;
            i++;
        }
        st.ctes = ctes;
    }
    if (verb_is(t, i, harmless) && st.n_ctes == 0)
        return;
    if (is_word(t, i, "select") || is_word(t, i, "values")) {
        /* the FROM references below are all there is */
    } else if (is_word(t, i, "table") && name_at(t, i + 1, end, &after)) {
        add_ref(&st, i + 1, after, RB_PRIV_SELECT);
    } else if (is_word(t, i, "insert") && is_word(t, i + 1, "into") &&
               name_at(t, i + 2, end, &after)) {
        unsigned privs = RB_PRIV_INSERT;

        /* ON CONFLICT ... DO UPDATE updates the rows it meets */
        for (size_t k = after; k + 1 < end; k++)
            if (is_word(t, k, "do") && is_word(t, k + 1, "update"))
                privs |= RB_PRIV_UPDATE;
        add_ref(&st, i + 2, after, privs);
    } else if (is_word(t, i, "update")) {
        size_t n = is_word(t, i + 1, "only") ? i + 2 : i + 1;

        if (!name_at(t, n, end, &after))
            goto unknown;
        add_ref(&st, n, after, RB_PRIV_UPDATE);
    } else if (is_word(t, i, "delete") && is_word(t, i + 1, "from")) {
        size_t n = is_word(t, i + 2, "only") ? i + 3 : i + 2;

        if (!name_at(t, n, end, &after))
            goto unknown;
        add_ref(&st, n, after, RB_PRIV_DELETE);
        skip_from = i + 1;
    } else if (is_word(t, i, "truncate")) {
        size_t n = is_word(t, i + 1, "table") ? i + 2 : i + 1;

        for (;;) {
            if (is_word(t, n, "only"))
                n++;
            if (!name_at(t, n, end, &after))
                break;
            add_ref(&st, n, after, RB_PRIV_TRUNCATE);
            n = is_punct(t, after, '*') ? after + 1 : after;
            if (!is_punct(t, n, ','))
                break;
            n++;
        }
        return;
    } else {
        goto unknown;
    }
    scan_queries(&st, begin, end, skip_from, unchecked);
    return;
unknown:
    if (i < end && t->v[i].kind == T_WORD) {
        char *w = rb_strndup(a, t->v[i].s, t->v[i].len);

        for (char *p = w; *p != '\0'; p++)
            *p = (char)toupper((unsigned char)*p);
        rb_buf_addf(unchecked, "%s%s", unchecked->len > 0 ? ", " : "", w);
    } else {
        rb_buf_addf(unchecked, "%s%.*s", unchecked->len > 0 ? ", " : "", (int)t->v[i].len,
                    t->v[i].s);
    }
}

void rb_sql_refs_add(struct rb_arena *a, const char *sql, struct rb_sql_refs *out)
{
    struct toks t = { .arena = a };
    struct rb_buf unchecked = RB_BUF_INIT;
    size_t begin = 0;

    if (sql == NULL)
        return;
    if (out->unchecked != NULL)
        rb_buf_addf(&unchecked, "%s", out->unchecked);
    lex(sql, &t);
    for (size_t i = 0; i <= t.n; i++) {
        if (i < t.n && !is_punct(&t, i, ';'))
            continue;
        if (i > begin)
            statement(a, &t, begin, i, out, &unchecked);
        begin = i + 1;
    }
    out->unchecked = unchecked.len > 0 ? rb_strdup(a, unchecked.data) : NULL;
    rb_buf_release(&unchecked);
}
