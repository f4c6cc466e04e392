#!/bin/sh
# Hostile use of the command line (issue 12): outputs that are inputs or each
# other, symlinks and devices as outputs, class names that are not UTF-8, NUL
# bytes in CSV fields, write errors on stdout (/dev/full), damaged feature
# cache entries, and the errors that used to mislead. Every refusal must exit
# non-zero with one clear message and leave every file as it was.
# usage: cli_hostile.sh VIDLSTM GEN_SEQDATA ONNX_FIXTURE_DIR
set -u
BIN=$1
GEN=$2
FIX=$3
W=$(mktemp -d /tmp/vl_hostile.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
"$GEN" "$W" > /dev/null || { echo "gen_seqdata failed"; exit 1; }
T="--threads 2 --quiet --epochs 1 --ensemble 1 --layers lstm:4"
M="$W/order_train.csv"
cp "$M" "$W/manifest.orig"
same_manifest() { cmp -s "$M" "$W/manifest.orig"; }

# refused: exit 1, the message, and nothing touched. usage: refused NAME PATTERN cmd...
refused() {
  name=$1 pat=$2
  shift 2
  "$@" > "$W/out.txt" 2> "$W/err.txt"
  rc=$?
  check "$name: exits non-zero (rc $rc)" '[ $rc -ne 0 ]'
  check "$name: one error line matching '$pat' ($(cat "$W/err.txt"))" \
    '[ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -q "$pat" "$W/err.txt"'
}

# 1. --checkpoint and --out the same file; --checkpoint the manifest
echo keep > "$W/x.st"
refused "--checkpoint X --out X" "same file" "$BIN" train --data "$M" --checkpoint "$W/x.st" --out "$W/x.st" $T
check "X is untouched" '[ "$(cat "$W/x.st")" = keep ]'
refused "--checkpoint = the manifest" "same file" "$BIN" train --data "$M" --checkpoint "$M" --out "$W/m1.st" $T
check "the manifest is untouched" 'same_manifest && [ ! -e "$W/m1.st" ]'
refused "--report = --out" "same file" "$BIN" train --data "$M" --report "$W/r.st" --out "$W/r.st" $T

# 2. --out naming an input (also through another path or a hard link)
refused "--out = the manifest" "same file" "$BIN" train --data "$M" --out "$M" $T
refused "--out = the manifest by another path" "same file" "$BIN" train --data "$M" --out "$W/../${W##*/}/./order_train.csv" $T
ln "$M" "$W/hardlink.csv"
refused "--out = a hard link to the manifest" "same file" "$BIN" train --data "$M" --out "$W/hardlink.csv" $T
cp "$W/otr0003.npy" "$W/npy.orig"
refused "--out = a .npy feature file of the manifest" "same file" "$BIN" train --data "$M" --out "$W/otr0003.npy" $T
check "the .npy is untouched" 'cmp -s "$W/otr0003.npy" "$W/npy.orig"'
refused "--out = --val-data" "same file" "$BIN" train --data "$M" --val-data "$W/order_val.csv" --out "$W/order_val.csv" $T
printf 'otr0000.npy,val\n' > "$W/split.txt"
refused "--out = --split-file" "same file" "$BIN" train --data "$M" --split-file "$W/split.txt" --out "$W/split.txt" $T
check "the split file is untouched" '[ "$(cat "$W/split.txt")" = "otr0000.npy,val" ]'
cp "$FIX/tiny.onnx" "$W/bb.onnx"
refused "--out = the backbone file" "same file" "$BIN" train --data "$M" --backbone "$W/bb.onnx" --out "$W/bb.onnx" $T
check "the backbone is untouched" 'cmp -s "$W/bb.onnx" "$FIX/tiny.onnx"'
refused "infer --out = --input" "same file" "$BIN" infer "$FIX/tiny.onnx" --input "$W/otr0003.npy" --out "$W/otr0003.npy"
check "infer's input is untouched" 'cmp -s "$W/otr0003.npy" "$W/npy.orig"'
mkdir -p "$W/vd"
refused "extract --out = --data" "same file" "$BIN" extract --data "$W/vd" --out "$W/vd" --quiet
check "extract wrote nothing into the data folder" '[ -z "$(ls "$W/vd")" ]'
refused "eval --report = the model" "not a folder" "$BIN" eval --model "$W/bb.onnx" --data "$M" --report "$W/bb.onnx"

# symlinks and devices: refused, left as they were
echo target > "$W/target"
ln -s "$W/target" "$W/link.st"
refused "--out a symlink" "symbolic link" "$BIN" train --data "$M" --out "$W/link.st" $T
check "the symlink and its target are untouched" '[ -L "$W/link.st" ] && [ "$(cat "$W/target")" = target ]'
mkfifo "$W/fifo.st"
refused "--out a named pipe" "named pipe" "$BIN" train --data "$M" --out "$W/fifo.st" $T
check "the pipe is still a pipe" '[ -p "$W/fifo.st" ]'
# (not /dev/null itself: a regression run as root would replace it for the
# whole machine; a named pipe takes the same path through the check)
refused "--checkpoint a named pipe" "named pipe" "$BIN" train --data "$M" --checkpoint "$W/fifo.st" --out "$W/m2.st" $T
check "the pipe is still a pipe" '[ -p "$W/fifo.st" ]'

# the same run with distinct paths works (the checks do not refuse too much)
"$BIN" train --data "$M" --out "$W/good.st" --report "$W/rep" $T > /dev/null 2> "$W/err.txt"
check "a plain run still trains ($(cat "$W/err.txt"))" '[ -s "$W/good.st" ] && [ -s "$W/rep/report.html" ]'

# 3. class names: not UTF-8, NUL bytes
printf 'path,label\notr0000.npy,up\notr0001.npy,do\377wn\notr0002.npy,up\n' > "$W/latin.csv"
refused "a 0xFF byte in a CSV label" "latin.csv:3: the label is not valid UTF-8 (byte 2 .*0xFF)" \
  "$BIN" train --data "$W/latin.csv" --out "$W/latin.st" $T
check "no model written for it" '[ ! -e "$W/latin.st" ]'
printf 'path,label\notr0000.npy,up\notr0001.npy,r\000un\notr0002.npy,up\n' > "$W/nul.csv"
refused "a NUL byte in a CSV label" "nul.csv:3: field 2 contains a NUL byte" \
  "$BIN" train --data "$W/nul.csv" --out "$W/nul.st" $T
check "no model written for it" '[ ! -e "$W/nul.st" ]'
# a control character is legal in a label: escaped in the model's JSON, read back
printf 'path,label\notr0000.npy,up\notr0001.npy,"a\tb"\notr0002.npy,up\notr0003.npy,"a\tb"\n' > "$W/tab.csv"
"$BIN" train --data "$W/tab.csv" --out "$W/tab.st" --val-fraction 0 $T > /dev/null 2>&1
check "a label with a tab trains and info reads the model back" '"$BIN" info "$W/tab.st" > /dev/null'

# 4. write errors on stdout
if [ -w /dev/full ]; then
  for c in "info $W/good.st" "backbones" "backbones --json" "eval --model $W/good.st --data $W/order_val.csv --json" \
           "predict --model $W/good.st $W/otr0001.npy"; do
    refused "$c > /dev/full" "cannot write to standard output" sh -c "\"$BIN\" $c > /dev/full"
  done
  # train stops at the first JSON line it cannot write, not after the whole run
  refused "train --json > /dev/full" "cannot write to standard output: .*stopped at epoch 1" \
    sh -c "\"$BIN\" train --data \"$M\" --out \"$W/full.st\" --json $T --epochs 500 > /dev/full"
  check "no model written for it" '[ ! -e "$W/full.st" ]'

else
  echo "skip: no writable /dev/full"
fi

# 7, 8, 9: errors that say what is wrong
printf '\211PNG\r\n\032\n0000000000' > "$W/img.npy"
printf 'path,label\nimg.npy,up\notr0001.npy,down\n' > "$W/img.csv"
refused "a PNG given as features" "is an image (PNG), not a .npy feature file" "$BIN" train --data "$W/img.csv" --out "$W/img.st" $T
printf '\000\000\000\030ftypisom0000' > "$W/vid.npy"
printf 'path,label\nvid.npy,up\notr0001.npy,down\n' > "$W/vid.csv"
refused "a video given as features" "is a video (MP4/MOV).*pass a video as a video" "$BIN" train --data "$W/vid.csv" --out "$W/vid.st" $T
refused "--layers lstm:1000000" "lstm:1000000: the hidden size must be 1 to 65536" \
  "$BIN" train --data "$M" --out "$W/big.st" --threads 2 --layers lstm:1000000
if grep -q MemAvailable /proc/meminfo 2> /dev/null; then
  # about 2 TB: more than any machine running this has
  refused "a hidden size that cannot fit in memory" "needs about [0-9.]* GB.*GB available" \
    "$BIN" train --data "$M" --out "$W/big.st" --threads 2 --layers bilstm:65536,bilstm:65536 --quiet
fi

# 6. an empty class folder names the folder and the extensions looked for
mkdir -p "$W/vids/walk" "$W/vids/run"
: > "$W/vids/walk/a.mp4"
echo notes > "$W/vids/run/readme.txt"
refused "an empty class folder" "vids/run: class folder has no video files (.mp4 " \
  "$BIN" train --data "$W/vids" --out "$W/e.st" --cache "$W/cache" --quiet

# videos (generated with ffmpeg when present): a Latin-1 class folder; a
# damaged or old-format feature cache entry is recomputed
if command -v ffmpeg > /dev/null 2>&1; then
  mkdir -p "$W/v/walk" "$W/v/caf$(printf '\351')"
  for i in 1 2; do
    ffmpeg -loglevel error -f lavfi -i testsrc=size=64x48:rate=10:duration=1 -vf "hue=h=$((i * 40))" \
      -pix_fmt yuv420p "$W/v/walk/w$i.mp4"
    ffmpeg -loglevel error -f lavfi -i testsrc2=size=64x48:rate=10:duration=1 -vf "hue=h=$((i * 40))" \
      -pix_fmt yuv420p "$W/v/caf$(printf '\351')/c$i.mp4"
  done
  refused "a Latin-1 class folder" "not valid UTF-8: byte 3 is 0xE9" \
    "$BIN" train --data "$W/v" --out "$W/latin1.st" --cache "$W/vcache" $T
  check "no model written for it" '[ ! -e "$W/latin1.st" ]'
  mv "$W/v/caf$(printf '\351')" "$W/v/cafe"
  "$BIN" extract --data "$W/v" --out "$W/x1" --cache "$W/vcache" --quiet
  "$BIN" extract --data "$W/v" --out "$W/x0" --no-cache --quiet
  check "cached and uncached features agree" 'for f in "$W"/x0/features/*.npy; do cmp -s "$f" "$W/x1/features/${f##*/}" || exit 1; done'
  e=$(ls "$W"/vcache/*.npy | head -1)
  sz=$(wc -c < "$e")
  # flip one byte of the last feature value, keeping the size
  printf '\377' | dd of="$e" bs=1 seek=$((sz - 2)) conv=notrunc 2> /dev/null
  check "the damaged entry keeps its size" '[ "$(wc -c < "$e")" -eq "$sz" ]'
  "$BIN" extract --data "$W/v" --out "$W/x2" --cache "$W/vcache" 2> "$W/err.txt"
  check "a damaged cache entry is noted ($(cat "$W/err.txt"))" 'grep -q "fail their checksum" "$W/err.txt"'
  check "and recomputed: features identical to a clean run" \
    'for f in "$W"/x0/features/*.npy; do cmp -s "$f" "$W/x2/features/${f##*/}" || exit 1; done'
  check "the entry was rewritten" '"$BIN" extract --data "$W/v" --out "$W/x3" --cache "$W/vcache" 2>&1 | grep -vq checksum'
  fr=$(ls "$W"/vcache/*.frames | head -1)
  printf 'VLFRM001' | dd of="$fr" bs=1 conv=notrunc 2> /dev/null
  "$BIN" extract --data "$W/v" --out "$W/x4" --cache "$W/vcache" 2> "$W/err.txt"
  check "an old-format entry is recomputed: features identical to a clean run" \
    'for f in "$W"/x0/features/*.npy; do cmp -s "$f" "$W/x4/features/${f##*/}" || exit 1; done && grep -q "4/4 clips.*3 cached" "$W/err.txt"'
else
  echo "skip: no ffmpeg (video cases)"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
