/*
 * kubernetes.c - the Kubernetes REST client: requests with deadlines and safe retries, Status
 * errors, lists with continue tokens, the scale subresource, access reviews, the driver's ops.
 *
 * One CURL easy handle per target (connections are kept alive between requests), released with
 * the run's arena. Credentials given as data go to libcurl as blobs (CURLOPT_*_BLOB), never to
 * temporary files; a token file is re-read before every request because projected service
 * account tokens rotate. The Authorization header is never logged or journaled.
 */
#include "rollbackctl/kubernetes.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/run.h"
#include "rollbackctl/runbook.h"

#define RESP_MAX (256u << 20) /* a response larger than this is refused, not buffered */

struct rb_k8s {
    struct rb_arena *arena;
    CURL *curl;
    struct rb_k8s_config cfg;
    bool read_only;
    int64_t timeout_ms, connect_timeout_ms, backoff_ms;
    int attempts;
    const char *label;
    const char *namespace_;
    int n_requests, n_retries;
    /* per request */
    struct rb_buf resp;
    bool resp_too_big;
    long retry_after_s; /* from the Retry-After header; -1 when absent */
};

static void k8s_cleanup(void *p)
{
    struct rb_k8s *k = p;

    if (k->curl != NULL)
        curl_easy_cleanup(k->curl);
    k->curl = NULL;
    rb_buf_release(&k->resp);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct rb_k8s *k = ud;
    size_t n = size * nmemb;

    if (k->resp.len + n > RESP_MAX) {
        k->resp_too_big = true;
        return 0;
    }
    rb_buf_add(&k->resp, ptr, n);
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *ud)
{
    struct rb_k8s *k = ud;
    size_t n = size * nitems;

    if (n > 12 && strncasecmp(ptr, "retry-after:", 12) == 0) {
        char tmp[32];
        size_t m = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        char *end;
        long v;

        memcpy(tmp, ptr + 12, m);
        tmp[m] = '\0';
        v = strtol(tmp, &end, 10);
        /* An HTTP date is treated as absent: back off instead. Clamped here so that the
           milliseconds computed from it cannot overflow (the wait is capped anyway). */
        if (end != tmp && v >= 0)
            k->retry_after_s =
                v < RB_K8S_RETRY_AFTER_MAX_MS / 1000 ? v : RB_K8S_RETRY_AFTER_MAX_MS / 1000;
    }
    return n;
}

struct rb_k8s *rb_k8s_new(struct rb_arena *a, const struct rb_k8s_config *cfg,
                          const struct rb_k8s_opts *o, struct rb_err *err)
{
    struct rb_k8s *k = rb_new(a, struct rb_k8s);
    static const struct rb_k8s_opts none;
    CURL *c;

    if (o == NULL)
        o = &none;
    k->arena = a;
    k->cfg = *cfg;
    k->read_only = o->read_only;
    k->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : RB_K8S_TIMEOUT_MS;
    k->connect_timeout_ms =
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : RB_K8S_CONNECT_TIMEOUT_MS;
    if (k->connect_timeout_ms > k->timeout_ms)
        k->connect_timeout_ms = k->timeout_ms;
    k->attempts = o->attempts > 0 ? o->attempts : RB_K8S_ATTEMPTS;
    k->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : RB_K8S_BACKOFF_MS;
    k->label = rb_strdup(a, o->label != NULL       ? o->label
                            : cfg->context != NULL ? cfg->context
                                                   : "cluster");
    k->namespace_ = cfg->namespace_ != NULL ? cfg->namespace_ : "default";
    rb_buf_init(&k->resp);
    c = curl_easy_init();
    if (c == NULL) {
        rb_errf(err, RB_E_FAILED, "unable to start an HTTP client for '%s'", k->label);
        return NULL;
    }
    k->curl = c;
    rb_arena_on_free(a, k8s_cleanup, k);

    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "rollbackctl/" RB_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)k->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, k);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, k);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (cfg->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (cfg->ca_data != NULL) {
        struct curl_blob b = { (void *)cfg->ca_data, cfg->ca_len, CURL_BLOB_COPY };

        if (curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b) != CURLE_OK) {
            rb_errf(err, RB_E_FAILED, "'%s': this libcurl cannot take certificate-authority-data",
                    k->label);
            return NULL;
        }
    } else if (cfg->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    }
    if (cfg->cert_data != NULL) {
        struct curl_blob b = { (void *)cfg->cert_data, cfg->cert_len, CURL_BLOB_COPY };

        curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (cfg->cert_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->cert_file);
        curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (cfg->key_data != NULL) {
        struct curl_blob b = { (void *)cfg->key_data, cfg->key_len, CURL_BLOB_COPY };

        curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (cfg->key_file != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->key_file);
        curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
    }
    return k;
}

