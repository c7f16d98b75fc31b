/*
 * powerdns.c - the `powerdns` DNS driver: the PowerDNS Authoritative HTTP API.
 *
 *   read:  GET   {url}/api/v1/servers/{server_id}/zones/{zone}?rrset_name=N&rrset_type=T
 *   set:   PATCH {url}/api/v1/servers/{server_id}/zones/{zone}
 *          {"rrsets":[{"name":N,"type":T,"ttl":TTL,"changetype":"REPLACE",
 *                      "records":[{"content":DATA,"disabled":false}]}]}   -> 204
 *
 * REPLACE swaps the whole RRset atomically, so a repeat is harmless. After the PATCH the RRset is
 * read back through the API and compared. The key comes from the environment variable named by
 * `api_key_env` and travels only in the X-API-Key header (never in URLs, messages or the journal).
 * server_id, zone and the rrset name are URL-escaped (rb_http_escape) where they enter the URL.
 * Older servers ignore the rrset_name filter and return the whole zone; we filter ourselves.
 */
#include "rollbackctl/dns.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rollbackctl/dns_wire.h"
#include "rollbackctl/http.h"

struct api {
    const char *base;  /* {url}/api/v1/servers/{server_id}/zones/{zone} */
    const char *shown; /* same, for messages (no userinfo) */
    const char *zone;
    const char *headers[3];
    int64_t timeout_ms;
};

static int api_open(struct rb_arena *a, const struct rb_target *t, struct api *api,
                    struct rb_err *err)
{
    const char *url = rb_target_opt(t, "url"), *zone = rb_target_opt(t, "zone");
    const char *env = rb_target_opt(t, "api_key_env"), *sid = rb_target_opt(t, "server_id");
    const char *key = NULL;
    size_t n;

    memset(api, 0, sizeof(*api));
    if (url == NULL || zone == NULL)
        return rb_errf(err, RB_E_FAILED, "DNS target '%s' needs 'url' and 'zone'", t->name);
    if (env != NULL) {
        key = getenv(env);
        if (key == NULL || key[0] == '\0')
            return rb_errf(err, RB_E_FAILED,
                           "environment variable '%s' (api_key_env of target '%s') is "
                           "not set",
                           env, t->name);
    }
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    api->zone = rb_dns_fqdn(a, zone, NULL);
    /* path segments escaped: a '#', '?' or '/' in them would change the request's meaning */
    api->base = rb_sprintf(a, "%.*s/api/v1/servers/%s/zones/%s", (int)n, url,
                           rb_http_escape(a, sid != NULL ? sid : "localhost"),
                           rb_http_escape(a, api->zone));
    api->shown = rb_http_redact_url(a, api->base);
    api->headers[0] = "Content-Type: application/json";
    api->headers[1] = key != NULL ? rb_sprintf(a, "X-API-Key: %s", key) : NULL;
    api->timeout_ms = rb_dns_target_timeout(t);
    return 0;
}

/* The API's own words: {"error": "...", "errors": [...]}, else the start of the body. */
static const char *api_error(struct rb_arena *a, const struct rb_http_response *res)
{
    cJSON *j = cJSON_ParseWithLength(res->body, res->body_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const char *msg;

    if (cJSON_IsString(e))
        msg = rb_strdup(a, e->valuestring);
    else
        msg = rb_sprintf(a, "%.200s", res->body_len > 0 ? res->body : "(empty body)");
    cJSON_Delete(j);
    return msg;
}

static int status_err(struct rb_arena *a, const struct api *api, const char *what,
                      const struct rb_http_response *res, struct rb_err *err)
{
    const char *why = api_error(a, res);

    switch (res->status) {
    case 401:
    case 403:
        rb_errf(err, RB_E_FAILED, "PowerDNS API '%s' refused %s: %ld %s", api->shown, what,
                res->status, why);
        return rb_err_hint(err, "check the API key in the variable named by api_key_env");
    case 404:
        rb_errf(err, RB_E_FAILED, "PowerDNS API: zone '%s' not found at '%s' (404): %s", api->zone,
                api->shown, why);
        return rb_err_hint(err, "check the target's zone and server_id");
    }
    return rb_errf(err, RB_E_FAILED, "PowerDNS API '%s' answered %ld to %s: %s", api->shown,
                   res->status, what, why);
}

static int pdns_read(struct rb_arena *a, const struct rb_target *t, const char *name,
                     const char *type, struct rb_dns_rrset *out, struct rb_err *err)
{
    struct rb_http_request req;
    struct rb_http_response res;
    const cJSON *rrsets, *rs;
    struct api api;
    const char *fq;
    int code = rb_dns_type_code(type);
    cJSON *j;

    memset(out, 0, sizeof(*out));
    out->ttl = -1;
    if (api_open(a, t, &api, err) < 0)
        return -1;
    fq = rb_dns_fqdn(a, name, api.zone);
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = rb_sprintf(a, "%s?rrset_name=%s&rrset_type=%s", api.base, rb_http_escape(a, fq),
                         rb_http_escape(a, type));
    req.headers = api.headers;
    req.timeout_ms = api.timeout_ms;
    if (rb_http_do(a, &req, &res, err) < 0)
        return -1;
    if (res.status != 200)
        return status_err(a, &api, rb_sprintf(a, "the read of '%s' %s", fq, type), &res, err);
    j = cJSON_ParseWithLength(res.body, res.body_len);
    rrsets = cJSON_GetObjectItemCaseSensitive(j, "rrsets");
    if (!cJSON_IsArray(rrsets)) {
        cJSON_Delete(j);
        return rb_errf(err, RB_E_FAILED, "PowerDNS API '%s' answered without an 'rrsets' list",
                       api.shown);
    }
    cJSON_ArrayForEach(rs, rrsets) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(rs, "name");
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rs, "type");
        const cJSON *recs = cJSON_GetObjectItemCaseSensitive(rs, "records"), *r;
        const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(rs, "ttl");
        size_t k = 0;

        if (!cJSON_IsString(n) || !cJSON_IsString(ty) || strcasecmp(n->valuestring, fq) != 0 ||
            strcasecmp(ty->valuestring, type) != 0 || !cJSON_IsArray(recs))
            continue;
        out->values = rb_new_array(a, const char *, (size_t)cJSON_GetArraySize(recs) + 1);
        cJSON_ArrayForEach(r, recs) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(r, "content");
            const cJSON *dis = cJSON_GetObjectItemCaseSensitive(r, "disabled");
            struct rb_err cerr = RB_ERR_INIT;
            const char *canon;

            if (!cJSON_IsString(c) || cJSON_IsTrue(dis))
                continue;
            canon = code != 0 ? rb_dns_canonical(a, code, c->valuestring, &cerr) : NULL;
            out->values[k++] = canon != NULL ? canon : rb_strdup(a, c->valuestring);
        }
        out->n = k;
        out->ttl = cJSON_IsNumber(ttl) ? ttl->valueint : -1;
        break;
    }
    cJSON_Delete(j);
    return 0;
}

