#!/bin/sh
# `cmake --install` and the README's link line: a program using the public
# API builds with nothing but `pkg-config --cflags --libs vidlstm` and runs.
# usage: install_link.sh BUILD_DIR
set -eu
B=$1
T=$(mktemp -d /tmp/vl_install.XXXXXX)
trap 'rm -rf "$T"' EXIT
cmake --install "$B" --prefix "$T/prefix" > /dev/null
mv "$T/prefix" "$T/moved" # the .pc file is relocatable
cat > "$T/app.c" << 'C'
#include <stdio.h>
#include <vidlstm.h>
int main(void)
{
    vl_net_config cfg = {.input = 8, .outputs = 2, .mode = VL_OUT_LAST, .task = VL_TASK_CLASSIFY};
    vl_net_add_layer(&cfg, VL_LAYER_LSTM, 4, 1);
    vl_net *net;
    if (vl_net_create(&cfg, 1, &net) != VL_OK)
        return 1;
    vl_model *m;
    int bad = vl_model_open("/nonexistent.safetensors", &m) == VL_OK;
    printf("%zu parameters, %s\n", vl_net_param_count(net), vl_version());
    vl_net_free(net);
    return bad;
}
C
PKG_CONFIG_PATH="$T/moved/lib/pkgconfig:$T/moved/lib64/pkgconfig"
export PKG_CONFIG_PATH
cc "$T/app.c" -o "$T/app" $(pkg-config --cflags --libs vidlstm)
out=$("$T/app")
echo "$out"
case "$out" in "466 parameters, "*) echo "1 passed, 0 failed" ;; *) echo "0 passed, 1 failed"; exit 1 ;; esac