const char *rb_k8s_namespace(const struct rb_k8s *k)
{
    return k->namespace_;
}

const char *rb_k8s_server(const struct rb_k8s *k)
{
    return k->cfg.server;
}

bool rb_k8s_read_only(const struct rb_k8s *k)
{
    return k->read_only;
}

void rb_k8s_stats(const struct rb_k8s *k, int *requests, int *retries)
{
    if (requests != NULL)
        *requests = k->n_requests;
    if (retries != NULL)
        *retries = k->n_retries;
}

struct rb_k8s *rb_k8s_target(struct rb_run *run, const char *target, struct rb_err *err)
{
    const struct rb_target *t = rb_runbook_target(run->rb, target);
    struct rb_k8s_config cfg;
    struct rb_k8s_opts o;
    struct rb_k8s *k = rb_run_handle_get(run, "kubernetes", target);
    const char *v;

    if (k != NULL)
        return k;
    if (t == NULL || t->kind != RB_TARGET_CLUSTER) {
        rb_errf(err, RB_E_FAILED, "target '%s' is not a kubernetes cluster", target);
        return NULL;
    }
    if (rb_k8s_config_load(run->arena, rb_target_opt(t, "kubeconfig"), rb_target_opt(t, "context"),
                           &cfg, err) < 0) {
        rb_err_wrap(err, "target '%s'", target);
        return NULL;
    }
    if ((v = rb_target_opt(t, "token_env")) != NULL) {
        const char *tok = getenv(v);

        if (tok == NULL || tok[0] == '\0') {
            rb_errf(err, RB_E_FAILED,
                    "target '%s': environment variable '%s' (token_env) is not set", target, v);
            return NULL;
        }
        cfg.token = rb_strdup(run->arena, tok);
        cfg.token_file = NULL;
    }
    if ((v = rb_target_opt(t, "namespace")) != NULL)
        cfg.namespace_ = v;
    memset(&o, 0, sizeof(o));
    o.read_only = run->read_only;
    o.label = target;
    if ((v = rb_target_opt(t, "timeout")) != NULL) {
        o.timeout_ms = rb_duration_parse(v);
        if (o.timeout_ms <= 0) {
            rb_errf(err, RB_E_FAILED, "target '%s': timeout '%s' is not a duration", target, v);
            return NULL;
        }
    }
    k = rb_k8s_new(run->arena, &cfg, &o, err);
    if (k != NULL)
        rb_run_handle_put(run, "kubernetes", target, k);
    return k;
}

/* ---- requests ---------------------------------------------------------------------------------- */

/* Sleep, waking early (returning -1) when SIGINT/SIGTERM arrived. */
static int pause_ms(int64_t ms)
{
    int64_t end = rb_now_ms() + ms;

    while (rb_now_ms() < end) {
        int64_t left = end - rb_now_ms();
        struct timespec ts;

        if (rb_interrupted())
            return -1;
        if (left > 100)
            left = 100;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
    return rb_interrupted() ? -1 : 0;
}

/* "NotFound" -> "not found", "TooManyRequests" -> "too many requests". */
static void reason_words(const char *reason, char *out, size_t len)
{
    size_t o = 0;
    const char *p;

    for (p = reason; *p != '\0' && o + 2 < len; p++) {
        if (isupper((unsigned char)*p) && p != reason && o + 3 < len)
            out[o++] = ' ';
        out[o++] = (char)tolower((unsigned char)*p);
    }
    out[o] = '\0';
}

static const char *status_reason_default(long code)
{
    switch (code) {
    case 400:
        return "BadRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "NotFound";
    case 405:
        return "MethodNotAllowed";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 415:
        return "UnsupportedMediaType";
    case 422:
        return "Invalid";
    case 429:
        return "TooManyRequests";
    case 500:
        return "InternalError";
    case 502:
        return "BadGateway";
    case 503:
        return "ServiceUnavailable";
    case 504:
        return "Timeout";
    }
    return "Error";
}

/* Describe a non-2xx answer from its Status object (or its text when it is not one). */
static void status_error(struct rb_k8s *k, long code, const cJSON *body, int tries,
                         struct rb_err *err)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(body, "kind");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(body, "message");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(body, "details");
    const cJSON *causes = cJSON_GetObjectItemCaseSensitive(details, "causes");
    const cJSON *c;
    struct rb_buf b = RB_BUF_INIT;
    char words[64];

    reason_words(cJSON_IsString(reason) && reason->valuestring[0] != '\0'
                     ? reason->valuestring
                     : status_reason_default(code),
                 words, sizeof(words));
    if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") == 0 && cJSON_IsString(msg)) {
        rb_buf_addf(&b, "%ld %s: %s", code, words, msg->valuestring);
        cJSON_ArrayForEach(c, causes) {
            const cJSON *cm = cJSON_GetObjectItemCaseSensitive(c, "message");
            const cJSON *cf = cJSON_GetObjectItemCaseSensitive(c, "field");

            if (cJSON_IsString(cm) && strstr(msg->valuestring, cm->valuestring) == NULL)
                rb_buf_addf(&b, "; %s%s%s", cJSON_IsString(cf) ? cf->valuestring : "",
                            cJSON_IsString(cf) ? ": " : "", cm->valuestring);
        }
    } else {
        size_t n = k->resp.len < 200 ? k->resp.len : 200, i;

        rb_buf_addf(&b, "%ld %s", code, words);
        if (n > 0) {
            rb_buf_adds(&b, ": ");
            for (i = 0; i < n; i++)
                rb_buf_addc(&b, isprint((unsigned char)k->resp.data[i]) ? k->resp.data[i] : ' ');
        }
    }
    if (tries > 1)
        rb_buf_addf(&b, " (after %d attempts)", tries);
    rb_errf(err, RB_E_FAILED, "%s", b.data);
    rb_buf_release(&b);
    if (code == 401)
        rb_err_hint(
            err,
            "the API server refused the credentials of '%s' (%s); check the kubeconfig user, "
            "its token or client certificate, or token_env",
            k->label, k->cfg.source);
    else if (code == 403)
        rb_err_hint(err,
                    "grant the permission to the identity of '%s', or use a context that has it "
                    "(kubectl auth can-i)",
                    k->label);
}

