/*
 * identity.c - the person behind a command (SUDO_USER under sudo, else the effective user) and
 * the host, for the initiator of a run and for each approval.
 */
#include "rollbackctl/identity.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *rb_identity_pick(uid_t euid, const char *sudo_user, const char *euid_name)
{
    /* root may speak for the person who ran sudo; "root" itself names no one more precise */
    if (euid == 0 && sudo_user != NULL && sudo_user[0] != '\0' && strcmp(sudo_user, "root") != 0)
        return sudo_user;
    return euid_name;
}

void rb_identity_get(struct rb_identity *id)
{
    uid_t euid = geteuid();
    struct passwd *pw = getpwuid(euid);
    const char *sudo_user = getenv("SUDO_USER");
    const char *user = rb_identity_pick(euid, sudo_user, pw != NULL ? pw->pw_name : NULL);

    memset(id, 0, sizeof(*id));
    id->euid = euid;
    id->via_sudo = user != NULL && sudo_user != NULL && user == sudo_user;
    if (user != NULL)
        snprintf(id->user, sizeof(id->user), "%s", user);
    else
        snprintf(id->user, sizeof(id->user), "%ld", (long)euid);
    if (gethostname(id->host, sizeof(id->host)) < 0 || id->host[0] == '\0')
        snprintf(id->host, sizeof(id->host), "unknown");
    id->host[sizeof(id->host) - 1] = '\0';
}

void rb_identity_user_of(const char *user_at_host, char *out, size_t len)
{
    const char *at = user_at_host != NULL ? strrchr(user_at_host, '@') : NULL;

    if (user_at_host == NULL)
        snprintf(out, len, "%s", "");
    else if (at == NULL)
        snprintf(out, len, "%s", user_at_host);
    else
        snprintf(out, len, "%.*s", (int)(at - user_at_host), user_at_host);
}
