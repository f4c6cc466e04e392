/* libFuzzer target for the safetensors reader (src/core/safetensors.c) and
 * the model-file layer on top (src/model/modelfile.c): any byte string must
 * give VL_OK or an error, never a crash, a hang or a leak (ASan + UBSan).
 * The container is read from memory and every tensor converted to float; the
 * same bytes, written to a temporary file, are then loaded as a model (the
 * architecture metadata creates a network whose weights are filled in), and
 * a model that loads is described. Seeds: tests/fuzz/safetensors/seeds
 * (small model files). See run_fuzz.sh. */
#include "fuzz_util.h"

#include "core/safetensors.h"
#include "model/modelfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vl_st_file st;
    if (vl_st_read_memory(data, size, "fuzz.safetensors", &st) == VL_OK) {
        for (int i = 0; i < st.ntensors; i++) {
            const vl_st_tensor *t = &st.tensors[i];
            if (t->count > (1 << 20))
                continue;
            float *dst = malloc((size_t)t->count * sizeof(float) + 1);
            if (dst)
                vl_st_to_f32(&st, t, dst);
            free(dst);
            if (vl_st_find(&st, t->name) == NULL)
                abort(); /* a tensor the reader listed must be found by name */
        }
        for (int i = 0; i < st.nmeta; i++)
            vl_st_meta(&st, st.meta_keys[i]);
        vl_st_free(&st);
    }
    const char *path = fz_write("in.safetensors", data, size);
    vl_net *net;
    vl_model_meta meta;
    if (vl_model_load_ex(path, "optim.", &net, &meta, NULL) == VL_OK) {
        char *bj = vl_model_backbone_json(&meta);
        free(bj);
        vl_net_free(net);
        vl_model_meta_free(&meta);
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            vl_model_describe(path, f);
            fclose(f);
        }
    }
    return 0;
}
