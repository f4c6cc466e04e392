#!/bin/sh
# --threads reaches the CNN: extraction runs the backbone on a thread of its
# own, and OpenMP keeps its thread count per thread, so a count set only on
# the calling thread was once ignored (`--threads 1` ran on every core). The
# profile line (VL_PROFILE=1) names the threads the backbone ran on, for
# extract and for train on videos.
# usage: cli_threads.sh VIDLSTM VIDEOS_DIR ONNX_FIXTURES_DIR (test_preprocess made the videos)
set -u
unset OMP_NUM_THREADS # the count must come from --threads alone
BIN=$1
VIDS=$2
M=$3/tiny.onnx
W=$(mktemp -d /tmp/vl_cli_threads.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
check() { if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi; }

for t in 1 3; do
  VL_PROFILE=1 "$BIN" extract --data "$VIDS" --out "$W/x$t" --backbone "$M" --no-cache --threads $t --quiet 2> "$W/err$t.txt"
  check "extract --threads $t ran ($?)" '[ -s "$W/x$t/manifest.csv" ]'
  check "extract --threads $t: the backbone ran on $t ($(grep -o 'threads [0-9]*,' "$W/err$t.txt"))" \
    'grep -q "vidlstm profile: .*backbone [0-9.]* s (threads $t," "$W/err$t.txt"'
done
VL_PROFILE=1 "$BIN" train --data "$VIDS" --out "$W/m" --backbone "$M" --no-cache --threads 1 --quiet \
  --layers mean --epochs 1 --ensemble 1 --val-fraction 0 > /dev/null 2> "$W/train.txt"
rc=$?
check "train --threads 1 ran ($rc)" '[ $rc -eq 0 ]'
check "train --threads 1: the backbone ran on 1 ($(grep -o 'threads [0-9]*,' "$W/train.txt"))" \
  'grep -q "vidlstm profile: .*backbone [0-9.]* s (threads 1," "$W/train.txt"'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
