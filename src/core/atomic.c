/* Atomic file writes (atomic.h). */
#define _GNU_SOURCE
#include "core/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* fsync the folder holding `path`, so the rename is durable (best effort). */
static void sync_folder(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

static void release(vl_atomic *a)
{
    free(a->tmp);
    free(a->path);
    *a = (vl_atomic){0};
}

vl_status vl_atomic_open(const char *path, vl_atomic *a) { return vl_atomic_open_ex(path, 0, a); }

vl_status vl_atomic_open_ex(const char *path, unsigned flags, vl_atomic *a)
{
    static unsigned counter;
    *a = (vl_atomic){.flags = flags};
    size_t n = strlen(path) + 48;
    a->tmp = malloc(n);
    a->path = strdup(path);
    if (!a->tmp || !a->path) {
        release(a);
        return vl_seterr(VL_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        snprintf(a->tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(),
                 __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
        fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        release(a);
        return vl_seterr(VL_ERR_IO, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        release(a);
        return vl_seterr(VL_ERR_IO, "%s: %s", path, strerror(e));
    }
    return VL_OK;
}

void vl_atomic_abort(vl_atomic *a)
{
    if (a->f)
        fclose(a->f);
    if (a->tmp)
        unlink(a->tmp);
    release(a);
}

vl_status vl_atomic_commit(vl_atomic *a)
{
    if (!a->f)
        return vl_seterr(VL_ERR_ARG, "atomic write: nothing open");
    int e = 0;
    if (ferror(a->f))
        e = errno ? errno : EIO;
    if (!e && fflush(a->f) != 0)
        e = errno;
    if (!e && !(a->flags & VL_ATOMIC_NO_SYNC) && fsync(fileno(a->f)) != 0)
        e = errno;
    if (fclose(a->f) != 0 && !e)
        e = errno;
    a->f = NULL;
    if (!e && rename(a->tmp, a->path) != 0)
        e = errno;
    if (e) {
        unlink(a->tmp);
        vl_status st = vl_seterr(VL_ERR_IO, "%s: cannot write: %s", a->path, strerror(e));
        release(a);
        return st;
    }
    if (!(a->flags & VL_ATOMIC_NO_SYNC))
        sync_folder(a->path);
    release(a);
    return VL_OK;
}

vl_status vl_write_atomic(const char *path, vl_atomic_fn fn, void *user)
{
    vl_atomic a;
    vl_status st = vl_atomic_open(path, &a);
    if (st)
        return st;
    if ((st = fn(a.f, user))) {
        vl_atomic_abort(&a);
        return st;
    }
    return vl_atomic_commit(&a);
}

vl_status vl_write_file_atomic(const char *path, const void *buf, size_t len)
{
    vl_atomic a;
    vl_status st = vl_atomic_open(path, &a);
    if (st)
        return st;
    if (len && fwrite(buf, 1, len, a.f) != len) {
        int e = errno;
        vl_atomic_abort(&a);
        return vl_seterr(VL_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    return vl_atomic_commit(&a);
}

vl_status vl_atomic_commit_file(const char *tmp, const char *path)
{
    int e = 0;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    if (!e && rename(tmp, path) != 0)
        e = errno;
    if (e) {
        unlink(tmp);
        return vl_seterr(VL_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    }
    sync_folder(path);
    return VL_OK;
}

int vl_atomic_remove_temps(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = slash ? (slash == path ? strdup("/") : strndup(path, (size_t)(slash - path))) : strdup(".");
    if (!dir)
        return 0;
    DIR *d = opendir(dir);
    int removed = 0;
    const size_t bl = strlen(base);
    for (struct dirent *e; d && (e = readdir(d));) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp", 4) || (n[bl + 4] && n[bl + 4] != '.'))
            continue;
        size_t len = strlen(dir) + strlen(n) + 2;
        char *full = malloc(len);
        if (full) {
            snprintf(full, len, "%s/%s", dir, n);
            removed += unlink(full) == 0;
            free(full);
        }
    }
    if (d)
        closedir(d);
    free(dir);
    return removed;
}
