/*
 * notify.h - notification targets: send one message (mail or chat), or check a channel.
 *
 * One ops struct per driver (smtp.c, webhook.c), reached through the driver registry
 * (adapter.h): rb_notify_ops_for(target). The communicate phase renders the message and hands it
 * over whole; a driver sends it once, within the target's `timeout:`, and gives back the exact
 * bytes it sent (for the run folder's copy). Retries are the phase's business, not the driver's.
 * `check` (prepare's channel.<target>) looks at the channel and sends nothing: smtp greets and
 * logs in, webhook asks with HEAD; it may be NULL for a driver that cannot look without sending.
 */
#ifndef ROLLBACKCTL_NOTIFY_H
#define ROLLBACKCTL_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "rollbackctl/arena.h"
#include "rollbackctl/err.h"
#include "rollbackctl/runbook.h"

#define RB_NOTIFY_TIMEOUT_MS 30000 /* per attempt, when the target has no `timeout:` */

struct rb_notify_message {
    const char *name;      /* the runbook's message name */
    const char *const *to; /* recipients (mail); n_to == 0 for chat */
    size_t n_to;
    const char *subject;    /* UTF-8, or NULL */
    const char *body;       /* UTF-8 text, lines separated by "\n" */
    const char *message_id; /* "<local@domain>": the same for every copy of one message */
    time_t date;            /* when it was first rendered */
};

/* What a driver sent: the exact bytes (mail: headers and body; webhook: the JSON body). */
struct rb_notify_sent {
    const char *copy; /* arena-owned */
    size_t copy_len;
};

struct rb_notify_ops {
    const char *driver;
    /* Send m once; 0 when the server accepted it, -1 with err (an operator's sentence) if not. */
    int (*send)(struct rb_arena *a, const struct rb_target *t, const struct rb_notify_message *m,
                struct rb_notify_sent *sent, struct rb_err *err);
    /*
     * Optional: reach the channel as send would (connect, greet, authenticate) and send nothing.
     * *what (may be NULL) gets one line on what answered, arena-owned.
     */
    int (*check)(struct rb_arena *a, const struct rb_target *t, const char **what,
                 struct rb_err *err);
};

extern const struct rb_notify_ops rb_smtp_ops;
extern const struct rb_notify_ops rb_webhook_ops;

/* The ops of a notification target's driver, or NULL with err. */
const struct rb_notify_ops *rb_notify_ops_for(const struct rb_target *t, struct rb_err *err);

/* The target's `timeout:` in ms, or RB_NOTIFY_TIMEOUT_MS. */
int64_t rb_notify_target_timeout(const struct rb_target *t);

/*
 * Mail formatting, in smtp.c (exported for unit tests). rb_mail_format builds the whole RFC 5322
 * message with CRLF line ends: From, To, Date, Subject, Message-ID, MIME-Version, Content-Type
 * text/plain utf-8, and 7bit for plain ASCII with short lines, quoted-printable otherwise.
 */
const char *rb_mail_format(struct rb_arena *a, const char *from, const struct rb_notify_message *m,
                           size_t *len);
/* A header value as RFC 2047 "=?UTF-8?B?...?=" words (folded) when not ASCII; else as is. */
const char *rb_mail_encode_header(struct rb_arena *a, const char *value);
/* "Tue, 01 Dec 2026 23:48:09 +0000" (RFC 5322, UTC, C locale). */
const char *rb_mail_date(struct rb_arena *a, time_t t);
/* The address inside "Name <addr>", or the whole string. Arena-owned. */
const char *rb_mail_address(struct rb_arena *a, const char *from);

#endif
