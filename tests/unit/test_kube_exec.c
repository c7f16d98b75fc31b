/*
 * test_kube_exec.c - exec credential plugins (kubernetes_exec.c) run for real: shell scripts
 * written here act as plugins, and each case checks what the plugin was given (argv, env,
 * KUBERNETES_EXEC_INFO, the secrets it must not see), what came back (token, client certificate),
 * how often it ran (the cache, expiry, a refused credential), and the errors an operator meets
 * (not installed with its installHint, a failing plugin with its stderr, garbage, a hang). No
 * server is needed: rb_k8s_exec_credential() is what each request calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/adapters/kubernetes_priv.h"

static char dir[256];

static const char *path_of(const char *name)
{
    static char path[4][512];
    static int i;

    i = (i + 1) % 4;
    snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
    return path[i];
}

static void write_script(const char *name, const char *body)
{
    FILE *f = fopen(path_of(name), "w");

    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    assert_int_equal(chmod(path_of(name), 0755), 0);
}

static char *slurp(const char *name)
{
    static char buf[8192];
    FILE *f = fopen(path_of(name), "r");
    size_t n;

    if (f == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int runs(void)
{
    const char *s = slurp("runs");

    return s != NULL ? (int)strlen(s) : 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/rb-kexec-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    setenv("RB_TEST_PLUGIN_DIR", dir, 1);
    rb_k8s_exec_cache_clear();
    return 0;
}

static int teardown(void **state)
{
    const char *names[] = { "plugin", "runs", "info", "env", "other", NULL };

    (void)state;
    rb_k8s_exec_cache_clear();
    for (size_t i = 0; names[i] != NULL; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
    return 0;
}

/* A client whose user runs `plugin` (argv: the plugin, then args). */
static struct rb_k8s *client(struct rb_arena *a, const char *api_version, const char *const *args,
                             const char *const *env, const char *hint, int64_t timeout_ms)
{
    static const char *const drop[] = { "RB_TEST_SECRET", NULL };
    struct rb_k8s_exec *x = rb_new(a, struct rb_k8s_exec);
    struct rb_k8s_config c;
    struct rb_k8s_opts o;
    struct rb_err err = RB_ERR_INIT;
    const char **argv = rb_new_array(a, const char *, 8);
    size_t n = 0;
    struct rb_k8s *k;

    x->user = "sso";
    x->api_version = api_version;
    x->command = rb_strdup(a, path_of("plugin"));
    argv[n++] = x->command;
    for (; args != NULL && *args != NULL; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    x->argv = argv;
    x->env = env;
    x->install_hint = hint;
    x->provide_cluster_info = true;
    memset(&c, 0, sizeof(c));
    c.server = "https://10.9.8.7:6443";
    c.ca_data = "CA PEM\n";
    c.ca_len = 7;
    c.exec = x;
    memset(&o, 0, sizeof(o));
    o.read_only = true;
    o.timeout_ms = timeout_ms;
    o.env_drop = drop;
    o.label = "cluster";
    k = rb_k8s_new(a, &c, &o, &err);
    assert_non_null(k);
    return k;
}

#define COUNT_RUN "printf x >>\"$RB_TEST_PLUGIN_DIR/runs\"\n"

static void test_token_env_info_and_cache(void **state)
{
    static const char *const args[] = { "eks", "get-token", "--cluster-name", "a b", NULL };
    static const char *const env[] = { "AWS_PROFILE=prod", NULL };
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    const struct rb_k8s_cred *c;
    struct rb_k8s *k, *k2;
    unsigned long id;
    char *info;

    (void)state;
    setenv("RB_TEST_SECRET", "must-not-leak", 1);
    write_script("plugin", COUNT_RUN
                 "printf '%s|' \"$@\" >\"$RB_TEST_PLUGIN_DIR/env\"\n"
                 "echo \"$AWS_PROFILE|${RB_TEST_SECRET:-unset}\" >>\"$RB_TEST_PLUGIN_DIR/env\"\n"
                 "printf '%s' \"$KUBERNETES_EXEC_INFO\" >\"$RB_TEST_PLUGIN_DIR/info\"\n"
                 "echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
                 "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"tok-1\","
                 "\"expirationTimestamp\":\"2999-01-01T00:00:00Z\"}}'\n");
    k = client(a, "client.authentication.k8s.io/v1", args, env, NULL, 0);
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), 0);
    assert_string_equal(c->token, "tok-1");
    assert_null(c->cert);
    /* argv as given (no shell: "a b" one word), env added, the runbook's secret dropped */
    assert_string_equal(slurp("env"), "eks|get-token|--cluster-name|a b|prod|unset\n");
    info = slurp("info");
    assert_string_equal(info, "{\"kind\":\"ExecCredential\",\"apiVersion\":"
                              "\"client.authentication.k8s.io/v1\",\"spec\":{\"cluster\":{"
                              "\"server\":\"https://10.9.8.7:6443\",\"certificate-authority-data\":"
                              "\"Q0EgUEVNCg==\"},\"interactive\":false}}");
    assert_int_equal(runs(), 1);
    /* unexpired: the cache answers, for this client and for another of the same plugin */
    id = c->id;
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), 0);
    k2 = client(a, "client.authentication.k8s.io/v1", args, env, NULL, 0);
    assert_int_equal(rb_k8s_exec_credential(k2, 0, &c, &err), 0);
    assert_int_equal(c->id, id);
    assert_int_equal(runs(), 1);
    assert_int_equal(rb_k8s_exec_runs(k) + rb_k8s_exec_runs(k2), 1);
    /* refused by the server (stale): run again, once; the fresh one is then shared */
    assert_int_equal(rb_k8s_exec_credential(k, id, &c, &err), 0);
    assert_true(c->id != id);
    assert_int_equal(runs(), 2);
    assert_int_equal(rb_k8s_exec_credential(k2, 0, &c, &err), 0);
    assert_int_equal(runs(), 2);
    unsetenv("RB_TEST_SECRET");
    rb_arena_free(a);
}

