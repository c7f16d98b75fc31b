/*
 * kubeconfig.c - where a Kubernetes cluster is and how to authenticate: kubeconfig or in-cluster.
 *
 * A kubeconfig is YAML (clusters, users, contexts, current-context), parsed here with libyaml's
 * document API. $KUBECONFIG may list several files; like kubectl, the first file that defines a
 * name wins. File names inside a kubeconfig are relative to the file's folder, and so is an exec
 * plugin's command when it holds a '/' (a bare name is looked up in PATH), as kubectl resolves
 * them. Values are read as kubectl reads them: booleans are YAML 1.1's plain true/false, yes/no,
 * on/off, y/n in any of their spellings (sigs.k8s.io/yaml), a quoted "true" is a string and
 * refused; base64 is strict (base64.h). Exec credential plugins are described here and run by
 * kubernetes_exec.c; auth-provider plugins and basic authentication are recorded as a refusal,
 * which rb_k8s_new() reports unless the runbook's token_env replaced the user's credentials.
 */
#include "rollbackctl/kubernetes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "rollbackctl/base64.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/near.h"
#include "rollbackctl/runbook.h"

struct kfile {
    const char *path;
    const char *dir;
    yaml_document_t doc;
    bool loaded;
};

static void kfile_release(void *p)
{
    struct kfile *f = p;

    if (f->loaded)
        yaml_document_delete(&f->doc);
    f->loaded = false;
}