const char *rb_powerdns_replace_body(struct rb_arena *a, const char *fqdn, const char *type,
                                     int ttl, const char *content)
{
    cJSON *body = cJSON_CreateObject(), *rrsets = cJSON_AddArrayToObject(body, "rrsets");
    cJSON *rs = cJSON_CreateObject(), *records, *r = cJSON_CreateObject();
    char *json;
    const char *out;

    cJSON_AddItemToArray(rrsets, rs);
    cJSON_AddStringToObject(rs, "name", fqdn);
    cJSON_AddStringToObject(rs, "type", type);
    cJSON_AddNumberToObject(rs, "ttl", ttl);
    cJSON_AddStringToObject(rs, "changetype", "REPLACE");
    records = cJSON_AddArrayToObject(rs, "records");
    cJSON_AddItemToArray(records, r);
    cJSON_AddStringToObject(r, "content", content);
    cJSON_AddBoolToObject(r, "disabled", 0);
    json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    out = rb_strdup(a, json != NULL ? json : "{}");
    free(json);
    return out;
}

static int pdns_set(struct rb_arena *a, const struct rb_target *t, const struct rb_dns_record *rec,
                    struct rb_err *err)
{
    struct rb_http_request req;
    struct rb_http_response res;
    struct rb_dns_rrset now;
    const char *fq, *want;
    struct api api;
    int code = rb_dns_type_code(rec->type), rc;

    if (api_open(a, t, &api, err) < 0)
        return -1;
    fq = rb_dns_fqdn(a, rec->name, api.zone);
    /* Validate the data locally first: a clear message beats the API's 422. */
    want = code != 0 ? rb_dns_canonical(a, code, rec->data, err) : rec->data;
    if (want == NULL)
        return -1;

    memset(&req, 0, sizeof(req));
    req.method = "PATCH";
    req.url = api.base;
    req.body = rb_powerdns_replace_body(a, fq, rec->type, rec->ttl, want);
    req.headers = api.headers;
    req.timeout_ms = api.timeout_ms;
    rc = rb_http_do(a, &req, &res, err);
    if (rc < 0)
        return -1;
    if (res.status != 204 && res.status != 200)
        return status_err(a, &api, rb_sprintf(a, "the update of '%s' %s", fq, rec->type), &res,
                          err);

    if (pdns_read(a, t, fq, rec->type, &now, err) < 0)
        return rb_err_wrap(err, "update accepted, but reading '%s' back failed", fq);
    if (now.n != 1 || strcmp(now.values[0], want) != 0)
        return rb_errf(err, RB_E_FAILED,
                       "PowerDNS accepted the update, but '%s' %s reads back as %s, not %s", fq,
                       rec->type, rb_dns_rrset_text(a, &now), want);
    return 0;
}

/* The channel check: GET of the zone with the API key (a read; the zone's serial said back). */
static int pdns_check(struct rb_arena *a, const struct rb_target *t, const char **what,
                      struct rb_err *err)
{
    struct rb_http_request req;
    struct rb_http_response res;
    const cJSON *serial;
    struct api api;
    cJSON *j;

    if (api_open(a, t, &api, err) < 0)
        return -1;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = api.base;
    req.headers = api.headers;
    req.timeout_ms = api.timeout_ms;
    if (rb_http_do(a, &req, &res, err) < 0)
        return -1;
    if (res.status != 200)
        return status_err(a, &api, rb_sprintf(a, "the read of zone '%s'", api.zone), &res, err);
    j = cJSON_ParseWithLength(res.body, res.body_len);
    serial = cJSON_GetObjectItemCaseSensitive(j, "serial");
    if (what != NULL)
        *what = cJSON_IsNumber(serial)
                    ? rb_sprintf(a, "PowerDNS API '%s' answered with the API key: serial %.0f",
                                 api.shown, serial->valuedouble)
                    : rb_sprintf(a, "PowerDNS API '%s' answered with the API key", api.shown);
    cJSON_Delete(j);
    return 0;
}

const struct rb_dns_ops rb_powerdns_ops = {
    .driver = "powerdns",
    .read_record = pdns_read,
    .set_record = pdns_set,
    .check = pdns_check,
};
