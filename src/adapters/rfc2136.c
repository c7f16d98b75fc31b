/*
 * rfc2136.c - the `rfc2136` DNS driver: dynamic UPDATE (RFC 2136) signed with TSIG (RFC 8945).
 *
 * set_record sends one UPDATE that deletes the RRset and adds the new record (atomic on the
 * server, no prerequisites, so repeating it is harmless), checks the response's RCODE and TSIG,
 * then queries the server for the RRset and compares: an UPDATE can be accepted yet change nothing
 * (a CNAME next to other data is silently ignored, RFC 2136 3.4.2.2).
 *
 * Transport: UDP, resent every second until the deadline (a lost datagram is normal), TCP when the
 * answer is truncated. A refused UDP port is retried too (a server restarting) and reported in
 * the timeout message.
 *
 * Error answers: dns_answer.c words them. When an update is refused, this file first reads what
 * the answer cannot say (does a signed query with the key pass? is there a CNAME at the name?), so
 * that Knot's and PowerDNS's answers get the cause named rather than BIND's meaning of the RCODE.
 */
#include "rollbackctl/dns.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "rollbackctl/clock.h"
#include "rollbackctl/dns_wire.h"

#define RESEND_MS 1000

struct conn {
    const char *server; /* as written, for messages */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int64_t timeout_ms;
    struct rb_tsig_key key;
    bool has_key;
    const char *zone;
};

static const char *fmt_ms(int64_t ms, char *out, size_t n)
{
    return rb_duration_format(ms, out, n);
}

