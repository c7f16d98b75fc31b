/*
 * fsutil.c - durable file-system helpers: whole writes, fsync of files and folders, mkdir -p,
 * atomic replace (pgBackRest posix/write.c: temp file, fsync, close checked, rename, fsync dir),
 * and the checks that keep the state_dir ours (no symbolic links followed, nobody else writing).
 */
#include "rollbackctl/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int rb_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rb_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

int rb_mkdir_p(const char *path, mode_t mode, struct rb_err *err)
{
    char tmp[4096];
    size_t len = strlen(path);
    char *p;

    if (len == 0 || len >= sizeof(tmp))
        return rb_errf(err, RB_E_FAILED, "unable to create directory '%s': bad path", path);
    memcpy(tmp, path, len + 1);
    for (p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return rb_errf(err, RB_E_FAILED, "unable to create directory '%s': %s", tmp,
                           strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return rb_errf(err, RB_E_FAILED, "unable to create directory '%s': %s", tmp,
                       strerror(errno));
    return 0;
}

static const char *uid_name(uid_t uid, char *buf, size_t len)
{
    struct passwd *pw = getpwuid(uid);

    if (pw != NULL)
        snprintf(buf, len, "%s", pw->pw_name);
    else
        snprintf(buf, len, "%ld", (long)uid);
    return buf;
}

static bool in_my_groups(gid_t gid)
{
    gid_t groups[256];
    int n = getgroups(256, groups);

    if (gid == getegid())
        return true;
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return false;
}

int rb_mkdir_private(const char *path, mode_t mode, struct rb_err *err)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return rb_errf(err, RB_E_FAILED, "unable to create directory '%s': %s", path,
                       strerror(errno));
    return rb_dir_check_private(path, err);
}

int rb_dir_check_private(const char *path, struct rb_err *err)
{
    struct stat st;
    char owner[64], me[64];

    if (lstat(path, &st) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to examine directory '%s': %s", path,
                       strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        rb_errf(err, RB_E_FAILED, "'%s' is a symbolic link; refusing to follow it", path);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "rollbackctl keeps its runs in real folders: remove the link "
                                "(rm '%s') and run again",
                           path);
    }
    if (!S_ISDIR(st.st_mode)) {
        rb_errf(err, RB_E_FAILED, "'%s' is not a directory", path);
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "move it out of the way and run again");
    }
    if (st.st_uid != geteuid()) {
        rb_errf(err, RB_E_FAILED, "directory '%s' is owned by '%s', not by '%s'", path,
                uid_name(st.st_uid, owner, sizeof(owner)), uid_name(geteuid(), me, sizeof(me)));
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "run as its owner, or give it to this user: chown %s '%s'", me,
                           path);
    }
    return 0;
}

int rb_check_state_dir(const char *path, struct rb_err *err)
{
    struct stat st;
    char owner[64], me[64];

    if (stat(path, &st) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to examine state_dir '%s': %s", path,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return rb_errf(err, RB_E_FAILED, "state_dir '%s' is not a directory", path);
    if (st.st_uid != geteuid()) {
        rb_errf(err, RB_E_FAILED, "state_dir '%s' is owned by '%s', not by '%s'", path,
                uid_name(st.st_uid, owner, sizeof(owner)), uid_name(geteuid(), me, sizeof(me)));
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "run as its owner, or give it to this user: chown %s '%s'", me,
                           path);
    }
    if (st.st_mode & S_IWOTH) {
        rb_errf(err, RB_E_FAILED, "state_dir '%s' is writable by every user (mode %04o)", path,
                (unsigned)(st.st_mode & 07777));
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err, "anyone could replace its lock or journals: chmod 700 '%s'", path);
    }
    /*
     * Group-writable is the approvers' group setup only: setgid, so that what we create keeps
     * the group, and a group we are in, so that the group is one we chose.
     */
    if ((st.st_mode & S_IWGRP) && !((st.st_mode & S_ISGID) && in_my_groups(st.st_gid))) {
        rb_errf(err, RB_E_FAILED, "state_dir '%s' is writable by its group (mode %04o)", path,
                (unsigned)(st.st_mode & 07777));
        rb_err_kind(err, RB_K_REFUSED);
        return rb_err_hint(err,
                           "chmod 700 '%s'; for a shared operators' group, make it setgid and of "
                           "a group you are in: chgrp GROUP '%s' && chmod 2770 '%s'",
                           path, path, path);
    }
    return 0;
}

