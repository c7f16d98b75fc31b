/*
 * err.c - filling struct rb_err, and the one table from error class to exit code.
 *
 * Messages often quote what a server said (a Kubernetes status, a PostgreSQL error, an SMTP
 * reply). They reach an operator's terminal, the journal and reports, so control characters in
 * them (an ANSI escape, a carriage return that hides the real text, a newline that forges a log
 * line) are neutralized: line breaks and tabs become one space, other controls '?'. Every
 * message and hint is one line of printable text.
 */
#include "rollbackctl/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static void neutralize_controls(char *s)
{
    char *w = s;
    bool space = false;

    for (const char *r = s; *r != '\0'; r++) {
        unsigned char c = (unsigned char)*r;

        if (c == '\n' || c == '\r' || c == '\t') {
            /* libpq and servers wrap their own text ("...refused\n\tIs the server running"):
               one space keeps it readable and on one line; none at the end */
            space = w > s;
            continue;
        }
        if (space && w[-1] != ' ')
            *w++ = ' ';
        space = false;
        *w++ = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    *w = '\0';
}

int rb_verrf(struct rb_err *err, enum rb_err_class cls, const char *fmt, va_list ap)
{
    if (err == NULL)
        return -1;
    err->cls = cls;
    err->hint[0] = '\0';
    err->kind = RB_K_OTHER;
    err->sqlstate[0] = '\0';
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    neutralize_controls(err->msg);
    return -1;
}

int rb_errf(struct rb_err *err, enum rb_err_class cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rb_verrf(err, cls, fmt, ap);
    va_end(ap);
    return -1;
}

int rb_err_hint(struct rb_err *err, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
    va_end(ap);
    neutralize_controls(err->hint);
    return -1;
}

int rb_err_wrap(struct rb_err *err, const char *fmt, ...)
{
    char old[RB_ERR_MSG_MAX];
    va_list ap;
    int n;

    if (err == NULL)
        return -1;
    memcpy(old, err->msg, sizeof(old));
    va_start(ap, fmt);
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(err->msg) - 3) {
        size_t room = sizeof(err->msg) - (size_t)n - 3;
        size_t len = strlen(old);

        if (len > room)
            len = room;
        memcpy(err->msg + n, ": ", 2);
        memcpy(err->msg + n + 2, old, len);
        err->msg[(size_t)n + 2 + len] = '\0';
    }
    neutralize_controls(err->msg);
    if (err->cls == RB_E_NONE)
        err->cls = RB_E_FAILED;
    return -1;
}

int rb_err_kind(struct rb_err *err, enum rb_err_kind kind)
{
    if (err != NULL)
        err->kind = kind;
    return -1;
}

void rb_err_clear(struct rb_err *err)
{
    err->cls = RB_E_NONE;
    err->msg[0] = '\0';
    err->hint[0] = '\0';
    err->kind = RB_K_OTHER;
    err->sqlstate[0] = '\0';
}

int rb_err_exit_code(enum rb_err_class cls)
{
    switch (cls) {
    case RB_E_NONE:
        return 0;
    case RB_E_FAILED:
    case RB_E_INTERRUPTED:
        return 1;
    case RB_E_USAGE:
        return 2;
    case RB_E_DECLINED:
        return 3;
    case RB_E_LOCKED:
        return 4;
    case RB_E_RUNBOOK:
        return 5;
    }
    return 1;
}
