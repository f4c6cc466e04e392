/* Regression tests for the parser bugs the libFuzzer targets found
 * (tests/fuzz/<target>/regress holds the inputs, replayed by the fuzz tests
 * too). Each case failed (sanitizer error or wrong status) before its fix. */
#include <string.h>

#include "check.h"
#include "vidlstm.h"

#define REG "tests/fuzz/"

/* A .npy file must fail with a format error whose message says `what`. */
static void npy_rejected(const char *file, const char *what)
{
    vl_npy a;
    vl_status st = vl_npy_read(file, &a);
    CHECK(st == VL_ERR_FORMAT, "%s: status %d (%s)", file, st, vl_errmsg());
    CHECK(strstr(vl_errmsg(), what) && strstr(vl_errmsg(), file), "%s: message '%s'", file, vl_errmsg());
    if (st == VL_OK)
        vl_npy_free(&a);
}

int main(void)
{
    /* shape (3, 2^62): the running product overflowed int64 (UBSan) */
    npy_rejected(REG "npy/regress/shape-product-overflow.npy", "too large");
    /* shape (2^34,) of float64 in a 136-byte file: 128 GiB allocated before
     * the read found the data missing (ASan: out of memory) */
    npy_rejected(REG "npy/regress/shape-promises-128gib.npy", "truncated data");
    return check_summary();
}
