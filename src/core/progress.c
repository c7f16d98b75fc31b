/*
 * progress.c - the terminal's progress line: its state, its ticker thread and its drawing.
 *
 * The ticker is a thread of its own (the only other ones: sync's streams, sync_jobs.c). It
 * opens no file descriptors (child.c's pipe + FD_CLOEXEC stays race-free), blocks every signal (SIGINT and friends reach the main
 * thread, whose waits they are meant to cut short) and touches nothing but the state below,
 * under its mutex, and stderr.
 */
#include "rollbackctl/progress.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/clock.h"

struct rb_progress {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;   /* the arena is going: the ticker ends */
    bool active; /* a step is running */
    bool shown;  /* the line is on the terminal now */
    bool held;   /* someone else is writing: do not draw */
    unsigned tick;
    int64_t began_ms;
    char label[160];
    char note[256];
    FILE *f;
    struct rb_ctx *ctx; /* whose spin points here, reset when the ticker stops */
};

void rb_human_duration(int64_t s, char *out, size_t len)
{
    if (s < 0)
        s = 0;
    if (s >= 3600)
        snprintf(out, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(out, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else
        snprintf(out, len, "%llds", (long long)s);
}

void rb_progress_format(char *out, size_t len, const char *label, const char *note,
                        int64_t elapsed_ms, unsigned tick, int width)
{
    static const char frames[] = "|/-\\";
    char el[32];
    size_t n;

    if (len == 0)
        return;
    rb_human_duration(elapsed_ms / 1000, el, sizeof(el));
    if (note != NULL && note[0] != '\0')
        snprintf(out, len, "%c %s: %s (%s)", frames[tick % 4], label, note, el);
    else
        snprintf(out, len, "%c %s (%s)", frames[tick % 4], label, el);
    /* A line wider than the terminal wraps, and "\r\033[K" would clear only its last row. */
    n = strlen(out);
    if (width > 1 && n > (size_t)width - 1)
        out[width - 1] = '\0';
}

static int term_width(FILE *f)
{
    struct winsize ws;

    if (ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Under p->mu. */
static void clear_line(struct rb_progress *p)
{
    if (!p->shown)
        return;
    fputs("\r\033[K", p->f);
    fflush(p->f);
    p->shown = false;
}

/* Under p->mu. */
static void draw(struct rb_progress *p)
{
    char line[512];
    int64_t el = rb_now_ms() - p->began_ms;

    if (!p->active || p->held || el < RB_PROGRESS_AFTER_MS)
        return;
    rb_progress_format(line, sizeof(line), p->label, p->note, el, p->tick++, term_width(p->f));
    fprintf(p->f, "\r\033[K%s", line);
    fflush(p->f);
    p->shown = true;
}

static void *ticker(void *arg)
{
    struct rb_progress *p = arg;

    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec ts;

        draw(p);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += RB_PROGRESS_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
    }
    clear_line(p);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void stop_ticker(void *arg)
{
    struct rb_progress *p = arg;

    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->ctx->spin = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

static struct rb_progress *start(struct rb_ctx *ctx)
{
    struct rb_progress *p = rb_new(ctx->arena, struct rb_progress);
    sigset_t all, old;
    int rc;

    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->f = ctx->diag;
    p->ctx = ctx;
    /* the ticker inherits a mask with every signal blocked */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&p->thread, NULL, ticker, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        /* no thread, no progress line: the run itself does not need one */
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        ctx->progress = false;
        return NULL;
    }
    rb_arena_on_free(ctx->arena, stop_ticker, p);
    ctx->spin = p;
    return p;
}

void rb_progress_begin(struct rb_ctx *ctx, const char *label)
{
    struct rb_progress *p;

    if (ctx == NULL || !ctx->progress)
        return;
    p = ctx->spin != NULL ? ctx->spin : start(ctx);
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    clear_line(p);
    snprintf(p->label, sizeof(p->label), "%s", label);
    p->note[0] = '\0';
    p->active = true;
    p->began_ms = rb_now_ms();
    pthread_mutex_unlock(&p->mu);
}

void rb_progress_note(const struct rb_ctx *ctx, const char *fmt, ...)
{
    struct rb_progress *p = ctx != NULL && ctx->progress ? ctx->spin : NULL;
    va_list ap;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(p->note, sizeof(p->note), fmt, ap);
        va_end(ap);
    } else {
        p->note[0] = '\0';
    }
    /* drawn at the next tick: a caller may note often, and a draw is a write to the terminal */
    pthread_mutex_unlock(&p->mu);
}

void rb_progress_end(const struct rb_ctx *ctx)
{
    struct rb_progress *p = ctx != NULL ? ctx->spin : NULL;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->active = false;
    clear_line(p);
    pthread_mutex_unlock(&p->mu);
}

void rb_progress_hold(const struct rb_ctx *ctx)
{
    struct rb_progress *p = ctx != NULL ? ctx->spin : NULL;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->held = true;
    clear_line(p);
    pthread_mutex_unlock(&p->mu);
}

void rb_progress_release(const struct rb_ctx *ctx)
{
    struct rb_progress *p = ctx != NULL ? ctx->spin : NULL;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->held = false;
    pthread_mutex_unlock(&p->mu);
}
