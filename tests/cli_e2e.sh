#!/bin/sh
# From video files to metrics through the real command line (issue #6):
#   1. `vidlstm demo` generates its videos and must reach its bars: clip model
#      accuracy >= 95%, per-frame model frame accuracy >= 90% (Release builds;
#      sanitizer builds run a small demo and check it completes);
#   2. then, on those videos, the three data layouts and both modes through
#      train / eval / predict / extract: a folder per class, a CSV manifest
#      with start/end, long videos cut into random clips, per-frame labels,
#      prediction on a video file, a window timeline and a live stream.
# usage: cli_e2e.sh VIDLSTM DIR [small]
set -u
BIN=$1
W=$2
SMALL=${3:-}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
jnum() { tail -1 "$1" | sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 >= b + 0) }'; }
mkdir -p "$W"
W=$(cd "$W" && pwd)
case "$BIN" in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
BB="--backbone builtin:ego-motion --cache $W/.features --threads 2"

if [ -n "$SMALL" ]; then
  "$BIN" demo --dir "$W" --clips 8 --long 4 --epochs 3 --json > "$W/demo.json" 2> "$W/demo.err"
  check "small demo completes ($(tail -2 "$W/demo.err"))" '[ $? -eq 0 ] && grep -q "\"frame_accuracy\":" "$W/demo.json"'
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
fi

start=$(date +%s)
"$BIN" demo --dir "$W" --json > "$W/demo.json" 2> "$W/demo.err"
check "demo exits 0 ($(tail -2 "$W/demo.err"))" '[ $? -eq 0 ]'
secs=$(($(date +%s) - start))
acc=$(jnum "$W/demo.json" accuracy)
facc=$(jnum "$W/demo.json" frame_accuracy)
echo "demo: clip accuracy $acc, frame accuracy $facc, $secs s"
check "demo clip accuracy $acc >= 0.95" 'ge "$acc" 0.95'
check "demo frame accuracy $facc >= 0.90" 'ge "$facc" 0.90'
check "demo reports written" '[ -s "$W/report-clips/report.html" ] && [ -s "$W/report-frames/report.html" ]'
check "demo finishes in under 3 minutes ($secs s)" '[ "$secs" -lt 180 ]'

# 1. folder per class, grouped split, report
"$BIN" train --data "$W/clips" $BB --layers bilstm:32,dropout:0.2 --epochs 30 --lr 0.003 --val-fraction 0.25 \
  --out "$W/m1.safetensors" --report "$W/rep1" --json --quiet > "$W/t1.json"
