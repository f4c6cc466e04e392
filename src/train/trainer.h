/* Training, validation and batched inference over feature-sequence datasets
 * (MATLAB trainNetwork/trainingOptions semantics where they fit).
 *
 * One epoch = one pass over the training items in mini-batches. Batches pad
 * to the longest sequence in the batch ('longest', padded steps cost nothing
 * and never reach the loss) or cut every sequence to the batch's shortest
 * ('shortest', as MATLAB's SequenceLength option). With `bucket`, the epoch's
 * order is cut into chunks of 50 batches, each chunk is sorted by length and
 * cut into batches, and the batches are shuffled: little padding, still random.
 *
 * Validation runs every `val_every` iterations (0: at each epoch's end) and at
 * the end. The kept network is the one with the lowest validation loss
 * (MATLAB's OutputNetwork "best-validation"; keep_last for "last-iteration");
 * with patience P, training
 * stops after P validations without improvement.
 *
 * Checkpoints: after every epoch the whole training state (weights, optimiser
 * moments, random generator states, counters, best weights, history) goes to
 * `checkpoint` atomically. Resuming replays nothing: the state at the start of
 * the next epoch is restored, so a resumed run ends with bit-identical weights
 * to an uninterrupted one with the same seed and thread count. The file is
 * tied to the run by a fingerprint of the options, architecture and data; a
 * mismatch is an error.
 *
 * A non-finite loss or gradient stops training with VL_ERR_NUMERIC; the last
 * checkpoint (the end of the last complete epoch) is left untouched. */
#ifndef VL_TRAIN_TRAINER_H
#define VL_TRAIN_TRAINER_H

#include <stdint.h>

#include "train/dataset.h"
#include "train/metrics.h"
#include "vidlstm.h"

typedef enum { VL_SHUFFLE_EVERY_EPOCH, VL_SHUFFLE_ONCE, VL_SHUFFLE_NEVER } vl_shuffle;
typedef enum { VL_SEQLEN_LONGEST, VL_SEQLEN_SHORTEST } vl_seqlen;

/* What the progress callback sees. */
typedef struct {
    int epoch, epochs;         /* 1-based current epoch, total */
    int iteration, iterations; /* 1-based global iteration, planned total */
    int iters_per_epoch;
    float loss, metric;        /* this mini-batch: loss, accuracy (classify) or RMSE (regress) */
    float lr;
    int validated;             /* 1: val_loss/val_metric are fresh at this call */
    float val_loss, val_metric;
    float best_val_loss;
    double elapsed;            /* seconds since this (possibly resumed) run started */
    int epoch_end;             /* 1 on an epoch's last iteration */
    int resumed_from;          /* epochs restored from a checkpoint (first call only) */
} vl_train_event;

/* Called after every iteration. Return non-zero to stop at once (a user's
 * cancel): vl_train then returns VL_OK with `interrupted` set, the network
 * holding its current weights, and no checkpoint for the partial epoch. */
typedef int (*vl_train_callback)(void *user, const vl_train_event *e);

typedef struct {
    vl_optim_config opt;
    int batch;            /* mini-batch size */
    int epochs;           /* max epochs */
    vl_shuffle shuffle;
    vl_seqlen seqlen;
    int bucket;           /* batch sequences of similar length together */
    int val_every;        /* iterations; 0 = once per epoch */
    int patience;         /* validations without improvement; 0 = never stop early */
    int keep_last;        /* 1: return the last weights, not the best-validation ones */
    uint64_t seed;        /* shuffling (the network's own seed draws init and dropout) */
    const char *checkpoint; /* NULL = none */
    int resume;           /* continue from `checkpoint` if it exists */
    vl_train_callback cb;
    void *user;
    /* 1: data-parallel over the ranks of src/dist (mpirun -np N; a no-op with
     * one rank). Every rank calls vl_train with the same network config, data,
     * split and options (checked: the run's fingerprint must agree). Rank 0's
     * initial weights (or checkpoint) go to all; each global batch of `batch`
     * items is cut into contiguous per-rank parts; the loss is normalised by
     * the global batch's count (the per-rank sums are added), gradients are
     * summed over the ranks (MPI_Allreduce of the flat buffer) before clipping
     * and the optimiser step, which every rank then takes alike. So N ranks
     * reach the weights of one process with the same global batch, to float
     * rounding (tests/test_mpi_train.c: within 1e-3 relative after 8 steps,
     * measured <= 6e-5 at 3 ranks);
     * dropout masks are drawn per rank. Validation is split over the ranks and
     * its sums reduced. Only rank 0 writes the checkpoint; a resume reads it
     * on rank 0 and broadcasts it, so a run can resume at any rank count. */
    int dist;
} vl_train_opts;

typedef struct {
    int epochs_done, iterations;
    int stopped_early;
    int interrupted;      /* the callback asked to stop */
    int best_iteration;   /* iteration of the kept weights (0 = last, no validation) */
    float best_val_loss, best_val_metric;
    vl_progress_point *history; /* one per iteration, malloc'ed */
    int nhistory;
} vl_train_result;

/* Trains `net` on items train[0..ntrain) of `d`, validating on items
 * val[0..nval) of `vd` (vd may be d; nval 0 = no validation). On return the
 * network holds the kept weights. Features must already be normalised. */
vl_status vl_train(vl_net *net, const vl_dataset *d, const int *train, int ntrain, const vl_dataset *vd,
                   const int *val, int nval, const vl_train_opts *o, vl_train_result *res);
void vl_train_result_free(vl_train_result *r);

/* Batched inference: head outputs for items idx[0..n) of d. Layout: item i's
 * outputs start at out + off[i]; `last` mode -> C floats, `sequence` mode ->
 * T_i * C floats. *out and *off are malloc'ed. Classification outputs are
 * softmax probabilities when `probs`, else logits. */
vl_status vl_infer(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, int probs, float **out,
                   size_t **off);

/* Mean loss of the network on items idx[0..n) as training measures it
 * (class-weighted cross-entropy or MSE, averaged over clips or frames) and the
 * metric (accuracy or RMSE), from vl_infer's logits. */
vl_status vl_evaluate_loss(vl_net *net, const vl_dataset *d, const int *idx, int n, int batch, float *loss,
                           float *metric);

#endif
