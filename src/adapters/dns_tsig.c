/*
 * dns_tsig.c - TSIG (RFC 8945): BIND key files, signing requests, verifying responses.
 *
 * The MAC covers the message as sent (without the TSIG RR) followed by the "TSIG variables"
 * (key name, class ANY, TTL 0, algorithm, time signed, fudge, error, other data). A response's
 * MAC is prefixed by the request's MAC, which ties the answer to our question. HMAC comes from
 * OpenSSL's libcrypto; the secret never leaves this struct (no logs, no argv).
 */
#include "rollbackctl/dns_wire.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "rollbackctl/base64.h"

/* --- key files ---------------------------------------------------------------------------- */

struct lexer {
    const char *p;
    int line;
};

/* Next token into tok: a word, a "string" (quotes removed) or one of { } ;. 0 at the end. */
static int next_token(struct lexer *lx, char *tok, size_t cap, bool *quoted)
{
    size_t n = 0;

    *quoted = false;
    for (;;) {
        while (isspace((unsigned char)*lx->p)) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (*lx->p == '#' || (lx->p[0] == '/' && lx->p[1] == '/')) {
            lx->p += strcspn(lx->p, "\n");
            continue;
        }
        if (lx->p[0] == '/' && lx->p[1] == '*') {
            const char *end = strstr(lx->p + 2, "*/");

            for (const char *q = lx->p; q < (end ? end : lx->p + strlen(lx->p)); q++)
                lx->line += *q == '\n';
            lx->p = end != NULL ? end + 2 : lx->p + strlen(lx->p);
            continue;
        }
        break;
    }
    if (*lx->p == '\0')
        return 0;
    if (strchr("{};", *lx->p) != NULL) {
        tok[0] = *lx->p++;
        tok[1] = '\0';
        return 1;
    }
    if (*lx->p == '"') {
        *quoted = true;
        lx->p++;
        while (*lx->p != '\0' && *lx->p != '"') {
            if (n + 1 >= cap)
                return -1;
            tok[n++] = *lx->p++;
        }
        if (*lx->p != '"')
            return -1;
        lx->p++;
    } else {
        while (*lx->p != '\0' && !isspace((unsigned char)*lx->p) &&
               strchr("{};\"", *lx->p) == NULL) {
            if (n + 1 >= cap)
                return -1;
            tok[n++] = *lx->p++;
        }
    }
    tok[n] = '\0';
    return 1;
}

static const EVP_MD *algorithm_md(const char *alg)
{
    if (strcasecmp(alg, "hmac-sha256") == 0)
        return EVP_sha256();
    if (strcasecmp(alg, "hmac-sha384") == 0)
        return EVP_sha384();
    if (strcasecmp(alg, "hmac-sha512") == 0)
        return EVP_sha512();
    if (strcasecmp(alg, "hmac-sha224") == 0)
        return EVP_sha224();
    if (strcasecmp(alg, "hmac-sha1") == 0)
        return EVP_sha1();
    return NULL;
}

static int decode_secret(struct rb_arena *a, const char *b64, struct rb_tsig_key *key,
                         struct rb_err *err)
{
    unsigned char *out;
    size_t n;

    if (b64[0] == '\0' || rb_base64_decode(a, b64, strlen(b64), &out, &n, NULL) < 0)
        return rb_errf(err, RB_E_FAILED, "TSIG key '%s': secret is not valid base64", key->name);
    if (n == 0 || n > sizeof(key->secret)) {
        OPENSSL_cleanse(out, n);
        return rb_errf(err, RB_E_FAILED, "TSIG key '%s': secret has a bad length", key->name);
    }
    key->secret_len = n;
    memcpy(key->secret, out, n);
    OPENSSL_cleanse(out, n);
    return 0;
}

int rb_tsig_key_parse(struct rb_arena *a, const char *text, struct rb_tsig_key *key,
                      struct rb_err *err)
{
    struct lexer lx = { text, 1 };
    char tok[512], name[256] = "", alg[512] = "", secret[512] = "";
    bool quoted;
    int r;

