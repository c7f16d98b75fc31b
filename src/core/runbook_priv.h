/*
 * runbook_priv.h - what the loader's files share: the YAML node tree and the checking helpers.
 *
 * runbook_yaml.c turns libyaml events into a small tree of positioned nodes; runbook.c and
 * runbook_phases.c walk it into struct rb_runbook, reporting problems through the ld_* helpers
 * so that every message has the same shape. Not a public interface.
 */
#ifndef ROLLBACKCTL_RUNBOOK_PRIV_H
#define ROLLBACKCTL_RUNBOOK_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include "rollbackctl/adapter.h"
#include "rollbackctl/expr.h"
#include "rollbackctl/runbook.h"

enum yn_type { YN_SCALAR = 1, YN_MAP, YN_SEQ };

struct yn {
    enum yn_type type;
    struct rb_pos pos;
    const char *str;   /* scalar text */
    bool plain;        /* plain (unquoted) scalar: `~`, `null` and `` mean no value */
    bool quoted;       /* single- or double-quoted: the text starts one column in */
    bool one_line;     /* the scalar starts and ends on one line */
    size_t n;          /* SEQ: items; MAP: pairs */
    struct yn **items; /* SEQ: items[i]; MAP: key items[2i], value items[2i+1] */
    /* a large MAP: hash set of its keys (pair index + 1 of the first of equal ones; 0 empty) */
    size_t *keyset;
    size_t keyset_mask;
    /* nodes in this subtree as a walker sees it, resolved aliases counted at their full size */
    size_t size;
};

/* Parse one YAML document into a tree; NULL after reporting the problem to d. */
struct yn *yn_parse(struct rb_arena *a, const char *data, size_t len, struct rb_diags *d);

/*
 * SHA-256 (hex, arena-owned) of what a node says, leaving out the top-level key skip_key (NULL:
 * none): the same mapping with another `name:` has the same fingerprint, whatever its layout,
 * quoting style or comments.
 */
const char *yn_fingerprint(struct rb_arena *a, const struct yn *n, const char *skip_key);

/* The loader's state while walking the tree. */
struct ld {
    struct rb_arena *a;
    struct rb_diags *d;
    struct rb_runbook *rb;
    size_t near_left;        /* "did you mean" candidates still to compare (LD_NEAR_BUDGET) */
    const char *target_list; /* the targets named in "unknown target" messages, built once */
};

/*
 * Each unknown name is compared with every target, signal or sync table for "did you mean":
 * thousands of bad references to thousands of names would take minutes. Past this many
 * comparisons in one runbook the messages go on without the hint.
 */
#define LD_NEAR_BUDGET 2000000
/* true (and spent) when n more candidates fit in the budget */
bool ld_near_spend(struct ld *l, size_t candidates);

void ld_err(struct ld *l, struct rb_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ld_warn(struct ld *l, struct rb_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *yn_kind(const struct yn *n); /* "a mapping", "a list", "a string" */
bool yn_is_null(const struct yn *n);
const struct yn *yn_get(const struct yn *map, const char *key);
const struct yn *yn_key(const struct yn *map, const char *key);

/* struct rb_near, rb_near_init() and rb_near_try(): public, for the command names too */
#include "rollbackctl/near.h"
/* "; did you mean 'x'?" or "" */
const char *rb_near_hint(struct ld *l, const struct rb_near *n);

bool ld_is_map(struct ld *l, const struct yn *n, const char *what);
bool ld_is_seq(struct ld *l, const struct yn *n, const char *what);
/* Unknown keys (with "did you mean"), then missing required ones, reported at `at`. */
void ld_keys(struct ld *l, const struct yn *map, struct rb_pos at, const char *what,
             const char *const *allowed, const char *const *required);
const char *ld_str(struct ld *l, const struct yn *map, const char *key, const char *what);
int ld_int(struct ld *l, const struct yn *map, const char *key, const char *what, int def, int min,
           int max);
bool ld_bool(struct ld *l, const struct yn *map, const char *key, const char *what, bool def);
int64_t ld_dur(struct ld *l, const struct yn *map, const char *key, const char *what);
/*
 * A Kubernetes object name (RFC 1123: a DNS subdomain, or with label a DNS label as namespaces
 * are), or NULL after reporting: the name goes into API paths, so '..', '/', '?' never pass.
 */
const char *ld_k8s_name(struct ld *l, const struct yn *map, const char *key, const char *what,
                        bool label);
/*
 * The longest duration a runbook takes. Every wait ends up in a millisecond count that some
 * callee holds in an int (poll(2), PostgreSQL's statement_timeout): 2^31 ms is 24.8 days.
 */
#define RB_DURATION_MAX_MS   (24LL * 86400 * 1000)
#define RB_DURATION_MAX_TEXT "24d"
/* s as a duration of what (the key's full name), or -1 after reporting why not */
int64_t ld_dur_text(struct ld *l, struct rb_pos pos, const char *s, const char *what);
struct rb_strlist ld_strlist(struct ld *l, const struct yn *map, const char *key, const char *what,
                             bool allow_scalar);
struct rb_pos ld_pos(const struct yn *map, const char *key); /* the key's position, or the map's */

/* A target reference of one of the kinds in mask (bit 1 << kind); NULL if absent or wrong. */
const struct rb_target *ld_target_ref(struct ld *l, const struct yn *map, const char *key,
                                      const char *what, unsigned mask);
#define RB_KIND_BIT(k) (1u << (k))

/* A path from the runbook: `~` expanded, relative ones resolved against the runbook's folder. */
const char *ld_path(struct ld *l, const char *p);

/* Parse an expression scalar and check its names against known (NULL-terminated) plus signals. */
struct rb_expr *ld_expr(struct ld *l, const struct yn *n, const char *what,
                        const char *const *known, bool signals);

/* Sections walked by runbook_phases.c. */
void ld_sync(struct ld *l, const struct yn *n);
void ld_restore(struct ld *l, const struct yn *n);
void ld_verify(struct ld *l, const struct yn *n);
void ld_communicate(struct ld *l, const struct yn *n);
void ld_prepare(struct ld *l, const struct yn *n);

#endif