static void test_expired_and_cert(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    const struct rb_k8s_cred *c;
    struct rb_k8s *k;

    (void)state;
    /* v1beta1, a client certificate, an expiry already past (with a fraction and an offset) */
    write_script("plugin",
                 COUNT_RUN "echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
                           "\"client.authentication.k8s.io/v1beta1\",\"status\":{"
                           "\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nAA\\n\","
                           "\"clientKeyData\":\"-----BEGIN PRIVATE KEY-----\\nBB\\n\","
                           "\"expirationTimestamp\":\"2020-01-01T01:00:00.123456+01:00\"}}'\n");
    k = client(a, "client.authentication.k8s.io/v1beta1", NULL, NULL, NULL, 0);
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), 0);
    assert_null(c->token);
    assert_string_equal(c->cert, "-----BEGIN CERTIFICATE-----\nAA\n");
    assert_string_equal(c->key, "-----BEGIN PRIVATE KEY-----\nBB\n");
    assert_int_equal((long)c->expires, 1577836800L);
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), 0);
    assert_int_equal(runs(), 2); /* expired: every request runs the plugin, as kubectl does */
    rb_arena_free(a);
}

static void expect_error(const char *script, const char *want, const char *hint,
                         const char *must_not)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    const struct rb_k8s_cred *c;
    struct rb_k8s *k;

    write_script("plugin", script);
    k = client(a, "client.authentication.k8s.io/v1", NULL, NULL, "brew install sso-helper", 400);
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), -1);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s' not in '%s'", want, err.msg);
    if (strstr(err.msg, "exec credential plugin '") == NULL ||
        strstr(err.msg, "of user 'sso'") == NULL)
        fail_msg("the plugin is not named in '%s'", err.msg);
    if (hint != NULL && strcmp(err.hint, hint) != 0)
        fail_msg("hint '%s', not '%s'", err.hint, hint);
    if (must_not != NULL &&
        (strstr(err.msg, must_not) != NULL || strstr(err.hint, must_not) != NULL))
        fail_msg("'%s' shown in '%s'", must_not, err.msg);
    rb_arena_free(a);
}

static void test_failures(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    const struct rb_k8s_cred *c;
    struct rb_k8s *k;

    (void)state;
    expect_error("echo 'reading ~/.aws/config' >&2\necho 'error: no credentials for prod' >&2\n"
                 "exit 3\n",
                 "exited with status 3: error: no credentials for prod", NULL, NULL);
    expect_error("echo 'token=s3cr3t-value'\n",
                 "printed no ExecCredential: its output is not a "
                 "JSON object",
                 NULL, "s3cr3t");
    expect_error(":\n", "not a JSON object (it printed nothing)", NULL, NULL);
    expect_error("echo '{\"kind\":\"Status\",\"apiVersion\":\"v1\"}'\n",
                 "printed no ExecCredential: kind is 'Status'", NULL, NULL);
    expect_error("echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
                 "\"client.authentication.k8s.io/v1beta1\",\"status\":{\"token\":\"s3cr3t\"}}'\n",
                 "answered with apiVersion 'client.authentication.k8s.io/v1beta1', the "
                 "kubeconfig asks for 'client.authentication.k8s.io/v1'",
                 NULL, "s3cr3t");
    expect_error("echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
                 "\"client.authentication.k8s.io/v1\"}'\n",
                 "printed an ExecCredential without a status", NULL, NULL);
    expect_error("echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
                 "\"client.authentication.k8s.io/v1\",\"status\":{}}'\n",
                 "returned neither a token nor a client certificate and key", NULL, NULL);
    expect_error(
        "echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
        "\"client.authentication.k8s.io/v1\",\"status\":{\"clientCertificateData\":\"x\"}}'\n",
        "returned a client certificate without its key", NULL, NULL);
    expect_error("echo '{\"kind\":\"ExecCredential\",\"apiVersion\":"
                 "\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"s3cr3t\","
                 "\"expirationTimestamp\":\"tomorrow\"}}'\n",
                 "status.expirationTimestamp is not an RFC 3339 time", NULL, "s3cr3t");
    /* a hang meets the deadline (400 ms here; the target's timeout in a run) */
    expect_error("exec sleep 30\n", "timed out after", NULL, NULL);
    /* more output than an ExecCredential can be is cut, not buffered */
    expect_error("head -c 3000000 /dev/zero\n", "printed more than 1024 KiB", NULL, NULL);

    /* not installed: named, with the kubeconfig's installHint */
    k = client(a, "client.authentication.k8s.io/v1", NULL, NULL, "brew install sso-helper", 0);
    unlink(path_of("plugin"));
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), -1);
    assert_non_null(strstr(err.msg, "is not an executable file"));
    assert_string_equal(err.hint, "brew install sso-helper");
    ((struct rb_k8s_exec *)k->cfg.exec)->command = "rb-no-such-plugin";
    ((const char **)k->cfg.exec->argv)[0] = "rb-no-such-plugin";
    assert_int_equal(rb_k8s_exec_credential(k, 0, &c, &err), -1);
    assert_string_equal(err.msg, "exec credential plugin 'rb-no-such-plugin' of user 'sso': "
                                 "'rb-no-such-plugin' is not found in PATH");
    assert_string_equal(err.hint, "brew install sso-helper");
    assert_int_equal(runs(), 0);
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_env_info_and_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_and_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
