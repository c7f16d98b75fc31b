/*
 * fuzz_signals.c - the `--signals` file (and a runbook signal's `file:`), any bytes, read by
 * rb_signals_read() as assess and execute read it: a runbook with two file signals on the same
 * file, and that file as --signals too. Either -1 with a message (not a JSON object), or every
 * signal known with a value the expressions can use (a number as the file wrote it), or unknown
 * with the reason; never a crash.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/assess.h"
#include "rollbackctl/expr.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[96];

static bool occurs(const uint8_t *data, size_t size, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, s, n) == 0)
            return true;
    return false;
}

static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rb_signal sigs[2];
    struct rb_runbook rb;
    struct rb_run run;
    struct rb_err err = RB_ERR_INIT;
    struct rb_signal_value *vals = NULL;
    size_t n = 0;
    int fd;

    if (path[0] == '\0') {
        const char *tmp = getenv("TMPDIR");

        snprintf(path, sizeof(path), "%s/rb-fuzz-signals-XXXXXX",
                 tmp != NULL && strlen(tmp) < 40 ? tmp : "/tmp");
        if ((fd = mkstemp(path)) < 0)
            abort();
        close(fd);
        atexit(remove_file);
    }
    if ((fd = open(path, O_WRONLY | O_TRUNC)) < 0 ||
        (size > 0 && write(fd, data, size) != (ssize_t)size) || close(fd) != 0)
        abort();

    memset(sigs, 0, sizeof(sigs));
    sigs[0].name = "error_rate";
    sigs[0].file = path;
    sigs[1].name = "orders";
    sigs[1].file = path;
    sigs[1].key = "orders_per_minute";
    memset(&rb, 0, sizeof(rb));
    rb.signals = sigs;
    rb.n_signals = 2;
    memset(&run, 0, sizeof(run));
    run.arena = rb_arena_new();
    run.rb = &rb;
    run.mode = RB_MODE_CHECK;
    run.read_only = true;
    run.signals_file = path;

    if (rb_signals_read(&run, &vals, &n, &err) < 0) {
        if (err.msg[0] == '\0')
            abort();
    } else {
        if (n < 2)
            abort();
        for (size_t i = 0; i < n; i++) {
            const struct rb_signal_value *v = &vals[i];
            int c;

            if (v->name == NULL || v->source == NULL)
                abort();
            if (v->unknown != NULL ? v->value.type != RB_VAL_NULL : v->value.type == RB_VAL_NULL)
                abort();
            if (v->unknown != NULL || v->value.type != RB_VAL_NUMBER)
                continue;
            /* a known number is one the expressions can compare, or the decision would fail */
            if (rb_decimal_cmp(v->value.str, "0", &c) < 0)
                abort();
            /* and its text as the file wrote it, not cJSON's double (0.1000000000000000000001
               must not become 0.10000000000000001) */
            if (!occurs(data, size, v->value.str))
                abort();
        }
    }
    rb_arena_free(run.arena);
    return 0;
}
