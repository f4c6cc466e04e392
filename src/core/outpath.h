/* Guards for the files a command writes: an output must not be one of the
 * command's inputs (or another of its outputs), and must not replace
 * something that is not a regular file. The writers themselves write a temp
 * file and rename it into place, which would otherwise silently turn a
 * symlink, a device node (/dev/null) or an input into a new regular file.
 * The atomic writers themselves are in atomic.h. */
#ifndef VL_CORE_OUTPATH_H
#define VL_CORE_OUTPATH_H

#include "vidlstm.h"

/* What an existing `path` is, for messages: "a symbolic link", "a directory",
 * "a device", ...; NULL when it does not exist or is a regular file. Does not
 * follow a final symlink. */
const char *vl_path_kind(const char *path);

/* 1 when a and b name the same file: the same st_dev/st_ino when both exist,
 * else the same resolved path (the folder through realpath, plus the name). */
int vl_same_file(const char *a, const char *b);

/* Checks an output file before anything is written. `what` names it in the
 * message ("--out"); inputs[0..n) are the files the command reads (and any
 * other outputs; NULL entries are skipped). Refuses (VL_ERR_ARG, the message
 * names the path and the clash) when path exists and is not a regular file
 * (symlinks included: we do not write through them), or names an input.
 * Never touches the file system beyond stat/realpath. */
vl_status vl_output_check(const char *what, const char *path, const char *const *inputs, int n);

/* The same for an output folder (extract --out, --report): it may exist as a
 * folder (or a symlink to one), but must not be a file, a device, or one of
 * the inputs. */
vl_status vl_output_dir_check(const char *what, const char *path, const char *const *inputs, int n);

#endif