static bool transport_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

static bool status_retryable(long code)
{
    return code == 429 || code == 500 || code == 502 || code == 503 || code == 504;
}

static bool write_allowed(const char *method, const char *path)
{
    /* The only POST a read-only handle sends asks the API what we may do; it changes nothing. */
    return strcmp(method, "GET") == 0 ||
           (strcmp(method, "POST") == 0 &&
            strcmp(path, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") == 0);
}

static int set_auth(struct rb_k8s *k, struct curl_slist **hdrs, struct rb_err *err)
{
    const char *tok = k->cfg.token;
    char *line;
    size_t len;

    if (k->cfg.token_file != NULL) {
        FILE *fp = fopen(k->cfg.token_file, "rb");
        char buf[16384];
        size_t n;

        if (fp == NULL)
            return rb_errf(err, RB_E_FAILED, "'%s': unable to read token file '%s': %s", k->label,
                           k->cfg.token_file, strerror(errno));
        n = fread(buf, 1, sizeof(buf) - 1, fp);
        fclose(fp);
        while (n > 0 && isspace((unsigned char)buf[n - 1]))
            n--;
        buf[n] = '\0';
        if (n == 0)
            return rb_errf(err, RB_E_FAILED, "'%s': token file '%s' is empty", k->label,
                           k->cfg.token_file);
        len = n + sizeof("Authorization: Bearer ");
        line = malloc(len);
        if (line == NULL)
            abort();
        snprintf(line, len, "Authorization: Bearer %s", buf);
        memset(buf, 0, sizeof(buf));
    } else if (tok != NULL) {
        len = strlen(tok) + sizeof("Authorization: Bearer ");
        line = malloc(len);
        if (line == NULL)
            abort();
        snprintf(line, len, "Authorization: Bearer %s", tok);
    } else {
        return 0;
    }
    *hdrs = curl_slist_append(*hdrs, line);
    memset(line, 0, len);
    free(line);
    return 0;
}

int rb_k8s_request(struct rb_k8s *k, const char *method, const char *path, const char *content_type,
                   const cJSON *body, cJSON **out, long *http_status, struct rb_err *err)
{
    char *payload = NULL;
    const char *url;
    int attempt, rc = -1;
    long code = 0;
    int64_t backoff = k->backoff_ms;

    if (out != NULL)
        *out = NULL;
    if (http_status != NULL)
        *http_status = 0;
    if (k->read_only && !write_allowed(method, path))
        return rb_errf(err, RB_E_FAILED,
                       "refusing %s %s on '%s': the handle is read-only (plan mode)", method, path,
                       k->label);
    url = rb_sprintf(k->arena, "%s%s", k->cfg.server, path);
    if (body != NULL) {
        payload = cJSON_PrintUnformatted(body);
        if (payload == NULL)
            abort();
    }
    for (attempt = 1; attempt <= k->attempts; attempt++) {
        struct curl_slist *hdrs = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        CURLcode cc;
        cJSON *doc = NULL;
        int64_t wait_ms;

        rb_buf_reset(&k->resp);
        k->resp_too_big = false;
        k->retry_after_s = -1;
        hdrs = curl_slist_append(hdrs, "Accept: application/json");
        if (payload != NULL) {
            const char *ct = rb_sprintf(k->arena, "Content-Type: %s",
                                        content_type != NULL ? content_type : "application/json");

            hdrs = curl_slist_append(hdrs, ct);
        }
        if (set_auth(k, &hdrs, err) < 0) {
            curl_slist_free_all(hdrs);
            break;
        }
        curl_easy_setopt(k->curl, CURLOPT_URL, url);
        curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(k->curl, CURLOPT_HTTPGET, 1L);
        if (payload != NULL) {
            curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, payload);
            curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
        }
        curl_easy_setopt(k->curl, CURLOPT_CUSTOMREQUEST,
                         strcmp(method, "GET") == 0 ? NULL : method);
        k->n_requests++;
        cc = curl_easy_perform(k->curl);
        curl_slist_free_all(hdrs);
        curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, NULL);
        if (cc != CURLE_OK) {
            const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc);

            code = 0;
            if (k->resp_too_big) {
                rb_errf(err, RB_E_FAILED, "%s %s: the answer is larger than %u MiB", method, path,
                        RESP_MAX >> 20);
                break;
            }
            if (transport_retryable(cc) && attempt < k->attempts) {
                k->n_retries++;
                if (pause_ms(backoff) < 0) {
                    rb_errf(err, RB_E_INTERRUPTED, "interrupted while waiting to retry %s %s",
                            method, path);
                    break;
                }
                backoff = backoff * 2 > RB_K8S_BACKOFF_MAX_MS ? RB_K8S_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            rb_errf(err, RB_E_FAILED, "unable to reach '%s' (%s): %s%s", k->label, k->cfg.server,
                    why, attempt > 1 ? rb_sprintf(k->arena, " (after %d attempts)", attempt) : "");
            if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CONNECT_ERROR)
                rb_err_hint(
                    err,
                    "the server's certificate was not trusted or the TLS handshake failed; check "
                    "certificate-authority(-data) and the client certificate in %s",
                    k->cfg.source);
            else if (cc == CURLE_OPERATION_TIMEDOUT)
                rb_err_hint(err, "each request may take %" PRId64 " ms (the target's `timeout:`)",
                            k->timeout_ms);
            break;
        }
        curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &code);
        if (k->resp.len > 0)
            doc = cJSON_ParseWithLength(k->resp.data, k->resp.len);
        if (code >= 200 && code < 300) {
            if (out != NULL)
                *out = doc;
            else
                cJSON_Delete(doc);
            rc = 0;
            break;
        }
        if (status_retryable(code) && attempt < k->attempts) {
            const cJSON *det = cJSON_GetObjectItemCaseSensitive(doc, "details");
            const cJSON *ra = cJSON_GetObjectItemCaseSensitive(det, "retryAfterSeconds");

            wait_ms = backoff;
            if (k->retry_after_s >= 0)
                wait_ms = k->retry_after_s * 1000;
            else if (cJSON_IsNumber(ra) && ra->valuedouble >= 0)
                wait_ms = ra->valuedouble < RB_K8S_RETRY_AFTER_MAX_MS / 1000
                              ? (int64_t)ra->valuedouble * 1000
                              : RB_K8S_RETRY_AFTER_MAX_MS;
            if (wait_ms > RB_K8S_RETRY_AFTER_MAX_MS)
                wait_ms = RB_K8S_RETRY_AFTER_MAX_MS;
            cJSON_Delete(doc);
            k->n_retries++;
            if (pause_ms(wait_ms) < 0) {
                rb_errf(err, RB_E_INTERRUPTED, "interrupted while waiting to retry %s %s", method,
                        path);
                break;
            }
            backoff = backoff * 2 > RB_K8S_BACKOFF_MAX_MS ? RB_K8S_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        status_error(k, code, doc, attempt, err);
        cJSON_Delete(doc);
        break;
    }
    if (payload != NULL) {
        curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, NULL);
        cJSON_free(payload);
    }
    if (http_status != NULL)
        *http_status = code;
    return rc;
}