bool rb_state_dir_shared(const char *state_dir)
{
    struct stat st;

    return stat(state_dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IRWXG) == S_IRWXG &&
           (st.st_mode & S_ISGID) != 0;
}

int rb_dir_share(const char *path, const char *state_dir, mode_t shared_mode, struct rb_err *err)
{
    mode_t mode = rb_state_dir_shared(state_dir) ? shared_mode : 0700;

    if (chmod(path, mode) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to set the mode of '%s' to %04o: %s", path,
                       (unsigned)mode, strerror(errno));
    return 0;
}

int rb_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                         struct rb_err *err)
{
    char tmp[4096 + 8];
    char dir[4096];
    char *slash;
    int fd;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /*
     * A temp file a crash left is ours to replace; a name someone planted (a link, in a folder
     * others may write: the approvers' group setup) is never written through: O_EXCL with
     * O_NOFOLLOW after removing the old name. The mode is set exactly, whatever the umask.
     */
    if (unlink(tmp) < 0 && errno != ENOENT)
        return rb_errf(err, RB_E_FAILED, "unable to remove stale file '%s': %s", tmp,
                       strerror(errno));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return rb_errf(err, RB_E_FAILED, "unable to open file '%s' for write: %s", tmp,
                       strerror(errno));
    if (fchmod(fd, mode) < 0 || rb_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;

        close(fd);
        unlink(tmp);
        return rb_errf(err, RB_E_FAILED, "unable to write file '%s': %s", tmp, strerror(e));
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;

        unlink(tmp);
        return rb_errf(err, RB_E_FAILED, "unable to persist file '%s': %s", path, strerror(e));
    }
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (rb_fsync_dir(dir) < 0)
        return rb_errf(err, RB_E_FAILED, "unable to sync directory '%s': %s", dir, strerror(errno));
    return 0;
}

char *rb_read_file(const char *path, size_t *len_out, struct rb_err *err)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL) {
        rb_errf(err, RB_E_FAILED, "unable to open file '%s': %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t n;

        if (cap - len < 65536) {
            char *p;

            cap = cap == 0 ? 65536 : cap * 2;
            p = realloc(data, cap + 1);
            if (p == NULL) {
                free(data);
                fclose(f);
                rb_errf(err, RB_E_FAILED, "out of memory reading '%s'", path);
                return NULL;
            }
            data = p;
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        free(data);
        fclose(f);
        rb_errf(err, RB_E_FAILED, "unable to read file '%s': %s", path, strerror(errno));
        return NULL;
    }
    fclose(f);
    data[len] = '\0';
    if (len_out != NULL)
        *len_out = len;
    return data;
}

void rb_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";
    unsigned int i;

    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    for (i = 0; i < mdlen && i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

int rb_sha256_file_hex(const char *path, char out[65], struct rb_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE], buf[65536];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;
    ssize_t n;

    if (fd < 0)
        return rb_errf(err, RB_E_FAILED, "unable to open '%s': %s", path, strerror(errno));
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        abort();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = rb_errf(err, RB_E_FAILED, "unable to read '%s': %s", path, strerror(errno));
            break;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)n);
    }
    close(fd);
    if (rc == 0) {
        EVP_DigestFinal_ex(ctx, md, &mdlen);
        for (unsigned int i = 0; i < mdlen && i < 32; i++) {
            out[2 * i] = hex[md[i] >> 4];
            out[2 * i + 1] = hex[md[i] & 15];
        }
        out[64] = '\0';
    }
    EVP_MD_CTX_free(ctx);
    return rc;
}
