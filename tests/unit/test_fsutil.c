/*
 * test_fsutil.c - rb_write_file_atomic's promises (src/core/fsutil.c): the whole content or the
 * old one, the mode exactly as asked whatever the umask, a stale temp file replaced, and a name
 * planted at the temp path (a link, in a folder others may write) never written through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "rollbackctl/err.h"
#include "rollbackctl/fsutil.h"

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/rb-fsutil.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    struct rb_err err = RB_ERR_INIT;
    char *s = rb_read_file(path, NULL, &err);

    assert_non_null(s);
    return s;
}

static void test_mode_exact_whatever_the_umask(void **state)
{
    struct fx *f = *state;
    struct rb_err err = RB_ERR_INIT;
    char path[128];
    struct stat st;
    mode_t old = umask(077);

    snprintf(path, sizeof(path), "%s/report.json", f->dir);
    assert_int_equal(rb_write_file_atomic(path, "{}", 2, 0644, &err), 0);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    free(slurp(path));
}

static void test_stale_temp_replaced(void **state)
{
    struct fx *f = *state;
    struct rb_err err = RB_ERR_INIT;
    char path[128], tmp[160];
    FILE *fp;
    char *s;

    snprintf(path, sizeof(path), "%s/metrics.prom", f->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fp = fopen(tmp, "w"); /* what a crash between open and rename leaves */
    assert_non_null(fp);
    fputs("half", fp);
    fclose(fp);
    assert_int_equal(rb_write_file_atomic(path, "x 1\n", 4, 0600, &err), 0);
    s = slurp(path);
    assert_string_equal(s, "x 1\n");
    free(s);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void test_planted_link_not_followed(void **state)
{
    struct fx *f = *state;
    struct rb_err err = RB_ERR_INIT;
    char path[128], tmp[160], victim[128];
    struct stat st;
    FILE *fp;
    char *s;

    snprintf(path, sizeof(path), "%s/approval.json", f->dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(victim, sizeof(victim), "%s/victim", f->dir);
    fp = fopen(victim, "w");
    assert_non_null(fp);
    fputs("keep me", fp);
    fclose(fp);
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(rb_write_file_atomic(path, "{\"ok\":1}", 8, 0644, &err), 0);
    s = slurp(victim);
    assert_string_equal(s, "keep me"); /* the link's target is untouched */
    free(s);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode)); /* a real file took the name, not the link */
    s = slurp(path);
    assert_string_equal(s, "{\"ok\":1}");
    free(s);
}

static void test_missing_folder_is_an_error(void **state)
{
    struct fx *f = *state;
    struct rb_err err = RB_ERR_INIT;
    char path[128];

    snprintf(path, sizeof(path), "%s/no/such/file", f->dir);
    assert_int_equal(rb_write_file_atomic(path, "x", 1, 0600, &err), -1);
    assert_non_null(strstr(err.msg, "unable to open file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mode_exact_whatever_the_umask, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temp_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planted_link_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_folder_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
