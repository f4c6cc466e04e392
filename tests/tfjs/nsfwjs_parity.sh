#!/bin/sh
# Optional ctest: nsfwjs's MobileNetV2 trunk, TF.js vs our converted ONNX
# (tests/tfjs/nsfwjs_parity.js). Skips (exit 77) with a message when the
# model (scripts/get_npm_models.sh), node or @tensorflow/tfjs
# (cd tests/tfjs && ONNXRUNTIME_NODE_INSTALL=skip npm install) is absent.
# usage: nsfwjs_parity.sh VIDLSTM WORK_DIR [CACHE]
here=$(cd "$(dirname "$0")" && pwd)
VIDLSTM=$1
WORK=$2
CACHE=${3:-${XDG_CACHE_HOME:-$HOME/.cache}/vidlstm/npm}
MODEL=$CACHE/nsfwjs-4.4.0/mobilenet_v2
if [ ! -f "$MODEL/model.json" ]; then
  echo "SKIP: $MODEL/model.json not found (run scripts/get_npm_models.sh)"; exit 77
fi
if ! command -v node >/dev/null; then echo "SKIP: node not installed"; exit 77; fi
export NODE_PATH="$here/node_modules${NODE_PATH:+:$NODE_PATH}"
if ! node -e "require('@tensorflow/tfjs-core')" 2>/dev/null; then
  echo "SKIP: @tensorflow/tfjs not installed (cd tests/tfjs && ONNXRUNTIME_NODE_INSTALL=skip npm install)"; exit 77
fi
exec node "$here/nsfwjs_parity.js" "$VIDLSTM" "$MODEL" "$WORK"
