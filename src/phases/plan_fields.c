/*
 * plan_fields.c - the plan fields several phases share: probes and argv vectors as data, with
 * the same care for secrets as their plan text (rb_probe_describe): URLs without userinfo or
 * query, header names without values, no bodies.
 */
#include "plan_fields.h"

#include "rollbackctl/http.h"

cJSON *rb_argv_fields(const struct rb_strlist *argv)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; i < argv->n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(argv->items[i]));
    return arr;
}

cJSON *rb_probe_fields(struct rb_arena *a, const struct rb_probe *p)
{
    cJSON *f, *retry;

    switch (p->kind) {
    case RB_PROBE_SQL:
        f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "kind", "sql");
        cJSON_AddStringToObject(f, "target", p->target);
        cJSON_AddStringToObject(f, "sql", p->sql);
        break;
    case RB_PROBE_HTTP: {
        cJSON *h;

        f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "kind", "http");
        cJSON_AddStringToObject(f, "method",
                                p->method != NULL ? p->method : (p->body != NULL ? "POST" : "GET"));
        cJSON_AddStringToObject(f, "url", rb_http_redact_url(a, p->url));
        cJSON_AddNumberToObject(f, "expect_status", p->expect_status > 0 ? p->expect_status : 200);
        h = cJSON_AddArrayToObject(f, "headers");
        for (size_t i = 0; i < p->n_headers; i++)
            cJSON_AddItemToArray(h, cJSON_CreateString(p->headers[i].name));
        cJSON_AddBoolToObject(f, "sends_body", p->body != NULL);
        break;
    }
    case RB_PROBE_RUN:
        f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "kind", "exec");
        cJSON_AddItemToObject(f, "argv", rb_argv_fields(&p->argv));
        break;
    case RB_PROBE_NONE:
    default:
        return cJSON_CreateNull();
    }
    if (p->timeout_ms > 0)
        cJSON_AddNumberToObject(f, "timeout_ms", (double)p->timeout_ms);
    else
        cJSON_AddNullToObject(f, "timeout_ms");
    retry = cJSON_AddObjectToObject(f, "retry");
    cJSON_AddNumberToObject(retry, "attempts", p->retry.attempts > 0 ? p->retry.attempts : 1);
    cJSON_AddNumberToObject(retry, "interval_ms", (double)p->retry.interval_ms);
    return f;
}
