/*
 * smtp.c - the smtp notification driver: one mail through libcurl's SMTP, and the mail format.
 *
 * `url: smtp://host:587` upgrades to TLS with STARTTLS when the server offers it (and goes on in
 * clear when it does not: a local relay); `smtps://host:465` is TLS from the start. The server's
 * certificate is always verified, against the system's CAs or the bundle in `ca_file`. AUTH uses the
 * user and password in the variables `username_env` and `password_env` name; they go to libcurl
 * only, never into a message, argv or the journal. Every session has the target's `timeout:` as
 * its deadline, connect included.
 *
 * The message is built here whole (rb_mail_format), so that what the run folder keeps as the copy
 * is byte for byte what the server received.
 */
#include "rollbackctl/notify.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "rollbackctl/buf.h"
#include "rollbackctl/http.h"

#define MAIL_LINE_MAX 998 /* RFC 5322: longer lines need quoted-printable */
#define QP_LINE_MAX   76  /* RFC 2045: encoded lines, the soft break '=' included */
#define EW_RAW_MAX    39  /* bytes per RFC 2047 word: "Subject: " + word stays within 78 */

static bool is_plain_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80 || ((unsigned char)*s < 0x20 && *s != '\t'))
            return false;
    return true;
}

const char *rb_mail_date(struct rb_arena *a, time_t t)
{
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    struct tm tm;

    gmtime_r(&t, &tm);
    return rb_sprintf(a, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
                      months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

const char *rb_mail_address(struct rb_arena *a, const char *from)
{
    const char *lt = strrchr(from, '<'), *gt;

    if (lt == NULL || (gt = strchr(lt, '>')) == NULL)
        return rb_strdup(a, from);
    return rb_strndup(a, lt + 1, (size_t)(gt - lt - 1));
}

static void base64(struct rb_buf *b, const unsigned char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;

        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        rb_buf_addc(b, tab[(v >> 18) & 63]);
        rb_buf_addc(b, tab[(v >> 12) & 63]);
        rb_buf_addc(b, i + 1 < n ? tab[(v >> 6) & 63] : '=');
        rb_buf_addc(b, i + 2 < n ? tab[v & 63] : '=');
    }
}

const char *rb_mail_encode_header(struct rb_arena *a, const char *value)
{
    struct rb_buf b = RB_BUF_INIT;
    const unsigned char *p = (const unsigned char *)value;
    size_t n = strlen(value), i = 0;
    const char *out;

    if (is_plain_ascii(value))
        return rb_strdup(a, value);
    while (i < n) {
        size_t k = n - i < EW_RAW_MAX ? n - i : EW_RAW_MAX;

        /* never split a UTF-8 character between two words: back up to a lead byte */
        while (i + k < n && k > 1 && (p[i + k] & 0xC0) == 0x80)
            k--;
        if (i > 0)
            rb_buf_adds(&b, "\r\n "); /* folding: each word on its own line */
        rb_buf_adds(&b, "=?UTF-8?B?");
        base64(&b, p + i, k);
        rb_buf_adds(&b, "?=");
        i += k;
    }
    out = rb_strndup(a, b.data, b.len);
    rb_buf_release(&b);
    return out;
}

/* The body as lines (LF or CRLF in, CRLF out): does any need quoted-printable? */
static bool needs_qp(const char *body)
{
    size_t line = 0;

    for (const char *s = body; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '\n') {
            line = 0;
            continue;
        }
        if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\r') || ++line > MAIL_LINE_MAX)
            return true;
    }
    return false;
}

static void qp_line(struct rb_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool last = i + 1 == n;
        bool lit = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
        size_t w = lit ? 1 : 3;

        /* room for this character and, unless it ends the line, a soft break '=' after it */
        if (col + w > QP_LINE_MAX - (last ? 0 : 1)) {
            rb_buf_adds(b, "=\r\n");
            col = 0;
        }
        if (lit) {
            rb_buf_addc(b, (char)c);
        } else {
            rb_buf_addc(b, '=');
            rb_buf_addc(b, hex[c >> 4]);
            rb_buf_addc(b, hex[c & 15]);
        }
        col += w;
    }
}

/* Each body line with CRLF, encoded or not; ends with CRLF. */
static void add_body(struct rb_buf *b, const char *body, bool qp)
{
    const char *s = body;

    while (*s != '\0') {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        size_t k = n > 0 && s[n - 1] == '\r' ? n - 1 : n;

        if (qp)
            qp_line(b, s, k);
        else
            rb_buf_add(b, s, k);
        rb_buf_adds(b, "\r\n");
        s += n;
        if (*s == '\n')
            s++;
    }
}