int rb_k8s_get(struct rb_k8s *k, const char *path, cJSON **out, long *http_status,
               struct rb_err *err)
{
    return rb_k8s_request(k, "GET", path, NULL, NULL, out, http_status, err);
}

/* ---- paths ------------------------------------------------------------------------------------- */

static const struct {
    const char *resource, *group, *version;
} known[] = {
    { "deployments", "apps", "v1" },
    { "statefulsets", "apps", "v1" },
    { "cronjobs", "batch", "v1" },
    { "jobs", "batch", "v1" },
    { "configmaps", "", "v1" },
    { "services", "", "v1" },
    { "pods", "", "v1" },
    { "namespaces", "", "v1" },
    { "secrets", "", "v1" },
};

const char *rb_k8s_group(const char *resource)
{
    size_t i;

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].resource, resource) == 0)
            return known[i].group;
    return NULL;
}

static char *escape_seg(struct rb_arena *a, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *r;

    if (e == NULL)
        abort();
    r = rb_strdup(a, e);
    curl_free(e);
    return r;
}

const char *rb_k8s_path(struct rb_arena *a, const char *ns, const char *resource, const char *name,
                        const char *subresource)
{
    const char *group = rb_k8s_group(resource);
    const char *base =
        group == NULL || group[0] == '\0' ? "/api/v1" : rb_sprintf(a, "/apis/%s/v1", group);
    struct rb_buf b = RB_BUF_INIT;
    const char *out;

    rb_buf_adds(&b, base);
    if (ns != NULL && strcmp(resource, "namespaces") != 0)
        rb_buf_addf(&b, "/namespaces/%s", escape_seg(a, ns));
    rb_buf_addf(&b, "/%s", resource);
    if (name != NULL)
        rb_buf_addf(&b, "/%s", escape_seg(a, name));
    if (subresource != NULL)
        rb_buf_addf(&b, "/%s", subresource);
    out = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return out;
}