static int kfile_load(struct rb_arena *a, struct kfile *f, const char *path, struct rb_err *err)
{
    FILE *fp = fopen(path, "rb");
    yaml_parser_t parser;
    const char *slash;
    int ok;

    if (fp == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to read kubeconfig '%s': %s", path,
                       strerror(errno));
    if (!yaml_parser_initialize(&parser)) {
        fclose(fp);
        return rb_errf(err, RB_E_FAILED, "unable to read kubeconfig '%s': out of memory", path);
    }
    yaml_parser_set_input_file(&parser, fp);
    ok = yaml_parser_load(&parser, &f->doc);
    if (!ok) {
        rb_errf(err, RB_E_FAILED, "kubeconfig '%s' is not valid YAML: %s at line %zu", path,
                parser.problem != NULL ? parser.problem : "parse error",
                parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        fclose(fp);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(fp);
    f->loaded = true;
    rb_arena_on_free(a, kfile_release, f);
    f->path = rb_strdup(a, path);
    slash = strrchr(path, '/');
    f->dir = slash != NULL ? rb_strndup(a, path, (size_t)(slash - path) + 1) : "";
    if (yaml_document_get_root_node(&f->doc) != NULL &&
        yaml_document_get_root_node(&f->doc)->type != YAML_MAPPING_NODE)
        return rb_errf(err, RB_E_FAILED, "kubeconfig '%s' is not a mapping", path);
    return 0;
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    yaml_node_pair_t *p;

    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);

        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *scalar(yaml_node_t *n)
{
    if (n == NULL || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

static const char *map_str(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    const char *s = scalar(map_get(d, map, key));

    return s != NULL && s[0] != '\0' ? s : NULL;
}

/* The `sub` mapping of the entry named `name` in the list `list` (clusters/users/contexts). */
static yaml_node_t *find_named(struct kfile *files, size_t n, const char *list, const char *sub,
                               const char *name, struct kfile **in)
{
    size_t i;

    for (i = 0; i < n; i++) {
        yaml_document_t *d = &files[i].doc;
        yaml_node_t *seq = map_get(d, yaml_document_get_root_node(d), list);
        yaml_node_item_t *it;

        if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
            continue;
        for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(d, *it);
            const char *nm = map_str(d, e, "name");

            if (nm != NULL && strcmp(nm, name) == 0) {
                *in = &files[i];
                return map_get(d, e, sub);
            }
        }
    }
    return NULL;
}

static const char *names_of(struct rb_arena *a, struct kfile *files, size_t n, const char *list)
{
    struct rb_buf b = RB_BUF_INIT;
    const char *out;
    size_t i;

    for (i = 0; i < n; i++) {
        yaml_document_t *d = &files[i].doc;
        yaml_node_t *seq = map_get(d, yaml_document_get_root_node(d), list);
        yaml_node_item_t *it;

        if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
            continue;
        for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
            const char *nm = map_str(d, yaml_document_get_node(d, *it), "name");

            if (nm != NULL)
                rb_buf_addf(&b, "%s'%s'", b.len > 0 ? ", " : "", nm);
        }
    }
    out = rb_strdup(a, b.len > 0 ? b.data : "none");
    rb_buf_release(&b);
    return out;
}

static const char *resolve(struct rb_arena *a, const struct kfile *f, const char *p)
{
    if (p == NULL)
        return NULL;
    if (p[0] == '/' || p[0] == '~' || f->dir[0] == '\0')
        return rb_path_expand(a, p);
    return rb_sprintf(a, "%s%s", f->dir, p);
}

/*
 * A boolean as kubectl reads it: YAML 1.1 resolution of a plain scalar (the table of go-yaml v2
 * that sigs.k8s.io/yaml uses), null as false; anything else (a quoted "true", 1, maybe) is refused
 * as kubectl refuses it ("cannot unmarshal string into ... of type bool").
 */
static int bool_field(yaml_document_t *d, yaml_node_t *m, const char *key, bool *out,
                      const char *what, const char *name, struct rb_err *err)
{
    static const char *const yes[] = { "y",    "Y",    "yes", "Yes", "YES", "true",
                                       "True", "TRUE", "on",  "On",  "ON",  NULL };
    static const char *const no[] = { "n",     "N",     "no",   "No",   "NO",  "false",
                                      "False", "FALSE", "off",  "Off",  "OFF", "",
                                      "~",     "null",  "Null", "NULL", NULL };
    yaml_node_t *n = map_get(d, m, key);
    const char *v;

    *out = false;
    if (n == NULL)
        return 0;
    v = scalar(n);
    if (v != NULL && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (const char *const *y = yes; *y != NULL; y++)
            if (strcmp(v, *y) == 0) {
                *out = true;
                return 0;
            }
        for (const char *const *f = no; *f != NULL; f++)
            if (strcmp(v, *f) == 0)
                return 0;
    }
    rb_errf(err, RB_E_FAILED, "%s '%s': %s is %s%s%s, not a boolean", what, name, key,
            v == NULL                                         ? "not a scalar"
            : n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "'"
                                                              : "the string \"",
            v != NULL ? v : "",
            v == NULL                                         ? ""
            : n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? "'"
                                                              : "\"");
    return rb_err_hint(err, "write true or false, unquoted (kubectl reads the same values)");
}

static int data_field(struct rb_arena *a, yaml_document_t *d, yaml_node_t *m, const char *key,
                      const char **out, size_t *len, const char *what, const char *name,
                      struct rb_err *err)
{
    const char *s = map_str(d, m, key);
    unsigned char *dec;
    size_t bad;

    if (s == NULL)
        return 0;
    /* As strict as kubectl: standard alphabet, padded, no whitespace (a folded YAML line). */
    if (rb_base64_decode(a, s, strlen(s), &dec, len, &bad) < 0)
        return rb_errf(err, RB_E_FAILED,
                       "%s '%s': %s is not valid base64 (illegal data at input byte %zu)", what,
                       name, key, bad);
    if (*len == 0)
        return rb_errf(err, RB_E_FAILED, "%s '%s': %s is empty", what, name, key);
    *out = (const char *)dec;
    return 0;
}

/*
 * users[].user.exec, checked as kubectl checks it: a command and an apiVersion it speaks (v1 or
 * v1beta1; v1alpha1 is gone from kubectl too), env entries with names, an interactiveMode that
 * does not need a terminal (rollbackctl never gives a plugin one).
 */
static int exec_load(struct rb_arena *a, struct kfile *f, yaml_node_t *x, const char *user,
                     const char *source, const struct rb_k8s_exec **out, struct rb_err *err)
{
    yaml_document_t *d = &f->doc;
    struct rb_k8s_exec *e = rb_new(a, struct rb_k8s_exec);
    yaml_node_t *args = map_get(d, x, "args"), *env = map_get(d, x, "env");
    const char *cmd = map_str(d, x, "command"), *mode = map_str(d, x, "interactiveMode");
    const char **argv, **envv;
    size_t n = 0;

    e->user = rb_strdup(a, user);
    if (x->type != YAML_MAPPING_NODE)
        return rb_errf(err, RB_E_FAILED, "user '%s' in kubeconfig %s: exec is not a mapping", user,
                       source);
    if (cmd == NULL)
        return rb_errf(err, RB_E_FAILED,
                       "user '%s' in kubeconfig %s: exec has no command (kubectl needs one too)",
                       user, source);
    e->api_version = rb_strdup(a, map_str(d, x, "apiVersion"));
    if (e->api_version == NULL ||
        (strcmp(e->api_version, "client.authentication.k8s.io/v1") != 0 &&
         strcmp(e->api_version, "client.authentication.k8s.io/v1beta1") != 0)) {
        rb_errf(err, RB_E_FAILED, "user '%s' in kubeconfig %s: exec apiVersion %s%s%s is not %s",
                user, source, e->api_version != NULL ? "'" : "",
                e->api_version != NULL ? e->api_version : "(none)",
                e->api_version != NULL ? "'" : "",
                "client.authentication.k8s.io/v1 or client.authentication.k8s.io/v1beta1");
        return rb_err_hint(err, "the plugin's documentation says which apiVersion it speaks");
    }
    if (mode != NULL && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0) {
        if (strcmp(mode, "Always") == 0) {
            rb_errf(err, RB_E_FAILED,
                    "user '%s' in kubeconfig %s: exec plugin '%s' needs a terminal "
                    "(interactiveMode: Always), and rollbackctl runs plugins without one",
                    user, source, cmd);
            return rb_err_hint(err, "set interactiveMode: Never or IfAvailable if the plugin can "
                                    "do without, or give the target a token (token_env)");
        }
        return rb_errf(err, RB_E_FAILED,
                       "user '%s' in kubeconfig %s: exec interactiveMode '%s' is not Never, "
                       "IfAvailable or Always",
                       user, source, mode);
    }
    if (bool_field(d, x, "provideClusterInfo", &e->provide_cluster_info, "user", user, err) < 0)
        return -1;
    e->install_hint = rb_strdup(a, map_str(d, x, "installHint"));
    e->command = strchr(cmd, '/') != NULL ? resolve(a, f, cmd) : rb_strdup(a, cmd);
    if (args != NULL && args->type == YAML_SEQUENCE_NODE)
        n = (size_t)(args->data.sequence.items.top - args->data.sequence.items.start);
    else if (args != NULL && !(args->type == YAML_SCALAR_NODE && scalar(args)[0] == '\0'))
        return rb_errf(err, RB_E_FAILED, "user '%s' in kubeconfig %s: exec args is not a list",
                       user, source);
    argv = rb_new_array(a, const char *, n + 2);
    argv[0] = e->command;
    for (size_t i = 0; i < n; i++) {
        const char *v = scalar(yaml_document_get_node(d, args->data.sequence.items.start[i]));

        if (v == NULL)
            return rb_errf(err, RB_E_FAILED,
                           "user '%s' in kubeconfig %s: exec args[%zu] is not a string", user,
                           source, i);
        argv[i + 1] = rb_strdup(a, v);
    }
    argv[n + 1] = NULL;
    e->argv = argv;
    n = 0;
    if (env != NULL && env->type == YAML_SEQUENCE_NODE)
        n = (size_t)(env->data.sequence.items.top - env->data.sequence.items.start);
    else if (env != NULL && !(env->type == YAML_SCALAR_NODE && scalar(env)[0] == '\0'))
        return rb_errf(err, RB_E_FAILED, "user '%s' in kubeconfig %s: exec env is not a list", user,
                       source);
    envv = rb_new_array(a, const char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *it = yaml_document_get_node(d, env->data.sequence.items.start[i]);
        const char *name = map_str(d, it, "name"), *value = scalar(map_get(d, it, "value"));

        if (name == NULL || strchr(name, '=') != NULL)
            return rb_errf(err, RB_E_FAILED,
                           "user '%s' in kubeconfig %s: exec env[%zu] has no name (or one with "
                           "'=')",
                           user, source, i);
        envv[i] = rb_sprintf(a, "%s=%s", name, value != NULL ? value : "");
    }
    envv[n] = NULL;
    e->env = envv;
    *out = e;
    return 0;
}

static bool file_exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int load_files(struct rb_arena *a, const char *path, struct kfile **files, size_t *n,
                      const char **source, struct rb_err *err)
{
    const char *env = getenv("KUBECONFIG");
    const char *home = getenv("HOME");
    const char **paths;
    size_t np = 0, i, cap = 1;

    if (path != NULL) {
        paths = rb_new_array(a, const char *, 1);
        paths[np++] = path;
    } else if (env != NULL && env[0] != '\0') {
        char *copy = rb_strdup(a, env), *tok, *save = NULL;

        for (tok = copy; *tok != '\0'; tok++)
            cap += *tok == ':';
        paths = rb_new_array(a, const char *, cap);
        for (tok = strtok_r(copy, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save))
            if (file_exists(tok))
                paths[np++] = tok; /* missing entries are skipped, as kubectl does */
        if (np == 0)
            return rb_errf(err, RB_E_FAILED,
                           "no kubeconfig found: none of the files in $KUBECONFIG exists");
    } else if (home != NULL && file_exists(rb_sprintf(a, "%s/.kube/config", home))) {
        paths = rb_new_array(a, const char *, 1);
        paths[np++] = rb_sprintf(a, "%s/.kube/config", home);
    } else {
        *n = 0;
        return 0;
    }
    *files = rb_new_array(a, struct kfile, np);
    for (i = 0; i < np; i++)
        if (kfile_load(a, &(*files)[i], paths[i], err) < 0)
            return -1;
    *n = np;
    *source = np == 1 ? (*files)[0].path : rb_sprintf(a, "$KUBECONFIG (%s)", env);
    return 0;
}

int rb_k8s_config_load(struct rb_arena *a, const char *path, const char *context,
                       struct rb_k8s_config *cfg, struct rb_err *err)
{
    struct kfile *files = NULL, *cf = NULL, *uf = NULL, *xf = NULL;
    yaml_node_t *ctx, *cl, *user;
    const char *source = NULL, *cluster_name, *user_name, *s;
    size_t n = 0, i;

    memset(cfg, 0, sizeof(*cfg));
    if (load_files(a, path, &files, &n, &source, err) < 0)
        return -1;
    if (n == 0) {
        if (getenv("KUBERNETES_SERVICE_HOST") != NULL)
            return rb_k8s_config_incluster(a, NULL, cfg, err);
        rb_errf(err, RB_E_FAILED,
                "no kubeconfig found ($KUBECONFIG unset, no ~/.kube/config) and not "
                "running in a cluster");
        return rb_err_hint(err, "set `kubeconfig:` on the cluster target or export KUBECONFIG");
    }
    if (context == NULL)
        for (i = 0; i < n && context == NULL; i++)
            context = map_str(&files[i].doc, yaml_document_get_root_node(&files[i].doc),
                              "current-context");
    if (context == NULL) {
        rb_errf(err, RB_E_FAILED, "kubeconfig %s has no current-context and the target names none",
                source);
        return rb_err_hint(err, "set `context:` on the cluster target (contexts: %s)",
                           names_of(a, files, n, "contexts"));
    }
    ctx = find_named(files, n, "contexts", "context", context, &xf);
    if (ctx == NULL) {
        rb_errf(err, RB_E_FAILED, "context '%s' not found in kubeconfig %s", context, source);
        return rb_err_hint(err, "contexts defined: %s", names_of(a, files, n, "contexts"));
    }
    cfg->context = rb_strdup(a, context);
    cfg->source = source;
    cfg->namespace_ = rb_strdup(a, map_str(&xf->doc, ctx, "namespace"));
    cluster_name = map_str(&xf->doc, ctx, "cluster");
    user_name = map_str(&xf->doc, ctx, "user");
    if (cluster_name == NULL)
        return rb_errf(err, RB_E_FAILED, "context '%s' in kubeconfig %s names no cluster", context,
                       source);
    cl = find_named(files, n, "clusters", "cluster", cluster_name, &cf);
    if (cl == NULL)
        return rb_errf(err, RB_E_FAILED, "cluster '%s' of context '%s' not found in kubeconfig %s",
                       cluster_name, context, source);
    s = map_str(&cf->doc, cl, "server");
    if (s == NULL)
        return rb_errf(err, RB_E_FAILED, "cluster '%s' in kubeconfig %s has no server",
                       cluster_name, source);
    if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
        return rb_errf(err, RB_E_FAILED,
                       "cluster '%s' in kubeconfig %s: server '%s' is not an http(s) URL",
                       cluster_name, source, s);
    cfg->server = rb_strdup(a, s);
    while (strlen(cfg->server) > 8 && cfg->server[strlen(cfg->server) - 1] == '/')
        ((char *)cfg->server)[strlen(cfg->server) - 1] = '\0';
    if (bool_field(&cf->doc, cl, "insecure-skip-tls-verify", &cfg->insecure, "cluster",
                   cluster_name, err) < 0)
        return -1;
    cfg->tls_server_name = rb_strdup(a, map_str(&cf->doc, cl, "tls-server-name"));
    s = map_str(&cf->doc, cl, "proxy-url");
    if (s != NULL && strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0 &&
        strncmp(s, "socks5://", 9) != 0)
        return rb_errf(err, RB_E_FAILED,
                       "cluster '%s' in kubeconfig %s: proxy-url '%s' is not an http, https or "
                       "socks5 URL",
                       cluster_name, source, s);
    cfg->proxy_url = rb_strdup(a, s);
    cfg->ca_file = resolve(a, cf, map_str(&cf->doc, cl, "certificate-authority"));
    if (data_field(a, &cf->doc, cl, "certificate-authority-data", &cfg->ca_data, &cfg->ca_len,
                   "cluster", cluster_name, err) < 0)
        return -1;

    if (user_name == NULL)
        return 0; /* anonymous: allowed, the API answers 401/403 if it minds */
    user = find_named(files, n, "users", "user", user_name, &uf);
    if (user == NULL)
        return rb_errf(err, RB_E_FAILED, "user '%s' of context '%s' not found in kubeconfig %s",
                       user_name, context, source);
    cfg->token = rb_strdup(a, map_str(&uf->doc, user, "token"));
    cfg->token_file = resolve(a, uf, map_str(&uf->doc, user, "tokenFile"));
    cfg->cert_file = resolve(a, uf, map_str(&uf->doc, user, "client-certificate"));
    cfg->key_file = resolve(a, uf, map_str(&uf->doc, user, "client-key"));
    if (data_field(a, &uf->doc, user, "client-certificate-data", &cfg->cert_data, &cfg->cert_len,
                   "user", user_name, err) < 0 ||
        data_field(a, &uf->doc, user, "client-key-data", &cfg->key_data, &cfg->key_len, "user",
                   user_name, err) < 0)
        return -1;
    if ((cfg->cert_file != NULL || cfg->cert_data != NULL) !=
        (cfg->key_file != NULL || cfg->key_data != NULL))
        return rb_errf(err, RB_E_FAILED,
                       "user '%s' in kubeconfig %s has a client certificate without its "
                       "key (or a key without its certificate)",
                       user_name, source);
    if (cfg->token == NULL && cfg->token_file == NULL) {
        yaml_node_t *exec = map_get(&uf->doc, user, "exec");

        if (exec != NULL)
            return exec_load(a, uf, exec, user_name, source, &cfg->exec, err);
    }
    if (cfg->token == NULL && cfg->token_file == NULL && cfg->cert_file == NULL &&
        cfg->cert_data == NULL) {
        const char *what = map_get(&uf->doc, user, "auth-provider") != NULL
                               ? "an auth-provider plugin"
                           : map_get(&uf->doc, user, "username") != NULL ? "basic authentication"
                                                                         : NULL;

        if (what != NULL)
            cfg->refusal = rb_sprintf(a,
                                      "user '%s' in kubeconfig %s authenticates with %s, which "
                                      "rollbackctl does not support",
                                      user_name, source, what);
    }
    return 0;
}

void rb_k8s_config_use_token(struct rb_arena *a, struct rb_k8s_config *cfg, const char *token)
{
    cfg->token = rb_strdup(a, token);
    cfg->token_file = NULL;
    cfg->exec = NULL;
    cfg->refusal = NULL;
    cfg->cert_file = cfg->key_file = NULL;
    cfg->cert_data = cfg->key_data = NULL;
    cfg->cert_len = cfg->key_len = 0;
}

static char *read_small_file(struct rb_arena *a, const char *path)
{
    FILE *fp = fopen(path, "rb");
    char buf[16384];
    size_t n;

    if (fp == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    return rb_strndup(a, buf, n);
}

int rb_k8s_config_incluster(struct rb_arena *a, const char *sa_dir, struct rb_k8s_config *cfg,
                            struct rb_err *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");

    memset(cfg, 0, sizeof(*cfg));
    if (sa_dir == NULL)
        sa_dir = getenv("ROLLBACKCTL_SERVICEACCOUNT_DIR");
    if (sa_dir == NULL || sa_dir[0] == '\0')
        sa_dir = RB_K8S_SA_DIR;
    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0')
        return rb_errf(err, RB_E_FAILED,
                       "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                       "KUBERNETES_SERVICE_PORT must be set");
    cfg->server = strchr(host, ':') != NULL ? rb_sprintf(a, "https://[%s]:%s", host, port)
                                            : rb_sprintf(a, "https://%s:%s", host, port);
    cfg->token_file = rb_sprintf(a, "%s/token", sa_dir);
    if (access(cfg->token_file, R_OK) != 0)
        return rb_errf(err, RB_E_FAILED,
                       "in-cluster: unable to read the service account token '%s': %s",
                       cfg->token_file, strerror(errno));
    cfg->ca_file = rb_sprintf(a, "%s/ca.crt", sa_dir);
    if (access(cfg->ca_file, R_OK) != 0)
        return rb_errf(err, RB_E_FAILED, "in-cluster: unable to read the cluster CA '%s': %s",
                       cfg->ca_file, strerror(errno));
    cfg->namespace_ = read_small_file(a, rb_sprintf(a, "%s/namespace", sa_dir));
    if (cfg->namespace_ != NULL && cfg->namespace_[0] == '\0')
        cfg->namespace_ = NULL;
    cfg->context = "in-cluster";
    cfg->source = rb_strdup(a, sa_dir);
    return 0;
}

/*
 * validate's look at a cluster target, offline: the kubeconfig it names (or $KUBECONFIG, or
 * ~/.kube/config) read, and its `context:` looked up there. A context that is not there is an
 * error (execute would fail on it); a kubeconfig that is not on this machine only a warning (the
 * runbook may be validated away from the host that runs it).
 */
void rb_k8s_check_target(struct rb_arena *a, const struct rb_target *t, struct rb_diags *diags)
{
    const struct rb_opt *kc = rb_target_opt_node(t, "kubeconfig");
    const struct rb_opt *cx = rb_target_opt_node(t, "context");
    const char *path = kc != NULL ? kc->value : NULL, *source = NULL;
    struct rb_err err = RB_ERR_INIT;
    struct kfile *files = NULL;
    struct rb_near near;
    size_t n = 0;

    if (path != NULL && !file_exists(path)) {
        rb_diag_add(diags, RB_DIAG_WARNING, kc->value_pos,
                    "target '%s': kubeconfig '%s' does not exist on this machine%s", t->name, path,
                    cx != NULL && cx->value != NULL ? "; its context is not checked" : "");
        return;
    }
    if (cx == NULL || cx->value == NULL)
        return; /* current-context: nothing named to check */
    if (load_files(a, path, &files, &n, &source, &err) < 0) {
        rb_diag_add(diags, RB_DIAG_WARNING, cx->value_pos,
                    "target '%s': context '%s' not checked: %s", t->name, cx->value, err.msg);
        return;
    }
    if (n == 0) {
        rb_diag_add(diags, RB_DIAG_WARNING, cx->value_pos,
                    "target '%s': context '%s' not checked: no kubeconfig on this machine "
                    "($KUBECONFIG unset, no ~/.kube/config)",
                    t->name, cx->value);
        return;
    }
    rb_near_init(&near, cx->value);
    for (size_t i = 0; i < n; i++) {
        yaml_document_t *d = &files[i].doc;
        yaml_node_t *seq = map_get(d, yaml_document_get_root_node(d), "contexts");

        if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
            continue;
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++) {
            const char *nm = map_str(d, yaml_document_get_node(d, *it), "name");

            if (nm != NULL && strcmp(nm, cx->value) == 0)
                return;
            if (nm != NULL)
                rb_near_try(&near, nm);
        }
    }
    rb_diag_add(diags, RB_DIAG_ERROR, cx->value_pos,
                "target '%s': context '%s' not found in kubeconfig %s (contexts: %s)%s", t->name,
                cx->value, source, names_of(a, files, n, "contexts"),
                near.best != NULL ? rb_sprintf(a, "; did you mean '%s'?", near.best) : "");
}