/* A header value on one line: CR and LF (from a variable's value) become spaces, no injection. */
static const char *one_line(struct rb_arena *a, const char *s)
{
    char *r = rb_strdup(a, s);

    for (char *p = r; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    return r;
}

const char *rb_mail_format(struct rb_arena *a, const char *from, const struct rb_notify_message *m,
                           size_t *len)
{
    struct rb_buf b = RB_BUF_INIT;
    bool qp = needs_qp(m->body);
    const char *out;

    rb_buf_adds(&b, "From: ");
    rb_buf_adds(&b, one_line(a, from));
    rb_buf_adds(&b, "\r\nTo: ");
    for (size_t i = 0; i < m->n_to; i++) {
        if (i > 0)
            rb_buf_adds(&b, ",\r\n ");
        rb_buf_adds(&b, one_line(a, m->to[i]));
    }
    rb_buf_adds(&b, "\r\nDate: ");
    rb_buf_adds(&b, rb_mail_date(a, m->date));
    rb_buf_adds(&b, "\r\nSubject: ");
    rb_buf_adds(&b,
                rb_mail_encode_header(a, one_line(a, m->subject != NULL ? m->subject : m->name)));
    rb_buf_adds(&b, "\r\nMessage-ID: ");
    rb_buf_adds(&b, m->message_id);
    rb_buf_adds(&b, "\r\nMIME-Version: 1.0\r\n"
                    "Content-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: ");
    rb_buf_adds(&b, qp ? "quoted-printable" : "7bit");
    /* RFC 3834: a machine wrote it; vacation responders should not answer */
    rb_buf_adds(&b, "\r\nAuto-Submitted: auto-generated\r\n\r\n");
    add_body(&b, m->body, qp);
    *len = b.len;
    out = rb_strndup(a, b.data, b.len);
    rb_buf_release(&b);
    return out;
}

/* --- the session ------------------------------------------------------------------------- */

struct upload {
    const char *data;
    size_t len, off;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct upload *u = userdata;
    size_t room = size * nitems, n = u->len - u->off < room ? u->len - u->off : room;

    memcpy(buf, u->data + u->off, n);
    u->off += n;
    return n;
}

static size_t on_discard(char *data, size_t size, size_t nmemb, void *userdata)
{
    (void)data;
    (void)userdata;
    return size * nmemb;
}

/* The value of the variable a `*_env` key names; NULL when the key is absent. */
static int env_secret(const struct rb_target *t, const char *key, const char **out,
                      struct rb_err *err)
{
    const char *var = rb_target_opt(t, key), *v;

    *out = NULL;
    if (var == NULL)
        return 0;
    v = getenv(var);
    if (v == NULL || *v == '\0') {
        rb_errf(err, RB_E_FAILED, "environment variable '%s' (%s of target '%s') is %s", var, key,
                t->name, v == NULL ? "not set" : "empty");
        return rb_err_hint(err, "export %s before the run", var);
    }
    *out = v;
    return 0;
}

/* A failed session as a sentence an operator can act on, with the server's SMTP code. */
static int session_error(struct rb_arena *a, const struct rb_target *t, const char *url,
                         CURLcode rc, long code, const char *errbuf, int64_t timeout_ms,
                         struct rb_err *err)
{
    const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    const char *codes = code > 0 ? rb_sprintf(a, " (SMTP %ld)", code) : "";
    char dur[32];

    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        rb_errf(err, RB_E_FAILED, "unable to connect to mail server '%s' of target '%s': %s", url,
                t->name, why);
        rb_err_kind(err, RB_K_CONN_LOST);
        return rb_err_hint(err, "check that the server runs and the 'url' of target '%s'", t->name);
    case CURLE_OPERATION_TIMEDOUT:
        rb_errf(err, RB_E_FAILED, "mail server '%s' of target '%s' did not finish within %s%s", url,
                t->name, rb_duration_format(timeout_ms, dur, sizeof(dur)), codes);
        rb_err_kind(err, RB_K_TIMEOUT);
        return rb_err_hint(err, "check the server, or raise 'timeout' of target '%s'", t->name);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
        rb_errf(err, RB_E_FAILED,
                "the certificate of mail server '%s' of target '%s' could not be verified: %s", url,
                t->name, why);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "give the CA that signed it in 'ca_file' of target '%s'", t->name);
    case CURLE_LOGIN_DENIED:
        rb_errf(err, RB_E_FAILED, "mail server '%s' refused the login of target '%s'%s: %s", url,
                t->name, codes, why);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err,
                           "check the user and password in the variables 'username_env' "
                           "and 'password_env' of target '%s' name",
                           t->name);
    default:
        break;
    }
    if (strstr(why, "RCPT") != NULL) {
        rb_errf(err, RB_E_FAILED, "mail server '%s' of target '%s' refused a recipient%s: %s", url,
                t->name, codes, why);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "check the 'to' addresses of the message");
    }
    if (code == 530 || code == 550 || strstr(why, "MAIL") != NULL) {
        rb_errf(err, RB_E_FAILED, "mail server '%s' of target '%s' refused the sender%s: %s", url,
                t->name, codes, why);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err,
                           "check 'from' of target '%s', and whether the server wants a "
                           "login (username_env, password_env)",
                           t->name);
    }
    rb_errf(err, RB_E_FAILED, "mail through '%s' of target '%s' failed%s: %s", url, t->name, codes,
            why);
    return rb_err_kind(err, rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ? RB_K_CONN_LOST
                                                                             : RB_K_OTHER);
}

