/* outfile.c -- see outfile.h. */
#include "cli/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A temporary name must stay under NAME_MAX (255) even for a long final name. */
enum { TEMP_BASE_MAX = 200 };

/* The directory part of path ("." if none) and the base name. */
static void split_path(const char *path, char **dir, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *dir = strdup(".");
        *base = path;
    } else if (slash == path) {
        *dir = strdup("/");
        *base = slash + 1;
    } else {
        *dir = strndup(path, (size_t)(slash - path));
        *base = slash + 1;
    }
}

int outfile_create(struct outfile *of, const char *final_path)
{
    of->final_path = final_path;
    of->temp_path = NULL;
    of->fd = -1;

    char *dir;
    const char *base;
    split_path(final_path, &dir, &base);
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    int base_len = (int)strnlen(base, TEMP_BASE_MAX);
    size_t size = strlen(dir) + (size_t)base_len + 16;
    char *temp = malloc(size);
    if (!temp) {
        free(dir);
        errno = ENOMEM;
        return -1;
    }
    snprintf(temp, size, "%s/.%.*s.XXXXXX", dir, base_len, base);
    free(dir);

    int fd = mkostemp(temp, O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        free(temp);
        errno = e;
        return -1;
    }
    of->temp_path = temp;
    of->fd = fd;
    return 0;
}

int outfile_sync(struct outfile *of)
{
    return fsync(of->fd);
}

int outfile_copy_attributes(struct outfile *of, const struct stat *st)
{
    /* Owner first: chown clears set-id bits, and it may fail for a user who may not give
     * files away, which is fine (gzip does the same). */
    if (fchown(of->fd, st->st_uid, st->st_gid) != 0 && fchown(of->fd, (uid_t)-1, st->st_gid) != 0) {
        /* keep our own ownership */
    }
    if (fchmod(of->fd, st->st_mode & 07777) != 0)
        return -1;
    struct timespec times[2] = { st->st_atim, st->st_mtim };
    return futimens(of->fd, times);
}

int outfile_default_mode(struct outfile *of, mode_t umask_bits)
{
    return fchmod(of->fd, 0666 & ~umask_bits);
}

static int sync_directory_of(const char *path)
{
    char *dir;
    const char *base;
    split_path(path, &dir, &base);
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    /* Some file systems cannot sync a directory; the rename is then as durable as it gets. */
    if (rc != 0 && (errno == EINVAL || errno == EROFS))
        rc = 0;
    close(fd);
    return rc;
}

/* Rename without replacing: renameat2(RENAME_NOREPLACE) is atomic; where the file system
 * lacks it, link() also fails with EEXIST atomically. */
static int rename_noreplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return -1;
    if (link(from, to) != 0)
        return -1;
    unlink(from);
    return 0;
}

int outfile_commit(struct outfile *of, bool overwrite)
{
    if (of->fd >= 0) {
        int rc = close(of->fd);
        of->fd = -1;
        if (rc != 0)
            return -1;
    }
    int rc = overwrite ? rename(of->temp_path, of->final_path)
                       : rename_noreplace(of->temp_path, of->final_path);
    if (rc != 0)
        return -1;
    free(of->temp_path);
    of->temp_path = NULL;
    return sync_directory_of(of->final_path);
}

void outfile_discard(struct outfile *of)
{
    if (of->fd >= 0) {
        close(of->fd);
        of->fd = -1;
    }
    if (of->temp_path) {
        unlink(of->temp_path);
        free(of->temp_path);
        of->temp_path = NULL;
    }
}
