/*
 * runbook_yaml.c - YAML to a tree of positioned nodes, and the typed accessors the loader uses.
 *
 * libyaml's event API is used rather than its document API so that anchors and aliases can be
 * refused where they appear (a runbook is read by people under stress; indirection hides what
 * will run) and duplicate keys can be reported, which libyaml itself accepts silently.
 * Every accessor reports its own problems, so the section walkers stay short and every
 * message has the same shape: "expected a mapping for 'sync', found a list".
 */
#include "runbook_priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/fsutil.h"

/* Depth limit: a runbook is a few levels deep; this keeps hostile input off the stack. */
#define YN_MAX_DEPTH 64
/*
 * Node limit (keys, values, list items): a runbook people can read has a few thousand; this
 * keeps a generated or hostile file from taking gigabytes and minutes before anyone sees an
 * error. The loader caps the file's size as well (RB_RUNBOOK_MAX_BYTES in runbook.c).
 */
#define YN_MAX_NODES 100000
/*
 * Alias budget: an alias is always an error, but it is resolved (so one mistake does not bring a
 * cascade of "missing key" messages) only while the nodes so reached stay under this many in all.
 * The tree is then a DAG whose walks (loader, step fingerprints) cost at most the file's own nodes
 * plus this; without the budget nine aliases of nine aliases (a "billion laughs") are 9^9 nodes.
 */
#define YN_MAX_ALIAS_NODES 10000
/* Maps with more keys than this find duplicates through a hash set, smaller ones by looking. */
#define YN_DUP_LINEAR 16

struct yn_open {
    struct yn *node;
    size_t cap;
};

/* Anchors seen so far; an alias is still an error, but resolving it avoids follow-on noise. */
struct yn_anchor {
    const char *name;
    struct yn *node;
    struct yn_anchor *next;
};

static struct rb_pos mark_pos(yaml_mark_t m)
{
    struct rb_pos p = { (int)m.line + 1, (int)m.column + 1 };

    return p;
}

static void yn_push(struct rb_arena *a, struct yn_open *o, struct yn *child)
{
    struct yn *p = o->node;

    rb_arena_push(a, p->items, p->n, o->cap, 8);
    p->items[p->n++] = child;
}

static void dup_found(struct rb_diags *d, const struct yn *k, const struct yn *prev)
{
    rb_diag_add(d, RB_DIAG_ERROR, k->pos, "duplicate key '%s' (first at line %d)", k->str,
                prev->pos.line);
}

/* FNV-1a: keys are short, and a hash set is only built for a large mapping. */
static size_t key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/*
 * Duplicate keys are errors (libyaml keeps them silently). A large map gets a hash set of its
 * keys, kept on the node for yn_get()/yn_key(): the loader looks keys up while walking a map, so
 * 45,000 columns would otherwise cost 45,000 linear searches.
 */
static void check_dup_keys(struct rb_arena *a, struct rb_diags *d, struct yn *map)
{
    size_t i, j, cap = 0, mask = 0;
    size_t *set = NULL;

    if (map->n > YN_DUP_LINEAR) {
        for (cap = 64; cap < 2 * map->n; cap *= 2)
            ;
        set = rb_new_array(a, size_t, cap);
        mask = cap - 1;
    }
    for (i = 0; i < map->n; i++) {
        const struct yn *k = map->items[2 * i];

        if (k->type != YN_SCALAR) {
            rb_diag_add(d, RB_DIAG_ERROR, k->pos, "mapping keys must be plain strings");
            continue;
        }
        if (set != NULL) {
            /* open addressing, linear probing; the first of equal keys stays in the set */
            for (j = key_hash(k->str) & mask; set[j] != 0; j = (j + 1) & mask)
                if (strcmp(map->items[2 * (set[j] - 1)]->str, k->str) == 0)
                    break;
            if (set[j] != 0)
                dup_found(d, k, map->items[2 * (set[j] - 1)]);
            else
                set[j] = i + 1;
            continue;
        }
        for (j = 0; j < i; j++) {
            const struct yn *prev = map->items[2 * j];

            if (prev->type == YN_SCALAR && strcmp(prev->str, k->str) == 0) {
                dup_found(d, k, prev);
                break;
            }
        }
    }
    map->keyset = set;
    map->keyset_mask = mask;
}