/*
 * One SMTP session. With payload: MAIL FROM, RCPT TO each of m's recipients, DATA. Without
 * (check): connect, EHLO, STARTTLS, AUTH, then NOOP, sending nothing.
 */
static int session(struct rb_arena *a, const struct rb_target *t, const struct rb_notify_message *m,
                   const char *payload, size_t len, struct rb_err *err)
{
    const char *url = rb_target_opt(t, "url"), *user, *pass;
    const char *shown = url != NULL ? rb_http_redact_url(a, url) : "";
    int64_t timeout = rb_notify_target_timeout(t);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    struct upload up = { payload, len, 0 };
    long code = 0;
    CURLcode rc;
    CURL *h;

    if (url == NULL)
        return rb_errf(err, RB_E_RUNBOOK, "target '%s' has no 'url'", t->name);
    if (env_secret(t, "username_env", &user, err) < 0 ||
        env_secret(t, "password_env", &pass, err) < 0)
        return -1;
    h = curl_easy_init();
    if (h == NULL)
        return rb_errf(err, RB_E_FAILED, "unable to send mail: curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_discard);
    if (strncmp(url, "smtp://", 7) == 0)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    /* a private CA (an internal relay): verification stays on, against this bundle */
    if (rb_target_opt(t, "ca_file") != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, rb_target_opt(t, "ca_file"));
    if (user != NULL)
        curl_easy_setopt(h, CURLOPT_USERNAME, user);
    if (pass != NULL)
        curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
    if (payload != NULL) {
        curl_easy_setopt(h, CURLOPT_MAIL_FROM,
                         rb_sprintf(a, "<%s>", rb_mail_address(a, rb_target_opt(t, "from"))));
        for (size_t i = 0; i < m->n_to; i++)
            rcpt = curl_slist_append(rcpt, rb_sprintf(a, "<%s>", rb_mail_address(a, m->to[i])));
        curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    }
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK)
        return session_error(a, t, shown, rc, code, errbuf, timeout, err);
    return 0;
}

static int smtp_send(struct rb_arena *a, const struct rb_target *t,
                     const struct rb_notify_message *m, struct rb_notify_sent *sent,
                     struct rb_err *err)
{
    const char *from = rb_target_opt(t, "from");
    size_t len = 0;
    const char *msg;

    if (from == NULL)
        return rb_errf(err, RB_E_RUNBOOK, "target '%s' has no 'from'", t->name);
    if (m->n_to == 0)
        return rb_errf(err, RB_E_RUNBOOK, "message '%s' has no recipients", m->name);
    msg = rb_mail_format(a, from, m, &len);
    if (sent != NULL) {
        sent->copy = msg;
        sent->copy_len = len;
    }
    return session(a, t, m, msg, len, err);
}

static int smtp_check(struct rb_arena *a, const struct rb_target *t, const char **what,
                      struct rb_err *err)
{
    const char *url = rb_target_opt(t, "url");

    if (session(a, t, NULL, NULL, 0, err) < 0)
        return -1;
    if (what != NULL)
        *what =
            rb_sprintf(a, "mail server '%s' answered EHLO and NOOP%s; nothing was sent",
                       rb_http_redact_url(a, url),
                       rb_target_opt(t, "username_env") != NULL ? " and accepted the login" : "");
    return 0;
}

const struct rb_notify_ops rb_smtp_ops = {
    .driver = "smtp",
    .send = smtp_send,
    .check = smtp_check,
};
