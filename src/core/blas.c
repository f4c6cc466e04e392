/* BLAS backend. Default: oneDNN's dnnl_sgemm, chosen by measurement on the
 * target machine (see BENCHMARKS.md, "Choice of GEMM"): it dispatches on the
 * CPU's instruction set (AVX-512 where present, whatever OPENBLAS_CORETYPE
 * says), matches OpenBLAS's AVX-512 kernels on large GEMMs and is ~3x faster
 * on the skinny [batch x 4H] x [4H x H] products of the recurrent backward
 * pass. It threads with OpenMP, which our element-wise kernels share, so no
 * two thread pools fight over the cores. Build with -DVIDLSTM_BLAS=openblas
 * to use OpenBLAS instead. */
#include "core/blas.h"

#include <stdio.h>

#ifdef _OPENMP
#include <omp.h>
#endif

void vl_transpose(int rows, int cols, const float *src, int lds, float *dst, int ldd)
{
    enum { TB = 32 };
    int nbr = (rows + TB - 1) / TB;
#pragma omp parallel for schedule(static) if ((size_t)rows * cols > 65536)
    for (int bi = 0; bi < nbr; bi++) {
        int r0 = bi * TB, r1 = r0 + TB < rows ? r0 + TB : rows;
        for (int c0 = 0; c0 < cols; c0 += TB) {
            int c1 = c0 + TB < cols ? c0 + TB : cols;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++)
                    dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
        }
    }
}

#if defined(VL_BLAS_OPENBLAS)
#include <cblas.h>

void vl_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);
}

void vl_blas_set_threads(int n)
{
    if (n > 0) {
        openblas_set_num_threads(n);
#ifdef _OPENMP
        omp_set_num_threads(n);
#endif
    }
}

int vl_blas_threads(void) { return openblas_get_num_threads(); }

const char *vl_blas_info(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "OpenBLAS (kernel %s)", openblas_get_corename());
    return buf;
}

#else /* oneDNN */
#include <oneapi/dnnl/dnnl.h>

void vl_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) { /* dnnl_sgemm rejects K = 0; the product is empty */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void vl_blas_set_threads(int n)
{
#ifdef _OPENMP
    if (n > 0)
        omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int vl_blas_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

const char *vl_blas_info(void)
{
    static char buf[256];
    const dnnl_version_t *v = dnnl_version();
    /* oneDNN picks its kernels by instruction set; report what the CPU offers. */
    __builtin_cpu_init();
    const char *isa = __builtin_cpu_supports("avx512f") ? "avx512" : __builtin_cpu_supports("avx2") ? "avx2" : "sse4";
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d sgemm (isa %s)", v->major, v->minor, v->patch, isa);
    return buf;
}
#endif
