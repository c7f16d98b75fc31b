/*
 * fuzz_prometheus.c - a Prometheus /api/v1/query answer, any bytes, read to one signal value by
 * rb_prometheus_parse(): either a value or an error naming the query, never both, never a crash.
 * The body is exactly the bytes received (not terminated), as the HTTP layer could hand it over.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 200, 400, 401, 403, 422, 503 };
    struct rb_arena *a = rb_arena_new();
    struct rb_err err = RB_ERR_INIT;
    const char *value = NULL;
    long status = statuses[size % (sizeof(statuses) / sizeof(statuses[0]))];
    int rc = rb_prometheus_parse(a, "sum(rate(errors[5m]))", status, (const char *)data, size,
                                 &value, &err);

    if (rc == 0 ? value == NULL : (value != NULL || strstr(err.msg, "sum(rate(errors[5m]))") == NULL))
        abort();
    rb_arena_free(a);
    return 0;
}
