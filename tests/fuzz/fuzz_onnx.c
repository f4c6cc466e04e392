/* libFuzzer target for the ONNX loader and planner: any byte string must
 * give VL_OK or an error, never a crash, a hang or a leak (built with ASan and
 * UBSan). A model that loads is also planned and run on a small input, with
 * every declared dimension clamped to 16, so graph-level bugs surface too.
 * Seeds: the committed fixtures (tests/fixtures/onnx). See run_tests.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vidlstm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vl_onnx *m;
    if (vl_onnx_load_memory(data, size, "fuzz.onnx", &m) != VL_OK)
        return 0;
    int nd;
    int64_t shape[VL_ONNX_MAXDIM];
    vl_onnx_input_name(m, &nd, shape);
    if (nd < 1 || nd > 4) {
        vl_onnx_free(m);
        return 0;
    }
    int64_t n = 1;
    for (int d = 0; d < nd; d++) {
        shape[d] = shape[d] <= 0 ? 8 : (shape[d] > 16 ? 16 : shape[d]);
        n *= shape[d];
    }
    float *x = calloc((size_t)n, sizeof(float));
    const float *y;
    int ond;
    int64_t os[VL_ONNX_MAXDIM];
    if (x)
        vl_onnx_run(m, x, nd, shape, NULL, &y, &ond, os);
    free(x);
    vl_onnx_free(m);
    return 0;
}
