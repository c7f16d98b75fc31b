/*
 * test_kubeconfig.c - kubeconfig and in-cluster configuration of the Kubernetes adapter.
 *
 * Every case writes real files in a temporary folder and checks what rb_k8s_config_load() makes
 * of them: context selection, data fields decoded, relative paths resolved against the file,
 * $KUBECONFIG lists (first definition wins), ~/.kube/config, the in-cluster fallback, and the
 * errors an operator meets (unknown context listing the known ones, exec plugins checked as
 * kubectl checks them, booleans read as kubectl reads them, token_env before any refusal).
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

#include "rollbackctl/kubernetes.h"

static char dir[256];

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *path_of(const char *name)
{
    static char path[4][512];
    static int i;

    i = (i + 1) % 4;
    snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
    return path[i];
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "%s/rb-kubeconfig-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    unsetenv("ROLLBACKCTL_SERVICEACCOUNT_DIR");
    setenv("HOME", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    const char *names[] = { "a.yaml",    "b.yaml",       "bad.yaml",     "sa/token",
                            "sa/ca.crt", "sa/namespace", ".kube/config", NULL };
    size_t i;

    (void)state;
    for (i = 0; names[i] != NULL; i++)
        unlink(path_of(names[i]));
    rmdir(path_of("sa"));
    rmdir(path_of(".kube"));
    rmdir(dir);
    return 0;
}

/* "hello CA\n" and "client cert\n", "client key\n" in base64 */
#define CA_B64   "aGVsbG8gQ0EK"
#define CERT_B64 "Y2xpZW50IGNlcnQK"
#define KEY_B64  "Y2xpZW50IGtleQo="

static const char *full_config =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: prod\n"
    "clusters:\n"
    "- name: prod-cluster\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: " CA_B64 "\n"
    "- name: staging-cluster\n"
    "  cluster:\n"
    "    server: https://staging:443\n"
    "    certificate-authority: ca.pem\n"
    "- name: lab\n"
    "  cluster:\n"
    "    server: https://lab:6443\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: admin\n"
    "  user:\n"
    "    client-certificate-data: " CERT_B64 "\n"
    "    client-key-data: " KEY_B64 "\n"
    "- name: ci\n"
    "  user:\n"
    "    token: s3cret-token\n"
    "- name: files\n"
    "  user:\n"
    "    client-certificate: certs/client.crt\n"
    "    client-key: /abs/client.key\n"
    "- name: rotating\n"
    "  user:\n"
    "    tokenFile: tok\n"
    "- name: sso\n"
    "  user:\n"
    "    exec:\n"
    "      apiVersion: client.authentication.k8s.io/v1\n"
    "      command: aws\n"
    "      args: [eks, get-token]\n"
    "contexts:\n"
    "- name: prod\n"
    "  context: { cluster: prod-cluster, user: admin, namespace: payroll }\n"
    "- name: staging\n"
    "  context: { cluster: staging-cluster, user: files }\n"
    "- name: lab\n"
    "  context: { cluster: lab, user: ci, namespace: lab-ns }\n"
    "- name: rot\n"
    "  context: { cluster: lab, user: rotating }\n"
    "- name: sso\n"
    "  context: { cluster: prod-cluster, user: sso }\n";

static void test_current_context_with_data(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("a.yaml", full_config);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), NULL, &c, &err), 0);
    assert_string_equal(c.server, "https://10.0.0.1:6443"); /* trailing slash dropped */
    assert_string_equal(c.context, "prod");
    assert_string_equal(c.namespace_, "payroll");
    assert_int_equal(c.ca_len, 9);
    assert_memory_equal(c.ca_data, "hello CA\n", 9);
    assert_int_equal(c.cert_len, 12);
    assert_memory_equal(c.cert_data, "client cert\n", 12);
    assert_memory_equal(c.key_data, "client key\n", 11);
    assert_null(c.token);
    assert_false(c.insecure);
    rb_arena_free(a);
}

static void test_named_context_files_relative(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("a.yaml", full_config);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "staging", &c, &err), 0);
    assert_string_equal(c.server, "https://staging:443");
    assert_null(c.namespace_);
    assert_string_equal(c.ca_file, path_of("ca.pem"));
    assert_null(c.ca_data);
    assert_string_equal(c.cert_file, path_of("certs/client.crt"));
    assert_string_equal(c.key_file, "/abs/client.key");
    rb_arena_free(a);
}

