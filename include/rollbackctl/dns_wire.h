/*
 * dns_wire.h - DNS messages in wire format (RFC 1035, RFC 2136 UPDATE) and TSIG (RFC 8945).
 *
 * Plain functions over byte buffers, no sockets, so that encoding, decoding and MACs can be unit
 * tested against vectors computed with independent tools. The rfc2136 driver does the transport.
 */
#ifndef ROLLBACKCTL_DNS_WIRE_H
#define ROLLBACKCTL_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/buf.h"
#include "rollbackctl/err.h"

#define RB_DNS_HEADER_LEN    12
#define RB_DNS_CLASS_IN      1
#define RB_DNS_CLASS_NONE    254
#define RB_DNS_CLASS_ANY     255
#define RB_DNS_TYPE_SOA      6
#define RB_DNS_TYPE_TSIG     250
#define RB_DNS_TYPE_ANY      255
#define RB_DNS_OPCODE_QUERY  0
#define RB_DNS_OPCODE_UPDATE 5

/* RCODEs, extended by TSIG errors (RFC 8945 carries them in the TSIG RR's Error field). */
enum rb_dns_rcode {
    RB_DNS_NOERROR = 0,
    RB_DNS_FORMERR = 1,
    RB_DNS_SERVFAIL = 2,
    RB_DNS_NXDOMAIN = 3,
    RB_DNS_NOTIMP = 4,
    RB_DNS_REFUSED = 5,
    RB_DNS_YXDOMAIN = 6,
    RB_DNS_YXRRSET = 7,
    RB_DNS_NXRRSET = 8,
    RB_DNS_NOTAUTH = 9,
    RB_DNS_NOTZONE = 10,
    RB_DNS_BADSIG = 16,
    RB_DNS_BADKEY = 17,
    RB_DNS_BADTIME = 18,
};

/* "REFUSED", "BADSIG", or "RCODE 12". Static or arena-free storage: do not free. */
const char *rb_dns_rcode_name(int rcode);

/* Type mnemonic <-> number for the types we read and write; 0 / NULL when unknown. */
int rb_dns_type_code(const char *name);
const char *rb_dns_type_name(int code);

/* Append a name in uncompressed wire format, lowercased ("example.com." or "example.com"). */
int rb_dns_put_name(struct rb_buf *b, const char *name, struct rb_err *err);
void rb_dns_put_u16(struct rb_buf *b, uint16_t v);
void rb_dns_put_u32(struct rb_buf *b, uint32_t v);

/*
 * RDATA from presentation format for type (A, AAAA, CNAME, NS, PTR, MX, SRV, TXT). Relative names
 * inside the data must already be absolute. Appends to b.
 */
int rb_dns_rdata_from_text(struct rb_buf *b, int type, const char *text, struct rb_err *err);

/* The header of a new message: id, flags word, and four counts. */
void rb_dns_put_header(struct rb_buf *b, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
                       uint16_t ns, uint16_t ar);

/* A standard query for name/type (RD clear: we ask the authoritative server itself). */
int rb_dns_build_query(struct rb_buf *b, uint16_t id, const char *name, int type,
                       struct rb_err *err);

/*
 * An UPDATE for zone replacing the RRset name/type with one record: delete RRset (CLASS ANY) then
 * add (CLASS IN), in one message, no prerequisites.
 */
int rb_dns_build_replace(struct rb_buf *b, uint16_t id, const char *zone, const char *name,
                         int type, uint32_t ttl, const char *data, struct rb_err *err);

struct rb_dns_rr {
    const char *name; /* presentation, lowercase, trailing dot */
    uint16_t type, class_;
    uint32_t ttl;
    size_t offset; /* where the RR starts in the message */
    size_t rdata_offset;
    uint16_t rdlength;
    int section; /* 0 question/zone, 1 answer/prereq, 2 authority/update, 3 additional */
};

struct rb_dns_msg {
    uint16_t id, flags;
    int opcode, rcode;
    bool qr, tc, aa;
    uint16_t count[4];
    struct rb_dns_rr *rrs; /* all sections in order (questions carry no ttl/rdata) */
    size_t n_rrs;
};

/* Parse a whole message (names decompressed, bounds checked). Arena-owned results. */
int rb_dns_parse(struct rb_arena *a, const uint8_t *msg, size_t len, struct rb_dns_msg *out,
                 struct rb_err *err);