/* The pair index of key in map (the first one, as a linear search would find), or -1. */
static long key_index(const struct yn *map, const char *key)
{
    size_t i;

    if (map == NULL || map->type != YN_MAP)
        return -1;
    if (map->keyset != NULL) {
        for (i = key_hash(key) & map->keyset_mask; map->keyset[i] != 0;
             i = (i + 1) & map->keyset_mask)
            if (strcmp(map->items[2 * (map->keyset[i] - 1)]->str, key) == 0)
                return (long)(map->keyset[i] - 1);
        return -1;
    }
    for (i = 0; i < map->n; i++)
        if (map->items[2 * i]->type == YN_SCALAR && strcmp(map->items[2 * i]->str, key) == 0)
            return (long)i;
    return -1;
}

/*
 * Where the first escape that makes a NUL (\0, \x00, \u0000, \U00000000) sits in a double-quoted
 * scalar on one line: libyaml decodes it and the C string ends there, silently cutting the
 * value, so the loader refuses it and points at it. Falls back to the scalar's start.
 */
struct line_cursor {
    size_t line; /* 0-based line whose first byte is at off */
    size_t off;
};

/*
 * The byte offset where 0-based line starts. Events come in file order, so the cursor only moves
 * forward: finding every line costs one pass over the file, not one pass per scalar.
 */
static size_t line_start(struct line_cursor *lc, const char *data, size_t len, size_t line)
{
    if (line < lc->line) {
        lc->line = 0;
        lc->off = 0;
    }
    while (lc->off < len && lc->line < line)
        if (data[lc->off++] == '\n')
            lc->line++;
    return lc->off;
}

static struct rb_pos nul_pos(const char *data, size_t len, const yaml_event_t *ev,
                             struct line_cursor *lc)
{
    yaml_mark_t start = ev->start_mark;
    struct rb_pos p = mark_pos(start);
    size_t off;
    int col;

    if (ev->data.scalar.style != YAML_DOUBLE_QUOTED_SCALAR_STYLE || start.line != ev->end_mark.line)
        return p;
    off = line_start(lc, data, len, start.line);
    for (size_t c = 0; off < len && c < start.column; c++) /* characters up to the quote */
        for (off++; off < len && ((unsigned char)data[off] & 0xc0) == 0x80; off++)
            ;
    if (off >= len || data[off] != '"')
        return p;
    off++;
    col = (int)start.column + 2; /* 1-based, the character after the quote */
    while (off < len && data[off] != '"' && data[off] != '\n') {
        if (data[off] == '\\' && off + 1 < len) {
            const char *e = data + off + 1;
            size_t left = len - off - 1;

            if (e[0] == '0' || (left >= 3 && strncmp(e, "x00", 3) == 0) ||
                (left >= 5 && strncmp(e, "u0000", 5) == 0) ||
                (left >= 9 && strncmp(e, "U00000000", 9) == 0)) {
                p.col = col;
                return p;
            }
            off++; /* the escaped character is never the closing quote */
            col++;
        }
        for (off++; off < len && ((unsigned char)data[off] & 0xc0) == 0x80; off++)
            ;
        col++;
    }
    return p;
}

/* The text up to a NUL and after it, with the NUL shown as \0, for the message. */
static const char *nul_text(struct rb_arena *a, const char *v, size_t len)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    for (size_t i = 0; i < len && i < 200; i++) {
        if (v[i] == '\0')
            rb_buf_add(&b, "\\0", 2);
        else
            rb_buf_addc(&b, v[i]);
    }
    out = rb_strndup(a, b.data != NULL ? b.data : "", b.len);
    rb_buf_release(&b);
    return out;
}

/* Line and column (in characters, as libyaml counts them) of a byte offset. */
static struct rb_pos offset_pos(const char *data, size_t len, size_t offset)
{
    struct rb_pos p = { 1, 1 };

    for (size_t i = 0; i < offset && i < len; i++) {
        if (data[i] == '\n') {
            p.line++;
            p.col = 1;
        } else if (((unsigned char)data[i] & 0xc0) != 0x80) {
            p.col++;
        }
    }
    return p;
}

