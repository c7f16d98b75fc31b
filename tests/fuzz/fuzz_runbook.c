/*
 * fuzz_runbook.c - libFuzzer target for the runbook loader: any bytes in, diagnostics out, no
 * crash, no leak (everything is in the arena), positions always within the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/runbook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_diags d;
    struct rb_runbook *rb;
    const struct rb_diag **v;
    size_t i, lines = 1;

    /* an upper bound of YAML's line breaks: \n, \r, and the last byte of NEL, LS and PS */
    for (i = 0; i < size; i++)
        lines += data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 || data[i] == 0xa8 ||
                 data[i] == 0xa9;
    rb_diags_init(&d, a, "fuzz.yaml");
    rb = rb_runbook_load_buffer(a, "fuzz/runbook.yaml", (const char *)data, size, &d);
    if (rb != NULL)
        rb_runbook_check_env(rb, &d, false);
    v = rb_diags_sorted(&d);
    for (i = 0; i < d.n; i++) {
        /* every diagnostic names a place in the input (0:0 only for whole-file problems) */
        if (v[i]->pos.line < 0 || (size_t)v[i]->pos.line > lines + 1 || v[i]->msg == NULL)
            abort();
    }
    if ((rb == NULL) != (d.n_errors > 0))
        abort();
    rb_arena_free(a);
    return 0;
}
