/*
 * near.h - "did you mean": the closest of some candidates to a word someone typed.
 *
 * The loader's suggestion for runbook keys, drivers and step types (implemented with the
 * loader, src/core/runbook_yaml.c), also used by main.c for command names.
 */
#ifndef ROLLBACKCTL_NEAR_H
#define ROLLBACKCTL_NEAR_H

/* The closest of the candidates tried to word by edit distance, or best NULL when none is close
 * enough (1 edit for words up to 3 letters, 2 up to 6, 3 beyond). */
struct rb_near {
    const char *word;
    const char *best;
    int dist;
};
void rb_near_init(struct rb_near *n, const char *word);
void rb_near_try(struct rb_near *n, const char *cand);

#endif