/* "host", "host:port", "[v6]:port", "v6". */
static int resolve(struct rb_arena *a, const char *server, struct conn *c, struct rb_err *err)
{
    const char *host = server, *port = "53", *colon = strrchr(server, ':');
    struct addrinfo hints, *res = NULL;
    int rc;

    if (server[0] == '[') {
        const char *end = strchr(server, ']');

        if (end == NULL)
            return rb_errf(err, RB_E_FAILED, "invalid DNS server '%s': missing ']'", server);
        host = rb_strndup(a, server + 1, (size_t)(end - server - 1));
        if (end[1] == ':')
            port = end + 2;
    } else if (colon != NULL && strchr(server, ':') == colon) {
        host = rb_strndup(a, server, (size_t)(colon - server));
        port = colon + 1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return rb_errf(err, RB_E_FAILED, "unable to resolve DNS server '%s': %s", server,
                       gai_strerror(rc));
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int conn_open(struct rb_arena *a, const struct rb_target *t, struct conn *c,
                     struct rb_err *err)
{
    const char *server = rb_target_opt(t, "server"), *zone = rb_target_opt(t, "zone");
    const char *keyfile = rb_target_opt(t, "tsig_key_file");

    memset(c, 0, sizeof(*c));
    if (server == NULL || zone == NULL)
        return rb_errf(err, RB_E_FAILED, "DNS target '%s' needs 'server' and 'zone'", t->name);
    c->server = server;
    c->zone = rb_dns_fqdn(a, zone, NULL);
    c->timeout_ms = rb_dns_target_timeout(t);
    if (resolve(a, server, c, err) < 0)
        return -1;
    if (keyfile != NULL) {
        if (rb_tsig_key_load(a, rb_path_expand(a, keyfile), &c->key, err) < 0)
            return -1;
        c->has_key = true;
    }
    return 0;
}

static uint16_t new_id(void)
{
    unsigned char r[2] = { 0, 0 };

    if (RAND_bytes(r, 2) != 1)
        r[0] = (unsigned char)(rb_now_ms() & 0xff), r[1] = (unsigned char)(getpid() & 0xff);
    return (uint16_t)((r[0] << 8) | r[1]);
}

static bool answers(const uint8_t *resp, size_t len, uint16_t id)
{
    return len >= RB_DNS_HEADER_LEN && ((resp[0] << 8) | resp[1]) == id && (resp[2] & 0x80) != 0;
}

static int timeout_err(const struct conn *c, bool refused, struct rb_err *err)
{
    char d[32];

    rb_errf(err, RB_E_FAILED, "no answer from DNS server '%s' within %s%s", c->server,
            fmt_ms(c->timeout_ms, d, sizeof(d)),
            refused ? " (connection refused: is it running?)" : "");
    /* not reached at all (plan and the pre-flight tell this apart from a refusal) */
    rb_err_kind(err, refused ? RB_K_CONN_LOST : RB_K_TIMEOUT);
    return rb_err_hint(err, "check that the server runs and listens on that address; raise the "
                            "target's 'timeout' if it is slow");
}

/* Poll one fd until the event or the deadline; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int64_t left = deadline - rb_now_ms();
        int r;

        if (left <= 0)
            return 0;
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r;
    }
}

static int exchange_tcp(const struct conn *c, const struct rb_buf *q, uint16_t id, int64_t deadline,
                        struct rb_buf *resp, struct rb_err *err)
{
    unsigned char lenbuf[2] = { (unsigned char)(q->len >> 8), (unsigned char)q->len };
    size_t want = 2, got = 0, sent = 0;
    struct rb_buf out = RB_BUF_INIT;
    uint8_t hdr[2];
    int fd, r;

    fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return rb_errf(err, RB_E_FAILED, "unable to open a TCP socket: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&c->addr, c->addrlen) < 0 && errno != EINPROGRESS) {
        r = errno;
        close(fd);
        return rb_errf(err, RB_E_FAILED, "unable to connect to DNS server '%s' over TCP: %s",
                       c->server, strerror(r));
    }
    rb_buf_add(&out, lenbuf, 2);
    rb_buf_add(&out, q->data, q->len);
    while (sent < out.len) {
        ssize_t n;

        if ((r = wait_fd(fd, POLLOUT, deadline)) <= 0)
            goto timeout;
        n = send(fd, out.data + sent, out.len - sent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n < 0) {
            r = errno;
            goto ioerr;
        }
        sent += (size_t)n;
    }
    rb_buf_reset(resp);
    /* Two-byte length, then the message. */
    while (got < want) {
        ssize_t n;

        if ((r = wait_fd(fd, POLLIN, deadline)) <= 0)
            goto timeout;
        n = recv(fd, got < 2 ? hdr + got : (uint8_t *)resp->data + (got - 2), want - got, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            r = n == 0 ? ECONNRESET : errno;
            goto ioerr;
        }
        got += (size_t)n;
        if (got == 2 && want == 2) {
            want = 2 + (size_t)((hdr[0] << 8) | hdr[1]);
            rb_buf_grow(resp, want);
        }
    }
    resp->len = want - 2;
    resp->data[resp->len] = '\0';
    close(fd);
    rb_buf_release(&out);
    if (!answers((uint8_t *)resp->data, resp->len, id))
        return rb_errf(err, RB_E_FAILED,
                       "DNS server '%s' answered over TCP with another message id", c->server);
    return 0;
timeout:
    close(fd);
    rb_buf_release(&out);
    return timeout_err(c, false, err);
ioerr:
    close(fd);
    rb_buf_release(&out);
    return rb_errf(err, RB_E_FAILED, "DNS exchange with '%s' over TCP failed: %s", c->server,
                   strerror(r));
}

/* Send q, wait for the answer with the same id. */
static int exchange(const struct conn *c, const struct rb_buf *q, struct rb_buf *resp,
                    struct rb_err *err)
{
    int64_t deadline = rb_now_ms() + c->timeout_ms, next_send = 0;
    uint16_t id = (uint16_t)(((uint8_t)q->data[0] << 8) | (uint8_t)q->data[1]);
    bool refused = false;
    uint8_t buf[65535];
    int fd;

    fd = socket(c->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return rb_errf(err, RB_E_FAILED, "unable to open a UDP socket: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&c->addr, c->addrlen) < 0) {
        int e = errno;

        close(fd);
        return rb_errf(err, RB_E_FAILED, "unable to reach DNS server '%s': %s", c->server,
                       strerror(e));
    }
    for (;;) {
        int64_t now = rb_now_ms(), wait_until;
        ssize_t n;
        int r;

        if (now >= deadline)
            break;
        if (now >= next_send) {
            if (send(fd, q->data, q->len, 0) < 0 && errno == ECONNREFUSED)
                refused = true;
            next_send = now + RESEND_MS;
        }
        wait_until = next_send < deadline ? next_send : deadline;
        r = wait_fd(fd, POLLIN, wait_until);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == ECONNREFUSED) {
                /* Nothing listening (yet): try again shortly rather than at once. */
                refused = true;
                next_send = rb_now_ms() + 200;
            }
            continue;
        }
        if (!answers(buf, (size_t)n, id))
            continue; /* a late answer to an earlier message: ignore */
        close(fd);
        if ((buf[2] & 0x02) != 0) /* TC: the answer did not fit, ask again over TCP */
            return exchange_tcp(c, q, id, deadline, resp, err);
        rb_buf_reset(resp);
        rb_buf_add(resp, buf, (size_t)n);
        return 0;
    }
    close(fd);
    return timeout_err(c, refused, err);
}

