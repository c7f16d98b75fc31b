/*
 * kubernetes_http.c - the transport half of the Kubernetes adapter: one CURL handle per client,
 * TLS and credentials, requests with deadlines and safe retries, errors read from the API's Status
 * object, and the REST mechanics every resource shares (paths, paged lists with continue tokens,
 * merge patches, collection deletes). What a request means is kubernetes.c's business.
 *
 * One CURL easy handle per target (connections are kept alive between requests), released with
 * the run's arena. Credentials given as data go to libcurl as blobs (CURLOPT_*_BLOB), never to
 * temporary files; a token file is re-read before every request because projected service
 * account tokens rotate. The Authorization header is never logged or journaled.
 */
#include "kubernetes_priv.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/run.h"

#define RESP_MAX (256u << 20) /* a response larger than this is refused, not buffered */

static void k8s_cleanup(void *p)
{
    struct rb_k8s *k = p;

    if (k->curl != NULL)
        curl_easy_cleanup(k->curl);
    k->curl = NULL;
    curl_slist_free_all(k->connect_to);
    k->connect_to = NULL;
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

/*
 * tls-server-name, as client-go uses it (tls.Config.ServerName): the TLS handshake names it (SNI)
 * and the server's certificate is checked for it, while the connection goes to the server's
 * address and the Host header stays the server's. libcurl takes the name from the URL, so the URL
 * carries the name and CURLOPT_CONNECT_TO sends the connection to the address.
 */
static int server_name_route(struct rb_k8s *k, struct rb_err *err)
{
    char *host = NULL, *port = NULL, *given_port = NULL, *url = NULL;
    const char *name = k->cfg.tls_server_name;
    int rc = -1;
    CURLU *u;

    k->base_url = k->cfg.server;
    if (name == NULL)
        return 0;
    if ((u = curl_url()) == NULL)
        abort();
    if (curl_url_set(u, CURLUPART_URL, k->cfg.server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        rb_errf(err, RB_E_FAILED, "'%s': server '%s' is not a URL libcurl can read", k->label,
                k->cfg.server);
        goto out;
    }
    if (strcmp(host, name) == 0) {
        rc = 0; /* the name is the host already */
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &given_port, 0);
    if (curl_url_set(u, CURLUPART_HOST, name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        rb_errf(err, RB_E_FAILED, "'%s': tls-server-name '%s' is not a host name", k->label, name);
        goto out;
    }
    k->base_url = rb_strdup(k->arena, url);
    while (strlen(k->base_url) > 8 && k->base_url[strlen(k->base_url) - 1] == '/')
        ((char *)k->base_url)[strlen(k->base_url) - 1] = '\0';
    k->host_header = given_port != NULL ? rb_sprintf(k->arena, "Host: %s:%s", host, given_port)
                                        : rb_sprintf(k->arena, "Host: %s", host);
    k->connect_to =
        curl_slist_append(NULL, rb_sprintf(k->arena, "%s:%s:%s:%s", name, port, host, port));
    curl_easy_setopt(k->curl, CURLOPT_CONNECT_TO, k->connect_to);
    rc = 0;
out:
    curl_free(host);
    curl_free(port);
    curl_free(given_port);
    curl_free(url);
    curl_url_cleanup(u);
    return rc;
}

/* proxy-url: every request through it, whatever $HTTPS_PROXY and $NO_PROXY say (as kubectl). */
static void set_proxy(struct rb_k8s *k)
{
    const char *p = k->cfg.proxy_url;

    if (p == NULL)
        return;
    /* Go's SOCKS5 dialer hands the host name to the proxy: libcurl's socks5h */
    if (strncmp(p, "socks5://", 9) == 0)
        p = rb_sprintf(k->arena, "socks5h://%s", p + 9);
    curl_easy_setopt(k->curl, CURLOPT_PROXY, p);
    curl_easy_setopt(k->curl, CURLOPT_NOPROXY, "");
}

struct rb_k8s *rb_k8s_new(struct rb_arena *a, const struct rb_k8s_config *cfg,
                          const struct rb_k8s_opts *o, struct rb_err *err)
{
    struct rb_k8s *k = rb_new(a, struct rb_k8s);
    static const struct rb_k8s_opts none;
    CURL *c;

    if (o == NULL)
        o = &none;
    if (cfg->refusal != NULL) {
        rb_errf(err, RB_E_FAILED, "%s", cfg->refusal);
        rb_err_hint(err, "give the cluster target a bearer token (token_env) or a kubeconfig user "
                         "with a token, a client certificate or an exec plugin");
        return NULL;
    }
    k->arena = a;
    k->env_drop = o->env_drop;
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
    if (server_name_route(k, err) < 0)
        return NULL;
    set_proxy(k);
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

void rb_k8s_stats(const struct rb_k8s *k, int *requests, int *retries)
{
    if (requests != NULL)
        *requests = k->n_requests;
    if (retries != NULL)
        *retries = k->n_retries;
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

void rb_k8s_status_error(struct rb_k8s *k, long code, const cJSON *body, int tries,
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
    /* A 4xx is the server's answer (no, not found, conflict); a 5xx left after the retries is a
       server that could not do it, which is not a refusal. */
    if (code >= 400 && code < 500)
        rb_err_kind(err, RB_K_REFUSED);
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

/* The exec plugin's credential on this request: its token, or its client certificate. */
static int exec_auth(struct rb_k8s *k, unsigned long stale, const char **tok, struct rb_err *err)
{
    const struct rb_k8s_cred *c;

    if (rb_k8s_exec_credential(k, stale, &c, err) < 0)
        return rb_err_wrap(err, "'%s'", k->label);
    k->cred_id = c->id;
    *tok = c->token;
    if (c->cert != NULL && k->cert_id != c->id) {
        struct curl_blob cb = { c->cert, c->cert_len, CURL_BLOB_COPY };
        struct curl_blob kb = { c->key, c->key_len, CURL_BLOB_COPY };

        curl_easy_setopt(k->curl, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(k->curl, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(k->curl, CURLOPT_SSLKEY_BLOB, &kb);
        curl_easy_setopt(k->curl, CURLOPT_SSLKEYTYPE, "PEM");
        /* a kept-alive connection still speaks with the old certificate */
        k->fresh_connect = k->cert_id != 0;
        k->cert_id = c->id;
    }
    return 0;
}

static int set_auth(struct rb_k8s *k, struct curl_slist **hdrs, unsigned long stale,
                    struct rb_err *err)
{
    const char *tok = k->cfg.token;
    char *line;
    size_t len;

    if (k->cfg.exec != NULL && exec_auth(k, stale, &tok, err) < 0)
        return -1;
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
    unsigned long stale = 0; /* the exec credential a 401 refused */

    if (out != NULL)
        *out = NULL;
    if (http_status != NULL)
        *http_status = 0;
    if (k->read_only && !write_allowed(method, path))
        return rb_errf(err, RB_E_FAILED,
                       "refusing %s %s on '%s': the handle is read-only (plan mode)", method, path,
                       k->label);
    url = rb_sprintf(k->arena, "%s%s", k->base_url, path);
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
        if (k->host_header != NULL)
            hdrs = curl_slist_append(hdrs, k->host_header);
        if (set_auth(k, &hdrs, stale, err) < 0) {
            curl_slist_free_all(hdrs);
            break;
        }
        curl_easy_setopt(k->curl, CURLOPT_FRESH_CONNECT, k->fresh_connect ? 1L : 0L);
        k->fresh_connect = false;
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
                    rb_err_kind(err, RB_K_INTERRUPTED);
                    break;
                }
                backoff = backoff * 2 > RB_K8S_BACKOFF_MAX_MS ? RB_K8S_BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            rb_errf(err, RB_E_FAILED, "unable to reach '%s' (%s): %s%s", k->label, k->cfg.server,
                    why, attempt > 1 ? rb_sprintf(k->arena, " (after %d attempts)", attempt) : "");
            if (cc == CURLE_OPERATION_TIMEDOUT)
                rb_err_kind(err, RB_K_TIMEOUT);
            else if (transport_retryable(cc))
                rb_err_kind(err, RB_K_CONN_LOST);
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
        if (code == 401 && k->cfg.exec != NULL && stale == 0) {
            /*
             * The plugin's credential was refused (revoked, or expired before its timestamp
             * said): run the plugin again and send the request once more, as client-go
             * refreshes on a 401. Once: a fresh credential refused too is the answer.
             */
            stale = k->cred_id;
            cJSON_Delete(doc);
            attempt--;
            continue;
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
            /* no single wait longer than the operator allows one request to take */
            if (wait_ms > k->timeout_ms)
                wait_ms = k->timeout_ms;
            cJSON_Delete(doc);
            k->n_retries++;
            if (pause_ms(wait_ms) < 0) {
                rb_errf(err, RB_E_INTERRUPTED, "interrupted while waiting to retry %s %s", method,
                        path);
                rb_err_kind(err, RB_K_INTERRUPTED);
                break;
            }
            backoff = backoff * 2 > RB_K8S_BACKOFF_MAX_MS ? RB_K8S_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        rb_k8s_status_error(k, code, doc, attempt, err);
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
        rb_buf_addf(&b, "/namespaces/%s", rb_http_escape(a, ns));
    rb_buf_addf(&b, "/%s", resource);
    if (name != NULL)
        rb_buf_addf(&b, "/%s", rb_http_escape(a, name));
    if (subresource != NULL)
        rb_buf_addf(&b, "/%s", subresource);
    out = rb_strdup(a, b.data);
    rb_buf_release(&b);
    return out;
}

/* ---- lists, patches, deletes ------------------------------------------------------------------- */

int rb_k8s_list_page(struct rb_arena *a, const char *path, cJSON *page, cJSON *all,
                     const char **cont, struct rb_err *err)
{
    const cJSON *meta, *c, *kind, *apiv;
    cJSON *it;

    *cont = NULL;
    kind = cJSON_GetObjectItemCaseSensitive(page, "kind");
    apiv = cJSON_GetObjectItemCaseSensitive(page, "apiVersion");
    it = cJSON_GetObjectItemCaseSensitive(page, "items");
    if (!cJSON_IsArray(it) && !cJSON_IsNull(it) && it != NULL)
        return rb_errf(err, RB_E_FAILED, "GET %s: the answer is not a list", path);
    while (cJSON_IsArray(it) && cJSON_GetArraySize(it) > 0) {
        cJSON *obj = cJSON_DetachItemFromArray(it, 0);

        if (cJSON_IsString(kind) && cJSON_GetObjectItemCaseSensitive(obj, "kind") == NULL) {
            size_t n = strlen(kind->valuestring);

            if (n > 4 && strcmp(kind->valuestring + n - 4, "List") == 0)
                cJSON_AddItemToObject(obj, "kind",
                                      cJSON_CreateString(rb_strndup(a, kind->valuestring, n - 4)));
        }
        if (cJSON_IsString(apiv) && cJSON_GetObjectItemCaseSensitive(obj, "apiVersion") == NULL)
            cJSON_AddStringToObject(obj, "apiVersion", apiv->valuestring);
        cJSON_AddItemToArray(all, obj);
    }
    meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
    c = cJSON_GetObjectItemCaseSensitive(meta, "continue");
    *cont = cJSON_IsString(c) && c->valuestring[0] != '\0' ? rb_strdup(a, c->valuestring) : NULL;
    return 0;
}

int rb_k8s_list(struct rb_k8s *k, const char *path, const char *selector, cJSON **items,
                struct rb_err *err)
{
    cJSON *all = cJSON_CreateArray();
    const char *cont = NULL;
    int restarts = 0, pages = 0;

    *items = NULL;
    for (;;) {
        const char *prev = cont;
        struct rb_buf q = RB_BUF_INIT;
        cJSON *page = NULL;
        long code;
        int rc;

        rb_buf_addf(&q, "%s?limit=%d", path, RB_K8S_PAGE_LIMIT);
        if (selector != NULL && selector[0] != '\0')
            rb_buf_addf(&q, "&labelSelector=%s", rb_http_escape(k->arena, selector));
        if (cont != NULL)
            rb_buf_addf(&q, "&continue=%s", rb_http_escape(k->arena, cont));
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
        rc = rb_k8s_list_page(k->arena, path, page, all, &cont, err);
        cJSON_Delete(page);
        if (rc < 0) {
            cJSON_Delete(all);
            return -1;
        }
        if (cont == NULL)
            break;
        if (prev != NULL && strcmp(prev, cont) == 0)
            rb_errf(
                err, RB_E_FAILED,
                "GET %s: the server answered the same continue token twice: the list never ends",
                path);
        else if (++pages >= RB_K8S_MAX_PAGES)
            rb_errf(err, RB_E_FAILED, "GET %s: the list did not end after %d pages", path,
                    RB_K8S_MAX_PAGES);
        else
            continue;
        cJSON_Delete(all);
        return rb_err_hint(err,
                           "the API server (or a proxy before it) is misbehaving; check it with "
                           "kubectl get --raw '%s?limit=%d'",
                           path, RB_K8S_PAGE_LIMIT);
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
        rb_buf_addf(&q, "&labelSelector=%s", rb_http_escape(k->arena, selector));
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
