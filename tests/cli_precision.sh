#!/bin/sh
# --precision on the command line: bad values are one error and write nothing;
# bf16 reaches backbone.json, the feature cache key and the model; `info` shows
# it; eval and predict repeat it from the model (eval hits the bf16 entries
# cached in training; predict on a video equals predict on bf16-extracted
# features, not on fp32 ones) unless --precision overrides it; where the CPU has
# no bf16 (simulated with ONEDNN_MAX_CPU_ISA=AVX512_CORE) the run goes on in
# fp32 with one note and the model records fp32.
# usage: cli_precision.sh VIDLSTM VIDEOS_DIR ONNX_FIXTURES_DIR (test_preprocess made the videos)
set -u
BIN=$1
VIDS=$2
M=$3/tiny.onnx
W=$(mktemp -d /tmp/vl_cli_prec.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }
B="--backbone $M --quiet"
T="--layers mean --epochs 1 --ensemble 1 --val-fraction 0"

# Does this CPU run bf16? (the library says so with a note when it does not)
"$BIN" extract --data "$VIDS" --out "$W/probe" --backbone "$M" --precision bf16 --no-cache 2> "$W/probe.txt"
native=1
grep -q "^note: .*bfloat16" "$W/probe.txt" && native=0
echo "bf16 native here: $native ($(grep "^note" "$W/probe.txt"))"

# bad values: non-zero exit, one line naming the option and the value, nothing written
for cmd in extract train; do
  "$BIN" $cmd --data "$VIDS" --out "$W/bad_$cmd" $B --precision fp8 > /dev/null 2> "$W/err.txt"
  rc=$?
  check "$cmd --precision fp8 fails with one line naming it ($rc: $(cat "$W/err.txt"))" \
    '[ $rc -ne 0 ] && [ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -q -- "--precision .fp8.: expected fp32, bf16 or int8" "$W/err.txt"'
  check "$cmd --precision fp8 wrote nothing" '[ ! -e "$W/bad_$cmd" ]'
done
# int8 runs (or falls back to fp32 with one note where the CPU lacks VNNI) and is recorded
"$BIN" extract --data "$VIDS" --out "$W/x8" $B --precision int8 --no-cache 2> "$W/err.txt"
rc=$?
check "extract --precision int8 ($rc: $(cat "$W/err.txt"))" '[ $rc -eq 0 ] && [ -s "$W/x8/manifest.csv" ]'
if grep -q "^note: .*int8" "$W/err.txt"; then
  check "int8 fallback: one note naming fp32" '[ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -q "fp32" "$W/err.txt"'
else
  check "backbone.json records int8" 'grep -q "\"precision\":\"int8\"" "$W/x8/backbone.json"'
  # a model trained in int8 records it and loads; predict on a video recomputes the same
  # scales (built-in calibration) and so equals predict on the int8-extracted features
  "$BIN" train --data "$VIDS" --out "$W/m8.safetensors" $B --precision int8 $T --no-cache > /dev/null 2> "$W/err.txt"
  check "train --precision int8 ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
  check "info shows int8" '"$BIN" info "$W/m8.safetensors" | grep -q "backbone precision: int8"'
  v8=$(ls "$VIDS/a" | head -1)
  f8=$(cd "$W/x8" && realpath "$(grep "$v8" manifest.csv | cut -d, -f1)")
  "$BIN" predict --model "$W/m8.safetensors" "$VIDS/a/$v8" --json 2> "$W/err.txt" | sed 's/"file":"[^"]*",//' > "$W/p8v.json"
  "$BIN" predict --model "$W/m8.safetensors" "$f8" --json | sed 's/"file":"[^"]*",//' > "$W/p8f.json"
  check "int8 predict on the video = predict on the int8 features ($(cat "$W/p8v.json") vs $(cat "$W/p8f.json"))" \
    '[ -s "$W/p8v.json" ] && cmp -s "$W/p8v.json" "$W/p8f.json"'
fi
"$BIN" demo --dir "$W/demo" --backbone "$M" --precision fp8 > /dev/null 2> "$W/err.txt"
rc=$?
check "demo --precision fp8 is refused before anything is made ($(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && grep -q -- "--precision" "$W/err.txt" && [ ! -e "$W/demo" ]'
"$BIN" extract --data "$VIDS" --out "$W/badm" --precision bf16 --quiet 2> "$W/err.txt"
rc=$?
check "builtin:motion + --precision bf16 is refused ($(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && grep -q "ONNX" "$W/err.txt" && [ ! -e "$W/badm" ]'

# extract records bf16 beside the features; fp32 records nothing; two cache entries each
"$BIN" extract --data "$VIDS" --out "$W/xb" $B --precision bf16 --cache "$W/c0" 2> "$W/err.txt"
check "extract --precision bf16 ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
"$BIN" extract --data "$VIDS" --out "$W/xf" $B --cache "$W/c0" 2> /dev/null
check "extract fp32 (default)" '[ $? -eq 0 ]'
check "fp32 records no precision" '! grep -q "\"precision\"" "$W/xf/backbone.json"'
if [ $native = 1 ]; then
  check "backbone.json records bf16" 'grep -q "\"precision\":\"bf16\"" "$W/xb/backbone.json"'
  check "bf16 and fp32 features are cached apart (8 entries)" '[ "$(ls "$W/c0" | grep -c "\.npy$")" -eq 8 ]'
  check "bf16 features differ from fp32 ones" \
    '! cmp -s "$W/xb/features/$(ls "$W/xb/features" | head -1)" "$W/xf/features/$(ls "$W/xf/features" | head -1)"'
  "$BIN" train --data "$W/xb/manifest.csv" --out "$W/fm.safetensors" $T --quiet > /dev/null 2>&1
  check "a model trained on extract's bf16 manifest records it (info)" \
    '"$BIN" info "$W/fm.safetensors" | grep -q "backbone precision: bf16"'