/* Sign (when we have a key), send, parse, check the TSIG of a NOERROR answer. */
static int transact(struct rb_arena *a, const struct conn *c, struct rb_buf *q, struct rb_buf *resp,
                    struct rb_dns_msg *m, struct rb_tsig_info *tsig, struct rb_err *err)
{
    unsigned char mac[RB_TSIG_MAC_MAX];
    size_t mac_len = 0;

    if (c->has_key && rb_tsig_sign(q, &c->key, (uint64_t)time(NULL), mac, &mac_len, err) < 0)
        return -1;
    if (exchange(c, q, resp, err) < 0)
        return -1;
    if (rb_dns_parse(a, (const uint8_t *)resp->data, resp->len, m, err) < 0 ||
        rb_tsig_find((const uint8_t *)resp->data, resp->len, m, tsig, err) < 0)
        return rb_err_wrap(err, "DNS server '%s'", c->server);
    /*
     * Only answers we act on must be authentic. Error answers are often unsigned (BADSIG, BADKEY
     * by definition) and we fail on them anyway: report their RCODE rather than a missing MAC.
     * A NOERROR/NXDOMAIN answer is verified even when its TSIG record reports an error: such a
     * record has no MAC, and a reader that skipped it (a query) would believe a spoofer.
     */
    if (c->has_key && (m->rcode == RB_DNS_NOERROR || m->rcode == RB_DNS_NXDOMAIN) &&
        rb_tsig_verify((const uint8_t *)resp->data, resp->len, m, &c->key, mac, mac_len,
                       (uint64_t)time(NULL), err) < 0)
        return rb_err_wrap(err, "DNS server '%s'", c->server);
    return 0;
}

/* The facts of an error answer that do not need the network; see rb_dns_answer_err(). */
static struct rb_dns_answer_ctx answer_ctx(const struct conn *c, const char *what, const char *name,
                                           int type, bool update)
{
    struct rb_dns_answer_ctx ctx;

    memset(&ctx, 0, sizeof(ctx));
    ctx.server = c->server;
    ctx.zone = c->zone;
    ctx.key_name = c->has_key ? c->key.name : NULL;
    ctx.what = what;
    ctx.name = name;
    ctx.type = rb_dns_type_name(type);
    ctx.update = update;
    ctx.now = (uint64_t)time(NULL);
    return ctx;
}

static bool in_zone(const char *name, const char *zone)
{
    size_t n = strlen(name), z = strlen(zone);

    return strcmp(zone, ".") == 0 || strcasecmp(name, zone) == 0 ||
           (n > z && name[n - z - 1] == '.' && strcasecmp(name + n - z, zone) == 0);
}

/* The RRset name/type from the server (authoritative, verified when we have a key). */
static int query_rrset(struct rb_arena *a, const struct conn *c, const char *name, int type,
                       struct rb_dns_rrset *out, struct rb_err *err)
{
    struct rb_buf q = RB_BUF_INIT, resp = RB_BUF_INIT;
    const char *what = rb_sprintf(a, "the query for '%s' %s", name, rb_dns_type_name(type));
    struct rb_tsig_info tsig;
    struct rb_dns_msg m;
    size_t n = 0;
    int r = -1;

