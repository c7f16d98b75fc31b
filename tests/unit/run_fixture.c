/*
 * run_fixture.c - the shared set-up of run_fixture.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rollbackctl/arena.h"
#include "run_fixture.h"

int rb_test_run_open(struct rb_test_run *f, const char *tag, const char *extra_yaml)
{
    struct rb_diags d;
    const char *yaml;

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/rb-test-%s-XXXXXX", tag);
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->devnull = fopen("/dev/null", "w");
    if (f->devnull == NULL)
        return -1;
    f->ctx.out = f->devnull;
    f->ctx.diag = f->devnull;
    f->ctx.arena = rb_arena_new();
    yaml = rb_sprintf(f->ctx.arena,
                      "version: 1\nname: fake\ncutover: 2026-11-01T00:00:00Z\nstate_dir: %s\n"
                      "targets: {}\n%s",
                      f->dir, extra_yaml != NULL ? extra_yaml : "");
    rb_diags_init(&d, f->ctx.arena, "fake.yaml");
    f->rb = rb_runbook_load_buffer(f->ctx.arena, "fake.yaml", yaml, strlen(yaml), &d);
    return f->rb != NULL ? 0 : -1;
}

int rb_test_run_close(struct rb_test_run *f)
{
    char cmd[128];
    int rc = 0;

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        rc = -1;
    if (f->ctx.arena != NULL)
        rb_arena_free(f->ctx.arena);
    if (f->devnull != NULL)
        fclose(f->devnull);
    return rc;
}
