/*
 * test_progress.c - the terminal's progress line (progress.c) with a fake terminal: a context
 * whose progress flag says "stderr is a terminal" and whose stderr is a file we read back.
 * Off, it writes nothing at all; on, it draws the step's name, note and elapsed time, clears the
 * line before any other message (output.c) and when the step ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/ctx.h"
#include "rollbackctl/output.h"
#include "rollbackctl/progress.h"

static char path[64];

/* stderr is a file of its own, read back through another handle while the ticker may write */
static void fake_ctx(struct rb_ctx *ctx, bool terminal)
{
    int fd;

    memset(ctx, 0, sizeof(*ctx));
    ctx->arena = rb_arena_new();
    snprintf(path, sizeof(path), "/tmp/rb-test-progress-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    ctx->diag = fdopen(fd, "w");
    ctx->out = ctx->diag;
    ctx->progress = terminal;
    assert_non_null(ctx->diag);
}

/* Everything written to the fake stderr so far. Arena-owned. */
static const char *written(struct rb_ctx *ctx)
{
    char buf[4096];
    size_t len;
    FILE *r;

    fflush(ctx->diag);
    r = fopen(path, "r");
    assert_non_null(r);
    len = fread(buf, 1, sizeof(buf) - 1, r);
    fclose(r);
    buf[len] = '\0';
    return rb_strdup(ctx->arena, buf);
}

static void done_ctx(struct rb_ctx *ctx)
{
    FILE *f = ctx->diag;

    rb_arena_free(ctx->arena); /* stops the ticker */
    fclose(f);
    unlink(path);
}

/* What was written once it holds needle (the ticker draws a step after RB_PROGRESS_AFTER_MS). */
static const char *wait_for(struct rb_ctx *ctx, const char *needle)
{
    const char *s = written(ctx);

    for (int i = 0; i < 100 && strstr(s, needle) == NULL; i++) {
        struct timespec ts = { 0, 50 * 1000000L };

        nanosleep(&ts, NULL);
        s = written(ctx);
    }
    return s;
}

static void test_format(void **state)
{
    char line[128];
    char d[32];

    (void)state;
    rb_progress_format(line, sizeof(line), "sync/payments", "upsert into 'payroll_history'", 4200,
                       0, 0);
    assert_string_equal(line, "| sync/payments: upsert into 'payroll_history' (4s)");
    rb_progress_format(line, sizeof(line), "restore/wait", NULL, 65000, 1, 0);
    assert_string_equal(line, "/ restore/wait (1m05s)");
    rb_progress_format(line, sizeof(line), "restore/wait", "", 0, 2, 0);
    assert_string_equal(line, "- restore/wait (0s)");
    /* cut to the terminal's width less one: a wrapped line could not be cleared */
    rb_progress_format(line, sizeof(line), "restore/a-long-name", "note", 0, 3, 10);
    assert_string_equal(line, "\\ restore");
    rb_human_duration(3725, d, sizeof(d));
    assert_string_equal(d, "1h02m");
}

static void test_nothing_when_not_a_terminal(void **state)
{
    struct rb_ctx ctx;

    (void)state;
    fake_ctx(&ctx, false);
    rb_progress_begin(&ctx, "sync/payments");
    rb_progress_note(&ctx, "%d of %d rows", 1, 2);
    rb_progress_hold(&ctx);
    rb_progress_release(&ctx);
    rb_progress_end(&ctx);
    assert_null(ctx.spin); /* no ticker started */
    rb_info(&ctx, "a message");
    assert_string_equal(written(&ctx), "a message\n");
    done_ctx(&ctx);
}

static void test_drawn_and_cleared_on_a_terminal(void **state)
{
    struct rb_ctx ctx;
    const char *s, *drawn, *cleared;

    (void)state;
    fake_ctx(&ctx, true);
    rb_progress_begin(&ctx, "sync/payments");
    assert_non_null(ctx.spin);
    rb_progress_note(&ctx, "upsert of %d rows into '%s'", 900, "payroll_history");
    s = wait_for(&ctx, "(1s)");
    assert_non_null(strstr(s, "\r\033[K| sync/payments: upsert of 900 rows into "
                              "'payroll_history' (1s)"));
    /* a message clears it first, so it starts at column 0 */
    rb_warn(&ctx, "something to know");
    s = written(&ctx);
    drawn = strstr(s, "(1s)");
    cleared = strstr(drawn, "\r\033[Kwarning: something to know\n");
    assert_non_null(cleared);
    /* the ticker brings the line back below the message; the step's end clears it again */
    for (int i = 0; i < 100 && strstr(cleared, "know\n\r\033[K") == NULL; i++) {
        struct timespec ts = { 0, 50 * 1000000L };

        nanosleep(&ts, NULL);
        cleared = strstr(written(&ctx), "\r\033[Kwarning: something to know\n");
    }
    assert_non_null(strstr(cleared, "know\n\r\033[K"));
    rb_progress_end(&ctx);
    s = written(&ctx);
    assert_true(strlen(s) >= 4);
    assert_string_equal(s + strlen(s) - 4, "\r\033[K");
    done_ctx(&ctx);
}

/* Without a note the line appears once the step has run RB_PROGRESS_AFTER_MS, from the ticker. */
static void test_ticker_draws_a_long_step(void **state)
{
    struct rb_ctx ctx;
    const char *s = "";

    (void)state;
    fake_ctx(&ctx, true);
    rb_progress_begin(&ctx, "restore/wait-for-legacy");
    assert_null(strstr(written(&ctx), "restore/wait-for-legacy"));
    for (int i = 0; i < 100 && strstr(s, "restore/wait-for-legacy (1s)") == NULL; i++) {
        struct timespec ts = { 0, 50 * 1000000L };

        nanosleep(&ts, NULL);
        s = written(&ctx);
    }
    assert_non_null(strstr(s, "\r\033[K| restore/wait-for-legacy (1s)"));
    rb_progress_end(&ctx);
    done_ctx(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_nothing_when_not_a_terminal),
        cmocka_unit_test(test_drawn_and_cleared_on_a_terminal),
        cmocka_unit_test(test_ticker_draws_a_long_step),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