/* ---- lists, patches, deletes ------------------------------------------------------------------- */

int rb_k8s_list(struct rb_k8s *k, const char *path, const char *selector, cJSON **items,
                struct rb_err *err)
{
    cJSON *all = cJSON_CreateArray();
    const char *cont = NULL;
    int restarts = 0;

    *items = NULL;
    for (;;) {
        struct rb_buf q = RB_BUF_INIT;
        cJSON *page = NULL, *it;
        const cJSON *meta, *c, *kind, *apiv;
        long code;
        int rc;

        rb_buf_addf(&q, "%s?limit=%d", path, RB_K8S_PAGE_LIMIT);
        if (selector != NULL && selector[0] != '\0')
            rb_buf_addf(&q, "&labelSelector=%s", escape_seg(k->arena, selector));
        if (cont != NULL)
            rb_buf_addf(&q, "&continue=%s", escape_seg(k->arena, cont));
        rc = rb_k8s_get(k, q.data, &page, &code, err);
        rb_buf_release(&q);
        if (rc < 0) {
            if (code == 410 && cont != NULL && restarts < 2) {
                /* the continue token expired: the list is consistent only if read again whole */
                restarts++;
                cont = NULL;
                cJSON_Delete(all);
                all = cJSON_CreateArray();
                continue;
            }
            cJSON_Delete(all);
            return -1;
        }
        kind = cJSON_GetObjectItemCaseSensitive(page, "kind");
        apiv = cJSON_GetObjectItemCaseSensitive(page, "apiVersion");
        it = cJSON_GetObjectItemCaseSensitive(page, "items");
        if (!cJSON_IsArray(it) && !cJSON_IsNull(it) && it != NULL) {
            cJSON_Delete(page);
            cJSON_Delete(all);
            return rb_errf(err, RB_E_FAILED, "GET %s: the answer is not a list", path);
        }
        while (cJSON_IsArray(it) && cJSON_GetArraySize(it) > 0) {
            cJSON *obj = cJSON_DetachItemFromArray(it, 0);

            if (cJSON_IsString(kind) && cJSON_GetObjectItemCaseSensitive(obj, "kind") == NULL) {
                size_t n = strlen(kind->valuestring);

                if (n > 4 && strcmp(kind->valuestring + n - 4, "List") == 0)
                    cJSON_AddItemToObject(
                        obj, "kind",
                        cJSON_CreateString(rb_strndup(k->arena, kind->valuestring, n - 4)));
            }
            if (cJSON_IsString(apiv) && cJSON_GetObjectItemCaseSensitive(obj, "apiVersion") == NULL)
                cJSON_AddStringToObject(obj, "apiVersion", apiv->valuestring);
            cJSON_AddItemToArray(all, obj);
        }
        meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
        c = cJSON_GetObjectItemCaseSensitive(meta, "continue");
        cont = cJSON_IsString(c) && c->valuestring[0] != '\0' ? rb_strdup(k->arena, c->valuestring)
                                                              : NULL;
        cJSON_Delete(page);
        if (cont == NULL)
            break;
    }
    *items = all;
    return 0;
}

