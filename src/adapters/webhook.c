/*
 * webhook.c - the webhook notification driver: POST {"text": ...} to an incoming-webhook URL
 * (the shape Slack, Mattermost and Microsoft Teams incoming webhooks accept), through http.c.
 *
 * The URL comes from `url`, or from the variable `url_env` names. A webhook URL is a secret (it
 * is the credential: its path holds the token), so one read from the environment is never shown:
 * messages name it as "the URL in $VAR". A 2xx answer means posted; anything else is an error with
 * the status and the start of the body.
 *
 * Delivery is at-least-once (communicate.c sends a message again when a crash left it in flight),
 * so every post carries `Idempotency-Key:` the notification's Message-ID without its angle
 * brackets: the copies of one message have one key, by which a receiver can drop the repeats.
 *
 * check (prepare's channel check) must post nothing: a receiver acts on every POST. It sends one
 * HEAD to the URL instead. Receivers answer it variously (200, 404, 405 for a POST-only route,
 * 501 from servers that implement no HEAD at all): any answer below 500, or 501, shows the
 * receiver is there and answering; another 5xx or no answer is a channel that is down. It cannot
 * prove the token in the URL is still valid: only a post would.
 */
#include "rollbackctl/notify.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rollbackctl/http.h"

#define EXCERPT_MAX 200 /* bytes of an error answer's body quoted in the message */

/* "text": the subject (when there is one) as a first line, then the body. */
static char *payload(struct rb_arena *a, const struct rb_notify_message *m)
{
    cJSON *o = cJSON_CreateObject();
    char *json, *out;

    if (m->subject != NULL && m->subject[0] != '\0')
        cJSON_AddStringToObject(o, "text", rb_sprintf(a, "%s\n\n%s", m->subject, m->body));
    else
        cJSON_AddStringToObject(o, "text", m->body);
    json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    out = rb_strdup(a, json);
    cJSON_free(json);
    return out;
}

/* "<run.slug@domain>" -> "run.slug@domain": the key of every copy of one notification. */
static const char *idempotency_key(struct rb_arena *a, const char *message_id)
{
    size_t n = strlen(message_id);

    if (n >= 2 && message_id[0] == '<' && message_id[n - 1] == '>')
        return rb_strndup(a, message_id + 1, n - 2);
    return message_id;
}

/* The start of a body, on one line, for a message. */
static const char *excerpt(struct rb_arena *a, const char *body, size_t len)
{
    size_t n = len < EXCERPT_MAX ? len : EXCERPT_MAX;
    char *s = rb_strndup(a, body != NULL ? body : "", n);

    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    return n < len ? rb_sprintf(a, "%s...", s) : s;
}

/* The URL to use (url, or the variable url_env names) and how messages may show it. */
static int webhook_url(struct rb_arena *a, const struct rb_target *t, const char **url,
                       const char **shown, struct rb_err *err)
{
    const char *var = rb_target_opt(t, "url_env");

    *url = rb_target_opt(t, "url");
    if (*url == NULL && var != NULL) {
        *url = getenv(var);
        if (*url == NULL || **url == '\0') {
            rb_errf(err, RB_E_FAILED, "environment variable '%s' (url_env of target '%s') is %s",
                    var, t->name, *url == NULL ? "not set" : "empty");
            return rb_err_hint(err, "export %s before the run", var);
        }
        *shown = rb_sprintf(a, "the URL in $%s", var);
    } else if (*url != NULL) {
        *shown = rb_sprintf(a, "'%s'", rb_http_redact_url(a, *url));
    } else {
        return rb_errf(err, RB_E_RUNBOOK, "target '%s' has neither 'url' nor 'url_env'", t->name);
    }
    return 0;
}

/* http.c names the URL it was given; a secret one must not appear, so say it anew. */
static int unreachable(const struct rb_target *t, const char *verb, const char *shown,
                       const struct rb_err *herr, struct rb_err *err)
{
    const char *why = strstr(herr->msg, "timed out") != NULL ? "timed out" : NULL;
    const char *colon = strstr(herr->msg, "': ");

    rb_errf(err, RB_E_FAILED, "unable to %s webhook %s of target '%s': %s", verb, shown, t->name,
            why != NULL     ? why
            : colon != NULL ? colon + 3
                            : "no answer");
    rb_err_kind(err, why != NULL ? RB_K_TIMEOUT : RB_K_CONN_LOST);
    return rb_err_hint(err, "check that the receiver runs and the URL of target '%s'", t->name);
}

static int webhook_send(struct rb_arena *a, const struct rb_target *t,
                        const struct rb_notify_message *m, struct rb_notify_sent *sent,
                        struct rb_err *err)
{
    const char *headers[3] = { "Content-Type: application/json", NULL, NULL };
    const char *url, *shown;
    struct rb_http_request req = { 0 };
    struct rb_http_response res;
    struct rb_err herr = RB_ERR_INIT;

    if (webhook_url(a, t, &url, &shown, err) < 0)
        return -1;
    req.method = "POST";
    req.url = url;
    req.body = payload(a, m);
    if (m->message_id != NULL && m->message_id[0] != '\0')
        headers[1] = rb_sprintf(a, "Idempotency-Key: %s", idempotency_key(a, m->message_id));
    req.headers = headers;
    req.timeout_ms = rb_notify_target_timeout(t);
    if (sent != NULL) {
        sent->copy = req.body;
        sent->copy_len = strlen(req.body);
    }
    if (rb_http_do(a, &req, &res, &herr) < 0)
        return unreachable(t, "post to", shown, &herr, err);
    if (res.status < 200 || res.status > 299) {
        rb_errf(err, RB_E_FAILED, "webhook %s of target '%s' answered HTTP %ld: %s", shown, t->name,
                res.status, excerpt(a, res.body, res.body_len));
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "check the webhook's configuration at the receiving end");
    }
    return 0;
}

static int webhook_check(struct rb_arena *a, const struct rb_target *t, const char **what,
                         struct rb_err *err)
{
    const char *url, *shown;
    struct rb_http_request req = { 0 };
    struct rb_http_response res;
    struct rb_err herr = RB_ERR_INIT;

    if (webhook_url(a, t, &url, &shown, err) < 0)
        return -1;
    req.method = "HEAD";
    req.url = url;
    req.timeout_ms = rb_notify_target_timeout(t);
    if (rb_http_do(a, &req, &res, &herr) < 0)
        return unreachable(t, "reach", shown, &herr, err);
    if (res.status >= 500 && res.status != 501) {
        rb_errf(err, RB_E_FAILED,
                "webhook %s of target '%s' answered HEAD with HTTP %ld: the "
                "receiver is failing",
                shown, t->name, res.status);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "check the receiving end of target '%s'", t->name);
    }
    if (what != NULL)
        *what = rb_sprintf(a,
                           "webhook of target '%s' (%s) answered HEAD with HTTP %ld; nothing was "
                           "posted",
                           t->name, shown, res.status);
    return 0;
}

const struct rb_notify_ops rb_webhook_ops = {
    .driver = "webhook",
    .send = webhook_send,
    .check = webhook_check,
};
