/*
 * dns_wire.c - DNS messages in wire format: names, RDATA of the common types, queries, RFC 2136
 * UPDATE messages, and a bounds-checked parser with name decompression.
 *
 * We only ever write uncompressed names (our messages are small) but must read compressed ones:
 * every server compresses its answers. Pointers must point backwards, which also rules out loops.
 */
#include "rollbackctl/dns_wire.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int code;
} types[] = {
    { "A", 1 },    { "NS", 2 },    { "CNAME", 5 }, { "SOA", 6 },    { "PTR", 12 },  { "MX", 15 },
    { "TXT", 16 }, { "AAAA", 28 }, { "SRV", 33 },  { "TSIG", 250 }, { "ANY", 255 }, { "CAA", 257 },
};

int rb_dns_type_code(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcasecmp(types[i].name, name) == 0)
            return types[i].code;
    return 0;
}

const char *rb_dns_type_name(int code)
{
    size_t i;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (types[i].code == code)
            return types[i].name;
    return NULL;
}

const char *rb_dns_rcode_name(int rcode)
{
    static const char *const names[] = {
        "NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",  "REFUSED",
        "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE",
    };

    if (rcode >= 0 && rcode < (int)(sizeof(names) / sizeof(names[0])))
        return names[rcode];
    switch (rcode) {
    case RB_DNS_BADSIG:
        return "BADSIG";
    case RB_DNS_BADKEY:
        return "BADKEY";
    case RB_DNS_BADTIME:
        return "BADTIME";
    case 19:
        return "BADMODE";
    case 20:
        return "BADNAME";
    case 21:
        return "BADALG";
    case 22:
        return "BADTRUNC";
    }
    return "unknown RCODE";
}

void rb_dns_put_u16(struct rb_buf *b, uint16_t v)
{
    unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };

    rb_buf_add(b, x, 2);
}

void rb_dns_put_u32(struct rb_buf *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };

    rb_buf_add(b, x, 4);
}

int rb_dns_put_name(struct rb_buf *b, const char *name, struct rb_err *err)
{
    const char *p = name;
    size_t total = 1;

    if (name == NULL || name[0] == '\0')
        return rb_errf(err, RB_E_FAILED, "empty DNS name");
    if (strcmp(name, ".") == 0) {
        rb_buf_addc(b, 0);
        return 0;
    }
    while (*p != '\0') {
        size_t n = strcspn(p, "."), i;

        if (n == 0)
            return rb_errf(err, RB_E_FAILED, "invalid DNS name '%s': empty label", name);
        if (n > 63)
            return rb_errf(err, RB_E_FAILED, "invalid DNS name '%s': label longer than 63 bytes",
                           name);
        total += n + 1;
        if (total > 255)
            return rb_errf(err, RB_E_FAILED, "invalid DNS name '%s': longer than 255 bytes", name);
        rb_buf_addc(b, (char)n);
        for (i = 0; i < n; i++)
            rb_buf_addc(b, (char)tolower((unsigned char)p[i]));
        p += n;
        if (*p == '.')
            p++;
    }
    rb_buf_addc(b, 0);
    return 0;
}

static int parse_u16(const char **p, uint16_t *out)
{
    char *end;
    unsigned long v;

    while (isspace((unsigned char)**p))
        (*p)++;
    if (!isdigit((unsigned char)**p))
        return -1;
    errno = 0;
    v = strtoul(*p, &end, 10);
    if (errno != 0 || v > 65535 || (*end != '\0' && !isspace((unsigned char)*end)))
        return -1;
    *out = (uint16_t)v;
    *p = end;
    return 0;
}

static const char *skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* One name, the rest of the text (trailing blanks allowed). */
static int put_name_field(struct rb_buf *b, const char *p, const char *what, struct rb_err *err)
{
    char name[256];
    size_t n;

    p = skip_space(p);
    n = strcspn(p, " \t");
    if (n == 0 || n >= sizeof(name) || *skip_space(p + n) != '\0')
        return rb_errf(err, RB_E_FAILED, "invalid %s data: expected one domain name", what);
    memcpy(name, p, n);
    name[n] = '\0';
    return rb_dns_put_name(b, name, err);
}

/* TXT: "quoted strings" with \" \\ \DDD escapes, or bare words; each becomes one
 * <character-string>. */
