/*
 * base64.c - base64 decoding for the kubeconfig's *-data fields and TSIG secrets: the alphabet and
 * the padding checked here, the bits left to OpenSSL's EVP_DecodeUpdate.
 *
 * The check comes first because EVP_DecodeUpdate is lenient where the tools we follow are not: it
 * skips whitespace anywhere and takes '-' as an end-of-data marker, silently returning what it
 * decoded before it ("YWJj-ZGVm" would read as "abc"), so URL-safe input would come out truncated
 * instead of refused.
 */
#include "rollbackctl/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

static bool b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Offset of the first byte that makes in[0..len) not padded standard base64, or SIZE_MAX. */
static size_t first_bad(const unsigned char *in, size_t len)
{
    size_t i, pad = 0;

    for (i = 0; i < len; i++) {
        if (in[i] == '=') {
            /* padding: only the last one or two bytes of a four-byte group, and the last group */
            if (pad == 2 || i % 4 < 2)
                return i;
            pad++;
        } else if (pad > 0 || !b64_char(in[i])) {
            return i;
        }
    }
    if (len % 4 != 0)
        return len;
    return SIZE_MAX;
}

int rb_base64_decode(struct rb_arena *a, const char *in, size_t len, unsigned char **out,
                     size_t *outlen, size_t *bad)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t at = first_bad(u, len), done = 0, o = 0;
    unsigned char *buf;
    EVP_ENCODE_CTX *ctx;
    int n = 0;

    if (bad != NULL)
        *bad = at;
    if (at != SIZE_MAX)
        return -1;
    buf = rb_alloc(a, len / 4 * 3 + 1);
    ctx = EVP_ENCODE_CTX_new();
    if (ctx == NULL)
        return -1;
    EVP_DecodeInit(ctx);
    /* EVP_DecodeUpdate takes an int length: large inputs go in pieces (multiples of 4). */
    while (done < len) {
        size_t chunk = len - done > (1u << 20) ? (1u << 20) : len - done;

        if (EVP_DecodeUpdate(ctx, buf + o, &n, u + done, (int)chunk) < 0)
            break;
        o += (size_t)n;
        done += chunk;
    }
    if (done < len || EVP_DecodeFinal(ctx, buf + o, &n) < 0) {
        EVP_ENCODE_CTX_free(ctx);
        if (bad != NULL)
            *bad = done;
        return -1;
    }
    o += (size_t)n;
    EVP_ENCODE_CTX_free(ctx);
    buf[o] = '\0';
    *out = buf;
    *outlen = o;
    return 0;
}