static void test_token_insecure_tokenfile(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("a.yaml", full_config);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "lab", &c, &err), 0);
    assert_string_equal(c.token, "s3cret-token");
    assert_true(c.insecure);
    assert_string_equal(c.namespace_, "lab-ns");
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "rot", &c, &err), 0);
    assert_null(c.token);
    assert_string_equal(c.token_file, path_of("tok"));
    rb_arena_free(a);
}

static void test_unknown_context_lists_known(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("a.yaml", full_config);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "nope", &c, &err), -1);
    assert_non_null(strstr(err.msg, "context 'nope' not found in kubeconfig"));
    assert_non_null(strstr(err.hint, "'prod', 'staging', 'lab', 'rot', 'sso'"));
    rb_arena_free(a);
}

static void test_exec_config(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("a.yaml", full_config);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "sso", &c, &err), 0);
    assert_non_null(c.exec);
    assert_null(c.refusal);
    assert_string_equal(c.exec->api_version, "client.authentication.k8s.io/v1");
    assert_string_equal(c.exec->command, "aws"); /* a bare name: looked up in PATH */
    assert_string_equal(c.exec->argv[0], "aws");
    assert_string_equal(c.exec->argv[1], "eks");
    assert_string_equal(c.exec->argv[2], "get-token");
    assert_null(c.exec->argv[3]);
    assert_null(c.exec->env[0]);
    assert_false(c.exec->provide_cluster_info);
    /* a command with a '/' is relative to the kubeconfig's folder, as kubectl resolves it */
    write_file("b.yaml",
               "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
               "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
               "users:\n- name: u\n  user:\n    exec:\n"
               "      apiVersion: client.authentication.k8s.io/v1beta1\n"
               "      command: bin/plugin\n"
               "      env: [{name: AWS_PROFILE, value: prod}, {name: EMPTY}]\n"
               "      installHint: 'apt install plugin'\n"
               "      provideClusterInfo: True\n"
               "      interactiveMode: IfAvailable\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("b.yaml"), NULL, &c, &err), 0);
    assert_string_equal(c.exec->command, path_of("bin/plugin"));
    assert_string_equal(c.exec->argv[0], path_of("bin/plugin"));
    assert_null(c.exec->argv[1]);
    assert_string_equal(c.exec->env[0], "AWS_PROFILE=prod");
    assert_string_equal(c.exec->env[1], "EMPTY=");
    assert_null(c.exec->env[2]);
    assert_string_equal(c.exec->install_hint, "apt install plugin");
    assert_true(c.exec->provide_cluster_info);
    rb_arena_free(a);
}

static void load_exec_error(struct rb_arena *a, const char *exec_yaml, const char *want)
{
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;
    char text[2048];

    snprintf(text, sizeof(text),
             "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
             "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
             "users:\n- name: u\n  user:\n    exec:\n%s",
             exec_yaml);
    write_file("b.yaml", text);
    assert_int_equal(rb_k8s_config_load(a, path_of("b.yaml"), NULL, &c, &err), -1);
    if (strstr(err.msg, want) == NULL)
        fail_msg("'%s' not in '%s'", want, err.msg);
}

static void test_exec_config_refused(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    load_exec_error(a, "      apiVersion: client.authentication.k8s.io/v1\n",
                    "user 'u' in kubeconfig");
    load_exec_error(a, "      apiVersion: client.authentication.k8s.io/v1\n",
                    "exec has no command");
    load_exec_error(a,
                    "      apiVersion: client.authentication.k8s.io/v1alpha1\n      command: p\n",
                    "exec apiVersion 'client.authentication.k8s.io/v1alpha1' is not "
                    "client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1");
    load_exec_error(a, "      command: p\n", "exec apiVersion (none) is not");
    load_exec_error(a,
                    "      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"
                    "      interactiveMode: Always\n",
                    "exec plugin 'p' needs a terminal (interactiveMode: Always)");
    load_exec_error(a,
                    "      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"
                    "      interactiveMode: Sometimes\n",
                    "exec interactiveMode 'Sometimes' is not Never, IfAvailable or Always");
    load_exec_error(a,
                    "      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"
                    "      env: [{value: x}]\n",
                    "exec env[0] has no name");
    load_exec_error(a,
                    "      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"
                    "      args: --region\n",
                    "exec args is not a list");
    load_exec_error(a,
                    "      apiVersion: client.authentication.k8s.io/v1\n      command: p\n"
                    "      provideClusterInfo: 'yes'\n",
                    "provideClusterInfo is the string \"yes\", not a boolean");
    rb_arena_free(a);
}

