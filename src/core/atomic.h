/* Atomic file writes: every file vidlstm writes goes through here.
 *
 * A temporary file is created beside the target (same folder, so the rename
 * cannot cross file systems; name "<target>.tmp.<pid>.<n>", created with
 * O_EXCL and mode 0666 less the umask), the caller writes it, then it is
 * flushed, fsync'ed, renamed over the target, and the folder is fsync'ed so
 * that the rename itself survives a crash (best effort: some file systems
 * refuse to fsync a folder). On any failure the temporary file is removed
 * and the target is untouched: readers see the old file or the new one,
 * never a part. Errors name the target and the reason (vl_seterr). */
#ifndef VL_CORE_ATOMIC_H
#define VL_CORE_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "vidlstm.h"

/* An open atomic write. */
typedef struct {
    FILE *f;    /* write the content here (buffered stdio) */
    unsigned flags;
    char *tmp;  /* the temporary file's name */
    char *path; /* the target */
} vl_atomic;

/* Creates the temporary file for `path` and opens a->f on it. On failure
 * *a is zeroed (nothing to abort). */
vl_status vl_atomic_open(const char *path, vl_atomic *a);
/* The same with flags: VL_ATOMIC_NO_SYNC skips both fsyncs (still a temp
 * file and a rename, so readers never see a part), for caches whose entries
 * are checksummed and only cost time when lost: an fsync costs milliseconds
 * per file, which a cache entry per video would pay in extraction. */
#define VL_ATOMIC_NO_SYNC 1u
vl_status vl_atomic_open_ex(const char *path, unsigned flags, vl_atomic *a);
/* Finishes a write: fflush, fsync, close, rename over the target, fsync the
 * folder. Any failure (including an earlier write error recorded by the
 * stream, e.g. ENOSPC) removes the temporary file and leaves the target
 * untouched. *a is released either way. */
vl_status vl_atomic_commit(vl_atomic *a);
/* Gives up: closes and removes the temporary file; the target is untouched.
 * Safe on a zeroed *a. Keeps the current error message. */
void vl_atomic_abort(vl_atomic *a);

/* Callback style: fn writes the content to f and returns VL_OK, or an error
 * (with its message set), after which nothing is renamed and the temporary
 * file is removed. */
typedef vl_status (*vl_atomic_fn)(FILE *f, void *user);
vl_status vl_write_atomic(const char *path, vl_atomic_fn fn, void *user);

/* Removes the temporary files a killed writer of `path` left behind
 * ("<path>.tmp" and "<path>.tmp.*" in its folder), for callers that know no
 * other writer of that path runs (a finished training run and its
 * checkpoint). Returns how many were removed. */
int vl_atomic_remove_temps(const char *path);

/* Writes LEN bytes to PATH atomically. */
vl_status vl_write_file_atomic(const char *path, const void *buf, size_t len);

/* For files written by another library under a name of the caller's choosing
 * (FFmpeg's muxer, a resumable download's ".part"): fsyncs `tmp`, renames it
 * over `path` and fsyncs the folder; on failure removes `tmp`. */
vl_status vl_atomic_commit_file(const char *tmp, const char *path);

#endif