    memset(out, 0, sizeof(*out));
    out->ttl = -1;
    if (rb_dns_build_query(&q, new_id(), name, type, err) < 0 ||
        transact(a, c, &q, &resp, &m, &tsig, err) < 0)
        goto out;
    if (m.rcode != RB_DNS_NOERROR && m.rcode != RB_DNS_NXDOMAIN) {
        struct rb_dns_answer_ctx ctx = answer_ctx(c, what, name, type, false);

        rb_dns_answer_err(&ctx, m.rcode, &tsig, err);
        goto out;
    }
    if (!m.aa) {
        rb_errf(err, RB_E_FAILED, "DNS server '%s' is not authoritative for '%s'", c->server, name);
        rb_err_hint(err, "the server does not serve zone '%s'", c->zone);
        goto out;
    }
    out->values = rb_new_array(a, const char *, m.n_rrs + 1);
    for (size_t i = 0; i < m.n_rrs; i++) {
        const struct rb_dns_rr *rr = &m.rrs[i];

        if (rr->section != 1 || rr->type != type || strcasecmp(rr->name, name) != 0)
            continue;
        if (out->ttl < 0)
            out->ttl = (int)rr->ttl;
        out->values[n++] = rb_dns_rdata_to_text(a, (const uint8_t *)resp.data, resp.len, rr);
    }
    out->n = n;
    r = 0;
out:
    rb_buf_release(&q);
    rb_buf_release(&resp);
    return r;
}

static int rfc2136_read(struct rb_arena *a, const struct rb_target *t, const char *name,
                        const char *type, struct rb_dns_rrset *out, struct rb_err *err)
{
    struct conn c;
    int code = rb_dns_type_code(type);

    if (code == 0 || code == RB_DNS_TYPE_TSIG || code == RB_DNS_TYPE_ANY)
        return rb_errf(err, RB_E_FAILED, "unsupported DNS record type '%s'", type);
    if (conn_open(a, t, &c, err) < 0)
        return -1;
    return query_rrset(a, &c, rb_dns_fqdn(a, name, c.zone), code, out, err);
}

/*
 * After the server refused an update, ask what the answer alone cannot say (the record is left as
 * it was either way; these are reads, and their own failures only leave the fact unknown):
 *   - a BADKEY, or a NOTAUTH without TSIG, while we signed: does a query signed with the same key
 *     pass? Then key, secret and clock are right, and it is the server's policy for updates;
 *   - a REFUSED for another type than CNAME: is there a CNAME at the name?
 */
static void update_refused_facts(struct rb_arena *a, const struct conn *c, const char *name,
                                 int type, const struct rb_dns_msg *m,
                                 const struct rb_tsig_info *tsig, struct rb_dns_answer_ctx *ctx)
{
    struct rb_err ignored = RB_ERR_INIT;
    struct rb_dns_rrset set;

    if (c->has_key && ((tsig->present && tsig->error == RB_DNS_BADKEY) ||
                       (!tsig->present && m->rcode == RB_DNS_NOTAUTH)))
        ctx->signed_read_ok =
            query_rrset(a, c, c->zone, RB_DNS_TYPE_SOA, &set, &ignored) == 0;
    if (m->rcode == RB_DNS_REFUSED && type != 5 &&
        query_rrset(a, c, name, 5, &set, &ignored) == 0)
        ctx->cname_at_name = set.n > 0;
}