static int put_txt(struct rb_buf *b, const char *text, struct rb_err *err)
{
    const char *p = skip_space(text);
    int count = 0;

    while (*p != '\0') {
        unsigned char s[256];
        size_t n = 0;
        bool quoted = *p == '"';

        if (quoted)
            p++;
        while (*p != '\0' && (quoted ? *p != '"' : !isspace((unsigned char)*p))) {
            unsigned char c = (unsigned char)*p++;

            if (c == '\\' && *p != '\0') {
                if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
                    isdigit((unsigned char)p[2])) {
                    int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');

                    if (v > 255)
                        return rb_errf(err, RB_E_FAILED, "invalid TXT data: bad escape");
                    c = (unsigned char)v;
                    p += 3;
                } else {
                    c = (unsigned char)*p++;
                }
            }
            if (n == 255)
                return rb_errf(err, RB_E_FAILED,
                               "invalid TXT data: a string is longer than 255 bytes");
            s[n++] = c;
        }
        if (quoted) {
            if (*p != '"')
                return rb_errf(err, RB_E_FAILED, "invalid TXT data: unterminated quote");
            p++;
        }
        rb_buf_addc(b, (char)n);
        rb_buf_add(b, s, n);
        count++;
        p = skip_space(p);
    }
    if (count == 0)
        rb_buf_addc(b, 0);
    return 0;
}

/* CAA (RFC 8659): FLAGS TAG VALUE, e.g. 0 issue "letsencrypt.org". */
static int put_caa(struct rb_buf *b, const char *text, struct rb_err *err)
{
    const char *p = text, *tag;
    struct rb_buf v = RB_BUF_INIT;
    uint16_t flags;
    size_t tlen;

    if (parse_u16(&p, &flags) < 0 || flags > 255)
        return rb_errf(err, RB_E_FAILED, "invalid CAA data '%s': expected 'FLAGS TAG \"VALUE\"'",
                       text);
    tag = skip_space(p);
    tlen = strcspn(tag, " \t");
    for (size_t i = 0; i < tlen; i++)
        if (!isalnum((unsigned char)tag[i]))
            tlen = 0;
    if (tlen == 0 || tlen > 15 || *skip_space(tag + tlen) == '\0')
        return rb_errf(err, RB_E_FAILED, "invalid CAA data '%s': expected 'FLAGS TAG \"VALUE\"'",
                       text);
    /* The value is one character-string's worth of text, without its length byte. */
    if (put_txt(&v, skip_space(tag + tlen), err) < 0 || v.len < 1 ||
        (size_t)(uint8_t)v.data[0] + 1 != v.len) {
        rb_buf_release(&v);
        return rb_errf(err, RB_E_FAILED, "invalid CAA data '%s': the value must be one string",
                       text);
    }
    rb_buf_addc(b, (char)flags);
    rb_buf_addc(b, (char)tlen);
    for (size_t i = 0; i < tlen; i++)
        rb_buf_addc(b, (char)tolower((unsigned char)tag[i]));
    rb_buf_add(b, v.data + 1, v.len - 1);
    rb_buf_release(&v);
    return 0;
}

int rb_dns_rdata_from_text(struct rb_buf *b, int type, const char *text, struct rb_err *err)
{
    const char *p = text;
    unsigned char addr[16];
    uint16_t a, w, port;

    switch (type) {
    case 1: /* A */
        if (inet_pton(AF_INET, skip_space(text), addr) != 1)
            return rb_errf(err, RB_E_FAILED, "invalid A data '%s': not an IPv4 address", text);
        rb_buf_add(b, addr, 4);
        return 0;
    case 28: /* AAAA */
        if (inet_pton(AF_INET6, skip_space(text), addr) != 1)
            return rb_errf(err, RB_E_FAILED, "invalid AAAA data '%s': not an IPv6 address", text);
        rb_buf_add(b, addr, 16);
        return 0;
    case 2:
    case 5:
    case 12:
        return put_name_field(b, text, rb_dns_type_name(type), err);
    case 15: /* MX: preference exchange */
        if (parse_u16(&p, &a) < 0)
            return rb_errf(err, RB_E_FAILED, "invalid MX data '%s': expected 'PREFERENCE HOST'",
                           text);
        rb_dns_put_u16(b, a);
        return put_name_field(b, p, "MX", err);
    case 33: /* SRV: priority weight port target */
        if (parse_u16(&p, &a) < 0 || parse_u16(&p, &w) < 0 || parse_u16(&p, &port) < 0)
            return rb_errf(err, RB_E_FAILED,
                           "invalid SRV data '%s': expected 'PRIORITY WEIGHT PORT TARGET'", text);
        rb_dns_put_u16(b, a);
        rb_dns_put_u16(b, w);
        rb_dns_put_u16(b, port);
        return put_name_field(b, p, "SRV", err);
    case 16:
        return put_txt(b, text, err);
    case 257:
        return put_caa(b, text, err);
    }
    return rb_errf(err, RB_E_FAILED,
                   "record type %d is not supported (A, AAAA, CAA, CNAME, MX, NS, PTR, "
                   "SRV, TXT are)",
                   type);
}

