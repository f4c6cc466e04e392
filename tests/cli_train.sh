#!/bin/sh
# vidlstm train / eval / predict / info end to end on generated feature
# sequences (tests/gen_seqdata.c). Checks the learning bars of issue #5
# (order task >= 95% with an LSTM while mean pooling stays near chance;
# per-frame >= 95%; regression R^2 >= 0.9), the JSON outputs, the report,
# that a run killed with SIGKILL mid-epoch and resumed ends with the same
# model file as an uninterrupted run, and the bad-input errors.
# usage: cli_train.sh VIDLSTM GEN_SEQDATA
set -u
BIN=$1
GEN=$2
W=$(mktemp -d /tmp/vl_cli_train.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
# number of a JSON key on the last line of a file
jnum() { tail -1 "$1" | sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }

"$GEN" "$W" || { echo "gen_seqdata failed"; exit 1; }
T="--threads 2 --quiet"

# (a) the order task: an LSTM learns it, the bag-of-frames baseline cannot
"$BIN" train --data "$W/order_train.csv" --val-data "$W/order_val.csv" --layers lstm:24 --epochs 20 --lr 0.01 \
  --out "$W/order.safetensors" --json --report "$W/rep" $T > "$W/order.json" 2> "$W/order.err"
check "train exits 0 ($(cat "$W/order.err"))" '[ $? -eq 0 ]'
acc=$(jnum "$W/order.json" accuracy)
echo "order task, LSTM: validation accuracy $acc"
check "LSTM validation accuracy $acc >= 0.95" 'ge "$acc" 0.95'
check "one JSON line per epoch of each of the default 3 ensemble members" \
  '[ "$(grep -c "\"event\":\"epoch\"" "$W/order.json")" -eq 60 ] && [ "$(grep -c "\"member\":3" "$W/order.json")" -eq 20 ]'
check "the summary says the ensemble was validated as a whole (shared --val-data)" \
  'tail -1 "$W/order.json" | grep -q "\"ensemble\":3,\"evaluated\":\"ensemble\""'
check "info lists the ensemble" '"$BIN" info "$W/order.safetensors" | grep -q "ensemble: 3 members"'
check "summary has the confusion matrix" 'tail -1 "$W/order.json" | grep -q "\"confusion\":\[\["'
check "no checkpoint left after a complete run" '[ ! -e "$W/order.safetensors.ckpt" ]'

# --rnn-precision bf16 (bf16 GEMMs in the LSTM where the CPU has them, else
# fp32 with a note): the same learning bar, one member
"$BIN" train --data "$W/order_train.csv" --val-data "$W/order_val.csv" --layers lstm:24 --epochs 20 --lr 0.01 \
  --ensemble 1 --rnn-precision bf16 --out "$W/order16.safetensors" --json $T > "$W/order16.json" 2> "$W/order16.err"
check "train --rnn-precision bf16 exits 0 ($(cat "$W/order16.err"))" '[ $? -eq 0 ]'
acc16=$(jnum "$W/order16.json" accuracy)
echo "order task, LSTM, --rnn-precision bf16: validation accuracy $acc16"
check "bf16 LSTM validation accuracy $acc16 >= 0.95" 'ge "$acc16" 0.95'
if grep -q avx512_bf16 /proc/cpuinfo; then
  check "no fp32 fall-back note on a CPU with AVX512-BF16" '! grep -q "training in fp32" "$W/order16.err"'
fi
"$BIN" train --data "$W/order_train.csv" --out "$W/x.safetensors" --rnn-precision fp16 --quiet 2> "$W/prec.err"
check "--rnn-precision fp16 is refused (exit $?)" '[ $? -ne 0 ] && grep -q "is not fp32 or bf16" "$W/prec.err"'
for f in report.html progress.svg confusion.svg; do
  check "report has $f" '[ -s "$W/rep/$f" ]'
done
"$BIN" train --data "$W/order_train.csv" --val-data "$W/order_val.csv" --layers mean --epochs 20 --lr 0.01 \
  --ensemble 1 --out "$W/mean.safetensors" --json $T > "$W/mean.json"
check "--ensemble 1: one JSON line per epoch, no member field" \
  '[ "$(grep -c "\"event\":\"epoch\"" "$W/mean.json")" -eq 20 ] && ! grep -q "\"member\"" "$W/mean.json"'
macc=$(jnum "$W/mean.json" accuracy)
echo "order task, bag of frames: validation accuracy $macc"
check "bag-of-frames accuracy $macc stays near chance (<= 0.65)" 'le "$macc" 0.65'

# eval: text and JSON agree with training's validation figure
"$BIN" eval --model "$W/order.safetensors" --data "$W/order_val.csv" --json > "$W/eval.json"
eacc=$(jnum "$W/eval.json" accuracy)
check "eval accuracy $eacc equals the training summary's $acc" '[ "$eacc" = "$acc" ]'
for k in accuracy macro_f1 confusion classes per_class; do
  check "eval JSON has $k" 'grep -q "\"$k\":" "$W/eval.json"'
done
"$BIN" eval --model "$W/order.safetensors" --data "$W/order_val.csv" > "$W/eval.txt"
check "eval text has a confusion matrix with class names" 'grep -q "down" "$W/eval.txt" && grep -qi "macro" "$W/eval.txt"'

# predict: a label with probabilities; windows over a long sequence
"$BIN" predict --model "$W/order.safetensors" "$W/ova0001.npy" --json > "$W/pred.json"
check "predict labels an 'up' clip as up" 'grep -q "\"label\":\"up\"" "$W/pred.json"'
check "predict gives probabilities" 'grep -q "\"probabilities\":{\"down\":" "$W/pred.json"'
"$BIN" predict --model "$W/order.safetensors" "$W/ova0001.npy" --window 12 --stride 4 > "$W/win.txt"
check "window timeline printed" 'grep -q "start" "$W/win.txt" && grep -q "up" "$W/win.txt"'

# info on the model file
"$BIN" info "$W/order.safetensors" > "$W/info.txt" 2>&1
check "info describes the model" 'grep -qi "lstm" "$W/info.txt" && grep -q "up" "$W/info.txt"'

# (b) per-frame labels
"$BIN" train --data "$W/frames.csv" --val-fraction 0.25 --mode sequence --layers bilstm:24 --epochs 30 --lr 0.01 \
  --out "$W/frames.safetensors" --json --report "$W/rep2" $T > "$W/frames.json"
facc=$(jnum "$W/frames.json" frame_accuracy)
echo "per-frame task: frame accuracy $facc"
check "per-frame accuracy $facc >= 0.95" 'ge "$facc" 0.95'
check "sequence report has a timeline" '[ -s "$W/rep2/timeline.svg" ]'
"$BIN" predict --model "$W/frames.safetensors" "$W/fr000.npy" --json > "$W/seg.json"
check "per-frame prediction gives segments" 'grep -q "\"segments\":\[{\"start\":0" "$W/seg.json"'
# action-segmentation scores (values against NumPy in test_metrics; here: wiring and options)
"$BIN" eval --model "$W/frames.safetensors" --data "$W/frames.csv" --json > "$W/seg_eval.json"
ed=$(jnum "$W/seg_eval.json" edit); f50=$(jnum "$W/seg_eval.json" f1_50)
check "eval JSON has edit $ed and f1_10/f1_25/f1_50 ($f50) on a 0-100 scale" \
  'ge "$ed" 50 && le "$ed" 100 && ge "$f50" 50 && grep -q "\"f1_10\":" "$W/seg_eval.json" && grep -q "\"f1_25\":" "$W/seg_eval.json"'
"$BIN" eval --model "$W/frames.safetensors" --data "$W/frames.csv" --background down --smooth 5 > "$W/seg_eval.txt"
check "eval text prints Edit and F1@k with the background and smoothing it used" \
  'grep -q "Edit .*F1@10 .*F1@50 .*background .down. left out.*smoothed over 5 frames" "$W/seg_eval.txt"'
"$BIN" predict --model "$W/frames.safetensors" "$W/fr000.npy" --smooth 200 --json > "$W/seg_smooth.json"
check "predict --smooth longer than the sequence gives one segment" \
  '[ "$(grep -o "\"start\":" "$W/seg_smooth.json" | wc -l)" -eq 1 ]'

# (c) regression
"$BIN" train --data "$W/regress.csv" --val-fraction 0.2 --task regress --layers lstm:32 --epochs 40 --lr 0.01 \
  --out "$W/reg.safetensors" --json $T > "$W/reg.json"
r2=$(jnum "$W/reg.json" r2)
echo "regression task: R^2 $r2"
check "regression R^2 $r2 >= 0.9" 'ge "$r2" 0.9'

# SIGKILL mid-epoch, then --resume: the same model file as an uninterrupted run
args="--data $W/order_train.csv --val-fraction 0.2 --layers bigru:32,dropout:0.3,lstm:16 --epochs 8 --batch 8 --seed 5 --threads 2 --quiet"
"$BIN" train $args --out "$W/full.safetensors"
"$BIN" train $args --out "$W/killed.safetensors" &
pid=$!
i=0
while [ ! -e "$W/killed.safetensors.ckpt" ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.05
kill -9 $pid 2> /dev/null
wait $pid 2> /dev/null
check "the killed run left its checkpoint and no model" '[ -e "$W/killed.safetensors.ckpt" ] && [ ! -e "$W/killed.safetensors" ]'
cp "$W/killed.safetensors.ckpt" "$W/saved.ckpt"
# as if the kill had landed mid-write: the half-written temp file is left
head -c 100 "$W/saved.ckpt" > "$W/killed.safetensors.ckpt.tmp"
"$BIN" train $args --out "$W/killed.safetensors" --resume
check "resumed run ends with the same model file as the uninterrupted one" 'cmp -s "$W/full.safetensors" "$W/killed.safetensors"'
# checkpoints are safetensors files: a model file plus the training state
check "the checkpoint is a safetensors file of format 3 with a data checksum" \
  'head -c 8192 "$W/saved.ckpt" | grep -a -q "\"checkpoint_format\":\"3\"" && head -c 8192 "$W/saved.ckpt" | grep -a -q "\"data_checksum\":\"w64fnv:"'
# the raw formats of older versions (a real format-2 file made by the old code,
# tests/fixtures/checkpoint/make_old_ckpt.sh; format 1 by its magic) are refused by name
cp "$(dirname "$0")/fixtures/checkpoint/old_format2.ckpt" "$W/old.safetensors.ckpt"
"$BIN" train $args --out "$W/old.safetensors" --resume 2> "$W/old.err"
rc=$?
check "a format-2 checkpoint: one error naming it and saying what to do, nothing written ($(cat "$W/old.err"))" \
  '[ $rc -ne 0 ] && [ "$(wc -l < "$W/old.err")" -eq 1 ] && grep -q "old.safetensors.ckpt: a checkpoint of an older vidlstm (raw format 2).*retrain" "$W/old.err" && [ ! -e "$W/old.safetensors" ]'
{ printf 'VLCKPT01'; tail -c +9 "$W/saved.ckpt"; } > "$W/old.safetensors.ckpt"
"$BIN" train $args --out "$W/old.safetensors" --resume 2> "$W/old.err"
rc=$?
check "a format-1 checkpoint: refused by name" \
  '[ $rc -ne 0 ] && grep -q "old.safetensors.ckpt: a checkpoint of an older vidlstm (raw format 1)" "$W/old.err" && [ ! -e "$W/old.safetensors" ]'
# a damaged checkpoint (one bit in its last tensor) is refused, not resumed
cp "$W/saved.ckpt" "$W/dam.safetensors.ckpt"
sz=$(wc -c < "$W/dam.safetensors.ckpt")
b=$(od -An -tu1 -j $((sz - 3)) -N 1 "$W/dam.safetensors.ckpt" | tr -d ' ')
printf "\\$(printf %o $((b ^ 16)))" | dd of="$W/dam.safetensors.ckpt" bs=1 seek=$((sz - 3)) conv=notrunc 2> /dev/null
check "one byte changed" '! cmp -s "$W/saved.ckpt" "$W/dam.safetensors.ckpt"'
"$BIN" train $args --out "$W/dam.safetensors" --resume 2> "$W/dam.err"
rc=$?
check "a damaged checkpoint: refused as corrupt, nothing written ($(cat "$W/dam.err"))" \
  '[ $rc -ne 0 ] && grep -q "dam.safetensors.ckpt: data checksum mismatch" "$W/dam.err" && [ ! -e "$W/dam.safetensors" ]'
check "a complete ensemble run leaves no member checkpoints" \
  '[ -z "$(ls "$W" | grep "killed.safetensors.ckpt")" ]'
# the same, killed while training the second member of the (default) ensemble
rm -f "$W/killed.safetensors"
"$BIN" train $args --out "$W/killed.safetensors" &
pid=$!
i=0
while [ ! -e "$W/killed.safetensors.ckpt.member2" ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i + 1)); done
kill -9 $pid 2> /dev/null
wait $pid 2> /dev/null
check "killed in member 2: member 1's finished checkpoint and member 2's are there, no model" \
  '[ -e "$W/killed.safetensors.ckpt" ] && [ -e "$W/killed.safetensors.ckpt.member2" ] && [ ! -e "$W/killed.safetensors" ]'
"$BIN" train $args --out "$W/killed.safetensors" --resume
check "resumed in member 2: the same model file as the uninterrupted run" 'cmp -s "$W/full.safetensors" "$W/killed.safetensors"'
"$BIN" train $args --epochs 9 --out "$W/other.safetensors" --checkpoint "$W/saved.ckpt" --resume 2> "$W/err.txt"
check "resuming with other options is refused" '[ $? -ne 0 ] && grep -q "other options" "$W/err.txt"'

# a log (not a terminal) gets at most about 50 progress lines, even when every epoch is validated
"$BIN" train --data "$W/order_train.csv" --val-data "$W/order_val.csv" --layers lstm:4 --epochs 120 --batch 256 \
  --threads 2 --out "$W/long.safetensors" > /dev/null 2> "$W/long.err"
nlines=$(grep -c "^epoch " "$W/long.err")
check "120 validated epochs log $nlines lines (<= 60)" '[ "$nlines" -le 60 ] && [ "$nlines" -ge 40 ]'

# bad input: one clear error line naming the file, non-zero exit, nothing written
expect_error() { # name, expected text, command...
  name=$1; want=$2; shift 2
  "$@" > "$W/out.txt" 2> "$W/err.txt"
  rc=$?
  if [ $rc -ne 0 ] && grep -q -- "$want" "$W/err.txt" && [ "$(wc -l < "$W/err.txt")" -le 2 ]; then ok; else
    bad "$name: exit $rc, stderr: $(cat "$W/err.txt")"; fi
}
expect_error "inconsistent widths" "bad_w5.npy: feature width 5 differs from 6" \
  "$BIN" train --data "$W/bad_width.csv" --out "$W/x.safetensors" --quiet
expect_error "NaN features" "bad_nan.npy: feature \[1, 1\] is NaN" \
  "$BIN" train --data "$W/bad_nan.csv" --out "$W/x.safetensors" --quiet
expect_error "one class" "classification needs at least two classes" \
  "$BIN" train --data "$W/bad_oneclass.csv" --out "$W/x.safetensors" --quiet
expect_error "empty dataset" "bad_empty.csv: no sequences" \
  "$BIN" train --data "$W/bad_empty.csv" --out "$W/x.safetensors" --quiet
expect_error "unknown validation label" "val_unknown.csv:2: label 'sideways'" \
  "$BIN" train --data "$W/order_train.csv" --val-data "$W/val_unknown.csv" --out "$W/x.safetensors" --quiet
expect_error "model of another architecture" "feature width" \
  "$BIN" eval --model "$W/order.safetensors" --data "$W/bad_width.csv"
expect_error "per-frame labels for a clip model" "fr000.csv' is a per-frame label file, but the model is many-to-one" \
  "$BIN" train --data "$W/frames.csv" --mode last --layers lstm:8 --out "$W/x.safetensors" --quiet --epochs 1
# no --mode: per-frame label files make a per-frame model
"$BIN" train --data "$W/frames.csv" --layers lstm:8 --out "$W/auto.safetensors" --epochs 1 > /dev/null 2> "$W/err.txt"
check "per-frame features with no --mode train a per-frame model" \
  '[ $? -eq 0 ] && grep -q "training a per-frame (sequence) model" "$W/err.txt" && "$BIN" info "$W/auto.safetensors" | grep -q "mode sequence"'
rm -f "$W/auto.safetensors"
expect_error "clip labels for a sequence model" "'down' is not a per-frame label file" \
  "$BIN" train --data "$W/order_train.csv" --mode sequence --layers lstm:8 --out "$W/x.safetensors" --quiet
expect_error "bad layer spec" "unknown layer 'lstmm'" \
  "$BIN" train --data "$W/order_train.csv" --layers lstmm:8 --out "$W/x.safetensors"
expect_error "an unknown background class" "--background 'walk' is neither a class name" \
  "$BIN" eval --model "$W/frames.safetensors" --data "$W/frames.csv" --background walk
expect_error "smoothing a clip model" "--smooth applies to per-frame classifiers" \
  "$BIN" eval --model "$W/order.safetensors" --data "$W/order_val.csv" --smooth 3
expect_error "mean in a sequence model" "mean pooling must be the last layer of a many-to-one" \
  "$BIN" train --data "$W/frames.csv" --mode sequence --layers mean --out "$W/x.safetensors" --quiet
expect_error "unknown option" "unknown option '--epoch'" \
  "$BIN" train --data "$W/order_train.csv" --epoch 3 --out "$W/x.safetensors"
expect_error "output folder missing" "cannot write into the folder" \
  "$BIN" train --data "$W/order_train.csv" --out "$W/nodir/x.safetensors" --quiet
"$BIN" train --data "$W/order_train.csv" --out "$W/x.safetensors" --epochs > "$W/out.txt" 2> "$W/err.txt"
rc=$?
check "an option without its value: one error line naming it ($(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && [ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -q "option --epochs needs a value" "$W/err.txt"'
check "no model file written by failed runs" '[ ! -e "$W/x.safetensors" ]'
expect_error "divergence" "diverged" \
  "$BIN" train --data "$W/regress.csv" --task regress --layers lstm:8 --optimizer sgdm --lr 1e10 --l2 0 \
  --out "$W/x.safetensors" --quiet --epochs 2
# diverging in the first epoch: no checkpoint exists, and the message must not name one
check "a first-epoch divergence does not point at a checkpoint that was never written" \
  'grep -q "no checkpoint" "$W/err.txt" && [ ! -e "$W/x.safetensors.ckpt" ]'

# predict --data MANIFEST plus files: every item predicted (the per-item units
# were sized by the command line only: a heap overflow)
"$BIN" predict --model "$W/order.safetensors" --data "$W/order_val.csv" "$W/ova0001.npy" "$W/ova0002.npy" --json \
  > "$W/pred_many.json" 2> "$W/err.txt"
rc=$?
check "predict --data plus files exits 0 ($(cat "$W/err.txt"))" '[ $rc -eq 0 ]'
check "predict --data plus files labels all 82 items" \
  '[ "$(grep -o "\"file\":" "$W/pred_many.json" | wc -l)" -eq 82 ]'

# every JSON output parses (a non-finite validation loss was printed as `inf`)
printf 'rg000.npy,1e20\nrg001.npy,2\n' > "$W/huge_val.csv"
"$BIN" train --data "$W/regress.csv" --val-data "$W/huge_val.csv" --task regress --layers lstm:4 --epochs 1 \
  --out "$W/huge.safetensors" --json $T > "$W/huge.json"
if command -v python3 > /dev/null 2>&1; then
  for f in order mean eval pred frames seg reg pred_many huge; do
    check "$f.json is valid JSON lines" \
      'python3 -c "import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]" < "$W/$f.json" 2> /dev/null'
  done
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