    memset(key, 0, sizeof(*key));
    /* key NAME { algorithm ALG ; secret "B64" ; } ; */
    while ((r = next_token(&lx, tok, sizeof(tok), &quoted)) > 0 &&
           (quoted || strcmp(tok, "key") != 0))
        ;
    if (r <= 0)
        return rb_errf(err, RB_E_FAILED, "no 'key \"name\" { ... };' statement found");
    if (next_token(&lx, name, sizeof(name), &quoted) <= 0 || name[0] == '\0' ||
        (!quoted && strchr("{};", name[0]) != NULL))
        return rb_errf(err, RB_E_FAILED, "line %d: expected a key name after 'key'", lx.line);
    if (next_token(&lx, tok, sizeof(tok), &quoted) <= 0 || strcmp(tok, "{") != 0)
        return rb_errf(err, RB_E_FAILED, "line %d: expected '{' after the key name", lx.line);
    for (;;) {
        char val[512];

        if (next_token(&lx, tok, sizeof(tok), &quoted) <= 0)
            return rb_errf(err, RB_E_FAILED, "line %d: unterminated key statement", lx.line);
        if (!quoted && strcmp(tok, "}") == 0)
            break;
        if (next_token(&lx, val, sizeof(val), &quoted) <= 0)
            return rb_errf(err, RB_E_FAILED, "line %d: expected a value after '%s'", lx.line, tok);
        if (strcmp(tok, "algorithm") == 0)
            snprintf(alg, sizeof(alg), "%s", val);
        else if (strcmp(tok, "secret") == 0)
            snprintf(secret, sizeof(secret), "%s", val);
        if (next_token(&lx, tok, sizeof(tok), &quoted) <= 0 || strcmp(tok, ";") != 0)
            return rb_errf(err, RB_E_FAILED, "line %d: expected ';'", lx.line);
    }
    if (alg[0] == '\0')
        return rb_errf(err, RB_E_FAILED, "key '%s' has no algorithm", name);
    if (secret[0] == '\0')
        return rb_errf(err, RB_E_FAILED, "key '%s' has no secret", name);
    if (strcasecmp(alg, "hmac-md5") == 0 || strncasecmp(alg, "hmac-md5.", 9) == 0)
        return rb_errf(err, RB_E_FAILED,
                       "key '%s': hmac-md5 must not be used (RFC 8945); "
                       "make a new key with 'tsig-keygen -a hmac-sha256'",
                       name);
    key->md = algorithm_md(alg);
    if (key->md == NULL)
        return rb_errf(err, RB_E_FAILED,
                       "key '%s': unsupported algorithm '%s' (hmac-sha256 is "
                       "recommended)",
                       name, alg);
    {
        size_t n = strlen(name);
        char *lower = rb_sprintf(a, "%s%s", name, n > 0 && name[n - 1] == '.' ? "" : ".");

        for (char *q = lower; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        key->name = lower;
    }
    key->algorithm = rb_sprintf(a, "%s.", alg);
    for (char *q = (char *)key->algorithm; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    r = decode_secret(a, secret, key, err);
    OPENSSL_cleanse(secret, sizeof(secret));
    return r;
}

int rb_tsig_key_load(struct rb_arena *a, const char *path, struct rb_tsig_key *key,
                     struct rb_err *err)
{
    char text[8192];
    size_t n;
    FILE *f = fopen(path, "r");
    int r;

    if (f == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to read TSIG key file '%s': %s", path,
                       strerror(errno));
    n = fread(text, 1, sizeof(text) - 1, f);
    if (ferror(f) || (n == sizeof(text) - 1 && !feof(f))) {
        fclose(f);
        return rb_errf(err, RB_E_FAILED, "unable to read TSIG key file '%s': %s", path,
                       n == sizeof(text) - 1 ? "file too large" : "read error");
    }
    fclose(f);
    text[n] = '\0';
    r = rb_tsig_key_parse(a, text, key, err);
    OPENSSL_cleanse(text, sizeof(text));
    if (r < 0)
        rb_err_wrap(err, "TSIG key file '%s'", path);
    return r;
}

/* --- signing ------------------------------------------------------------------------------ */

static void put_u48(struct rb_buf *b, uint64_t t)
{
    rb_dns_put_u16(b, (uint16_t)(t >> 32));
    rb_dns_put_u32(b, (uint32_t)t);
}

/* The TSIG variables (RFC 8945 4.3.3) appended to the digest input. */
static int put_variables(struct rb_buf *b, const char *key_name, const char *alg,
                         uint64_t time_signed, uint16_t fudge, uint16_t error, const uint8_t *other,
                         uint16_t other_len, struct rb_err *err)
{
    if (rb_dns_put_name(b, key_name, err) < 0)
        return -1;
    rb_dns_put_u16(b, RB_DNS_CLASS_ANY);
    rb_dns_put_u32(b, 0);
    if (rb_dns_put_name(b, alg, err) < 0)
        return -1;
    put_u48(b, time_signed);
    rb_dns_put_u16(b, fudge);
    rb_dns_put_u16(b, error);
    rb_dns_put_u16(b, other_len);
    if (other_len > 0)
        rb_buf_add(b, other, other_len);
    return 0;
}

static int hmac(const struct rb_tsig_key *key, const struct rb_buf *in, unsigned char *mac,
                size_t *mac_len, struct rb_err *err)
{
    unsigned int n = 0;

    if (HMAC(key->md, key->secret, (int)key->secret_len, (const unsigned char *)in->data, in->len,
             mac, &n) == NULL)
        return rb_errf(err, RB_E_FAILED, "HMAC failed for TSIG key '%s'", key->name);
    *mac_len = n;
    return 0;
}

int rb_tsig_sign(struct rb_buf *b, const struct rb_tsig_key *key, uint64_t time_signed,
                 unsigned char mac[RB_TSIG_MAC_MAX], size_t *mac_len, struct rb_err *err)
{
    struct rb_buf in = RB_BUF_INIT;
    size_t rdlen_at, rd_start;
    uint16_t id, arcount;

    if (b->len < RB_DNS_HEADER_LEN)
        return rb_errf(err, RB_E_FAILED, "cannot sign a message shorter than its header");
    rb_buf_add(&in, b->data, b->len);
    if (put_variables(&in, key->name, key->algorithm, time_signed, RB_TSIG_FUDGE, 0, NULL, 0, err) <
            0 ||
        hmac(key, &in, mac, mac_len, err) < 0) {
        rb_buf_release(&in);
        return -1;
    }
    rb_buf_release(&in);

    id = (uint16_t)(((uint8_t)b->data[0] << 8) | (uint8_t)b->data[1]);
    if (rb_dns_put_name(b, key->name, err) < 0)
        return -1;
    rb_dns_put_u16(b, RB_DNS_TYPE_TSIG);
    rb_dns_put_u16(b, RB_DNS_CLASS_ANY);
    rb_dns_put_u32(b, 0);
    rdlen_at = b->len;
    rb_dns_put_u16(b, 0);
    rd_start = b->len;
    if (rb_dns_put_name(b, key->algorithm, err) < 0)
        return -1;
    put_u48(b, time_signed);
    rb_dns_put_u16(b, RB_TSIG_FUDGE);
    rb_dns_put_u16(b, (uint16_t)*mac_len);
    rb_buf_add(b, mac, *mac_len);
    rb_dns_put_u16(b, id);
    rb_dns_put_u16(b, 0);
    rb_dns_put_u16(b, 0);
    b->data[rdlen_at] = (char)((b->len - rd_start) >> 8);
    b->data[rdlen_at + 1] = (char)(b->len - rd_start);

    arcount = (uint16_t)((((uint8_t)b->data[10] << 8) | (uint8_t)b->data[11]) + 1);
    b->data[10] = (char)(arcount >> 8);
    b->data[11] = (char)arcount;
    return 0;
}

/* --- verifying ---------------------------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

struct tsig_rdata {
    const char *alg;
    uint64_t time_signed;
    uint16_t fudge, mac_len, orig_id, error, other_len;
    const uint8_t *mac, *other;
};

/* Decode TSIG RDATA. The algorithm name is uncompressed per RFC 8945; read it by hand. */
static int decode_rdata(struct rb_arena *a, const uint8_t *msg, const struct rb_dns_rr *rr,
                        struct tsig_rdata *t)
{
    const uint8_t *p = msg + rr->rdata_offset, *end = p + rr->rdlength;
    struct rb_buf alg = RB_BUF_INIT;

    while (p < end && *p != 0) {
        if ((*p & 0xC0) != 0 || p + 1 + *p > end) {
            rb_buf_release(&alg);
            return -1;
        }
        rb_buf_add(&alg, p + 1, *p);
        rb_buf_addc(&alg, '.');
        p += 1 + *p;
    }
    if (p >= end) {
        rb_buf_release(&alg);
        return -1;
    }
    p++;
    for (char *q = alg.data; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    t->alg = rb_strndup(a, alg.data, alg.len);
    rb_buf_release(&alg);
    if (end - p < 10)
        return -1;
    t->time_signed = ((uint64_t)get16(p) << 32) | ((uint64_t)get16(p + 2) << 16) | get16(p + 4);
    t->fudge = get16(p + 6);
    t->mac_len = get16(p + 8);
    p += 10;
    if (end - p < (ptrdiff_t)t->mac_len + 6)
        return -1;
    t->mac = p;
    p += t->mac_len;
    t->orig_id = get16(p);
    t->error = get16(p + 2);
    t->other_len = get16(p + 4);
    p += 6;
    if (end - p != (ptrdiff_t)t->other_len)
        return -1;
    t->other = p;
    return 0;
}

static const struct rb_dns_rr *tsig_rr(const struct rb_dns_msg *m)
{
    const struct rb_dns_rr *last;

    if (m->n_rrs == 0)
        return NULL;
    last = &m->rrs[m->n_rrs - 1];
    return last->section == 3 && last->type == RB_DNS_TYPE_TSIG ? last : NULL;
}

int rb_tsig_find(const uint8_t *msg, size_t len, const struct rb_dns_msg *m,
                 struct rb_tsig_info *info, struct rb_err *err)
{
    const struct rb_dns_rr *rr = tsig_rr(m);
    struct rb_arena *a;
    struct tsig_rdata t;

    (void)len;
    memset(info, 0, sizeof(*info));
    if (rr == NULL)
        return 0;
    a = rb_arena_new();
    if (decode_rdata(a, msg, rr, &t) < 0) {
        rb_arena_free(a);
        return rb_errf(err, RB_E_FAILED, "malformed TSIG record in the DNS response");
    }
    info->present = true;
    info->key_name = rr->name;
    info->time_signed = t.time_signed;
    info->fudge = t.fudge;
    info->error = t.error;
    info->orig_id = t.orig_id;
    info->mac_len = t.mac_len;
    if (t.other_len == 6)
        info->other_time = ((uint64_t)get16(t.other) << 32) | ((uint64_t)get16(t.other + 2) << 16) |
                           get16(t.other + 4);
    rb_arena_free(a);
    return 0;
}

int rb_tsig_verify(const uint8_t *msg, size_t len, const struct rb_dns_msg *m,
                   const struct rb_tsig_key *key, const unsigned char *req_mac, size_t req_mac_len,
                   uint64_t now, struct rb_err *err)
{
    const struct rb_dns_rr *rr = tsig_rr(m);
    unsigned char mac[EVP_MAX_MD_SIZE];
    struct rb_buf in = RB_BUF_INIT;
    struct tsig_rdata t;
    struct rb_arena *a;
    size_t mac_len, full;
    uint16_t ar;
    int r = -1;

    if (rr == NULL)
        return rb_errf(err, RB_E_FAILED,
                       "the DNS response is not signed: expected a TSIG record "
                       "for key '%s'",
                       key->name);
    a = rb_arena_new();
    if (decode_rdata(a, msg, rr, &t) < 0) {
        rb_errf(err, RB_E_FAILED, "malformed TSIG record in the DNS response");
        goto out;
    }
    if (strcmp(rr->name, key->name) != 0 || strcmp(t.alg, key->algorithm) != 0) {
        rb_errf(err, RB_E_FAILED, "the DNS response is signed with key '%s' (%s), not '%s' (%s)",
                rr->name, t.alg, key->name, key->algorithm);
        goto out;
    }
    if (t.error != 0) {
        rb_errf(err, RB_E_FAILED, "the server reports TSIG error %s for key '%s'",
                rb_dns_rcode_name(t.error), key->name);
        goto out;
    }
    full = (size_t)EVP_MD_get_size(key->md);
    /* Truncated MACs (RFC 8945 5.2.2.1) are allowed down to half the hash and 10 bytes. */
    if (t.mac_len > full || t.mac_len < 10 || t.mac_len < full / 2) {
        rb_errf(err, RB_E_FAILED, "the DNS response's TSIG MAC has a bad size (%u bytes)",
                t.mac_len);
        goto out;
    }

    /* Digest: request MAC (length-prefixed), response without its TSIG, TSIG variables. */
    rb_dns_put_u16(&in, (uint16_t)req_mac_len);
    rb_buf_add(&in, req_mac, req_mac_len);
    rb_buf_add(&in, msg, rr->offset);
    in.data[2 + req_mac_len] = (char)(t.orig_id >> 8);
    in.data[2 + req_mac_len + 1] = (char)t.orig_id;
    ar = (uint16_t)(get16(msg + 10) - 1);
    in.data[2 + req_mac_len + 10] = (char)(ar >> 8);
    in.data[2 + req_mac_len + 11] = (char)ar;
    if (put_variables(&in, rr->name, t.alg, t.time_signed, t.fudge, t.error, t.other, t.other_len,
                      err) < 0 ||
        hmac(key, &in, mac, &mac_len, err) < 0)
        goto out;
    if (CRYPTO_memcmp(mac, t.mac, t.mac_len) != 0) {
        rb_errf(err, RB_E_FAILED, "the DNS response's TSIG signature does not verify with key '%s'",
                key->name);
        goto out;
    }
    if ((now > t.time_signed ? now - t.time_signed : t.time_signed - now) > t.fudge) {
        rb_errf(err, RB_E_FAILED,
                "the DNS response was signed at %llu, %lld s from our clock (fudge %u): "
                "check the clocks (NTP)",
                (unsigned long long)t.time_signed, (long long)now - (long long)t.time_signed,
                t.fudge);
        goto out;
    }
    r = 0;
out:
    (void)len;
    rb_buf_release(&in);
    rb_arena_free(a);
    return r;
}
