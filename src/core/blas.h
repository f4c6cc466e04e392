/* The one place that talks to the BLAS. Row-major single-precision GEMM:
 *   C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C
 * with op(X) = X or X^T, and leading dimensions in elements. Everything above
 * this header is BLAS-agnostic, so the backend can change in one file. */
#ifndef VL_CORE_BLAS_H
#define VL_CORE_BLAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void vl_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* dst[cols, rows] = src[rows, cols]^T (leading dimensions lds, ldd), cache
 * blocked and threaded. */
void vl_transpose(int rows, int cols, const float *src, int lds, float *dst, int ldd);

/* bf16 GEMM with fp32 accumulation, row major like vl_sgemm:
 *   C[M,N] = alpha * op(A) * op(B) + beta * C,  A and B bf16 (uint16 bits), C fp32.
 * Only call it when vl_gemm_bf16_available() says the CPU runs it natively
 * (AVX512-BF16 or AMX, as oneDNN's effective ISA reports; a capped ISA such
 * as ONEDNN_MAX_CPU_ISA=AVX512_CORE turns it off). */
bool vl_gemm_bf16_available(void);
void vl_gemm_bf16(bool transA, bool transB, int M, int N, int K, float alpha, const uint16_t *A, int lda,
                  const uint16_t *B, int ldb, float beta, float *C, int ldc);
/* Round-to-nearest-even fp32 -> bf16 of n values (NaN stays NaN). */
void vl_bf16_from_f32(size_t n, const float *src, uint16_t *dst);

/* Threads the BLAS may use (<= 0: leave the library default). */
void vl_blas_set_threads(int n);
int vl_blas_threads(void);

/* Human-readable name of the BLAS and of the kernel family it selected
 * (e.g. "OpenBLAS 0.3.21 SkylakeX"); for benchmark reports. */
const char *vl_blas_info(void);

#endif
