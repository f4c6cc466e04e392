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
#include <string.h>

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

void vl_bf16_from_f32(size_t n, const float *src, uint16_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        dst[i] = (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
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

/* The OpenBLAS build has no bf16 GEMM: the recurrent engine stays in fp32. */
bool vl_gemm_bf16_available(void) { return false; }

void vl_gemm_bf16(bool transA, bool transB, int M, int N, int K, float alpha, const uint16_t *A, int lda,
                  const uint16_t *B, int ldb, float beta, float *C, int ldc)
{
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb,
        (void)beta, (void)C, (void)ldc;
}

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

/* oneDNN exports its bf16 GEMM (src/cpu/gemm/gemm.cpp, extern "C", used by
 * its own tests) without declaring it in dnnl.h; same conventions as
 * dnnl_sgemm (row major), bf16 operands as 16-bit words. */
extern dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K,
                                           float alpha, const uint16_t *A, dnnl_dim_t lda, const uint16_t *B,
                                           dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);

bool vl_gemm_bf16_available(void)
{
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    unsigned bf16 = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    /* ISA values are nested bit masks: avx512_core_amx contains avx512_core_bf16. */
    return (isa & bf16) == bf16;
}

void vl_gemm_bf16(bool transA, bool transB, int M, int N, int K, float alpha, const uint16_t *A, int lda,
                  const uint16_t *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    dnnl_gemm_bf16bf16f32(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