struct yn *yn_parse(struct rb_arena *a, const char *data, size_t len, struct rb_diags *d)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct yn_open stack[YN_MAX_DEPTH + 1];
    int depth = 0, docs = 0;
    struct yn *root = NULL;
    struct yn_anchor *anchors = NULL;
    bool done = false, ok = true;
    size_t nodes = 0, alias_nodes = 0;
    struct line_cursor lc = { 0, 0 };

    if (!yaml_parser_initialize(&parser)) {
        rb_diag_add(d, RB_DIAG_ERROR, (struct rb_pos){ 0, 0 }, "unable to start the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    /* UTF-8 only: libyaml would decode UTF-16 too, and positions are worked out on UTF-8 bytes */
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    while (!done) {
        struct yn *n = NULL;
        const char *anchor = NULL;

        if (!yaml_parser_parse(&parser, &ev)) {
            struct rb_pos p = mark_pos(parser.problem_mark);

            if (parser.error == YAML_READER_ERROR) {
                /* libyaml leaves the mark unset here; the offset of the bad byte is known */
                const char *byte = parser.problem_value >= 0
                                       ? rb_sprintf(a, " (byte 0x%02x)", parser.problem_value)
                                       : "";

                rb_diag_add(d, RB_DIAG_ERROR, offset_pos(data, len, parser.problem_offset),
                            "invalid YAML: %s%s; a runbook is UTF-8 text",
                            parser.problem != NULL ? parser.problem : "unreadable input", byte);
            } else if (parser.context != NULL)
                rb_diag_add(d, RB_DIAG_ERROR, p, "invalid YAML: %s %s", parser.problem,
                            parser.context);
            else
                rb_diag_add(d, RB_DIAG_ERROR, p, "invalid YAML: %s",
                            parser.problem != NULL ? parser.problem : "unreadable input");
            ok = false;
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                rb_diag_add(d, RB_DIAG_ERROR, mark_pos(ev.start_mark),
                            "a runbook is one YAML document; found a second one");
                done = true;
            }
            break;
        case YAML_ALIAS_EVENT: {
            struct yn_anchor *an;
            struct yn *target = NULL;

            rb_diag_add(d, RB_DIAG_ERROR, mark_pos(ev.start_mark),
                        "aliases are not supported ('*%s'); write the value out",
                        ev.data.alias.anchor);
            for (an = anchors; an != NULL; an = an->next)
                if (strcmp(an->name, (const char *)ev.data.alias.anchor) == 0)
                    target = an->node;
            /* only a finished node: an alias of an open one would make the tree a cycle */
            for (int i = 0; target != NULL && i < depth; i++)
                if (stack[i].node == target)
                    target = NULL;
            if (target != NULL && depth > 0 && target->size <= YN_MAX_ALIAS_NODES - alias_nodes) {
                alias_nodes += target->size;
                yn_push(a, &stack[depth - 1], target);
                break;
            }
            n = rb_new(a, struct yn);
            n->type = YN_SCALAR;
            n->size = 1;
            n->plain = true;
            n->str = "";
            n->pos = mark_pos(ev.start_mark);
            break;
        }
        case YAML_SCALAR_EVENT:
            anchor = (const char *)ev.data.scalar.anchor;
            n = rb_new(a, struct yn);
            n->type = YN_SCALAR;
            n->size = 1;
            n->str = rb_strndup(a, (const char *)ev.data.scalar.value, ev.data.scalar.length);
            if (strlen(n->str) != ev.data.scalar.length)
                rb_diag_add(d, RB_DIAG_ERROR, nul_pos(data, len, &ev, &lc),
                            "a NUL character (\\0) in a string would cut it short ('%s'); "
                            "remove it",
                            nul_text(a, (const char *)ev.data.scalar.value, ev.data.scalar.length));
            n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            n->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                        ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            n->one_line = ev.start_mark.line == ev.end_mark.line;
            n->pos = mark_pos(ev.start_mark);
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            anchor = ev.type == YAML_SEQUENCE_START_EVENT
                         ? (const char *)ev.data.sequence_start.anchor
                         : (const char *)ev.data.mapping_start.anchor;
            n = rb_new(a, struct yn);
            n->type = ev.type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP;
            n->pos = mark_pos(ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0) {
                struct yn *c = stack[--depth].node;

                c->size = 1;
                for (size_t i = 0; i < c->n; i++) /* a map's keys and values alike */
                    c->size += c->items[i]->size;
                if (c->type == YN_MAP) {
                    c->n /= 2;
                    check_dup_keys(a, d, c);
                }
            }
            break;
        default:
            break;
        }
        if (anchor != NULL) {
            struct yn_anchor *an = rb_new(a, struct yn_anchor);

            rb_diag_add(d, RB_DIAG_ERROR, n->pos,
                        "anchors are not supported ('&%s'); write the value out", anchor);
            an->name = rb_strdup(a, anchor);
            an->node = n;
            an->next = anchors;
            anchors = an;
        }
        if (n != NULL && ++nodes > YN_MAX_NODES) {
            rb_diag_add(d, RB_DIAG_ERROR, n->pos,
                        "the runbook has more than %d YAML nodes (keys, values, list items); "
                        "a runbook this large is not one people can review: split it or cut it "
                        "down",
                        YN_MAX_NODES);
            ok = false;
            done = true;
            n = NULL;
        }
        if (n != NULL) {
            if (depth > 0)
                yn_push(a, &stack[depth - 1], n);
            else if (root == NULL)
                root = n;
            if (n->type != YN_SCALAR) {
                if (depth == YN_MAX_DEPTH) {
                    rb_diag_add(d, RB_DIAG_ERROR, n->pos,
                                "YAML nested too deeply (more than %d levels)", YN_MAX_DEPTH);
                    ok = false;
                    done = true;
                } else {
                    stack[depth].node = n;
                    stack[depth].cap = 0;
                    depth++;
                }
            }
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (!ok)
        return NULL;
    if (root == NULL) {
        rb_diag_add(d, RB_DIAG_ERROR, (struct rb_pos){ 1, 1 }, "the runbook is empty");
        return NULL;
    }
    return root;
}

/* ---- reporting ---------------------------------------------------------------------------- */

void ld_err(struct ld *l, struct rb_pos pos, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = rb_vsprintf(l->a, fmt, ap);
    va_end(ap);
    rb_diag_add(l->d, RB_DIAG_ERROR, pos, "%s", msg);
}

void ld_warn(struct ld *l, struct rb_pos pos, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = rb_vsprintf(l->a, fmt, ap);
    va_end(ap);
    rb_diag_add(l->d, RB_DIAG_WARNING, pos, "%s", msg);
}

/* Optimal string alignment distance: Levenshtein plus adjacent transpositions ("tabel"). */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    int rows[3 * 65];
    int *row0 = rows, *row1, *row2;

    if (la > 64 || lb > 64)
        return 99;
    row1 = row0 + (lb + 1);
    row2 = row1 + (lb + 1);
    for (j = 0; j <= lb; j++)
        row1[j] = (int)j;
    for (i = 1; i <= la; i++) {
        int *tmp;

        row2[0] = (int)i;
        for (j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = row1[j] + 1;

            if (row2[j - 1] + 1 < v)
                v = row2[j - 1] + 1;
            if (row1[j - 1] + cost < v)
                v = row1[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                row0[j - 2] + 1 < v)
                v = row0[j - 2] + 1;
            row2[j] = v;
        }
        tmp = row0;
        row0 = row1;
        row1 = row2;
        row2 = tmp;
    }
    return row1[lb];
}

void rb_near_init(struct rb_near *n, const char *word)
{
    n->word = word;
    n->best = NULL;
    n->dist = 99;
}

void rb_near_try(struct rb_near *n, const char *cand)
{
    size_t len = strlen(n->word);
    int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    int d;

    if (cand == NULL || n->word == NULL)
        return;
    /* the distance is at least the difference in length: most candidates end here */
    if ((len > strlen(cand) ? len - strlen(cand) : strlen(cand) - len) > (size_t)limit)
        return;
    d = edit_distance(n->word, cand);
    if (d <= limit && d < n->dist && d < (int)strlen(cand)) {
        n->dist = d;
        n->best = cand;
    }
}

bool ld_near_spend(struct ld *l, size_t candidates)
{
    if (candidates > l->near_left)
        return false;
    l->near_left -= candidates;
    return true;
}

const char *rb_near_hint(struct ld *l, const struct rb_near *n)
{
    return n->best != NULL ? rb_sprintf(l->a, "; did you mean '%s'?", n->best) : "";
}

/* ---- typed access ------------------------------------------------------------------------- */

const char *yn_kind(const struct yn *n)
{
    if (n == NULL || yn_is_null(n))
        return "nothing";
    switch (n->type) {
    case YN_MAP:
        return "a mapping";
    case YN_SEQ:
        return "a list";
    case YN_SCALAR:
        break;
    }
    return "a string";
}

bool yn_is_null(const struct yn *n)
{
    return n == NULL ||
           (n->type == YN_SCALAR && n->plain &&
            (n->str[0] == '\0' || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
             strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0));
}

const struct yn *yn_key(const struct yn *map, const char *key)
{
    long i = key_index(map, key);

    return i < 0 ? NULL : map->items[2 * i];
}

const struct yn *yn_get(const struct yn *map, const char *key)
{
    long i = key_index(map, key);

    return i < 0 ? NULL : map->items[2 * i + 1];
}

/* Length-prefixed, so that no two different trees serialise alike ("ab","c" vs "a","bc"). */
static void fp_add(struct rb_buf *b, char tag, const char *str)
{
    rb_buf_addf(b, "%c%zu:%s", tag, str != NULL ? strlen(str) : 0, str != NULL ? str : "");
}

static void fp_node(struct rb_buf *b, const struct yn *n, const char *skip_key)
{
    size_t i;

    switch (n->type) {
    case YN_SCALAR:
        /* a quoted "null" is the text null, a plain one is no value: keep them apart */
        fp_add(b, yn_is_null(n) ? 'n' : 's', yn_is_null(n) ? NULL : n->str);
        return;
    case YN_SEQ:
        rb_buf_addf(b, "[%zu", n->n);
        for (i = 0; i < n->n; i++)
            fp_node(b, n->items[i], NULL);
        rb_buf_addc(b, ']');
        return;
    case YN_MAP:
        rb_buf_addf(b, "{%zu", n->n);
        for (i = 0; i < n->n; i++) {
            const struct yn *key = n->items[2 * i];

            /* a key may be a mapping or a list (YAML's `? {a: b}`), which has no text */
            if (skip_key != NULL && key->type == YN_SCALAR && key->str != NULL &&
                strcmp(key->str, skip_key) == 0)
                continue;
            fp_node(b, n->items[2 * i], NULL);
            fp_node(b, n->items[2 * i + 1], NULL);
        }
        rb_buf_addc(b, '}');
        return;
    }
}

const char *yn_fingerprint(struct rb_arena *a, const struct yn *n, const char *skip_key)
{
    struct rb_buf b = RB_BUF_INIT;
    char hex[65];

    fp_node(&b, n, skip_key);
    rb_sha256_hex(b.data, b.len, hex);
    rb_buf_release(&b);
    return rb_strdup(a, hex);
}

struct rb_pos ld_pos(const struct yn *map, const char *key)
{
    const struct yn *k = yn_key(map, key);

    return k != NULL ? k->pos : map != NULL ? map->pos : (struct rb_pos){ 0, 0 };
}

bool ld_is_map(struct ld *l, const struct yn *n, const char *what)
{
    if (n != NULL && n->type == YN_MAP)
        return true;
    if (n != NULL)
        ld_err(l, n->pos, "expected a mapping for '%s', found %s", what, yn_kind(n));
    return false;
}

bool ld_is_seq(struct ld *l, const struct yn *n, const char *what)
{
    if (n != NULL && n->type == YN_SEQ)
        return true;
    if (n != NULL)
        ld_err(l, n->pos, "expected a list for '%s', found %s", what, yn_kind(n));
    return false;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

void ld_keys(struct ld *l, const struct yn *map, struct rb_pos at, const char *what,
             const char *const *allowed, const char *const *required)
{
    size_t i;

    if (map == NULL || map->type != YN_MAP)
        return;
    for (i = 0; i < map->n; i++) {
        const struct yn *k = map->items[2 * i];
        struct rb_near near;
        const char *const *c;

        if (k->type != YN_SCALAR || in_list(allowed, k->str))
            continue;
        rb_near_init(&near, k->str);
        for (c = allowed; *c != NULL; c++)
            rb_near_try(&near, *c);
        if (near.best != NULL && what == NULL) {
            ld_err(l, k->pos, "unknown key '%s'%s", k->str, rb_near_hint(l, &near));
        } else if (near.best != NULL) {
            ld_err(l, k->pos, "unknown key '%s' in %s%s", k->str, what, rb_near_hint(l, &near));
        } else {
            char *list = rb_sprintf(l->a, "'%s'", allowed[0]);

            for (c = allowed + 1; *c != NULL; c++)
                list = rb_sprintf(l->a, "%s, '%s'", list, *c);
            if (what == NULL)
                ld_err(l, k->pos, "unknown key '%s' (expected %s)", k->str, list);
            else
                ld_err(l, k->pos, "unknown key '%s' in %s (expected %s)", k->str, what, list);
        }
    }
    for (; required != NULL && *required != NULL; required++)
        if (yn_key(map, *required) == NULL) {
            if (what == NULL)
                ld_err(l, at, "missing required key '%s'", *required);
            else
                ld_err(l, at, "missing required key '%s' in %s", *required, what);
        }
}

/* "sync" + "from" -> "sync.from"; what already names the key when key is NULL */
static const char *qual(struct ld *l, const char *what, const char *key)
{
    if (what == NULL)
        return key;
    return key != NULL ? rb_sprintf(l->a, "%s.%s", what, key) : what;
}

const char *ld_str(struct ld *l, const struct yn *map, const char *key, const char *what)
{
    const struct yn *v = yn_get(map, key);

    if (v == NULL)
        return NULL;
    if (v->type != YN_SCALAR) {
        ld_err(l, v->pos, "expected a string for '%s', found %s", qual(l, what, key), yn_kind(v));
        return NULL;
    }
    if (yn_is_null(v)) {
        ld_err(l, ld_pos(map, key), "'%s' has no value", qual(l, what, key));
        return NULL;
    }
    return v->str;
}

int ld_int(struct ld *l, const struct yn *map, const char *key, const char *what, int def, int min,
           int max)
{
    const struct yn *v = yn_get(map, key);
    const char *s;
    long long x = 0;
    bool big = false;

    if (v == NULL)
        return def;
    if (v->type != YN_SCALAR || yn_is_null(v)) {
        ld_err(l, v->pos, "expected an integer for '%s', found %s", qual(l, what, key), yn_kind(v));
        return def;
    }
    s = v->str;
    if (*s == '-' || *s == '+')
        s++;
    if (*s == '\0')
        goto bad;
    for (; *s != '\0'; s++) {
        if (!isdigit((unsigned char)*s))
            goto bad;
        /* past 18 digits it is out of any range we take; keep reading to be sure it is a number */
        if (x < 100000000000000000LL)
            x = x * 10 + (*s - '0');
        else
            big = true;
    }
    /* '3' is text in YAML: a number written in quotes is most likely a mistake elsewhere too */
    if (!v->plain) {
        ld_err(l, v->pos,
               "expected an integer for '%s', not a string ('%s'); write it without quotes",
               qual(l, what, key), v->str);
        return def;
    }
    if (v->str[0] == '-')
        x = -x;
    if (big || x < min || x > max) {
        ld_err(l, v->pos, "'%s' is out of range: %s is not between %d and %d", qual(l, what, key),
               v->str, min, max);
        return def;
    }
    return (int)x;
bad:
    ld_err(l, v->pos, "expected an integer for '%s', found '%s'", qual(l, what, key), v->str);
    return def;
}

bool ld_bool(struct ld *l, const struct yn *map, const char *key, const char *what, bool def)
{
    const struct yn *v = yn_get(map, key);

    if (v == NULL)
        return def;
    if (v->type == YN_SCALAR && v->plain) {
        if (strcmp(v->str, "true") == 0 || strcmp(v->str, "True") == 0 ||
            strcmp(v->str, "TRUE") == 0)
            return true;
        if (strcmp(v->str, "false") == 0 || strcmp(v->str, "False") == 0 ||
            strcmp(v->str, "FALSE") == 0)
            return false;
    }
    if (v->type == YN_SCALAR && !yn_is_null(v))
        ld_err(l, v->pos, "expected true or false for '%s', found '%s'", qual(l, what, key),
               v->str);
    else
        ld_err(l, v->pos, "expected true or false for '%s', found %s", qual(l, what, key),
               yn_kind(v));
    return def;
}

/* Written like a duration (digits and a unit, repeated), whatever its size. */
static bool dur_shaped(const char *s)
{
    if (*s == '\0')
        return false;
    while (*s != '\0') {
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
        if (strncmp(s, "ms", 2) == 0)
            s += 2;
        else if (*s != '\0' && strchr("smhd", *s) != NULL)
            s++;
        else
            return false;
    }
    return true;
}

int64_t ld_dur_text(struct ld *l, struct rb_pos pos, const char *s, const char *what)
{
    int64_t ms = rb_duration_parse(s);

    if (ms < 0 && !dur_shaped(s)) {
        ld_err(l, pos, "invalid duration '%s' for '%s' (use e.g. 30s, 5m, 2h30m, 1d, 250ms)", s,
               what);
        return -1;
    }
    if (ms < 0 || ms > RB_DURATION_MAX_MS) {
        ld_err(l, pos, "'%s' is out of range: %s is longer than %s", what, s, RB_DURATION_MAX_TEXT);
        return -1;
    }
    return ms;
}

const char *ld_k8s_name(struct ld *l, const struct yn *map, const char *key, const char *what,
                        bool label)
{
    const char *s = ld_str(l, map, key, what);
    size_t len, max = label ? 63 : 253, i;
    bool ok;

    if (s == NULL)
        return NULL;
    len = strlen(s);
    ok =
        len > 0 && len <= max && isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[len - 1]);
    for (i = 0; ok && i < len; i++)
        ok = (isdigit((unsigned char)s[i]) || (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' ||
              (!label && s[i] == '.')) &&
             !isupper((unsigned char)s[i]);
    if (!ok) {
        ld_err(l, yn_get(map, key)->pos,
               "invalid Kubernetes name '%s' for '%s': %s, starting and ending with a letter or "
               "digit, at most %zu characters",
               s, qual(l, what, key),
               label ? "lowercase letters, digits and '-'"
                     : "lowercase letters, digits, '-' and '.'",
               max);
        return NULL;
    }
    return s;
}

int64_t ld_dur(struct ld *l, const struct yn *map, const char *key, const char *what)
{
    const char *s = ld_str(l, map, key, what);
    int64_t ms;

    if (s == NULL)
        return 0;
    ms = ld_dur_text(l, yn_get(map, key)->pos, s, qual(l, what, key));
    return ms < 0 ? 0 : ms;
}

struct rb_strlist ld_strlist(struct ld *l, const struct yn *map, const char *key, const char *what,
                             bool allow_scalar)
{
    const struct yn *v = yn_get(map, key);
    struct rb_strlist out = { NULL, 0, { 0, 0 } };
    size_t i;

    if (v == NULL)
        return out;
    out.pos = v->pos;
    if (v->type == YN_SCALAR && !yn_is_null(v) && allow_scalar) {
        out.items = rb_new_array(l->a, const char *, 2);
        out.items[0] = v->str;
        out.n = 1;
        return out;
    }
    if (v->type != YN_SEQ) {
        ld_err(l, v->pos, "expected a list of strings for '%s', found %s", qual(l, what, key),
               yn_kind(v));
        return out;
    }
    out.items = rb_new_array(l->a, const char *, v->n + 1);
    for (i = 0; i < v->n; i++) {
        const struct yn *it = v->items[i];

        if (it->type != YN_SCALAR || yn_is_null(it)) {
            ld_err(l, it->pos, "expected a list of strings for '%s'; this item is %s",
                   qual(l, what, key), yn_kind(it));
            continue;
        }
        out.items[out.n++] = it->str;
    }
    return out;
}

static const char *kinds_text(struct ld *l, unsigned mask)
{
    const char *s = NULL;
    int k;

    for (k = RB_TARGET_DB; k <= RB_TARGET_NOTIFY; k++) {
        if (!(mask & RB_KIND_BIT(k)))
            continue;
        s = s == NULL
                ? rb_target_kind_name((enum rb_target_kind)k)
                : rb_sprintf(l->a, "%s or %s", s, rb_target_kind_name((enum rb_target_kind)k));
    }
    return s != NULL ? s : "";
}

/*
 * "'a', 'b', 'c'" for "unknown target" messages: built once per runbook, and naming at most
 * LD_TARGET_LIST_MAX (one message per bad reference would otherwise copy every name each time).
 */
#define LD_TARGET_LIST_MAX 20
static const char *target_list(struct ld *l)
{
    struct rb_buf b = RB_BUF_INIT;
    size_t i, n = l->rb->n_targets;

    if (l->target_list != NULL)
        return l->target_list;
    for (i = 0; i < n && i < LD_TARGET_LIST_MAX; i++)
        rb_buf_addf(&b, "%s'%s'", i > 0 ? ", " : "", l->rb->targets[i].name);
    if (n > LD_TARGET_LIST_MAX)
        rb_buf_addf(&b, " and %zu more", n - LD_TARGET_LIST_MAX);
    l->target_list = rb_strndup(l->a, b.data != NULL ? b.data : "", b.len);
    rb_buf_release(&b);
    return l->target_list;
}

const struct rb_target *ld_target_ref(struct ld *l, const struct yn *map, const char *key,
                                      const char *what, unsigned mask)
{
    const char *name = ld_str(l, map, key, what);
    const struct rb_target *t;
    const char *ref = qual(l, what, key);
    struct rb_near near;
    size_t i;

    if (name == NULL)
        return NULL;
    t = rb_runbook_target(l->rb, name);
    if (t == NULL) {
        rb_near_init(&near, name);
        if (ld_near_spend(l, l->rb->n_targets))
            for (i = 0; i < l->rb->n_targets; i++)
                rb_near_try(&near, l->rb->targets[i].name);
        if (near.best != NULL || l->rb->n_targets == 0)
            ld_err(l, yn_get(map, key)->pos, "unknown target '%s' for '%s'%s", name, ref,
                   rb_near_hint(l, &near));
        else
            ld_err(l, yn_get(map, key)->pos, "unknown target '%s' for '%s' (targets: %s)", name,
                   ref, target_list(l));
        return NULL;
    }
    if (t->kind == 0) /* its driver is already reported as unknown */
        return t;
    if (!(mask & RB_KIND_BIT(t->kind))) {
        const char *k = rb_target_kind_name(t->kind);
        const char *want = kinds_text(l, mask);

        ld_err(l, yn_get(map, key)->pos, "target '%s' is a%s %s target; '%s' needs a%s %s target",
               name, strchr("aeiou", k[0]) != NULL ? "n" : "", k, ref,
               strchr("aeiou", want[0]) != NULL ? "n" : "", want);
        return NULL;
    }
    return t;
}

const char *ld_path(struct ld *l, const char *p)
{
    if (p == NULL)
        return NULL;
    if (p[0] == '~')
        return rb_path_expand(l->a, p);
    if (p[0] == '/' || l->rb->dir == NULL || strcmp(l->rb->dir, ".") == 0)
        return p;
    return rb_sprintf(l->a, "%s/%s", l->rb->dir, p);
}

/* libyaml counts columns in characters; expression columns are bytes: convert (UTF-8). */
static int char_col(const char *src, int byte_col)
{
    int i, col = 1;

    for (i = 0; i < byte_col - 1 && src[i] != '\0'; i++)
        if (((unsigned char)src[i] & 0xc0) != 0x80)
            col++;
    return col + (byte_col - 1 - i);
}

struct names_ctx {
    struct ld *l;
    const struct yn *n;
    const char *what;
    const char *const *known;
    bool signals;
    int base_col;
};

static void check_name(void *vctx, const char *name, int col)
{
    struct names_ctx *c = vctx;
    struct rb_near near;
    struct rb_pos pos = c->n->pos;
    size_t i;

    col = char_col(c->n->str, col);
    if (in_list(c->known, name))
        return;
    if (c->signals)
        for (i = 0; i < c->l->rb->n_signals; i++)
            if (strcmp(c->l->rb->signals[i].name, name) == 0)
                return;
    rb_near_init(&near, name);
    for (i = 0; c->known[i] != NULL; i++)
        rb_near_try(&near, c->known[i]);
    if (c->signals && ld_near_spend(c->l, c->l->rb->n_signals))
        for (i = 0; i < c->l->rb->n_signals; i++)
            rb_near_try(&near, c->l->rb->signals[i].name);
    if (c->base_col > 0)
        pos.col = c->base_col + col - 1;
    ld_err(c->l, pos, "unknown %s '%s' in '%s'%s", c->signals ? "signal or variable" : "variable",
           name, c->what, rb_near_hint(c->l, &near));
}

struct rb_expr *ld_expr(struct ld *l, const struct yn *n, const char *what,
                        const char *const *known, bool signals)
{
    struct rb_err err = RB_ERR_INIT;
    struct names_ctx c = { l, n, what, known, signals, 0 };
    struct rb_expr *e;
    int col = 0;

    if (n == NULL)
        return NULL;
    if (n->type != YN_SCALAR || yn_is_null(n)) {
        ld_err(l, n->pos, "expected an expression for '%s', found %s", what, yn_kind(n));
        return NULL;
    }
    /* columns inside the string map onto the file only for a scalar on one line */
    if (n->one_line)
        c.base_col = n->pos.col + (n->quoted ? 1 : 0);
    e = rb_expr_parse(l->a, n->str, &col, &err);
    if (e == NULL) {
        struct rb_pos pos = n->pos;

        if (c.base_col > 0)
            pos.col = c.base_col + char_col(n->str, col) - 1;
        ld_err(l, pos, "invalid expression in '%s': %s", what, err.msg);
        return NULL;
    }
    rb_expr_names(e, check_name, &c);
    return e;
}