int rb_k8s_patch_merge(struct rb_k8s *k, const char *path, const cJSON *patch, cJSON **out,
                       long *http_status, struct rb_err *err)
{
    int i;

    for (i = 0; i < RB_K8S_ATTEMPTS; i++) {
        long code;
        cJSON *cur = NULL;
        int rc = rb_k8s_request(k, "PATCH", path, "application/merge-patch+json", patch, out, &code,
                                err);

        if (http_status != NULL)
            *http_status = code;
        if (rc == 0)
            return 0;
        if (code != 409 || i + 1 == RB_K8S_ATTEMPTS)
            return -1;
        /* Conflict: someone changed the object under us. Read it again; the patch sets absolute
           values, so re-applying it to the fresh object is the whole "re-apply" step. */
        if (rb_k8s_get(k, path, &cur, NULL, err) < 0)
            return -1;
        cJSON_Delete(cur);
        k->n_retries++;
    }
    return -1;
}

int rb_k8s_delete_collection(struct rb_k8s *k, const char *path, const char *selector,
                             const char *propagation, cJSON **names, struct rb_err *err)
{
    struct rb_buf q = RB_BUF_INIT;
    cJSON *opts = cJSON_CreateObject(), *resp = NULL;
    const cJSON *kind, *items, *it;
    int rc;

    if (names != NULL)
        *names = NULL;
    rb_buf_addf(&q, "%s?propagationPolicy=%s", path, propagation);
    if (selector != NULL && selector[0] != '\0')
        rb_buf_addf(&q, "&labelSelector=%s", escape_seg(k->arena, selector));
    cJSON_AddStringToObject(opts, "kind", "DeleteOptions");
    cJSON_AddStringToObject(opts, "apiVersion", "v1");
    cJSON_AddStringToObject(opts, "propagationPolicy", propagation);
    rc = rb_k8s_request(k, "DELETE", q.data, "application/json", opts, &resp, NULL, err);
    rb_buf_release(&q);
    cJSON_Delete(opts);
    if (rc < 0)
        return -1;
    /* The API answers with the deleted items (a *List) or with a Status; accept both. */
    if (names != NULL) {
        *names = cJSON_CreateArray();
        kind = cJSON_GetObjectItemCaseSensitive(resp, "kind");
        items = cJSON_GetObjectItemCaseSensitive(resp, "items");
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, "Status") != 0)
            cJSON_ArrayForEach(it, items) {
                const cJSON *nm = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(it, "metadata"), "name");

                if (cJSON_IsString(nm))
                    cJSON_AddItemToArray(*names, cJSON_CreateString(nm->valuestring));
            }
    }
    cJSON_Delete(resp);
    return 0;
}

/* ---- scale ------------------------------------------------------------------------------------- */

static int read_scale(struct rb_k8s *k, const char *path, int *replicas, const char **rv,
                      struct rb_err *err)
{
    cJSON *s = NULL;
    const cJSON *spec, *r, *meta, *v;

    if (rb_k8s_get(k, path, &s, NULL, err) < 0)
        return -1;
    spec = cJSON_GetObjectItemCaseSensitive(s, "spec");
    r = cJSON_GetObjectItemCaseSensitive(spec, "replicas");
    meta = cJSON_GetObjectItemCaseSensitive(s, "metadata");
    v = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    /* spec.replicas is omitted when 0 by some servers (omitempty) */
    *replicas = cJSON_IsNumber(r) ? r->valueint : 0;
    if (rv != NULL)
        *rv = cJSON_IsString(v) ? rb_strdup(k->arena, v->valuestring) : NULL;
    cJSON_Delete(s);
    return 0;
}

int rb_k8s_scale_get(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                     int *replicas, struct rb_err *err)
{
    size_t n = strlen(resource);

    if (read_scale(k, rb_k8s_path(k->arena, ns, resource, name, "scale"), replicas, NULL, err) < 0)
        return rb_err_wrap(err, "unable to read the replicas of %.*s '%s' in namespace '%s'",
                           (int)(n > 1 && resource[n - 1] == 's' ? n - 1 : n), resource, name, ns);
    return 0;
}