a1=$(jnum "$W/t1.json" accuracy)
echo "folder per class: validation accuracy $a1"
check "folder-per-class clip model accuracy $a1 >= 0.95" 'ge "$a1" 0.95'
"$BIN" eval --model "$W/m1.safetensors" --data "$W/clips" --cache "$W/.features" --json > "$W/e1.json"
check "eval on videos reports accuracy and confusion" 'grep -q "\"confusion\":\[\[" "$W/e1.json"'
run=$(ls "$W"/clips/run/*.mp4 | head -1)
"$BIN" predict --model "$W/m1.safetensors" "$run" --json > "$W/p1.json"
check "predict on a video file: a running clip is 'run'" 'grep -q "\"label\":\"run\"" "$W/p1.json"'
"$BIN" predict --model "$W/m1.safetensors" "$W/long/long_00.mp4" --window 2 --stride 1 > "$W/p2.txt"
check "window timeline over a long video" '[ "$(grep -cE "^ +[0-9.]+s +[0-9.]+s" "$W/p2.txt")" -ge 1 ]'
ffmpeg -v error -i "$run" -c copy -f mpegts - 2> /dev/null | "$BIN" predict --model "$W/m1.safetensors" - --window 1 --json > "$W/p3.json"
check "live stream from stdin: windows with latency" 'grep -q "\"latency_ms\":" "$W/p3.json" && grep -q "\"label\":\"run\"" "$W/p3.json"'

# 2. a CSV manifest of videos with start,end (clips cut from the long videos' labelled segments)
{
  echo "path,label,start,end"
  for f in "$W"/long/long_0*.csv; do
    v=${f%.csv}.mp4
    tail -n +2 "$f" | awk -F, -v v="$(basename "$v")" '$3 != "stand" && $2 - $1 >= 2 { printf "long/%s,%s,%s,%s\n", v, $3, $1, $2 }'
  done
} > "$W/segments.csv"
n=$(($(wc -l < "$W/segments.csv") - 1))
"$BIN" eval --model "$W/m1.safetensors" --data "$W/segments.csv" --cache "$W/.features" --json > "$W/e2.json"
a2=$(jnum "$W/e2.json" accuracy)
echo "CSV manifest with start,end ($n walk/run segments of unseen long videos): accuracy $a2"
check "manifest clips evaluated ($n) with accuracy $a2 >= 0.85" '[ "$n" -ge 5 ] && ge "$a2" 0.85'

# 3. long videos cut into random clips (every clip inherits its video as group)
"$BIN" train --data "$W/clips" $BB --clips 3 --clip-length 1.5:2.5 --layers bilstm:32 --epochs 20 --lr 0.003 \
  --val-fraction 0.25 --out "$W/m3.safetensors" --json --quiet > "$W/t3.json"
a3=$(jnum "$W/t3.json" accuracy)
echo "random clips: validation accuracy $a3"
check "random-clip model accuracy $a3 >= 0.9" 'ge "$a3" 0.9'
# random clips from open-ended manifest rows (a start, no end) stay inside the video
{ echo "path,label,start,end"; echo "long/long_00.mp4,walk,4,"; echo "long/long_01.mp4,run,4,"; } > "$W/open.csv"
"$BIN" extract --data "$W/open.csv" $BB --clips 4 --clip-length 1.5:2.5 --out "$W/feats-open" --quiet 2> "$W/open.err"
rc=$?
check "random clips of open-ended manifest rows ($(tail -1 "$W/open.err"))" '[ $rc -eq 0 ] && [ "$(wc -l < "$W/feats-open/manifest.csv")" -eq 9 ]'

# 4. per-frame labels (many-to-many) and segments on a new video
"$BIN" train --data "$W/long" --mode sequence $BB --layers bigru:32,bigru:32 --epochs 40 --lr 0.003 \
  --gradient-threshold 5 --val-fraction 0.25 --out "$W/m4.safetensors" --json --quiet > "$W/t4.json"
a4=$(jnum "$W/t4.json" frame_accuracy)
echo "per-frame labels: frame accuracy $a4"
check "per-frame model frame accuracy $a4 >= 0.90" 'ge "$a4" 0.90'
"$BIN" predict --model "$W/m4.safetensors" "$W/long/long_01.mp4" --json > "$W/p4.json"
check "per-frame prediction on a video gives timed segments" 'grep -q "\"segments\":\[{\"start\":0,\"end\":[0-9]*,\"start_s\":0" "$W/p4.json"'
ffmpeg -v error -i "$W/long/long_01.mp4" -t 2.5 -c copy -f mpegts - 2> /dev/null |
  "$BIN" predict --model "$W/m4.safetensors" - --json > "$W/p4s.json"
check "per-frame stream: segments in order, the tail not printed twice" '[ -s "$W/p4s.json" ] && sed "s/.*\"start_s\":\([0-9.]*\),\"end_s\":\([0-9.]*\),.*/\1 \2/" "$W/p4s.json" | awk "NR > 1 && \$1 <= e { exit 1 } { e = \$2 }"'

# 5. extract, then train on the features; the model still predicts on video
"$BIN" extract --data "$W/clips" $BB --out "$W/feats" --quiet
check "extract writes a manifest and backbone.json" '[ -s "$W/feats/manifest.csv" ] && grep -q ego-motion "$W/feats/backbone.json"'
"$BIN" train --data "$W/feats/manifest.csv" --layers bilstm:32 --epochs 20 --lr 0.003 --out "$W/m5.safetensors" --quiet
"$BIN" predict --model "$W/m5.safetensors" "$run" > "$W/p5.txt"
check "a model trained on extracted features predicts on video" 'grep -q ": run (" "$W/p5.txt"'

# an ONNX backbone: its path is recorded absolutely, and found beside the model when both move
SRC=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W/onnx_a" "$W/onnx_b"
cp "$SRC/tests/fixtures/onnx/tiny.onnx" "$W/onnx_a/"
(cd "$W/onnx_a" && "$BIN" train --data ../clips --backbone tiny.onnx --epochs 2 --out m.safetensors --quiet --no-cache --threads 2)
mv "$W/onnx_a/m.safetensors" "$W/onnx_a/tiny.onnx" "$W/onnx_b/"
"$BIN" predict --model "$W/onnx_b/m.safetensors" "$run" > "$W/p6.txt" 2>&1
check "a moved model finds its ONNX backbone beside it ($(cat "$W/p6.txt"))" 'grep -q ": run (\|: walk (" "$W/p6.txt"'
rm "$W/onnx_b/tiny.onnx"
"$BIN" predict --model "$W/onnx_b/m.safetensors" "$run" 2> "$W/err.txt"
check "a missing ONNX backbone is one error naming it" '[ $? -ne 0 ] && grep -q "tiny.onnx is not there" "$W/err.txt"'

# a fused backbone (motion + an ONNX CNN): trained, moved with its ONNX part, predicts (file and live stream)
mkdir -p "$W/fuse_a" "$W/fuse_b"
cp "$SRC/tests/fixtures/onnx/tiny.onnx" "$W/fuse_a/"
(cd "$W/fuse_a" && "$BIN" train --data ../clips --backbone builtin:motion+tiny.onnx --epochs 20 --out m.safetensors \
  --quiet --cache "$W/.features" --threads 2 > train.txt 2>&1)
check "train with a fused backbone ($(tail -2 "$W/fuse_a/train.txt"))" \
  '[ $? -eq 0 ] && "$BIN" info "$W/fuse_a/m.safetensors" | grep -q "backbone: builtin:motion+/.*tiny.onnx, tap +/Relu_4_output_0, 73 features"'
mv "$W/fuse_a/m.safetensors" "$W/fuse_a/tiny.onnx" "$W/fuse_b/"
"$BIN" predict --model "$W/fuse_b/m.safetensors" "$run" > "$W/p7.txt" 2>&1
check "a moved fused model finds its ONNX part beside it and predicts run ($(cat "$W/p7.txt"))" 'grep -q ": run (" "$W/p7.txt"'
ffmpeg -v error -i "$run" -c copy -f mpegts - 2> /dev/null | "$BIN" predict --model "$W/fuse_b/m.safetensors" - --window 1 \
  --json > "$W/p8.json" 2> "$W/err.txt"
check "a fused model on a live stream ($(tail -2 "$W/err.txt"))" 'grep -q "\"latency_ms\":" "$W/p8.json" && grep -q "\"label\":\"run\"" "$W/p8.json"'

# mode mix-ups with videos: one error that says which mode fits
"$BIN" train --data "$W/long" --mode last $BB --out "$W/x.safetensors" --quiet 2> "$W/err.txt"
check "per-frame videos given to a clip model: says --mode sequence" '[ $? -ne 0 ] && grep -q "use --mode sequence" "$W/err.txt"'
# no --mode: the data decides (per-frame label files -> a per-frame model)
"$BIN" train --data "$W/long" $BB --epochs 1 --out "$W/auto.safetensors" 2> "$W/err.txt" > /dev/null
check "per-frame videos with no --mode train a per-frame model" '[ $? -eq 0 ] && grep -q "training a per-frame (sequence) model" "$W/err.txt" && "$BIN" info "$W/auto.safetensors" | grep -q sequence'
rm -f "$W/auto.safetensors"
"$BIN" eval --model "$W/activity.safetensors" --data "$W/clips" --cache "$W/.features" 2> "$W/err.txt"
check "class folders given to a per-frame model: says use a clip model" '[ $? -ne 0 ] && grep -q "use a clip model" "$W/err.txt"'
printf 'path,labels\nlong/long_00.mp4,long/long_00.csv\nlong/long_01.mp4,long/long_01.csv\n' > "$W/seq.csv"
"$BIN" train --data "$W/seq.csv" --mode sequence $BB --layers bigru:8 --epochs 2 --out "$W/x.safetensors" --quiet 2> "$W/err.txt"
check "a video manifest with a path,labels header trains a sequence model ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
check "no model file left by the failed runs" 'rm -f "$W/x.safetensors"; true'

# bad video input: one clear error naming the file
printf 'not a video' > "$W/broken.mp4"
"$BIN" predict --model "$W/m1.safetensors" "$W/broken.mp4" > /dev/null 2> "$W/err.txt"
check "a broken video is one error naming it" '[ $? -ne 0 ] && grep -q "broken.mp4" "$W/err.txt" && [ "$(wc -l < "$W/err.txt")" -eq 1 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
