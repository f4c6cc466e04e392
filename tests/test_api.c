/* The public trained-model API (vl_model_*): open a model file, predict on
 * features (normalisation applied inside) and on a video (features extracted
 * with the recorded backbone and sampling). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "model/modelfile.h"
#include "video/encode.h"
#include "vidlstm.h"

int main(void)
{
    char dir[64], path[128], vid[128];
    snprintf(dir, sizeof dir, "/tmp/vl_test_api_%ld", (long)getpid());
    CHECK(mkdir(dir, 0755) == 0 || 1, "mkdir");
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    snprintf(vid, sizeof vid, "%s/v.mp4", dir);
    enum { D = 240, C = 3, T = 7 };
    vl_net_config cfg = {.input = D, .outputs = C, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_GRU, 8, 1);
    vl_net *net;
    CHECK(vl_net_create(&cfg, 5, &net) == VL_OK, "create");
    static float mean[D], sd[D], x[T * D], xn[T * D];
    for (int k = 0; k < D; k++) {
        mean[k] = 0.1f * (float)(k % 7);
        sd[k] = 0.5f + 0.01f * (float)k;
    }
    for (int i = 0; i < T * D; i++)
        x[i] = sinf(0.37f * (float)i);
    for (int t = 0; t < T; t++)
        for (int k = 0; k < D; k++)
            xn[t * D + k] = (x[t * D + k] - mean[k]) / sd[k];
    char *names[C] = {"stand", "walk", "run"};
    vl_model_meta meta = {.nclasses = C, .class_names = names, .dim = D, .norm_mean = mean, .norm_std = sd,
                          .feature_dim = D, .fps = 5};
    snprintf(meta.backbone, sizeof meta.backbone, "builtin:motion-grid");
    vl_preproc_imagenet(&meta.pre); /* replaced below by the backbone's own when extracting */
    CHECK(vl_model_save(path, net, &meta) == VL_OK, "save: %s", vl_errmsg());

    vl_model *m;
    CHECK(vl_model_open(path, &m) == VL_OK, "open: %s", vl_errmsg());
    CHECK(vl_model_num_classes(m) == C && !strcmp(vl_model_class_name(m, 2), "run") && !vl_model_class_name(m, 3),
          "class names");
    CHECK(vl_model_feature_dim(m) == D, "feature width");
    float p[C], ref[C];
    CHECK(vl_model_predict(m, x, T, p) == VL_OK, "predict: %s", vl_errmsg());
    int32_t len = T;
    vl_batch b = {.batch = 1, .tmax = T, .dim = D, .x = xn, .lengths = &len};
    vl_net_forward(net, &b, ref);
    float mx = fmaxf(ref[0], fmaxf(ref[1], ref[2])), se = 0;
    for (int c = 0; c < C; c++)
        se += expf(ref[c] - mx);
    double worst = 0, sum = 0;
    for (int c = 0; c < C; c++) {
        double want = expf(ref[c] - mx) / se;
        worst = fmax(worst, fabs(p[c] - want));
        sum += p[c];
    }
    CHECK(worst < 1e-6 && fabs(sum - 1) < 1e-5, "probabilities = softmax(net(normalised x)) (err %g, sum %g)", worst,
          sum);
    CHECK(vl_model_predict(m, x, 0, p) == VL_ERR_ARG, "T = 0 refused");

    /* a 2-second video at 25 fps -> 10 frames at the recorded 5 fps */
    vl_writer_opts wo = {.codec = "mpeg4", .width = 160, .height = 120, .fps_num = 25, .fps_den = 1};
    vl_video_writer *w;
    CHECK(vl_video_writer_open(vid, &wo, &w) == VL_OK, "writer: %s", vl_errmsg());
    static uint8_t rgb[160 * 120 * 3];
    for (int f = 0; f < 50; f++) {
        for (int i = 0; i < 160 * 120; i++) {
            int xx = i % 160 + f * 2, yy = i / 160;
            rgb[3 * i] = (uint8_t)((xx / 8 + yy / 8) % 2 ? 220 : 30);
            rgb[3 * i + 1] = (uint8_t)(yy * 2);
            rgb[3 * i + 2] = (uint8_t)(xx * 3);
        }
        vl_video_writer_add(w, rgb, f / 25.0);
    }
    CHECK(vl_video_writer_close(w) == VL_OK, "close: %s", vl_errmsg());
    float *out = NULL;
    int nT = 0;
    double *times = NULL;
    CHECK(vl_model_predict_video(m, vid, &out, &nT, &times) == VL_OK, "predict video: %s", vl_errmsg());
    CHECK(nT == 10 && times && fabs(times[9] - 1.8) < 1e-9, "10 frames sampled at 5 fps (%d, last at %g s)", nT,
          times ? times[nT - 1] : -1.0);
    CHECK(out && fabs(out[0] + out[1] + out[2] - 1.0) < 1e-5, "video probabilities sum to 1");
    free(out);
    free(times);
    CHECK(vl_model_predict_video(m, "/nonexistent.mp4", &out, &nT, NULL) != VL_OK &&
              strstr(vl_errmsg(), "/nonexistent.mp4"),
          "a missing video is an error naming it: %s", vl_errmsg());
    vl_model_close(m);
    CHECK(vl_model_open("/nonexistent.safetensors", &m) != VL_OK && strstr(vl_errmsg(), "/nonexistent.safetensors"),
          "a missing model is an error naming it");
    vl_net_free(net);
    unlink(path);
    unlink(vid);
    rmdir(dir);
    return check_summary();
}
