/* MPI layer (see dist.h). */
#include "dist/dist.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

#ifdef VL_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1, g_inited = 0;
static vl_dist_stats g_stats;

#ifdef VL_HAVE_MPI
static int g_started = 0;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

int vl_dist_compiled(void)
{
#ifdef VL_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef VL_HAVE_MPI
/* Launchers' environment: Open MPI's mpirun, PMI (MPICH's hydra, Slurm's
 * srun --mpi=pmi2), PMIx (srun --mpi=pmix, Open MPI 5). */
static int launcher_env(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return 1;
    return 0;
}
#endif

static int env_above_one(const char *name)
{
    const char *v = getenv(name);
    return v && atoi(v) > 1;
}

int vl_dist_launched(void)
{
    return env_above_one("OMPI_COMM_WORLD_SIZE") || env_above_one("PMI_SIZE") || env_above_one("MPI_LOCALNRANKS") ||
           ((getenv("PMIX_RANK") || getenv("PMI_RANK")) && env_above_one("SLURM_NTASKS"));
}

vl_status vl_dist_init(void)
{
    if (g_inited)
        return VL_OK;
    g_inited = 1;
#ifdef VL_HAVE_MPI
    if (!launcher_env())
        return VL_OK;
    int flag = 0;
    MPI_Initialized(&flag);
    if (!flag) {
        int provided;
        /* OpenMP threads compute; only the main thread calls MPI */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return vl_seterr(VL_ERR_IO, "MPI_Init_thread failed");
        g_started = 1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
#endif
    return VL_OK;
}

void vl_dist_finalize(void)
{
#ifdef VL_HAVE_MPI
    if (g_started) {
        int done = 0;
        MPI_Finalized(&done);
        if (!done)
            MPI_Finalize();
        g_started = 0;
    }
#endif
}

void vl_dist_abort(int code)
{
#ifdef VL_HAVE_MPI
    if (g_started)
        MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)code;
#endif
}

int vl_dist_rank(void) { return g_rank; }
int vl_dist_size(void) { return g_size; }

const char *vl_dist_library(void)
{
#ifdef VL_HAVE_MPI
    static char v[MPI_MAX_LIBRARY_VERSION_STRING + 1];
    if (!v[0]) {
        int len = 0;
        MPI_Get_library_version(v, &len);
        v[len < MPI_MAX_LIBRARY_VERSION_STRING ? len : MPI_MAX_LIBRARY_VERSION_STRING] = 0;
        char *nl = strchr(v, '\n');
        if (nl)
            *nl = 0;
    }
    return v;
#else
    return "";
#endif
}

#ifdef VL_HAVE_MPI
/* MPI counts are int: big buffers go in pieces of 2^30 elements. */
#define PIECE ((size_t)1 << 30)
static vl_status allreduce(void *buf, size_t n, size_t elem, MPI_Datatype t, MPI_Op op)
{
    for (size_t a = 0; a < n; a += PIECE) {
        int cnt = (int)(n - a < PIECE ? n - a : PIECE);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + a * elem, cnt, t, op, MPI_COMM_WORLD) != MPI_SUCCESS)
            return vl_seterr(VL_ERR_IO, "MPI_Allreduce failed");
    }
    return VL_OK;
}
#endif

vl_status vl_dist_sum_f32(float *buf, size_t n)
{
    if (g_size == 1)
        return VL_OK;
#ifdef VL_HAVE_MPI
    double t0 = now_s();
    vl_status st = allreduce(buf, n, sizeof(float), MPI_FLOAT, MPI_SUM);
    g_stats.calls++;
    g_stats.bytes += (double)n * sizeof(float);
    g_stats.seconds += now_s() - t0;
    return st;
#else
    (void)buf;
    (void)n;
    return VL_OK;
#endif
}

vl_status vl_dist_sum_f64(double *buf, size_t n)
{
    if (g_size == 1)
        return VL_OK;
#ifdef VL_HAVE_MPI
    return allreduce(buf, n, sizeof(double), MPI_DOUBLE, MPI_SUM);
#else
    (void)buf;
    (void)n;
    return VL_OK;
#endif
}

vl_status vl_dist_max_i32(int32_t *buf, size_t n)
{
    if (g_size == 1)
        return VL_OK;
#ifdef VL_HAVE_MPI
    return allreduce(buf, n, sizeof(int32_t), MPI_INT32_T, MPI_MAX);
#else
    (void)buf;
    (void)n;
    return VL_OK;
#endif
}