/* insecure-skip-tls-verify read from `value` (YAML text), as kubectl reads it (checked by hand) */
static int insecure_of(struct rb_arena *a, const char *value, bool *out, struct rb_err *err)
{
    struct rb_k8s_config c;
    char text[1024];
    int rc;

    snprintf(text, sizeof(text),
             "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
             "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
             "    insecure-skip-tls-verify: %s\n",
             value);
    write_file("b.yaml", text);
    rc = rb_k8s_config_load(a, path_of("b.yaml"), NULL, &c, err);
    *out = c.insecure;
    return rc;
}

static void test_yaml_booleans(void **state)
{
    static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
                                       "y",    "Y",    "on",   "On",  "ON",  NULL };
    static const char *const no[] = { "false", "False", "FALSE", "no", "No",   "NO", "n",
                                      "N",     "off",   "Off",   "~",  "null", NULL };
    static const char *const bad[] = { "'true'", "\"True\"", "1",      "0",
                                       "maybe",  "tRuE",     "[true]", NULL };
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    bool v;

    (void)state;
    for (const char *const *p = yes; *p != NULL; p++) {
        if (insecure_of(a, *p, &v, &err) != 0 || !v)
            fail_msg("'%s' should read as true (%s)", *p, err.msg);
    }
    for (const char *const *p = no; *p != NULL; p++) {
        if (insecure_of(a, *p, &v, &err) != 0 || v)
            fail_msg("'%s' should read as false (%s)", *p, err.msg);
    }
    for (const char *const *p = bad; *p != NULL; p++) {
        if (insecure_of(a, *p, &v, &err) != -1)
            fail_msg("'%s' should be refused", *p);
        assert_non_null(strstr(err.msg, "cluster 'c': insecure-skip-tls-verify is "));
        assert_non_null(strstr(err.msg, "not a boolean"));
    }
    assert_int_equal(insecure_of(a, "'true'", &v, &err), -1);
    assert_string_equal(
        err.msg, "cluster 'c': insecure-skip-tls-verify is the string \"true\", not a boolean");
    assert_int_equal(insecure_of(a, "maybe", &v, &err), -1);
    assert_string_equal(err.msg, "cluster 'c': insecure-skip-tls-verify is 'maybe', not a boolean");
    rb_arena_free(a);
}

