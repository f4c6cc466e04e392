#include "core/outpath.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

const char *vl_path_kind(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return NULL;
    if (S_ISREG(st.st_mode))
        return NULL;
    if (S_ISLNK(st.st_mode))
        return "a symbolic link";
    if (S_ISDIR(st.st_mode))
        return "a directory";
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        return "a device";
    if (S_ISFIFO(st.st_mode))
        return "a named pipe";
    if (S_ISSOCK(st.st_mode))
        return "a socket";
    return "not a regular file";
}

/* The folder resolved by realpath plus the last component ("a/../b/x" and
 * "b/x" compare equal even when x does not exist yet). Falls back to the
 * path as given when the folder cannot be resolved. */
static void canonical(const char *p, char *out, size_t n)
{
    const char *sl = strrchr(p, '/');
    char dir[PATH_MAX], res[PATH_MAX];
    const char *base = sl ? sl + 1 : p;
    if (sl == p)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", sl ? (int)(sl - p) : 1, sl ? p : ".");
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) { /* a folder named by p itself */
        if (realpath(p, res))
            snprintf(out, n, "%s", res);
        else
            snprintf(out, n, "%s", p);
        return;
    }
    if (realpath(dir, res))
        snprintf(out, n, "%s%s%s", res, strcmp(res, "/") ? "/" : "", base);
    else
        snprintf(out, n, "%s", p);
}

int vl_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb) /* one exists, the other does not: not the same (and no realpath for every item of a dataset) */
        return 0;
    /* also through a dangling final symlink: lstat both */
    if (lstat(a, &sa) == 0 && lstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
        return 1;
    char ca[PATH_MAX + 256], cb[PATH_MAX + 256];
    canonical(a, ca, sizeof ca);
    canonical(b, cb, sizeof cb);
    return strcmp(ca, cb) == 0;
}

static vl_status check_inputs(const char *what, const char *path, const char *const *inputs, int n)
{
    for (int i = 0; i < n; i++)
        if (inputs[i] && *inputs[i] && vl_same_file(path, inputs[i]))
            return vl_seterr(VL_ERR_ARG, "%s %s: is the same file as %s, which this command reads or writes; "
                             "choose another output path (nothing was written)", what, path, inputs[i]);
    return VL_OK;
}

vl_status vl_output_check(const char *what, const char *path, const char *const *inputs, int n)
{
    const char *kind = vl_path_kind(path);
    if (kind)
        return vl_seterr(VL_ERR_ARG, "%s %s: exists and is %s; outputs are written to a temporary file and renamed "
                         "into place, which would replace it (nothing was written)", what, path, kind);
    return check_inputs(what, path, inputs, n);
}

vl_status vl_output_dir_check(const char *what, const char *path, const char *const *inputs, int n)
{
    struct stat st;
    /* a symlink to a folder is fine here: files are renamed into place
     * inside it, the link itself is never replaced */
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        const char *kind = S_ISREG(st.st_mode) ? "a file" : S_ISFIFO(st.st_mode) ? "a named pipe"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)            ? "a device"
                                                                                   : "not a folder";
        return vl_seterr(VL_ERR_ARG, "%s %s: exists and is %s, not a folder (nothing was written)", what, path, kind);
    }
    return check_inputs(what, path, inputs, n);
}