int rb_k8s_scale_set(struct rb_k8s *k, const char *ns, const char *resource, const char *name,
                     int replicas, struct rb_err *err)
{
    const char *path = rb_k8s_path(k->arena, ns, resource, name, "scale");
    int i;

    for (i = 0; i < RB_K8S_ATTEMPTS; i++) {
        const char *rv;
        int cur;
        long code;
        cJSON *patch, *meta, *spec;
        int rc;

        if (read_scale(k, path, &cur, &rv, err) < 0)
            return rb_err_wrap(err, "unable to scale '%s' in namespace '%s'", name, ns);
        if (cur == replicas)
            return 0;
        patch = cJSON_CreateObject();
        if (rv != NULL) {
            meta = cJSON_AddObjectToObject(patch, "metadata");
            cJSON_AddStringToObject(meta, "resourceVersion",
                                    rv); /* optimistic lock: 409 if stale */
        }
        spec = cJSON_AddObjectToObject(patch, "spec");
        cJSON_AddNumberToObject(spec, "replicas", replicas);
        rc = rb_k8s_request(k, "PATCH", path, "application/merge-patch+json", patch, NULL, &code,
                            err);
        cJSON_Delete(patch);
        if (rc == 0)
            return 0;
        if (code != 409)
            return rb_err_wrap(err, "unable to scale '%s' in namespace '%s'", name, ns);
        k->n_retries++; /* conflict: read again, apply again */
    }
    return rb_err_wrap(err, "unable to scale '%s' in namespace '%s'", name, ns);
}

/* ---- permissions ------------------------------------------------------------------------------- */

int rb_k8s_can_i(struct rb_k8s *k, const char *ns, const char *verb, const char *group,
                 const char *resource, const char *subresource, const char *name, bool *allowed,
                 const char **reason, struct rb_err *err)
{
    cJSON *rev = cJSON_CreateObject(), *spec, *ra, *resp = NULL;
    const cJSON *st, *al, *rs, *ee;
    int rc;

    cJSON_AddStringToObject(rev, "apiVersion", "authorization.k8s.io/v1");
    cJSON_AddStringToObject(rev, "kind", "SelfSubjectAccessReview");
    spec = cJSON_AddObjectToObject(rev, "spec");
    ra = cJSON_AddObjectToObject(spec, "resourceAttributes");
    cJSON_AddStringToObject(ra, "namespace", ns != NULL ? ns : "");
    cJSON_AddStringToObject(ra, "verb", verb);
    cJSON_AddStringToObject(ra, "group", group != NULL ? group : "");
    cJSON_AddStringToObject(ra, "resource", resource);
    if (subresource != NULL)
        cJSON_AddStringToObject(ra, "subresource", subresource);
    if (name != NULL)
        cJSON_AddStringToObject(ra, "name", name);
    rc = rb_k8s_request(k, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                        "application/json", rev, &resp, NULL, err);
    cJSON_Delete(rev);
    if (rc < 0)
        return rb_err_wrap(err, "unable to ask '%s' whether we may %s %s%s%s", k->label, verb,
                           resource, subresource != NULL ? "/" : "",
                           subresource != NULL ? subresource : "");
    st = cJSON_GetObjectItemCaseSensitive(resp, "status");
    al = cJSON_GetObjectItemCaseSensitive(st, "allowed");
    rs = cJSON_GetObjectItemCaseSensitive(st, "reason");
    ee = cJSON_GetObjectItemCaseSensitive(st, "evaluationError");
    *allowed = cJSON_IsTrue(al);
    if (reason != NULL)
        *reason = cJSON_IsString(rs)   ? rb_strdup(k->arena, rs->valuestring)
                  : cJSON_IsString(ee) ? rb_strdup(k->arena, ee->valuestring)
                                       : NULL;
    cJSON_Delete(resp);
    return 0;
}

struct need {
    const char *target, *ns, *verb, *resource, *sub, *name;
};

static void need_add(struct need *needs, size_t *n, const char *target, const char *ns,
                     const char *verb, const char *resource, const char *sub, const char *name)
{
    size_t i;

    for (i = 0; i < *n; i++)
        if (strcmp(needs[i].target, target) == 0 && strcmp(needs[i].ns, ns) == 0 &&
            strcmp(needs[i].verb, verb) == 0 && strcmp(needs[i].resource, resource) == 0 &&
            (needs[i].sub == NULL) == (sub == NULL) &&
            (sub == NULL || strcmp(needs[i].sub, sub) == 0) &&
            (needs[i].name == NULL) == (name == NULL) &&
            (name == NULL || strcmp(needs[i].name, name) == 0))
            return;
    needs[*n] = (struct need){ target, ns, verb, resource, sub, name };
    (*n)++;
}

