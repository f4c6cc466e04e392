#!/usr/bin/env bash
# Appearance suite for reduced precision (issue 13 item 3): does a CNN
# backbone in bf16 (`--precision bf16`) give the same downstream accuracy as
# fp32? The motion suite (run.sh) cannot tell: it is built so that
# appearance carries no label, and ImageNet features sit at chance there.
# Here the label IS appearance: each class is one photograph (the quality
# suite's photos, fetch_photos.sh), the camera pans and zooms over it, and
# the test clips come from a part of the photograph no training clip shows
# (the left 55% for training, the right 40% for testing), with other
# speeds, sizes and codecs (H.264, VP9, MJPEG). Features are extracted once
# per precision; `vidlstm train` runs once per seed on each, and
# `vidlstm eval` scores the disjoint test clips.
#   bench/quality/appearance.sh --onnx resnet18.onnx [--seeds 1,2,3] [--train 8] [--test 8]
#                               [--dir DIR] [--vidlstm build/vidlstm] [--precisions "fp32 bf16"]
# Prints a table: per seed and precision, test clip accuracy; then the mean
# per precision and the difference. Videos and runs stay in DIR (default
# build-cache/quality/appearance); nothing is committed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ONNX="" SEEDS="1,2,3" NTRAIN=8 NTEST=8 DIR="$ROOT/build-cache/quality/appearance" BIN="$ROOT/build/vidlstm"
PRECS="fp32 bf16"
while [ $# -gt 0 ]; do
  case $1 in
    --onnx) ONNX=$2; shift 2 ;;
    --seeds) SEEDS=$2; shift 2 ;;
    --train) NTRAIN=$2; shift 2 ;;
    --test) NTEST=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --vidlstm) BIN=$2; shift 2 ;;
    --precisions) PRECS=$2; shift 2 ;;
    *) echo "appearance.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$ONNX" ] || { echo "usage: appearance.sh --onnx MODEL.onnx [--seeds 1,2,3]" >&2; exit 2; }
ONNX=$(realpath "$ONNX")
PHOTOS="$ROOT/build-cache/quality/photos.csv"
if [ ! -s "$PHOTOS" ]; then
  "$ROOT/bench/quality/fetch_photos.sh" > /dev/null || true
fi
[ -s "$PHOTOS" ] || { echo "SKIP: no photos (bench/quality/fetch_photos.sh)"; exit 0; }
command -v ffmpeg > /dev/null || { echo "SKIP: no ffmpeg"; exit 0; }
mkdir -p "$DIR/src" "$DIR/vid" "$DIR/runs"
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8)$' | tr '\n' ' ')"
echo "# $BIN ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)); backbone $ONNX; seeds $SEEDS; $NTRAIN train + $NTEST test clips per class"

# Deterministic pseudo-random numbers from a counter (no $RANDOM state).
rnd() { echo $(( ($(printf '%s' "$1" | cksum | cut -d' ' -f1) % $2) )); }

