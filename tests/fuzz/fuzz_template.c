/*
 * fuzz_template.c - libFuzzer target for message templates and the mail format: parse any
 * bytes (with every variable allowed or only the message variables), render what parses, check
 * that a rendering without "\{{" escapes and with values free of braces leaves no "{{" behind,
 * and format the result as a mail (quoted-printable, RFC 2047 subject).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rollbackctl/notify.h"
#include "rollbackctl/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup(void *ctx, const char *name)
{
    (void)ctx;
    return name[0] == 'r' ? NULL : "value é";
}

static int has_escape(const uint8_t *d, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (d[i] == '\\' && d[i + 1] == '{' && d[i + 2] == '{')
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rb_arena *a = rb_arena_new();
    struct rb_template_problem *probs;
    struct rb_template *t;
    size_t n = 0, len = 0;
    const char *src = (const char *)data;

    t = rb_template_parse(a, src, size, NULL, &probs, &n);
    if (t == NULL) {
        for (size_t i = 0; i < n; i++)
            if (probs[i].pos.line < 1 || probs[i].pos.col < 1 || probs[i].msg == NULL)
                abort();
    } else {
        char *out = rb_template_render(a, t, lookup, NULL);
        struct rb_notify_message m = { "fuzz", NULL, 0, out, out, "<x@y>", 0 };

        if (n != 0)
            abort();
        if (!has_escape(data, size) && strstr(out, "{{") != NULL)
            abort();
        rb_mail_format(a, "rb@example.test", &m, &len);
        rb_mail_encode_header(a, out);
    }
    rb_arena_free(a);
    return 0;
}
