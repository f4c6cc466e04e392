/* Input normalisation for ONNX backbones other than torchvision's.
 *
 * An ONNX backbone gets torchvision's ImageNet normalisation unless the user
 * chooses another (vidlstm train/extract --preprocess, --input-range, --mean,
 * --std, --channel-order). The choice is kept in this user-facing form (a
 * pixel range and R,G,B mean/std) because that is how Keras, MATLAB and
 * TF.js document their models; vl_input_norm_apply turns it into the
 * vl_preproc fields the decoder uses. Size, resize and layout (NCHW/NHWC,
 * from the graph's input shape) are not part of it. */
#ifndef VL_BACKBONE_PREPROCESS_H
#define VL_BACKBONE_PREPROCESS_H

#include <stddef.h>

#include "video/video.h"

typedef struct {
    char preset[16];       /* a preset's name, or "custom" when a field was changed */
    float lo, hi;          /* pixels 0..255 map linearly onto lo..hi */
    float mean[3], std[3]; /* R,G,B (whatever the channel order), after the range: (v - mean) / std */
    int bgr;               /* channel order fed to the model */
} vl_input_norm;

/* Names of the presets, NULL-terminated: torchvision, keras-torch, keras-caffe,
 * keras-tf, matlab, raw. */
const char *const *vl_input_norm_presets(void);
/* Fills n with a preset; 0, or -1 for an unknown name. */
int vl_input_norm_preset(const char *name, vl_input_norm *n);
/* Checks n (finite values, lo < hi, std > 0); 0, or -1 with a message in err. */
int vl_input_norm_check(const vl_input_norm *n, char *err, size_t errlen);
/* Sets p's channel order, scale, mean and std from n. */
void vl_input_norm_apply(const vl_input_norm *n, vl_preproc *p);
/* The preset whose normalisation p has (ignoring size and layout), or NULL. */
const char *vl_input_norm_match(const vl_preproc *p);

#endif