# 1. Each photograph once at 1280 px wide (decoding the 2560x1600 originals
#    for every frame would dominate), then the clips.
n=0
: > "$DIR/train.csv.tmp"
: > "$DIR/test.csv.tmp"
echo "path,label" >> "$DIR/train.csv.tmp"
echo "path,label" >> "$DIR/test.csv.tmp"
while IFS=, read -r name path; do
  [ -f "$path" ] || continue
  src="$DIR/src/$name.png"
  [ -s "$src" ] || ffmpeg -nostdin -loglevel error -y -i "$path" -vf "scale=1280:-2" -frames:v 1 "$src" || continue
  wh=$(ffprobe -v error -show_entries stream=width,height -of csv=p=0 "$src" < /dev/null)
  W=${wh%,*} H=${wh#*,}
  for part in train test; do
    cnt=$([ $part = train ] && echo "$NTRAIN" || echo "$NTEST")
    for i in $(seq 1 "$cnt"); do
      key="$name-$part-$i"
      out="$DIR/vid/$key"
      # window 320x240 (training) or 288x216 (testing) of a zoomed copy,
      # moving over the training or the testing part of the photograph
      zoom=$([ $part = train ] && echo $(( 100 + $(rnd "$key-z" 60) )) || echo $(( 110 + $(rnd "$key-z" 70) )))
      cw=$(( 320 * 100 / zoom )) ch=$(( 240 * 100 / zoom ))
      [ $ch -lt $H ] || ch=$(( H - 2 ))
      if [ $part = train ]; then lo=0; hi=$(( W * 55 / 100 - cw )); else lo=$(( W * 60 / 100 )); hi=$(( W - cw )); fi
      [ $hi -gt $lo ] || hi=$(( lo + 1 ))
      x0=$(( lo + $(rnd "$key-x" $(( hi - lo ))) )) y0=$(rnd "$key-y" $(( H - ch > 1 ? H - ch : 1 )))
      dx=$(( $(rnd "$key-dx" 41) - 20 )) dy=$(( $(rnd "$key-dy" 21) - 10 ))
      xe="min(max($x0+$dx*t\\,$lo)\\,$hi)" ye="min(max($y0+$dy*t\\,0)\\,$H-$ch)"
      size=$([ $part = train ] && echo "320:240" || echo "288:216")
      case $(( $(rnd "$key-c" 3) )) in
        0) ext=mp4 enc="-c:v libx264 -preset veryfast -crf 24 -pix_fmt yuv420p" ;;
        1) ext=webm enc="-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -b:v 400k -pix_fmt yuv420p" ;;
        *) ext=avi enc="-c:v mjpeg -q:v 6 -pix_fmt yuvj420p" ;;
      esac
      f="$out.$ext"
      if [ ! -s "$f" ]; then
        ffmpeg -nostdin -loglevel error -y -loop 1 -framerate 25 -i "$src" \
          -vf "crop=$cw:$ch:x='$xe':y='$ye',scale=$size,setsar=1" -t 2 -r 25 $enc -threads 1 "$f.part.$ext" &&
          mv "$f.part.$ext" "$f" || { echo "appearance.sh: ffmpeg failed on $key" >&2; exit 1; }
      fi
      echo "$f,$name" >> "$DIR/$part.csv.tmp"
    done
  done
  n=$((n + 1))
done < "$PHOTOS"
mv "$DIR/train.csv.tmp" "$DIR/train.csv"
mv "$DIR/test.csv.tmp" "$DIR/test.csv"
echo "# $n classes, $(( $(wc -l < "$DIR/train.csv") - 1 )) training clips, $(( $(wc -l < "$DIR/test.csv") - 1 )) test clips"

# 2. Train and evaluate: one feature cache per precision, one model per seed.
echo
echo "| seed | precision | train s | test clip accuracy |"
echo "|---|---|---|---|"
for seed in ${SEEDS//,/ }; do
  for p in $PRECS; do
    r="$DIR/runs/$p-s$seed"
    mkdir -p "$r"
    t0=$(date +%s.%N)
    "$BIN" train --data "$DIR/train.csv" --backbone "$ONNX" --precision "$p" --cache "$DIR/cache-$p" \
      --seed "$seed" --out "$r/model.safetensors" --quiet > "$r/train.log" 2>&1 ||
      { echo "appearance.sh: train failed ($p, seed $seed): $(tail -3 "$r/train.log")" >&2; exit 1; }
    t1=$(date +%s.%N)
    "$BIN" eval --model "$r/model.safetensors" --data "$DIR/test.csv" --cache "$DIR/cache-$p" --json \
      > "$r/eval.json" 2> "$r/eval.log" ||
      { echo "appearance.sh: eval failed ($p, seed $seed): $(tail -3 "$r/eval.log")" >&2; exit 1; }
    acc=$(grep -o '"accuracy":[0-9.eE+-]*' "$r/eval.json" | head -1 | cut -d: -f2)
    printf '| %s | %s | %.0f | %.2f%% |\n' "$seed" "$p" "$(echo "$t1 - $t0" | bc)" "$(echo "$acc * 100" | bc -l)"
    echo "$seed $p $acc" >> "$DIR/runs/results.txt.$$"
  done
done
echo
awk '{ s[$2] += $3; n[$2]++ } END { for (p in s) printf "mean %s: %.2f%% over %d seeds\n", p, 100 * s[p] / n[p], n[p] }' \
  "$DIR/runs/results.txt.$$" | sort
awk '{ s[$2] += $3; n[$2]++ } END { if (n["fp32"] && n["bf16"])
  printf "bf16 - fp32: %+.2f points\n", 100 * (s["bf16"] / n["bf16"] - s["fp32"] / n["fp32"]) }' "$DIR/runs/results.txt.$$"
rm -f "$DIR/runs/results.txt.$$"
