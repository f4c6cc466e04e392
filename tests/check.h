/* A tiny test harness: CHECK records a failure with file:line and carries on;
 * each test program ends with the plain summary line `N passed, N failed`
 * and exits non-zero on any failure. */
#ifndef VL_TEST_CHECK_H
#define VL_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_pass, check_fail;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            check_pass++;                                                  \
        } else {                                                           \
            check_fail++;                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_pass, check_fail);
    return check_fail ? 1 : 0;
}

/* Largest per-element relative error |a-b| / max(|b|, 0.1 * max|b|).
 * Elements within a tenth of the tensor's largest magnitude are held to a true
 * relative bound; smaller ones to the same bound scaled to that tenth. Two
 * float32 implementations summing in different orders legitimately differ by
 * ~1e-5 relative on elements that are 100x smaller than their tensor's largest
 * (cancellation), which a pure element-wise bound would reject. */
static inline double rel_err(const float *a, const float *b, size_t n)
{
    double mx = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++)
        mx = fabs(b[i]) > mx ? fabs(b[i]) : mx;
    double floor = mx * 0.1 + 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double r = d / (fabs(b[i]) > floor ? fabs(b[i]) : floor);
        if (!(r <= worst)) /* also catches NaN */
            worst = isnan(r) ? INFINITY : r;
    }
    return worst;
}

#endif
