/*
 * fsutil.h - durable file-system helpers shared by the journal, lock, reports and assets.
 */
#ifndef ROLLBACKCTL_FSUTIL_H
#define ROLLBACKCTL_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "rollbackctl/err.h"

/* write() until done; -1 with errno on failure (a short write is never silently accepted). */
int rb_write_all(int fd, const void *buf, size_t len);
int rb_fsync_dir(const char *dir);
/* mkdir -p with mode for every created component. */
int rb_mkdir_p(const char *path, mode_t mode, struct rb_err *err);
/*
 * A folder rollbackctl keeps state in (runs/, a run's folder): created with mode when missing,
 * then refused unless it is a real directory (not a symbolic link) owned by us, so that nothing
 * written there lands where someone else pointed it.
 */
int rb_mkdir_private(const char *path, mode_t mode, struct rb_err *err);
/* The same check, for a folder that must already be there (resume). */
int rb_dir_check_private(const char *path, struct rb_err *err);
/*
 * The state_dir must be ours and writable by nobody else: owned by the effective user, not
 * world-writable, and group-writable only when setgid and of one of our groups (the approvers'
 * group setup, docs/runbook.md). A symbolic link to such a folder is fine (followed).
 */
int rb_check_state_dir(const char *path, struct rb_err *err);
/*
 * The approvers' group setup: the state_dir's group has rwx and it is setgid (chmod 2770). Then
 * runs/ and each run's folder are group-readable (02750), the journal and the lock 0640, and a
 * run's approvals/ group-writable (02770), so that the group's approvers can read the run and
 * drop their records; otherwise all of it stays owner-only.
 */
bool rb_state_dir_shared(const char *state_dir);
/*
 * A folder of ours under the state_dir: chmod to shared_mode when the state_dir is shared, else
 * to 0700 (a folder made before the state_dir was shared, or after it stopped being, follows).
 */
int rb_dir_share(const char *path, const char *state_dir, mode_t shared_mode, struct rb_err *err);
/*
 * Temp file (path.tmp: a stale one removed, created O_EXCL|O_NOFOLLOW so a planted link is never
 * written through, mode set exactly whatever the umask), fsync, close checked, rename, fsync the
 * folder.
 */
int rb_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct rb_err *err);
/* Whole file, NUL-terminated; caller free()s. */
char *rb_read_file(const char *path, size_t *len_out, struct rb_err *err);

/* SHA-256 of data as 64 lowercase hex digits. */
void rb_sha256_hex(const void *data, size_t len, char out[65]);
/* SHA-256 of a file's bytes, read in pieces (dumps are large), as 64 hex digits; -1 with err. */
int rb_sha256_file_hex(const char *path, char out[65], struct rb_err *err);

#endif