static int rfc2136_set(struct rb_arena *a, const struct rb_target *t,
                       const struct rb_dns_record *rec, struct rb_err *err)
{
    struct rb_buf q = RB_BUF_INIT, resp = RB_BUF_INIT;
    const char *name, *want, *what;
    struct rb_dns_rrset now;
    struct rb_tsig_info tsig;
    struct rb_dns_msg m;
    struct conn c;
    int type = rb_dns_type_code(rec->type), r = -1;

    if (type == 0 || type == RB_DNS_TYPE_TSIG || type == RB_DNS_TYPE_ANY || type == RB_DNS_TYPE_SOA)
        return rb_errf(err, RB_E_FAILED, "unsupported DNS record type '%s'", rec->type);
    if (rec->ttl < 0)
        return rb_errf(err, RB_E_FAILED, "invalid TTL %d", rec->ttl);
    if (conn_open(a, t, &c, err) < 0)
        return -1;
    name = rb_dns_fqdn(a, rec->name, c.zone);
    if (!in_zone(name, c.zone))
        return rb_errf(err, RB_E_FAILED, "'%s' is not inside zone '%s' of DNS target '%s'", name,
                       c.zone, t->name);
    want = rb_dns_canonical(a, type, rec->data, err);
    if (want == NULL)
        return -1;
    what = rb_sprintf(a, "the update of '%s' %s", name, rb_dns_type_name(type));

    if (rb_dns_build_replace(&q, new_id(), c.zone, name, type, (uint32_t)rec->ttl, rec->data, err) <
            0 ||
        transact(a, &c, &q, &resp, &m, &tsig, err) < 0)
        goto out;
    if (m.opcode != RB_DNS_OPCODE_UPDATE) {
        rb_errf(err, RB_E_FAILED, "DNS server '%s' answered the update with opcode %d", c.server,
                m.opcode);
        goto out;
    }
    if (m.rcode != RB_DNS_NOERROR || (tsig.present && tsig.error != 0)) {
        struct rb_dns_answer_ctx ctx = answer_ctx(&c, what, name, type, true);

        update_refused_facts(a, &c, name, type, &m, &tsig, &ctx);
        rb_dns_answer_err(&ctx, m.rcode, &tsig, err);
        goto out;
    }

    /* Read back: the server must now hold exactly the record we asked for. */
    if (query_rrset(a, &c, name, type, &now, err) < 0) {
        rb_err_wrap(err, "update accepted, but reading '%s' back failed", name);
        goto out;
    }
    if (now.n != 1 || strcmp(now.values[0], want) != 0) {
        rb_errf(err, RB_E_FAILED,
                "DNS server '%s' accepted the update, but '%s' %s reads back as %s, "
                "not %s",
                c.server, name, rb_dns_type_name(type), rb_dns_rrset_text(a, &now), want);
        if (type == 5)
            rb_err_hint(
                err,
                "a CNAME cannot sit next to other records at the same name: remove them first");
        goto out;
    }
    r = 0;
out:
    rb_buf_release(&q);
    rb_buf_release(&resp);
    return r;
}

/*
 * The channel check: the zone's SOA, asked as read_record asks (signed with the target's key, the
 * answer's TSIG verified, authoritative). A wrong key or secret fails as an update would, with the
 * same words (dns_answer.c); nothing is changed.
 */
static int rfc2136_check(struct rb_arena *a, const struct rb_target *t, const char **what,
                         struct rb_err *err)
{
    struct rb_dns_rrset soa;
    const char *serial = "?";
    struct conn c;

    if (conn_open(a, t, &c, err) < 0 || query_rrset(a, &c, c.zone, RB_DNS_TYPE_SOA, &soa, err) < 0)
        return -1;
    if (soa.n == 0) {
        rb_errf(err, RB_E_FAILED, "DNS server '%s' answered, but without an SOA for zone '%s'",
                c.server, c.zone);
        return rb_err_hint(err, "check the target's zone: the server does not serve '%s'", c.zone);
    }
    {
        /* "mname rname serial refresh retry expire minimum" */
        const char *p = soa.values[0];

        for (int field = 0; field < 2 && p != NULL; field++)
            if ((p = strchr(p, ' ')) != NULL)
                p++;
        if (p != NULL)
            serial = rb_strndup(a, p, strcspn(p, " "));
    }
    if (what != NULL)
        *what = c.has_key ? rb_sprintf(a,
                                       "DNS server '%s' answered a TSIG-signed SOA query (key "
                                       "'%s') for zone '%s': serial %s",
                                       c.server, c.key.name, c.zone, serial)
                          : rb_sprintf(a,
                                       "DNS server '%s' answered an unsigned SOA query for zone "
                                       "'%s': serial %s (the target has no tsig_key_file)",
                                       c.server, c.zone, serial);
    return 0;
}

const struct rb_dns_ops rb_rfc2136_ops = {
    .driver = "rfc2136",
    .read_record = rfc2136_read,
    .set_record = rfc2136_set,
    .check = rfc2136_check,
};
