/*
 * err.h - the error struct every fallible function fills.
 *
 * Functions return an int status (0 ok, -1 failed) and describe the failure in a struct rb_err.
 * The error's class decides the process exit code, and only main.c turns one into the other.
 * Messages are lowercase, without a trailing period, names quoted: "unable to scale 'payroll-api'".
 */
#ifndef ROLLBACKCTL_ERR_H
#define ROLLBACKCTL_ERR_H

#include <stdarg.h>

/* Error classes; each maps to one documented exit code in main.c. */
enum rb_err_class {
    RB_E_NONE = 0,
    RB_E_FAILED,      /* a phase, check or verification failed (exit 1) */
    RB_E_USAGE,       /* bad command line (exit 2) */
    RB_E_DECLINED,    /* assessment says no, approval denied or timed out (exit 3) */
    RB_E_LOCKED,      /* another run holds the state_dir lock (exit 4) */
    RB_E_RUNBOOK,     /* the runbook is invalid (exit 5) */
    RB_E_INTERRUPTED, /* stopped by SIGINT/SIGTERM after the current action (exit 1) */
};

/*
 * What went wrong, apart from how it ends the process (the class): retry decisions read the kind,
 * never the message, and never re-probe a connection to guess.
 */
enum rb_err_kind {
    RB_K_OTHER = 0,   /* nothing more specific is known */
    RB_K_CONN_LOST,   /* the connection to a server broke or could not be made */
    RB_K_TIMEOUT,     /* a deadline passed (the operation was cancelled) */
    RB_K_SQL,         /* the server refused a statement; sqlstate says why */
    RB_K_INTERRUPTED, /* SIGINT/SIGTERM/SIGHUP arrived while waiting */
    RB_K_REFUSED,     /* the server answered but said no (auth, permission, a 4xx) */
    RB_K_UNKNOWN,     /* the change may or may not have taken effect (a lost COMMIT reply) */
};

#define RB_ERR_MSG_MAX 2048
#define RB_ERR_HINT_MAX 512

struct rb_err {
    enum rb_err_class cls;
    char msg[RB_ERR_MSG_MAX];
    char hint[RB_ERR_HINT_MAX]; /* optional: one sentence telling the operator what to do */
    enum rb_err_kind kind;
    char sqlstate[6]; /* RB_K_SQL: the server's five-character SQLSTATE */
};

#define RB_ERR_INIT { RB_E_NONE, "", "", RB_K_OTHER, "" }

/* Fill err with a formatted message and return -1, so callers can write `return rb_errf(...)`. */
int rb_errf(struct rb_err *err, enum rb_err_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int rb_verrf(struct rb_err *err, enum rb_err_class cls, const char *fmt, va_list ap);

/* Set the hint of an error already filled; returns -1. */
int rb_err_hint(struct rb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefix the current message with "context: " (keeps class and hint); returns -1. */
int rb_err_wrap(struct rb_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set the kind of an error already filled (rb_errf() resets it to RB_K_OTHER); returns -1. */
int rb_err_kind(struct rb_err *err, enum rb_err_kind kind);
/* True when err is of the given kind. */
#define rb_err_is(err, k) ((err)->kind == (k))

void rb_err_clear(struct rb_err *err);

/* The documented process exit code for an error class. */
int rb_err_exit_code(enum rb_err_class cls);

#endif