void rb_dns_put_header(struct rb_buf *b, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
                       uint16_t ns, uint16_t ar)
{
    rb_dns_put_u16(b, id);
    rb_dns_put_u16(b, flags);
    rb_dns_put_u16(b, qd);
    rb_dns_put_u16(b, an);
    rb_dns_put_u16(b, ns);
    rb_dns_put_u16(b, ar);
}

int rb_dns_build_query(struct rb_buf *b, uint16_t id, const char *name, int type,
                       struct rb_err *err)
{
    rb_dns_put_header(b, id, 0x0000, 1, 0, 0, 0);
    if (rb_dns_put_name(b, name, err) < 0)
        return -1;
    rb_dns_put_u16(b, (uint16_t)type);
    rb_dns_put_u16(b, RB_DNS_CLASS_IN);
    return 0;
}

int rb_dns_build_replace(struct rb_buf *b, uint16_t id, const char *zone, const char *name,
                         int type, uint32_t ttl, const char *data, struct rb_err *err)
{
    size_t rdlen_at, rd_start;

    /* Opcode UPDATE (5 << 11); ZOCOUNT 1, PRCOUNT 0, UPCOUNT 2 (delete RRset, add), ADCOUNT 0. */
    rb_dns_put_header(b, id, RB_DNS_OPCODE_UPDATE << 11, 1, 0, 2, 0);
    if (rb_dns_put_name(b, zone, err) < 0)
        return -1;
    rb_dns_put_u16(b, RB_DNS_TYPE_SOA);
    rb_dns_put_u16(b, RB_DNS_CLASS_IN);

    /* Delete the RRset: NAME TYPE, CLASS ANY, TTL 0, RDLENGTH 0. */
    if (rb_dns_put_name(b, name, err) < 0)
        return -1;
    rb_dns_put_u16(b, (uint16_t)type);
    rb_dns_put_u16(b, RB_DNS_CLASS_ANY);
    rb_dns_put_u32(b, 0);
    rb_dns_put_u16(b, 0);

    /* Add the new record in the zone's class. */
    if (rb_dns_put_name(b, name, err) < 0)
        return -1;
    rb_dns_put_u16(b, (uint16_t)type);
    rb_dns_put_u16(b, RB_DNS_CLASS_IN);
    rb_dns_put_u32(b, ttl);
    rdlen_at = b->len;
    rb_dns_put_u16(b, 0);
    rd_start = b->len;
    if (rb_dns_rdata_from_text(b, type, data, err) < 0)
        return -1;
    if (b->len - rd_start > 65535)
        return rb_errf(err, RB_E_FAILED, "record data too long");
    b->data[rdlen_at] = (char)((b->len - rd_start) >> 8);
    b->data[rdlen_at + 1] = (char)(b->len - rd_start);
    return 0;
}

/* --- parsing ------------------------------------------------------------------------------ */

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * Read the name at *off into out (presentation, lowercase, trailing dot) and advance *off past it
 * (past the first pointer when compressed). Returns -1 on a malformed name.
 */
