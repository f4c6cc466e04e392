/* Input preprocessing options (prep.h). */
#include "cli/prep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_floats(const char *s, float *out, int count)
{
    const char *c = s;
    for (int i = 0; i < count; i++) {
        char *e;
        float v = strtof(c, &e);
        if (e == c || !isfinite(v) || (i + 1 < count ? *e != ',' : *e != 0))
            return -1;
        out[i] = v;
        c = e + 1;
    }
    return 0;
}

int cli_prep_opt(cli_args *a, cli_prep *p)
{
    if (cli_opt(a, "--preprocess")) p->preset = a->val;
    else if (cli_opt(a, "--input-range")) p->range = a->val;
    else if (cli_opt(a, "--mean")) p->mean = a->val;
    else if (cli_opt(a, "--std")) p->std = a->val;
    else if (cli_opt(a, "--channel-order")) p->order = a->val;
    else if (cli_opt(a, "--precision")) p->precision = a->val;
    else return 0;
    return 1;
}

int cli_prep_precision(const char *cmd, const char *s, vl_precision *out)
{
    *out = VL_PREC_FP32;
    if (s && vl_precision_parse(s, out))
        return cli_fail(cmd, "--precision '%s': expected fp32, bf16 or int8", s);
    return 0;
}

int cli_prep_finish(const char *cmd, const cli_prep *p, vl_input_norm *n, int *set)
{
    *set = 0;
    if (!p->preset && !p->range && !p->mean && !p->std && !p->order)
        return 0;
    /* fields not given come from the preset, torchvision's by default (what
     * an ONNX backbone gets without these options) */
    if (vl_input_norm_preset(p->preset ? p->preset : "torchvision", n)) {
        char names[160] = "";
        for (const char *const *s = vl_input_norm_presets(); *s; s++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", s == vl_input_norm_presets() ? "" : ", ", *s);
        return cli_fail(cmd, "--preprocess: unknown preset '%s' (%s)", p->preset, names);
    }
    float r[2];
    if (p->range) {
        if (cli_parse_floats(p->range, r, 2) || !(r[0] < r[1]))
            return cli_fail(cmd, "--input-range '%s': expected LO,HI with LO < HI (e.g. 0,1, -1,1 or 0,255)", p->range);
        n->lo = r[0];
        n->hi = r[1];
    }
    if (p->mean && cli_parse_floats(p->mean, n->mean, 3))
        return cli_fail(cmd, "--mean '%s': expected three numbers R,G,B", p->mean);
    if (p->std) {
        if (cli_parse_floats(p->std, n->std, 3))
            return cli_fail(cmd, "--std '%s': expected three numbers R,G,B", p->std);
        for (int c = 0; c < 3; c++)
            if (!(n->std[c] > 0))
                return cli_fail(cmd, "--std '%s': every value must be > 0 (%c is %g)", p->std, "RGB"[c],
                                (double)n->std[c]);
    }
    if (p->order) {
        if (!strcmp(p->order, "rgb")) n->bgr = 0;
        else if (!strcmp(p->order, "bgr")) n->bgr = 1;
        else return cli_fail(cmd, "--channel-order '%s': expected rgb or bgr", p->order);
    }
    if (p->range || p->mean || p->std || p->order) {
        /* a preset changed is no longer that preset; records say so */
        vl_input_norm q;
        vl_input_norm_preset(n->preset, &q);
        if (q.lo != n->lo || q.hi != n->hi || q.bgr != n->bgr || memcmp(q.mean, n->mean, sizeof q.mean) ||
            memcmp(q.std, n->std, sizeof q.std))
            snprintf(n->preset, sizeof n->preset, "custom");
    }
    *set = 1;
    return 0;
}

void cli_prep_help(FILE *f)
{
    fputs("  --preprocess NAME        an ONNX backbone's input normalisation: torchvision\n"
          "                           (default; = keras-torch), keras-caffe (BGR, 0..255, minus\n"
          "                           the ImageNet mean), keras-tf (-1..1), raw / matlab (0..255;\n"
          "                           MATLAB exports normalise inside the graph); recorded in\n"
          "                           the model, which predict repeats\n"
          "  --input-range LO,HI      pixels 0..255 mapped onto LO..HI (e.g. 0,1 -1,1 0,255)\n"
          "  --mean R,G,B --std R,G,B then (v - mean) / std per channel, in R,G,B order\n"
          "  --channel-order rgb|bgr  channel order fed to the model (layout, NCHW or NHWC,\n"
          "                           comes from the model's input shape)\n"
          "  --precision fp32|bf16|int8  an ONNX backbone's arithmetic (default fp32):\n"
          "                           bf16 runs its convolutions in bfloat16 on CPUs with\n"
          "                           AVX512-BF16 or AMX (ResNets ~1.5-1.9x faster;\n"
          "                           features within ~1%); int8 in int8 on CPUs with\n"
          "                           AVX512-VNNI, AVX-VNNI or AMX (scales calibrated on\n"
          "                           built-in images; features within ~1-3%); fp32 with\n"
          "                           a note elsewhere; recorded in the model, which\n"
          "                           predict repeats (docs/precision.md)\n",
          f);
}
