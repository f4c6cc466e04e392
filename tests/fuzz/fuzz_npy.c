/* libFuzzer target for the .npy reader (src/core/npy.c): any file must give
 * VL_OK or an error, never a crash, a hang or a leak (ASan + UBSan). What
 * loads is read back whole so that a size the header promised but the data
 * does not hold shows up. Seeds: tests/fuzz/npy/seeds. See run_fuzz.sh. */
#include "fuzz_util.h"
#include "vidlstm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_write("in.npy", data, size);
    vl_npy a;
    if (vl_npy_read(path, &a) != VL_OK)
        return 0;
    volatile unsigned char sum = 0;
    const unsigned char *p = a.data;
    for (int64_t i = 0; i < a.count * 4; i++) /* float32 and int32 alike: 4 bytes */
        sum ^= p[i];
    (void)sum;
    vl_npy_free(&a);
    return 0;
}