static int read_name(const uint8_t *msg, size_t len, size_t *off, struct rb_buf *out)
{
    size_t p = *off, end = 0, total = 0;
    int jumps = 0;

    rb_buf_reset(out);
    for (;;) {
        uint8_t l;

        if (p >= len)
            return -1;
        l = msg[p];
        if ((l & 0xC0) == 0xC0) {
            size_t target;

            if (p + 1 >= len || ++jumps > 64)
                return -1;
            target = ((size_t)(l & 0x3F) << 8) | msg[p + 1];
            if (end == 0)
                end = p + 2;
            if (target >= p)
                return -1; /* pointers go backwards only: no loops */
            p = target;
            continue;
        }
        if ((l & 0xC0) != 0)
            return -1;
        if (l == 0) {
            p++;
            break;
        }
        if (p + 1 + l > len)
            return -1;
        total += l + 1;
        if (total > 255)
            return -1;
        for (size_t i = 0; i < l; i++) {
            uint8_t c = msg[p + 1 + i];

            if (c == '.' || c == '\\')
                rb_buf_addf(out, "\\%c", c);
            else if (c <= 0x20 || c >= 0x7f)
                rb_buf_addf(out, "\\%03u", c);
            else
                rb_buf_addc(out, (char)tolower(c));
        }
        rb_buf_addc(out, '.');
        p += 1 + l;
    }
    if (out->len == 0)
        rb_buf_addc(out, '.');
    *off = end != 0 ? end : p;
    return 0;
}

int rb_dns_parse(struct rb_arena *a, const uint8_t *msg, size_t len, struct rb_dns_msg *out,
                 struct rb_err *err)
{
    struct rb_buf name = RB_BUF_INIT;
    size_t off = RB_DNS_HEADER_LEN, total, k = 0;
    int s;

    memset(out, 0, sizeof(*out));
    if (len < RB_DNS_HEADER_LEN)
        return rb_errf(err, RB_E_FAILED, "malformed DNS response: %zu bytes", len);
    out->id = get16(msg);
    out->flags = get16(msg + 2);
    out->qr = (out->flags & 0x8000) != 0;
    out->opcode = (out->flags >> 11) & 0xF;
    out->aa = (out->flags & 0x0400) != 0;
    out->tc = (out->flags & 0x0200) != 0;
    out->rcode = out->flags & 0xF;
    for (s = 0; s < 4; s++)
        out->count[s] = get16(msg + 4 + 2 * s);
    total = (size_t)out->count[0] + out->count[1] + out->count[2] + out->count[3];
    if (total > len / 5) /* every record takes at least 5 bytes: the counts lie */
        return rb_errf(err, RB_E_FAILED, "malformed DNS response: counts exceed its %zu bytes",
                       len);
    out->rrs = rb_new_array(a, struct rb_dns_rr, total ? total : 1);
    for (s = 0; s < 4; s++) {
        for (uint16_t i = 0; i < out->count[s]; i++) {
            struct rb_dns_rr *rr = &out->rrs[k];

            rr->offset = off;
            rr->section = s;
            if (read_name(msg, len, &off, &name) < 0 || off + 4 > len)
                goto bad;
            rr->name = rb_strndup(a, name.data, name.len);
            rr->type = get16(msg + off);
            rr->class_ = get16(msg + off + 2);
            off += 4;
            if (s > 0) {
                if (off + 6 > len)
                    goto bad;
                rr->ttl = get32(msg + off);
                rr->rdlength = get16(msg + off + 4);
                off += 6;
                rr->rdata_offset = off;
                if (off + rr->rdlength > len)
                    goto bad;
                off += rr->rdlength;
            }
            k++;
        }
    }
    out->n_rrs = k;
    rb_buf_release(&name);
    return 0;
bad:
    rb_buf_release(&name);
    return rb_errf(err, RB_E_FAILED,
                   "malformed DNS response: record %zu is cut short or has a bad name", k + 1);
}

static void add_char_string(struct rb_buf *out, const uint8_t *s, size_t n)
{
    rb_buf_addc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            rb_buf_addf(out, "\\%c", s[i]);
        else if (s[i] < 0x20 || s[i] >= 0x7f)
            rb_buf_addf(out, "\\%03u", s[i]);
        else
            rb_buf_addc(out, (char)s[i]);
    }
    rb_buf_addc(out, '"');
}