vl_status vl_dist_bcast(void *buf, size_t bytes, int root)
{
    if (g_size == 1)
        return VL_OK;
#ifdef VL_HAVE_MPI
    for (size_t a = 0; a < bytes; a += PIECE) {
        int cnt = (int)(bytes - a < PIECE ? bytes - a : PIECE);
        if (MPI_Bcast((char *)buf + a, cnt, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
            return vl_seterr(VL_ERR_IO, "MPI_Bcast failed");
    }
    return VL_OK;
#else
    (void)buf;
    (void)bytes;
    (void)root;
    return VL_OK;
#endif
}

vl_status vl_dist_barrier(void)
{
#ifdef VL_HAVE_MPI
    if (g_size > 1 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return vl_seterr(VL_ERR_IO, "MPI_Barrier failed");
#endif
    return VL_OK;
}

vl_status vl_dist_same_u64(uint64_t v, int *same)
{
    *same = 1;
    if (g_size == 1)
        return VL_OK;
#ifdef VL_HAVE_MPI
    uint64_t mm[2] = {v, ~v}; /* max(v) and ~min(v) in one call */
    vl_status st = allreduce(mm, 2, sizeof(uint64_t), MPI_UINT64_T, MPI_MAX);
    if (st)
        return st;
    *same = mm[0] == v && mm[1] == ~v;
#endif
    return VL_OK;
}

void vl_dist_get_stats(vl_dist_stats *s) { *s = g_stats; }
void vl_dist_reset_stats(void) { g_stats = (vl_dist_stats){0}; }

/* A whole non-negative decimal int from s; -1 if it is not one. */
static long parse_count(const char *s, const char **end)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (e == s || errno || v < 0 || v > INT_MAX || (*s < '0' || *s > '9'))
        return -1;
    *end = e;
    return v;
}

vl_status vl_dist_shard(const char *spec, int *index, int *count, const char **from)
{
    *index = 0;
    *count = 1;
    *from = "none";
    if (spec) {
        const char *e;
        long i = parse_count(spec, &e), n = -1;
        if (i >= 0 && *e == '/')
            n = parse_count(e + 1, &e);
        if (i < 0 || n < 1 || *e || i >= n)
            return vl_seterr(VL_ERR_ARG, "--shard %s: expected I/N with 0 <= I < N (e.g. 0/4)", spec);
        *index = (int)i;
        *count = (int)n;
        *from = "--shard";
        return VL_OK;
    }
    if (g_size > 1) {
        *index = g_rank;
        *count = g_size;
        *from = "MPI";
        return VL_OK;
    }
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *cnt = getenv("SLURM_ARRAY_TASK_COUNT");
    if (id && cnt) {
        const char *mn = getenv("SLURM_ARRAY_TASK_MIN"), *e1 = "x", *e2 = "x", *e3 = "";
        long i = parse_count(id, &e1), n = parse_count(cnt, &e2), lo = mn ? parse_count(mn, &e3) : 0;
        if (i < 0 || *e1 || n < 1 || *e2 || lo < 0 || *e3 || i - lo < 0 || i - lo >= n)
            return vl_seterr(VL_ERR_ARG,
                             "SLURM_ARRAY_TASK_ID=%s, SLURM_ARRAY_TASK_COUNT=%s: the array job's tasks must be "
                             "numbered consecutively (e.g. --array=0-3)",
                             id, cnt);
        *index = (int)(i - lo);
        *count = (int)n;
        *from = "Slurm array";
    }
    return VL_OK;
}

typedef struct {
    double c;
    int i;
} cost_item;

static int by_cost_desc(const void *a, const void *b)
{
    const cost_item *x = a, *y = b;
    if (x->c != y->c)
        return x->c > y->c ? -1 : 1;
    return x->i - y->i;
}

void vl_dist_balance(const double *cost, int n, int count, int *owner)
{
    cost_item *v = malloc(sizeof *v * (size_t)(n ? n : 1));
    double *load = calloc((size_t)count, sizeof(double));
    if (!v || !load) { /* no memory: round robin, still a partition */
        for (int i = 0; i < n; i++)
            owner[i] = i % count;
        free(v);
        free(load);
        return;
    }
    for (int i = 0; i < n; i++)
        v[i] = (cost_item){cost[i] > 0 ? cost[i] : 0, i};
    qsort(v, (size_t)n, sizeof *v, by_cost_desc);
    for (int k = 0; k < n; k++) {
        int best = 0;
        for (int s = 1; s < count; s++)
            if (load[s] < load[best])
                best = s;
        owner[v[k].i] = best;
        load[best] += v[k].c;
    }
    free(v);
    free(load);
}
