/*
 * progress.h - one refreshed line on the terminal while a step runs: a spinner, the step's name,
 * what it is doing now and the time since it began.
 *
 * Only when ctx->progress is set (stderr is a terminal and not -q); otherwise every function here
 * does nothing, so a log file or a pipe never gets a byte of it. The engine begins and ends the
 * line around each action; the step itself may say what it is doing (rb_progress_note). The line
 * is redrawn by a ticker thread, so a step blocked in one long statement or child still shows its
 * elapsed time. Anything else written to the terminal goes through rb_progress_hold/release
 * (output.c does that for every message), which clears the line first: the next line starts at
 * column 0 and the progress line comes back below it.
 */
#ifndef ROLLBACKCTL_PROGRESS_H
#define ROLLBACKCTL_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/ctx.h"

/* The line appears once a step has run this long: quicker steps never flash one. */
#define RB_PROGRESS_AFTER_MS 1000
/* How often the line is redrawn. */
#define RB_PROGRESS_TICK_MS 200
/* Rates (rows/s) are shown only for durations at least this long: over a few milliseconds they
 * say nothing about the next million rows. */
#define RB_RATE_MIN_MS 100

/* A step named label ("sync/payments") begins. The first call starts the ticker, stopped when
 * ctx->arena is freed. */
void rb_progress_begin(struct rb_ctx *ctx, const char *label);
/* What the step does now ("upsert into 'payroll_history'"), drawn at the next tick. NULL: none. */
void rb_progress_note(const struct rb_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The step ended: the line is cleared and stays away until the next begin. */
void rb_progress_end(const struct rb_ctx *ctx);

/* Around any other write to the terminal: hold clears the line (and keeps the ticker from
 * drawing), release lets it come back at the next tick. Not nested. */
void rb_progress_hold(const struct rb_ctx *ctx);
void rb_progress_release(const struct rb_ctx *ctx);

/* The text of the line (without the clearing escape), cut to width columns when width > 0:
 * "| sync/payments: 120000 of 1000000 rows (4s)". tick picks the spinner's frame. */
void rb_progress_format(char *out, size_t len, const char *label, const char *note,
                        int64_t elapsed_ms, unsigned tick, int width);

/* "4s", "2m05s", "1h02m": durations for people, whole seconds. */
void rb_human_duration(int64_t seconds, char *out, size_t len);

#endif