static void test_server_name_proxy(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("b.yaml", "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                         "clusters:\n- name: c\n  cluster:\n    server: https://10.1.2.3:6443\n"
                         "    tls-server-name: api.internal\n"
                         "    proxy-url: socks5://127.0.0.1:1080\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("b.yaml"), NULL, &c, &err), 0);
    assert_string_equal(c.tls_server_name, "api.internal");
    assert_string_equal(c.proxy_url, "socks5://127.0.0.1:1080");
    write_file("b.yaml", "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                         "clusters:\n- name: c\n  cluster:\n    server: https://10.1.2.3:6443\n"
                         "    proxy-url: ftp://proxy:21\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("b.yaml"), NULL, &c, &err), -1);
    assert_non_null(
        strstr(err.msg, "proxy-url 'ftp://proxy:21' is not an http, https or socks5 URL"));
    rb_arena_free(a);
}

/* token_env (rb_k8s_config_use_token) comes before any refusal of the kubeconfig's user */
static void test_token_wins_over_refusal(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_k8s_opts o;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    memset(&o, 0, sizeof(o));
    o.read_only = true;
    write_file("b.yaml",
               "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
               "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
               "users:\n- name: u\n  user:\n    auth-provider: {name: oidc}\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("b.yaml"), NULL, &c, &err), 0);
    assert_non_null(c.refusal);
    assert_null(rb_k8s_new(a, &c, &o, &err));
    assert_non_null(strstr(err.msg, "authenticates with an auth-provider plugin, which "
                                    "rollbackctl does not support"));
    assert_non_null(strstr(err.hint, "token_env"));
    rb_k8s_config_use_token(a, &c, "from-env");
    assert_null(c.refusal);
    assert_string_equal(c.token, "from-env");
    assert_non_null(rb_k8s_new(a, &c, &o, &err));
    /* and over an exec plugin, a token file and a client certificate */
    write_file("a.yaml", full_config);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "sso", &c, &err), 0);
    rb_k8s_config_use_token(a, &c, "from-env");
    assert_null(c.exec);
    assert_int_equal(rb_k8s_config_load(a, path_of("a.yaml"), "prod", &c, &err), 0);
    rb_k8s_config_use_token(a, &c, "from-env");
    assert_null(c.cert_data);
    assert_null(c.key_data);
    assert_string_equal(c.token, "from-env");
    rb_arena_free(a);
}

static void test_bad_files(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    write_file("bad.yaml", "clusters: [\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("bad.yaml"), NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "is not valid YAML"));
    assert_int_equal(rb_k8s_config_load(a, path_of("missing.yaml"), NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "unable to read kubeconfig"));
    write_file("bad.yaml",
               "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
               "clusters:\n- name: c\n  cluster: {certificate-authority-data: " CA_B64 "}\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("bad.yaml"), NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "cluster 'c' in kubeconfig"));
    assert_non_null(strstr(err.msg, "has no server"));
    write_file("bad.yaml",
               "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
               "clusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority-data: "
               "'%%%'}\n"
               "users:\n- name: u\n  user: {token: t}\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("bad.yaml"), NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "certificate-authority-data is not valid base64"));
    /* the URL-safe alphabet and whitespace are refused, as kubectl refuses them */
    write_file("bad.yaml",
               "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
               "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
               "users:\n- name: u\n  user: {client-certificate-data: 'dXNlci13aXRoPz4-fn4=', "
               "client-key-data: 'dXNlci13aXRoPz4+fn4='}\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("bad.yaml"), NULL, &c, &err), -1);
    assert_string_equal(err.msg, "user 'u': client-certificate-data is not valid base64 (illegal "
                                 "data at input byte 15)");
    write_file("bad.yaml", "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
                           "clusters:\n- name: c\n  cluster:\n    server: https://x\n"
                           "    certificate-authority-data: aGVs\n      bG8gQ0EK\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("bad.yaml"), NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "not valid base64 (illegal data at input byte 4)"));
    write_file("bad.yaml", "contexts:\n- name: x\n  context: {cluster: c}\n");
    assert_int_equal(rb_k8s_config_load(a, path_of("bad.yaml"), NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "has no current-context"));
    rb_arena_free(a);
}

static void test_kubeconfig_env_list_first_wins(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;
    char env[1200];

    (void)state;
    /* b.yaml comes first: its current-context and its 'lab' cluster win; 'admin' comes from a.yaml */
    write_file("a.yaml", full_config);
    write_file("b.yaml",
               "current-context: mine\n"
               "clusters:\n- name: lab\n  cluster: {server: 'https://first:1'}\n"
               "contexts:\n- name: mine\n  context: {cluster: lab, user: admin, namespace: ns1}\n");
    snprintf(env, sizeof(env), "%s:%s:%s", path_of("b.yaml"), path_of("not-there.yaml"),
             path_of("a.yaml"));
    setenv("KUBECONFIG", env, 1);
    assert_int_equal(rb_k8s_config_load(a, NULL, NULL, &c, &err), 0);
    assert_string_equal(c.context, "mine");
    assert_string_equal(c.server, "https://first:1");
    assert_string_equal(c.namespace_, "ns1");
    assert_int_equal(c.cert_len, 12);
    unsetenv("KUBECONFIG");
    rb_arena_free(a);
}

static void test_home_kube_config(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    mkdir(path_of(".kube"), 0700);
    write_file(".kube/config", full_config);
    assert_int_equal(rb_k8s_config_load(a, NULL, "lab", &c, &err), 0);
    assert_string_equal(c.server, "https://lab:6443");
    assert_string_equal(c.source, path_of(".kube/config"));
    unlink(path_of(".kube/config"));
    /* no kubeconfig anywhere and not in a cluster */
    assert_int_equal(rb_k8s_config_load(a, NULL, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "no kubeconfig found"));
    rb_arena_free(a);
}

static void test_incluster(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_err err = RB_ERR_INIT;

    (void)state;
    mkdir(path_of("sa"), 0700);
    write_file("sa/token", "tok-1\n");
    write_file("sa/ca.crt", "pem");
    write_file("sa/namespace", "payroll\n");
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    setenv("ROLLBACKCTL_SERVICEACCOUNT_DIR", path_of("sa"), 1);
    /* no kubeconfig: falls back to the service account */
    assert_int_equal(rb_k8s_config_load(a, NULL, NULL, &c, &err), 0);
    assert_string_equal(c.server, "https://127.0.0.1:6443");
    assert_string_equal(c.token_file, path_of("sa/token"));
    assert_null(c.token);
    assert_string_equal(c.ca_file, path_of("sa/ca.crt"));
    assert_string_equal(c.namespace_, "payroll");
    assert_string_equal(c.context, "in-cluster");
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(rb_k8s_config_incluster(a, NULL, &c, &err), 0);
    assert_string_equal(c.server, "https://[fd00::1]:6443");
    unlink(path_of("sa/token"));
    assert_int_equal(rb_k8s_config_incluster(a, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "unable to read the service account token"));
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_int_equal(rb_k8s_config_incluster(a, NULL, &c, &err), -1);
    assert_non_null(strstr(err.msg, "not running in a cluster"));
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("ROLLBACKCTL_SERVICEACCOUNT_DIR");
    rb_arena_free(a);
}

static void test_paths(void **state)
{
    struct rb_arena *a = rb_arena_new();

    (void)state;
    assert_string_equal(rb_k8s_path(a, "payroll", "deployments", "payroll-api", "scale"),
                        "/apis/apps/v1/namespaces/payroll/deployments/payroll-api/scale");
    assert_string_equal(rb_k8s_path(a, "payroll", "configmaps", NULL, NULL),
                        "/api/v1/namespaces/payroll/configmaps");
    assert_string_equal(rb_k8s_path(a, "p", "cronjobs", "a b", NULL),
                        "/apis/batch/v1/namespaces/p/cronjobs/a%20b");
    assert_string_equal(rb_k8s_group("jobs"), "batch");
    assert_string_equal(rb_k8s_group("services"), "");
    assert_null(rb_k8s_group("widgets"));
    rb_arena_free(a);
}

/* A read-only handle refuses writes before anything goes on the wire. */
static void test_read_only_refuses_writes(void **state)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_k8s_config c;
    struct rb_k8s_opts o;
    struct rb_err err = RB_ERR_INIT;
    struct rb_k8s *k;
    int req;

    (void)state;
    memset(&c, 0, sizeof(c));
    memset(&o, 0, sizeof(o));
    c.server = "https://127.0.0.1:1";
    o.read_only = true;
    o.attempts = 1;
    o.connect_timeout_ms = 1000;
    o.label = "cluster";
    k = rb_k8s_new(a, &c, &o, &err);
    assert_non_null(k);
    assert_int_equal(rb_k8s_scale_set(k, "ns", "deployments", "x", 0, &err), -1);
    rb_k8s_stats(k, &req, NULL);
    assert_int_equal(req, 1); /* the GET of the scale was tried (port 1: refused) */
    assert_non_null(strstr(err.msg, "unable to reach 'cluster'"));
    assert_int_equal(rb_k8s_request(k, "PATCH", "/apis/apps/v1/namespaces/ns/deployments/x/scale",
                                    NULL, NULL, NULL, NULL, &err),
                     -1);
    assert_non_null(strstr(err.msg, "refusing PATCH"));
    assert_non_null(strstr(err.msg, "read-only"));
    rb_k8s_stats(k, &req, NULL);
    assert_int_equal(req, 1); /* the PATCH never went out */
    rb_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_current_context_with_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_context_files_relative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_insecure_tokenfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_context_lists_known, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_config_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_yaml_booleans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_name_proxy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_wins_over_refusal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_list_first_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_home_kube_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incluster, setup, teardown),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_read_only_refuses_writes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
