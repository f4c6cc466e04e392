/* Sharded extraction (issue 14, docs/cluster.md): the clip list cut into
 * disjoint shards balanced by estimated frame count, one per MPI rank,
 * `--shard I/N` or Slurm array task; each shard writes its feature files and
 * a part list (OUT/shards/part-I-of-N.csv, with SHA-256s of what it wrote);
 * the merge checks that the parts cover every clip exactly once and that
 * every file still has its checksum, then writes OUT/manifest.csv exactly as
 * an unsharded run does. */
#ifndef VL_CLI_SHARD_H
#define VL_CLI_SHARD_H

#include <stdint.h>

#include "pipeline/videodata.h"

typedef struct {
    int index, count;  /* this shard, of count (count 1: not sharded) */
    const char *from;  /* "--shard", "MPI", "Slurm array" */
    int nclips;
    int *owner;        /* [nclips] shard of each clip (NULL when count is 1) */
    double *cost;      /* [nclips] estimated source frames */
    uint64_t key;      /* the clip list and `opts_key`: parts of one run share it */
} cli_shard;

/* Works out this process's shard (vl_dist_shard: spec, MPI, Slurm) and, when
 * there is more than one, the balanced assignment of the clips of `data`.
 * Returns 0 or 1 (error printed). */
int cli_shard_plan(const char *cmd, const char *data, const vl_videodata_opts *vo, const char *spec,
                   const char *opts_key, cli_shard *s);
void cli_shard_free(cli_shard *s);

/* OUT/shards/part-IIII-of-NNNN.csv (atomically): `rows` are this shard's
 * manifest rows, each `index,path,label,group,frames,sha256,label_sha256`.
 * Returns 0 or 1 (error printed). */
int cli_shard_write_part(const char *cmd, const char *outdir, const cli_shard *s, const char *rows);

/* Merges the parts in OUT/shards into OUT/manifest.csv (atomically). count 0:
 * whatever count the parts have (one count only). With `lenient`, missing
 * parts are not an error: returns 2 quietly. Returns 0 (merged), 1 (error
 * printed) or 2. *nclips, when merged, the number of clips. */
int cli_shard_merge(const char *cmd, const char *outdir, int count, int lenient, int *nclips);

#endif