int rb_k8s_check_permissions(struct rb_run *run, cJSON **report, struct rb_err *err)
{
    const struct rb_runbook *rb = run->rb;
    struct need *needs =
        rb_new_array(run->arena, struct need, rb->n_freeze * 8 + rb->n_restore * 2 + 1);
    struct rb_buf denied = RB_BUF_INIT;
    cJSON *rep = cJSON_CreateArray();
    size_t n = 0, i, ndenied = 0;
    static const char *const snap[] = { "deployments", "statefulsets", "cronjobs",
                                        "jobs",        "configmaps",   "services" };

    if (report != NULL)
        *report = NULL;
    for (i = 0; i < rb->n_freeze; i++) {
        const struct rb_freeze_action *f = &rb->freeze[i];
        struct rb_k8s *k = rb_k8s_target(run, f->target, err);
        const char *ns;
        size_t s;

        if (k == NULL) {
            cJSON_Delete(rep);
            rb_buf_release(&denied);
            return -1;
        }
        ns = f->namespace_ != NULL ? f->namespace_ : rb_k8s_namespace(k);
        switch (f->kind) {
        case RB_FREEZE_SCALE:
            need_add(needs, &n, f->target, ns, "get", "deployments", "scale", f->deployment);
            need_add(needs, &n, f->target, ns, "patch", "deployments", "scale", f->deployment);
            break;
        case RB_FREEZE_SUSPEND_CRONJOBS:
            need_add(needs, &n, f->target, ns, "list", "cronjobs", NULL, NULL);
            need_add(needs, &n, f->target, ns, "patch", "cronjobs", NULL, NULL);
            break;
        case RB_FREEZE_DELETE_JOBS:
            need_add(needs, &n, f->target, ns, "list", "jobs", NULL, NULL);
            need_add(needs, &n, f->target, ns, "deletecollection", "jobs", NULL, NULL);
            break;
        case RB_FREEZE_SNAPSHOT:
            for (s = 0; s < sizeof(snap) / sizeof(snap[0]); s++)
                need_add(needs, &n, f->target, ns, "list", snap[s], NULL, NULL);
            break;
        }
    }
    for (i = 0; i < rb->n_restore; i++) {
        const struct rb_restore_step *st = &rb->restore[i];
        struct rb_k8s *k;
        const char *ns;

        if (st->kind != RB_STEP_SCALE || st->target == NULL)
            continue;
        if ((k = rb_k8s_target(run, st->target, err)) == NULL) {
            cJSON_Delete(rep);
            rb_buf_release(&denied);
            return -1;
        }
        ns = st->namespace_ != NULL ? st->namespace_ : rb_k8s_namespace(k);
        need_add(needs, &n, st->target, ns, "get", "deployments", "scale", st->deployment);
        need_add(needs, &n, st->target, ns, "patch", "deployments", "scale", st->deployment);
    }
    for (i = 0; i < n; i++) {
        struct rb_k8s *k = rb_k8s_target(run, needs[i].target, err);
        const char *reason = NULL;
        bool ok = false;
        cJSON *e;

        if (k == NULL ||
            rb_k8s_can_i(k, needs[i].ns, needs[i].verb, rb_k8s_group(needs[i].resource),
                         needs[i].resource, needs[i].sub, needs[i].name, &ok, &reason, err) < 0) {
            cJSON_Delete(rep);
            rb_buf_release(&denied);
            return -1;
        }
        e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "target", needs[i].target);
        cJSON_AddStringToObject(e, "namespace", needs[i].ns);
        cJSON_AddStringToObject(e, "verb", needs[i].verb);
        cJSON_AddStringToObject(
            e, "resource",
            needs[i].sub != NULL ? rb_sprintf(run->arena, "%s/%s", needs[i].resource, needs[i].sub)
                                 : needs[i].resource);
        if (needs[i].name != NULL)
            cJSON_AddStringToObject(e, "name", needs[i].name);
        cJSON_AddBoolToObject(e, "allowed", ok);
        cJSON_AddItemToArray(rep, e);
        if (!ok) {
            rb_buf_addf(&denied, "%scannot %s %s%s%s%s%s%s in namespace '%s'",
                        ndenied > 0 ? "; " : "", needs[i].verb, needs[i].resource,
                        needs[i].sub != NULL ? "/" : "", needs[i].sub != NULL ? needs[i].sub : "",
                        needs[i].name != NULL ? " '" : "",
                        needs[i].name != NULL ? needs[i].name : "",
                        needs[i].name != NULL ? "'" : "", needs[i].ns);
            ndenied++;
        }
    }
    if (report != NULL)
        *report = rep;
    else
        cJSON_Delete(rep);
    if (ndenied > 0) {
        rb_errf(err, RB_E_FAILED, "%s", denied.data);
        rb_buf_release(&denied);
        return rb_err_hint(
            err, "grant these to the identity the cluster target uses, then run again; nothing "
                 "was changed");
    }
    rb_buf_release(&denied);
    return 0;
}

const struct rb_cluster_ops rb_k8s_ops = {
    .driver = "kubernetes",
    .open = rb_k8s_target,
    .scale_get = rb_k8s_scale_get,
    .scale_set = rb_k8s_scale_set,
    .check_permissions = rb_k8s_check_permissions,
};
