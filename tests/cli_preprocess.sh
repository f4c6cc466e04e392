#!/bin/sh
# Input preprocessing on the command line (--preprocess, --input-range, --mean,
# --std, --channel-order): bad values are one error and write nothing; the
# choice reaches backbone.json and the model, `info` shows it, and eval and
# predict repeat it from the model (eval hits the features cached in
# training; predict on a video equals predict on the features extracted with
# the same flags).
# usage: cli_preprocess.sh VIDLSTM VIDEOS_DIR FIXTURES_DIR (test_preprocess made the videos)
set -u
BIN=$1
VIDS=$2
M=$3/id_nchw.onnx
W=$(mktemp -d /tmp/vl_cli_prep.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }
B="--backbone $M --layer y --quiet"

# bad values: non-zero exit, one line naming the option, nothing written
i=0
for bad in "--std 1,0,1:--std" "--std 1,2:--std" "--std 1,2,3,4:--std" "--mean a,b,c:--mean" \
           "--preprocess keras-foo:keras-caffe" "--channel-order grb:--channel-order" \
           "--input-range 1,0:--input-range" "--input-range 0:--input-range"; do
  i=$((i + 1))
  opt=${bad%%:*}
  want=${bad#*:}
  # shellcheck disable=SC2086
  "$BIN" extract --data "$VIDS" --out "$W/bad$i" $B $opt > "$W/out.txt" 2> "$W/err.txt"
  rc=$?
  check "extract $opt fails ($rc)" '[ $rc -ne 0 ]'
  check "extract $opt: one error line naming $want ($(cat "$W/err.txt"))" \
    '[ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -q -- "$want" "$W/err.txt"'
  check "extract $opt wrote nothing" '[ ! -e "$W/bad$i" ]'
  # shellcheck disable=SC2086
  "$BIN" train --data "$VIDS" --out "$W/bad$i.safetensors" $B $opt > /dev/null 2> "$W/err.txt"
  rc=$?
  check "train $opt fails, writes nothing ($(cat "$W/err.txt"))" \
    '[ $rc -ne 0 ] && [ ! -e "$W/bad$i.safetensors" ] && grep -q -- "$want" "$W/err.txt"'
done
"$BIN" demo --dir "$W/demo" --backbone "$M" --std 0,1,1 > /dev/null 2> "$W/err.txt"
rc=$?
check "demo --std 0,1,1 is refused before anything is made ($(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && grep -q -- "--std" "$W/err.txt" && [ ! -e "$W/demo" ]'
"$BIN" extract --data "$VIDS" --out "$W/badm" --preprocess keras-tf --quiet 2> "$W/err.txt"
rc=$?
check "builtin:motion + --preprocess is refused ($(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && grep -q "ONNX" "$W/err.txt" && [ ! -e "$W/badm" ]'

# extract records the choice beside the features
"$BIN" extract --data "$VIDS" --out "$W/xc" $B --preprocess keras-caffe --cache "$W/c0" 2> "$W/err.txt"
check "extract --preprocess keras-caffe ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
check "backbone.json records it" \
  'grep -q "\"preprocess\":{\"preset\":\"keras-caffe\",\"range\":\[0,255\],\"mean\":\[123.68,116.779,103.939\],\"std\":\[1,1,1\],\"channel_order\":\"bgr\"}" "$W/xc/backbone.json"'
"$BIN" extract --data "$VIDS" --out "$W/xt" $B --cache "$W/c0" 2> /dev/null
check "without options, no record" '! grep -q "\"preprocess\"" "$W/xt/backbone.json"'
"$BIN" extract --data "$VIDS" --out "$W/xx" $B --preprocess keras-tf --input-range 0,1 --mean 0.5,0.5,0.5 \
  --std 0.5,0.5,0.5 --channel-order bgr --cache "$W/c0" 2> /dev/null
check "a preset changed by options is recorded as custom" \
  'grep -q "\"preset\":\"custom\",\"range\":\[0,1\],\"mean\":\[0.5,0.5,0.5\],\"std\":\[0.5,0.5,0.5\],\"channel_order\":\"bgr\"" "$W/xx/backbone.json"'
check "three preprocessings, three cache entries" '[ "$(ls "$W/c0" | grep -c "\.npy$")" -eq 12 ]'

# a model trained on those features records it too
"$BIN" train --data "$W/xc/manifest.csv" --out "$W/fm.safetensors" --layers mean --epochs 1 --quiet --ensemble 1 \
  --val-fraction 0 > /dev/null 2>&1
check "info on a model trained from extract's manifest shows the preprocessing" \
  '"$BIN" info "$W/fm.safetensors" | grep -q "input preprocessing: keras-caffe (pixels to 0..255, BGR"'

"$BIN" train --data "$W/xt/manifest.csv" --out "$W/fd.safetensors" --layers mean --epochs 1 --quiet --ensemble 1 \
  --val-fraction 0 > /dev/null 2>&1
check "info without a record names the backbone's own and the preset it matches" \
  '"$BIN" info "$W/fd.safetensors" | grep -q "input preprocessing: the backbone.s own (torchvision)"'

# train on the videos: the model records it; eval and predict repeat it
"$BIN" train --data "$VIDS" --out "$W/m.safetensors" $B --preprocess keras-caffe --layers mean --epochs 1 \
  --ensemble 1 --val-fraction 0 --cache "$W/c1" > /dev/null 2> "$W/err.txt"
check "train --preprocess keras-caffe ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
"$BIN" info "$W/m.safetensors" > "$W/info.txt"
check "info shows it" 'grep -q "input preprocessing: keras-caffe" "$W/info.txt"'
n1=$(ls "$W/c1" | grep -c "\.npy$")
"$BIN" eval --model "$W/m.safetensors" --data "$VIDS" --cache "$W/c1" > /dev/null 2> "$W/err.txt"
check "eval runs ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
check "eval used the model's preprocessing: every clip from the training cache ($n1 files before)" \
  '[ "$(ls "$W/c1" | grep -c "\.npy$")" -eq "$n1" ]'
v=$(ls "$VIDS/a" | head -1)
f=$(grep "$v" "$W/xc/manifest.csv" | cut -d, -f1)
f=$(cd "$W/xc" && realpath "$f")
"$BIN" predict --model "$W/m.safetensors" "$VIDS/a/$v" --json | sed 's/"file":"[^"]*",//' > "$W/pv.json"
"$BIN" predict --model "$W/m.safetensors" "$f" --json | sed 's/"file":"[^"]*",//' > "$W/pf.json"
g=$(grep "$v" "$W/xt/manifest.csv" | cut -d, -f1)
g=$(cd "$W/xt" && realpath "$g")
"$BIN" predict --model "$W/m.safetensors" "$g" --json | sed 's/"file":"[^"]*",//' > "$W/pt.json"
check "predict on the video = predict on the keras-caffe features ($(cat "$W/pv.json") vs $(cat "$W/pf.json"))" \
  '[ -s "$W/pv.json" ] && cmp -s "$W/pv.json" "$W/pf.json"'
check "... and not the torchvision features ($(cat "$W/pt.json"))" '! cmp -s "$W/pv.json" "$W/pt.json"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