const char *rb_dns_rdata_to_text(struct rb_arena *a, const uint8_t *msg, size_t len,
                                 const struct rb_dns_rr *rr)
{
    const uint8_t *rd = msg + rr->rdata_offset;
    size_t off = rr->rdata_offset, end = rr->rdata_offset + rr->rdlength;
    struct rb_buf out = RB_BUF_INIT, name = RB_BUF_INIT;
    char addr[INET6_ADDRSTRLEN];
    const char *res;

    switch (rr->type) {
    case 1:
        if (rr->rdlength != 4 || inet_ntop(AF_INET, rd, addr, sizeof(addr)) == NULL)
            goto generic;
        return rb_strdup(a, addr);
    case 28:
        if (rr->rdlength != 16 || inet_ntop(AF_INET6, rd, addr, sizeof(addr)) == NULL)
            goto generic;
        return rb_strdup(a, addr);
    case 2:
    case 5:
    case 12:
        if (read_name(msg, len, &off, &name) < 0 || off != end)
            goto generic;
        res = rb_strndup(a, name.data, name.len);
        rb_buf_release(&name);
        return res;
    case 15:
        if (rr->rdlength < 3)
            goto generic;
        off += 2;
        if (read_name(msg, len, &off, &name) < 0 || off != end)
            goto generic;
        res = rb_sprintf(a, "%u %s", get16(rd), name.data);
        rb_buf_release(&name);
        return res;
    case 33:
        if (rr->rdlength < 7)
            goto generic;
        off += 6;
        if (read_name(msg, len, &off, &name) < 0 || off != end)
            goto generic;
        res = rb_sprintf(a, "%u %u %u %s", get16(rd), get16(rd + 2), get16(rd + 4), name.data);
        rb_buf_release(&name);
        return res;
    case 16:
        while (off < end) {
            size_t n = msg[off];

            if (off + 1 + n > end)
                goto generic;
            if (out.len > 0)
                rb_buf_addc(&out, ' ');
            add_char_string(&out, msg + off + 1, n);
            off += 1 + n;
        }
        res = rb_strndup(a, out.data, out.len);
        rb_buf_release(&out);
        return res;
    case 257:
        if (rr->rdlength < 2 || rd[1] == 0 || (size_t)rd[1] + 2 > rr->rdlength)
            goto generic;
        /* The tag is printed as it is, so it must be what RFC 8659 allows: letters and digits. */
        for (size_t i = 0; i < rd[1]; i++)
            if (!((rd[2 + i] >= '0' && rd[2 + i] <= '9') ||
                  (rd[2 + i] >= 'a' && rd[2 + i] <= 'z') || (rd[2 + i] >= 'A' && rd[2 + i] <= 'Z')))
                goto generic;
        rb_buf_addf(&out, "%u %.*s ", rd[0], (int)rd[1], (const char *)rd + 2);
        add_char_string(&out, rd + 2 + rd[1], rr->rdlength - 2u - rd[1]);
        res = rb_strndup(a, out.data, out.len);
        rb_buf_release(&out);
        return res;
    case 6: {
        struct rb_buf rname = RB_BUF_INIT;

        if (read_name(msg, len, &off, &name) < 0 || read_name(msg, len, &off, &rname) < 0 ||
            off + 20 != end) {
            rb_buf_release(&rname);
            goto generic;
        }
        res = rb_sprintf(a, "%s %s %u %u %u %u %u", name.data, rname.data, get32(msg + off),
                         get32(msg + off + 4), get32(msg + off + 8), get32(msg + off + 12),
                         get32(msg + off + 16));
        rb_buf_release(&rname);
        rb_buf_release(&name);
        return res;
    }
    }
generic:
    rb_buf_release(&name);
    rb_buf_reset(&out);
    rb_buf_addf(&out, "\\# %u", rr->rdlength);
    if (rr->rdlength > 0)
        rb_buf_addc(&out, ' ');
    for (size_t i = 0; i < rr->rdlength; i++)
        rb_buf_addf(&out, "%02x", rd[i]);
    res = rb_strndup(a, out.data, out.len);
    rb_buf_release(&out);
    return res;
}

const char *rb_dns_canonical(struct rb_arena *a, int type, const char *data, struct rb_err *err)
{
    struct rb_buf b = RB_BUF_INIT;
    struct rb_dns_rr rr;
    const char *res;

    if (rb_dns_rdata_from_text(&b, type, data, err) < 0) {
        rb_buf_release(&b);
        return NULL;
    }
    memset(&rr, 0, sizeof(rr));
    rr.type = (uint16_t)type;
    rr.rdlength = (uint16_t)b.len;
    res = rb_dns_rdata_to_text(a, (const uint8_t *)b.data, b.len, &rr);
    rb_buf_release(&b);
    return res;
}
