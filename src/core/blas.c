#include "core/blas.h"

#include <cblas.h>
#include <stdio.h>

/* OpenBLAS extensions (declared in its cblas.h, repeated here so the file
 * documents what it relies on). */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_corename(void);
extern char *openblas_get_config(void);

void vl_sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void vl_blas_set_threads(int n)
{
    if (n > 0)
        openblas_set_num_threads(n);
}

int vl_blas_threads(void) { return openblas_get_num_threads(); }

const char *vl_blas_info(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s (kernel %s)", openblas_get_config(), openblas_get_corename());
    return buf;
}
