/*
 * identity.h - who is running rollbackctl: the person and the host, as approvals and the journal
 * record them.
 *
 * Under sudo the effective user is root, but the person is the one who typed sudo: SUDO_USER
 * (when it is set, not empty and not root). Otherwise the effective user's name.
 */
#ifndef ROLLBACKCTL_IDENTITY_H
#define ROLLBACKCTL_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

#define RB_IDENTITY_USER_MAX 64
#define RB_IDENTITY_HOST_MAX 256

struct rb_identity {
    char user[RB_IDENTITY_USER_MAX]; /* the person */
    char host[RB_IDENTITY_HOST_MAX]; /* gethostname() */
    uid_t euid;                      /* the effective uid the process runs as */
    bool via_sudo;                   /* user came from SUDO_USER */
};

/*
 * The rule, without the environment: euid 0 with a SUDO_USER that is set, not empty and not
 * "root" names SUDO_USER; anything else names the effective user (euid_name, NULL when the uid
 * has no passwd entry: then NULL). Pure, for the unit tests.
 */
const char *rb_identity_pick(uid_t euid, const char *sudo_user, const char *euid_name);

/* This process's person and host. Never fails: an unknown uid is its number, a host "unknown". */
void rb_identity_get(struct rb_identity *id);

/*
 * The user part of "user@host" (an initiated_by), copied into out. A string without '@' is all
 * user.
 */
void rb_identity_user_of(const char *user_at_host, char *out, size_t len);

#endif
