#!/bin/sh
# Optional ctest: MoveNet Lightning's keypoint heatmaps, TF.js vs our
# converted ONNX (tests/tfjs/movenet_parity.js). Skips (exit 77) with a message
# when the model (scripts/get_npm_models.sh --movenet), node or
# @tensorflow/tfjs (cd tests/tfjs && ONNXRUNTIME_NODE_INSTALL=skip npm install) is absent.
# usage: movenet_parity.sh VIDLSTM WORK_DIR [CACHE]
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${3:-${XDG_CACHE_HOME:-$HOME/.cache}/vidlstm/npm}
MODEL=$CACHE/human-models-3.0.4/movenet-lightning.json
if [ ! -f "$MODEL" ]; then echo "SKIP: $MODEL not found (run scripts/get_npm_models.sh --movenet)"; exit 77; fi
if ! command -v node >/dev/null; then echo "SKIP: node not installed"; exit 77; fi
export NODE_PATH="$here/node_modules${NODE_PATH:+:$NODE_PATH}"
if ! node -e "require('@tensorflow/tfjs-core')" 2>/dev/null; then
  echo "SKIP: @tensorflow/tfjs not installed (cd tests/tfjs && ONNXRUNTIME_NODE_INSTALL=skip npm install)"; exit 77
fi
exec node "$here/movenet_parity.js" "$1" "$MODEL" "$2"