/* Presentation form of an RR's RDATA; unknown types as RFC 3597 "\# len hex". Arena-owned. */
const char *rb_dns_rdata_to_text(struct rb_arena *a, const uint8_t *msg, size_t len,
                                 const struct rb_dns_rr *rr);

/* Canonical presentation form of data for type (round trip through wire format), or NULL. */
const char *rb_dns_canonical(struct rb_arena *a, int type, const char *data, struct rb_err *err);

/* --- TSIG --------------------------------------------------------------------------------- */

struct rb_tsig_key {
    const char *name;      /* lowercase, trailing dot */
    const char *algorithm; /* "hmac-sha256." etc. */
    unsigned char secret[128];
    size_t secret_len;
    const void *md; /* const EVP_MD * */
};

/* Parse a BIND key file ('key "name" { algorithm hmac-sha256; secret "b64"; };'). */
int rb_tsig_key_parse(struct rb_arena *a, const char *text, struct rb_tsig_key *key,
                      struct rb_err *err);
int rb_tsig_key_load(struct rb_arena *a, const char *path, struct rb_tsig_key *key,
                     struct rb_err *err);

#define RB_TSIG_FUDGE   300
#define RB_TSIG_MAC_MAX 64

/*
 * Sign the message in b (complete, without TSIG): appends the TSIG RR and bumps ARCOUNT. The MAC is
 * returned in mac/mac_len for verifying the response.
 */
int rb_tsig_sign(struct rb_buf *b, const struct rb_tsig_key *key, uint64_t time_signed,
                 unsigned char mac[RB_TSIG_MAC_MAX], size_t *mac_len, struct rb_err *err);

/* What the TSIG RR of a response says. */
struct rb_tsig_info {
    bool present;
    const char *key_name;
    uint64_t time_signed;
    uint16_t fudge, error, orig_id;
    size_t mac_len;
    uint64_t other_time; /* BADTIME: server's clock, from Other Data */
};

/* Find and decode the TSIG RR (last of the additional section) of a parsed message. */
int rb_tsig_find(const uint8_t *msg, size_t len, const struct rb_dns_msg *m,
                 struct rb_tsig_info *info, struct rb_err *err);

/*
 * Verify a response's TSIG against the request's MAC and our clock. Fills err with a clear message
 * (unsigned response, wrong key, bad MAC, time outside fudge) and returns -1 when it does not
 * verify.
 */
int rb_tsig_verify(const uint8_t *msg, size_t len, const struct rb_dns_msg *m,
                   const struct rb_tsig_key *key, const unsigned char *req_mac, size_t req_mac_len,
                   uint64_t now, struct rb_err *err);

/* --- what an error answer tells an operator (dns_answer.c) --------------------------------- */

/*
 * What the driver knew when a server answered with an error. The message depends on more than the
 * RCODE: servers say the same thing for different causes (PowerDNS a plain NOTAUTH for a bad
 * secret, an unknown key and a clock skew; Knot BADKEY for a key its ACL does not allow).
 */
struct rb_dns_answer_ctx {
    const char *server;   /* as written in the target, for messages */
    const char *zone;     /* absolute */
    const char *key_name; /* the TSIG key the request was signed with; NULL when unsigned */
    const char *what;     /* "the update of 'n.' A", "the query for 'n.' A" */
    const char *name;     /* the owner name the request is about */
    const char *type;     /* its type mnemonic */
    bool update;          /* an UPDATE, not a query */
    bool signed_read_ok;  /* a query signed with the same key was answered and verified (just
                             after the refusal): the key, its secret and our clock are right */
    bool cname_at_name;   /* a read found a CNAME at name (and type is not CNAME) */
    uint64_t now;         /* our clock (seconds since the epoch), for BADTIME */
};

/*
 * Fill err for an answer with RCODE rcode (and the TSIG record's error, when tsig->present), with
 * a hint saying what to check. The kind is RB_K_REFUSED when the server said no (a retry gets the
 * same answer), RB_K_OTHER for SERVFAIL. Returns -1. Pure: no I/O.
 */
int rb_dns_answer_err(const struct rb_dns_answer_ctx *c, int rcode, const struct rb_tsig_info *tsig,
                      struct rb_err *err);

#endif
