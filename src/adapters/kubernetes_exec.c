/*
 * kubernetes_exec.c - exec credential plugins (users[].user.exec in a kubeconfig, what every EKS,
 * GKE and AKS kubeconfig uses), run the way kubectl (client-go's exec authenticator) runs them.
 *
 * argv is the kubeconfig's command and args, no shell; the plugin's env list is added to our
 * environment less the runbook's secrets; KUBERNETES_EXEC_INFO holds an ExecCredential request
 * of the kubeconfig's apiVersion with spec.interactive false (stdin is /dev/null: rollbackctl
 * never lets a plugin prompt); the child runner gives it the request deadline and keeps its whole
 * stdout, bounded. The answer must be an ExecCredential of the same apiVersion with status.token,
 * or status.clientCertificateData and clientKeyData (PEM).
 *
 * Credentials are cached in memory for the process, keyed by everything that makes the plugin's
 * answer (apiVersion, argv, env, the cluster info it is given), as client-go's global cache does:
 * execute opens a client in pre-flight and another for the phases, and both share one run of the
 * plugin. A credential is used until its expirationTimestamp (none: until the server refuses it);
 * a 401 answer to a request made with it makes kubernetes_http.c ask for a fresh one, once. The
 * plugin's output is never shown (it holds the token): a bad answer is described, not echoed.
 */
#include "kubernetes_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "rollbackctl/child.h"

/* An ExecCredential is a few KiB; a client certificate chain a few more. */
#define EXEC_OUT_MAX (1u << 20)

struct cache_entry {
    struct cache_entry *next;
    char *key; /* what makes the plugin's answer; compared whole */
    size_t key_len;
    struct rb_k8s_cred cred;
};

static struct cache_entry *cache;
static unsigned long last_id;

static void wipe(char *p, size_t n)
{
    if (p != NULL) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static void cred_wipe(struct rb_k8s_cred *c)
{
    wipe(c->token, c->token != NULL ? strlen(c->token) : 0);
    wipe(c->cert, c->cert_len);
    wipe(c->key, c->key_len);
    memset(c, 0, sizeof(*c));
}

void rb_k8s_exec_cache_clear(void)
{
    while (cache != NULL) {
        struct cache_entry *e = cache;

        cache = e->next;
        cred_wipe(&e->cred);
        free(e->key);
        free(e);
    }
}

int rb_k8s_exec_runs(const struct rb_k8s *k)
{
    return k->n_exec_runs;
}

static void key_part(struct rb_buf *b, const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    rb_buf_addf(b, "%zu:", n);
    if (n > 0)
        rb_buf_add(b, s, n);
}

static char *read_file_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    struct rb_buf b = RB_BUF_INIT;
    char chunk[8192];
    size_t n;
    char *out;

    *len = 0;
    if (fp == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && b.len < EXEC_OUT_MAX)
        rb_buf_add(&b, chunk, n);
    fclose(fp);
    out = malloc(b.len + 1);
    if (out == NULL)
        abort();
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    *len = b.len;
    rb_buf_release(&b);
    return out;
}

/* The KUBERNETES_EXEC_INFO value: an ExecCredential with spec.interactive false [and cluster]. */
static char *exec_info(const struct rb_k8s *k)
{
    const struct rb_k8s_exec *x = k->cfg.exec;
    cJSON *doc = cJSON_CreateObject(), *spec;
    char *out;

    cJSON_AddStringToObject(doc, "kind", "ExecCredential");
    cJSON_AddStringToObject(doc, "apiVersion", x->api_version);
    spec = cJSON_AddObjectToObject(doc, "spec");
    if (x->provide_cluster_info) {
        cJSON *cl = cJSON_AddObjectToObject(spec, "cluster");
        const char *ca = k->cfg.ca_data;
        size_t ca_len = k->cfg.ca_len;
        char *file_ca = NULL;

        cJSON_AddStringToObject(cl, "server", k->cfg.server);
        if (k->cfg.tls_server_name != NULL)
            cJSON_AddStringToObject(cl, "tls-server-name", k->cfg.tls_server_name);
        if (k->cfg.insecure)
            cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", true);
        if (ca == NULL && k->cfg.ca_file != NULL)
            ca = file_ca = read_file_all(k->cfg.ca_file, &ca_len);
        if (ca != NULL && ca_len > 0) {
            /* []byte in client-go's JSON: standard base64 */
            char *b64 = malloc(4 * ((ca_len + 2) / 3) + 1);

            if (b64 == NULL)
                abort();
            EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)ca, (int)ca_len);
            cJSON_AddStringToObject(cl, "certificate-authority-data", b64);
            free(b64);
        }
        free(file_ca);
        if (k->cfg.proxy_url != NULL)
            cJSON_AddStringToObject(cl, "proxy-url", k->cfg.proxy_url);
    }
    cJSON_AddBoolToObject(spec, "interactive", false);
    out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (out == NULL)
        abort();
    return out;
}

