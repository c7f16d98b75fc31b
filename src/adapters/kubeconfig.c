/*
 * kubeconfig.c - where a Kubernetes cluster is and how to authenticate: kubeconfig or in-cluster.
 *
 * A kubeconfig is YAML (clusters, users, contexts, current-context), parsed here with libyaml's
 * document API. $KUBECONFIG may list several files; like kubectl, the first file that defines a
 * name wins. File names inside a kubeconfig are relative to the file's folder. Credentials that
 * need a helper program (exec, auth-provider) are refused with a clear message: rollbackctl runs
 * no plugin on the operator's behalf.
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
    s = map_str(&cf->doc, cl, "insecure-skip-tls-verify");
    cfg->insecure = s != NULL && strcmp(s, "true") == 0;
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
    if (cfg->token == NULL && cfg->token_file == NULL && cfg->cert_file == NULL &&
        cfg->cert_data == NULL) {
        yaml_node_t *exec = map_get(&uf->doc, user, "exec");
        const char *what = exec != NULL ? "an exec credential plugin"
                           : map_get(&uf->doc, user, "auth-provider") != NULL
                               ? "an auth-provider plugin"
                           : map_get(&uf->doc, user, "username") != NULL ? "basic authentication"
                                                                         : NULL;

        if (what != NULL) {
            rb_errf(err, RB_E_FAILED,
                    "user '%s' in kubeconfig %s authenticates with %s, which rollbackctl "
                    "does not run",
                    user_name, source, what);
            return rb_err_hint(
                err, "give the cluster target a bearer token (token_env) or a kubeconfig user "
                     "with a token or client certificate");
        }
    }
    return 0;
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
