/* A thin layer over MPI for data-parallel training and sharded extraction
 * (docs/cluster.md). Built with -DVIDLSTM_MPI=ON it calls MPI (standard
 * MPI-3 calls only: Open MPI and MPICH both work); otherwise, and in a
 * process not started by an MPI launcher (mpirun, mpiexec, srun), it is one
 * rank of one and every collective is a no-op, so callers never need #ifdefs.
 *
 * All collectives are over every rank (MPI_COMM_WORLD) and must be called by
 * every rank in the same order. MPI's default error handler stays in place:
 * a failed or killed peer ends the whole job (mpirun reports it) rather than
 * leaving the others waiting. */
#ifndef VL_DIST_DIST_H
#define VL_DIST_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "vidlstm.h"

/* Starts MPI when this build has it and an MPI launcher started the process
 * (its environment says so); else one rank. Safe to call more than once. */
vl_status vl_dist_init(void);
/* Ends MPI (if started). */
void vl_dist_finalize(void);
/* Ends every rank of the job with `code` (MPI_Abort); without MPI, returns. */
void vl_dist_abort(int code);

int vl_dist_rank(void);
int vl_dist_size(void);
/* 1 when an MPI launcher (mpirun, mpiexec, srun) started this process as one
 * of several, whether or not this build can talk to the others. */
int vl_dist_launched(void);
/* 1 when this build was made with MPI support (-DVIDLSTM_MPI=ON). */
int vl_dist_compiled(void);
/* The MPI library's own version line ("" without MPI). */
const char *vl_dist_library(void);

/* In-place sums over all ranks. Every rank gets the same result. */
vl_status vl_dist_sum_f32(float *buf, size_t n);
vl_status vl_dist_sum_f64(double *buf, size_t n);
/* In-place maximum over all ranks. */
vl_status vl_dist_max_i32(int32_t *buf, size_t n);
/* Rank `root`'s bytes to every rank. */
vl_status vl_dist_bcast(void *buf, size_t bytes, int root);
vl_status vl_dist_barrier(void);
/* *same = 1 when every rank passed the same v. */
vl_status vl_dist_same_u64(uint64_t v, int *same);

/* What vl_dist_sum_f32 has moved since the last reset: calls, bytes of the
 * buffers reduced (per rank), seconds spent inside MPI. */
typedef struct {
    long calls;
    double bytes, seconds;
} vl_dist_stats;
void vl_dist_get_stats(vl_dist_stats *s);
void vl_dist_reset_stats(void);

/* The shard of a list this process works on: index in [0, count).
 * From `spec` ("I/N", 0-based I) when given, else the MPI rank and size when
 * there is more than one rank, else Slurm's SLURM_ARRAY_TASK_ID and
 * SLURM_ARRAY_TASK_COUNT (an array job; ids relative to SLURM_ARRAY_TASK_MIN),
 * else 0/1. `from` says which ("--shard", "MPI", "Slurm array", "none").
 * Errors: a malformed spec or environment. */
vl_status vl_dist_shard(const char *spec, int *index, int *count, const char **from);

/* Splits items 0..n-1 with costs cost[i] into `count` contiguous-free shards
 * balanced by cost: longest-processing-time first (items sorted by cost,
 * each to the currently lightest shard; ties by index), deterministic, so
 * every rank computes the same assignment. owner[i] = shard of item i. */
void vl_dist_balance(const double *cost, int n, int count, int *owner);

#endif