/* RFC 3339 as Go's time.Time reads it from JSON: date, 'T', time, fraction, Z or +hh:mm. */
static int parse_rfc3339(const char *s, time_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, n = 0, oh, om;
    long off = 0;
    const char *p;

    memset(&tm, 0, sizeof(tm));
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return -1;
    p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2 &&
               strlen(p) >= 6 && p[3] == ':') {
        off = (oh * 60L + om) * 60L * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = timegm(&tm) - off;
    return 0;
}

/* Where argv[0] is: itself when it has a '/', else the first executable of that name in PATH. */
static bool find_command(const char *cmd)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (strchr(cmd, '/') != NULL)
        return access(cmd, X_OK) == 0;
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *end = strchr(path, ':');
        size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
        struct stat st;

        if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n > 0 ? path : ".", cmd) <
                (int)sizeof(buf) &&
            stat(buf, &st) == 0 && S_ISREG(st.st_mode) && access(buf, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

/* The last line of what the plugin wrote on stderr, trimmed, for the message; "" when none. */
static const char *stderr_tail(struct rb_arena *a, const char *t)
{
    size_t n = strlen(t);
    const char *start;

    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        n--;
    start = t + n;
    while (start > t && start[-1] != '\n')
        start--;
    if (n == 0)
        return "";
    n = (size_t)(t + n - start);
    if (n > 300)
        return rb_sprintf(a, ": %.300s...", start);
    return rb_sprintf(a, ": %.*s", (int)n, start);
}

static char *dup_or_abort(const char *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        abort();
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* status of an ExecCredential into c (malloc'd strings); -1 with err on a bad answer. */
static int parse_answer(struct rb_k8s *k, const char *who, const char *out, size_t len,
                        struct rb_k8s_cred *c, struct rb_err *err)
{
    const struct rb_k8s_exec *x = k->cfg.exec;
    cJSON *doc = cJSON_ParseWithLength(out, len);
    const cJSON *kind, *apiv, *st, *tok, *cert, *key, *exp;
    int rc = -1;

    memset(c, 0, sizeof(*c));
    if (doc == NULL || !cJSON_IsObject(doc)) {
        rb_errf(err, RB_E_FAILED, "%s printed no ExecCredential: its output is not a JSON object%s",
                who, len == 0 ? " (it printed nothing)" : "");
        goto out;
    }
    kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
    apiv = cJSON_GetObjectItemCaseSensitive(doc, "apiVersion");
    if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ExecCredential") != 0) {
        rb_errf(err, RB_E_FAILED, "%s printed no ExecCredential: kind is %s%s%s", who,
                cJSON_IsString(kind) ? "'" : "",
                cJSON_IsString(kind) ? kind->valuestring : "missing",
                cJSON_IsString(kind) ? "'" : "");
        goto out;
    }
    if (!cJSON_IsString(apiv) || strcmp(apiv->valuestring, x->api_version) != 0) {
        rb_errf(err, RB_E_FAILED, "%s answered with apiVersion '%s', the kubeconfig asks for '%s'",
                who, cJSON_IsString(apiv) ? apiv->valuestring : "", x->api_version);
        goto out;
    }
    st = cJSON_GetObjectItemCaseSensitive(doc, "status");
    if (!cJSON_IsObject(st)) {
        rb_errf(err, RB_E_FAILED, "%s printed an ExecCredential without a status", who);
        goto out;
    }
    tok = cJSON_GetObjectItemCaseSensitive(st, "token");
    cert = cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData");
    key = cJSON_GetObjectItemCaseSensitive(st, "clientKeyData");
    exp = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
    if (cJSON_IsString(cert) && cert->valuestring[0] == '\0')
        cert = NULL;
    if (cJSON_IsString(key) && key->valuestring[0] == '\0')
        key = NULL;
    if ((cJSON_IsString(cert) && cert != NULL) != (cJSON_IsString(key) && key != NULL)) {
        rb_errf(err, RB_E_FAILED,
                "%s returned a client certificate without its key (or a key without its "
                "certificate)",
                who);
        goto out;
    }
    if ((!cJSON_IsString(tok) || tok->valuestring[0] == '\0') && !cJSON_IsString(cert)) {
        rb_errf(err, RB_E_FAILED,
                "%s returned neither a token nor a client certificate and key in its status", who);
        goto out;
    }
    if (exp != NULL && !cJSON_IsNull(exp) &&
        (!cJSON_IsString(exp) || parse_rfc3339(exp->valuestring, &c->expires) < 0)) {
        rb_errf(err, RB_E_FAILED, "%s: status.expirationTimestamp is not an RFC 3339 time", who);
        goto out;
    }
    if (cJSON_IsString(tok) && tok->valuestring[0] != '\0')
        c->token = dup_or_abort(tok->valuestring, strlen(tok->valuestring));
    if (cJSON_IsString(cert)) {
        c->cert_len = strlen(cert->valuestring);
        c->cert = dup_or_abort(cert->valuestring, c->cert_len);
        c->key_len = strlen(key->valuestring);
        c->key = dup_or_abort(key->valuestring, c->key_len);
    }
    rc = 0;
out:
    if (doc != NULL) {
        /* the parsed answer holds the token: wipe its strings before they go back to malloc */
        if (rc == 0 || cJSON_IsObject(doc)) {
            cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "status");
            cJSON *f;

            cJSON_ArrayForEach(f, s) {
                if (cJSON_IsString(f))
                    OPENSSL_cleanse(f->valuestring, strlen(f->valuestring));
            }
        }
        cJSON_Delete(doc);
    }
    return rc;
}

/* Run the plugin once; on success c holds its credential (malloc'd). */
static int run_plugin(struct rb_k8s *k, struct rb_k8s_cred *c, struct rb_err *err)
{
    const struct rb_k8s_exec *x = k->cfg.exec;
    const char *who =
        rb_sprintf(k->arena, "exec credential plugin '%s' of user '%s'", x->command, x->user);
    struct rb_child_result res;
    const char **env;
    char *info;
    size_t n = 0, i;
    int rc;

    if (!find_command(x->command)) {
        rb_errf(err, RB_E_FAILED, "%s: '%s' %s", who, x->command,
                strchr(x->command, '/') != NULL ? "is not an executable file"
                                                : "is not found in PATH");
        if (x->install_hint != NULL)
            rb_err_hint(err, "%s", x->install_hint);
        else
            rb_err_hint(err, "install the plugin, or give the cluster target a bearer token "
                             "(token_env)");
        return -1;
    }
    while (x->env != NULL && x->env[n] != NULL)
        n++;
    env = rb_new_array(k->arena, const char *, n + 2);
    for (i = 0; i < n; i++)
        env[i] = x->env[i];
    info = exec_info(k);
    env[n] = rb_sprintf(k->arena, "KUBERNETES_EXEC_INFO=%s", info);
    env[n + 1] = NULL;
    cJSON_free(info);
    k->n_exec_runs++;
    rc = rb_child_run_capture(k->arena, x->argv, env, k->env_drop, k->timeout_ms, EXEC_OUT_MAX,
                              &res, err);
    if (rc < 0)
        return rb_err_wrap(err, "%s", who);
    if (res.timed_out || !res.exited || res.status != 0) {
        rb_errf(err, RB_E_FAILED, "%s %s%s", who, rb_child_describe(k->arena, &res),
                stderr_tail(k->arena, res.err_tail));
        if (res.timed_out)
            rb_err_kind(err, RB_K_TIMEOUT);
        rc = -1;
    } else if (res.out_overflow) {
        rc = rb_errf(err, RB_E_FAILED, "%s printed more than %u KiB", who, EXEC_OUT_MAX >> 10);
    } else {
        rc = parse_answer(k, who, res.out_tail, res.out_len, c, err);
    }
    OPENSSL_cleanse(res.out_tail, res.out_len);
    return rc;
}

/* The cache key: everything the plugin's answer may depend on. malloc'd. */
static char *cache_key(const struct rb_k8s *k, size_t *len)
{
    const struct rb_k8s_exec *x = k->cfg.exec;
    struct rb_buf b = RB_BUF_INIT;
    char *out;

    key_part(&b, x->api_version);
    for (size_t i = 0; x->argv[i] != NULL; i++)
        key_part(&b, x->argv[i]);
    rb_buf_addc(&b, '|');
    for (size_t i = 0; x->env != NULL && x->env[i] != NULL; i++)
        key_part(&b, x->env[i]);
    rb_buf_addc(&b, '|');
    if (x->provide_cluster_info) {
        key_part(&b, k->cfg.server);
        key_part(&b, k->cfg.tls_server_name);
        key_part(&b, k->cfg.ca_file);
        rb_buf_addf(&b, "%zu:", k->cfg.ca_len);
        if (k->cfg.ca_len > 0)
            rb_buf_add(&b, k->cfg.ca_data, k->cfg.ca_len);
    }
    out = dup_or_abort(b.data, b.len);
    *len = b.len;
    rb_buf_release(&b);
    return out;
}

int rb_k8s_exec_credential(struct rb_k8s *k, unsigned long stale, const struct rb_k8s_cred **out,
                           struct rb_err *err)
{
    struct cache_entry *e;
    struct rb_k8s_cred fresh;
    size_t len;
    char *key = cache_key(k, &len);

    for (e = cache; e != NULL; e = e->next)
        if (e->key_len == len && memcmp(e->key, key, len) == 0)
            break;
    if (e != NULL) {
        bool expired = e->cred.expires != 0 && time(NULL) >= e->cred.expires;

        if (!expired && e->cred.id != stale) {
            free(key);
            *out = &e->cred;
            return 0;
        }
    }
    if (run_plugin(k, &fresh, err) < 0) {
        free(key);
        return -1;
    }
    fresh.id = ++last_id;
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            abort();
        e->key = key;
        e->key_len = len;
        e->next = cache;
        cache = e;
    } else {
        free(key);
        cred_wipe(&e->cred);
    }
    e->cred = fresh;
    *out = &e->cred;
    return 0;
}
