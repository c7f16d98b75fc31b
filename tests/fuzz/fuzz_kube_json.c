/*
 * fuzz_kube_json.c - what a Kubernetes API server (or something pretending to be one) answers,
 * read as the adapter reads it: the body parsed as rb_k8s_request() parses it, then the error
 * description of a refused request, a list page, a Scale object, the listed names and a
 * SelfSubjectAccessReview. No crash, no leak, and every refusal described with its code.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/adapters/kubernetes_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the answers the adapter treats differently: refusals, conflict, gone, retried 5xx */
    static const long codes[] = { 400, 401, 403, 404, 409, 410, 422, 429, 500, 503, 418 };
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    struct rb_k8s k;
    struct rb_cluster_list list;
    cJSON *doc = size > 0 ? cJSON_ParseWithLength((const char *)data, size) : NULL;
    cJSON *all = cJSON_CreateArray();
    const char *cont = NULL, *rv = NULL, *reason = NULL;
    long code = codes[size % (sizeof(codes) / sizeof(codes[0]))];
    char prefix[16];
    int replicas = -1, n_items;
    bool allowed = true;

    memset(&k, 0, sizeof(k));
    k.arena = a;
    k.label = "fuzz-cluster";
    k.cfg.source = "fuzz/kubeconfig";
    k.resp.data = (char *)data; /* the raw body, as the transport kept it: not terminated */
    k.resp.len = size;
    rb_k8s_status_error(&k, code, doc, 1 + (int)(size % 3), &err);
    snprintf(prefix, sizeof(prefix), "%ld ", code);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        abort();

    n_items = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "items"));
    err = (struct rb_err)RB_ERR_INIT;
    if (rb_k8s_list_page(a, "/api/v1/namespaces/fuzz/pods", doc, all, &cont, &err) == 0) {
        char *text;

        if (cJSON_GetArraySize(all) != (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "items"))
                                            ? n_items
                                            : 0))
            abort();
        if (cont != NULL && cont[0] == '\0')
            abort();
        rb_k8s_items_parse(a, all, &list);
        if (list.n > (size_t)cJSON_GetArraySize(all))
            abort();
        for (size_t i = 0; i < list.n; i++)
            if (list.items[i].name == NULL)
                abort();
        text = cJSON_PrintUnformatted(all); /* what a snapshot writes */
        cJSON_free(text);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    rb_k8s_scale_parse(a, doc, &replicas, &rv);
    rb_k8s_review_parse(a, doc, &allowed, &reason);
    cJSON_Delete(all);
    cJSON_Delete(doc);
    rb_arena_free(a);
    return 0;
}