else
  check "without bf16 the features are fp32's, one cache entry each (4)" '[ "$(ls "$W/c0" | grep -c "\.npy$")" -eq 4 ]'
fi

# train on the videos in bf16: the model records it; eval and predict repeat it
"$BIN" train --data "$VIDS" --out "$W/m.safetensors" $B --precision bf16 $T --cache "$W/c1" > /dev/null 2> "$W/err.txt"
check "train --precision bf16 ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
"$BIN" info "$W/m.safetensors" > "$W/info.txt"
n1=$(ls "$W/c1" | grep -c "\.npy$")
if [ $native = 1 ]; then
  check "info shows bf16" 'grep -q "backbone precision: bf16" "$W/info.txt"'
  "$BIN" eval --model "$W/m.safetensors" --data "$VIDS" --cache "$W/c1" > /dev/null 2> "$W/err.txt"
  check "eval runs ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
  check "eval repeated bf16: every clip from the training cache ($n1 files before)" \
    '[ "$(ls "$W/c1" | grep -c "\.npy$")" -eq "$n1" ]'
  "$BIN" eval --model "$W/m.safetensors" --data "$VIDS" --cache "$W/c1" --precision fp32 > /dev/null 2>&1
  check "eval --precision fp32 overrides the record: new cache entries" \
    '[ "$(ls "$W/c1" | grep -c "\.npy$")" -gt "$n1" ]'
  "$BIN" eval --model "$W/m.safetensors" --data "$VIDS" --precision fp8 > /dev/null 2> "$W/err.txt"
  check "eval --precision fp8 fails ($(cat "$W/err.txt"))" '[ $? -ne 0 ] && grep -q "fp8" "$W/err.txt"'
  v=$(ls "$VIDS/a" | head -1)
  fb=$(cd "$W/xb" && realpath "$(grep "$v" manifest.csv | cut -d, -f1)")
  ff=$(cd "$W/xf" && realpath "$(grep "$v" manifest.csv | cut -d, -f1)")
  "$BIN" predict --model "$W/m.safetensors" "$VIDS/a/$v" --json | sed 's/"file":"[^"]*",//' > "$W/pv.json"
  "$BIN" predict --model "$W/m.safetensors" "$fb" --json | sed 's/"file":"[^"]*",//' > "$W/pb.json"
  "$BIN" predict --model "$W/m.safetensors" "$ff" --json | sed 's/"file":"[^"]*",//' > "$W/pf.json"
  "$BIN" predict --model "$W/m.safetensors" "$VIDS/a/$v" --precision fp32 --json | sed 's/"file":"[^"]*",//' > "$W/pv32.json"
  check "predict on the video = predict on the bf16 features ($(cat "$W/pv.json") vs $(cat "$W/pb.json"))" \
    '[ -s "$W/pv.json" ] && cmp -s "$W/pv.json" "$W/pb.json"'
  check "... and not the fp32 features ($(cat "$W/pf.json"))" '! cmp -s "$W/pv.json" "$W/pf.json"'
  check "predict --precision fp32 = predict on the fp32 features ($(cat "$W/pv32.json"))" \
    '[ -s "$W/pv32.json" ] && cmp -s "$W/pv32.json" "$W/pf.json"'
  "$BIN" predict --model "$W/m.safetensors" "$VIDS/a/$v" --precision fp8 > /dev/null 2> "$W/err.txt"
  check "predict --precision fp8 fails ($(cat "$W/err.txt"))" \
    '[ $? -ne 0 ] && [ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -q "fp8" "$W/err.txt"'
else
  check "without bf16 the model records fp32 (no precision line)" '! grep -q "backbone precision" "$W/info.txt"'
fi

# no bf16 (simulated): a note, fp32 results, fp32 recorded
ONEDNN_MAX_CPU_ISA=AVX512_CORE "$BIN" train --data "$VIDS" --out "$W/m2.safetensors" --backbone "$M" --precision bf16 \
  $T --cache "$W/c2" > /dev/null 2> "$W/err.txt"
rc=$?
check "train --precision bf16 without bf16 succeeds ($rc)" '[ $rc -eq 0 ]'
check "... with one note that it runs in fp32 ($(cat "$W/err.txt"))" \
  '[ "$(grep -c "bfloat16" "$W/err.txt")" -eq 1 ] && grep -q "^note: .*tiny.onnx: .*bfloat16.*running in fp32" "$W/err.txt"'
check "... and the model records fp32" '! "$BIN" info "$W/m2.safetensors" | grep -q "backbone precision"'
"$BIN" extract --data "$VIDS" --out "$W/xf2" $B --cache "$W/c2" 2> /dev/null
check "... whose features are fp32's: all 4 cache entries reused" '[ "$(ls "$W/c2" | grep -c "\.npy$")" -eq 4 ]'
if [ $native = 1 ]; then
  ONEDNN_MAX_CPU_ISA=AVX512_CORE "$BIN" predict --model "$W/m.safetensors" "$VIDS/a/$v" --json 2> "$W/err.txt" |
    sed 's/"file":"[^"]*",//' > "$W/pn.json"
  check "a bf16 model predicting without bf16: note, fp32 features ($(cat "$W/err.txt"))" \
    'grep -q "running in fp32" "$W/err.txt" && cmp -s "$W/pn.json" "$W/pf.json"'
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
