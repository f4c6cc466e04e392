#!/usr/bin/env bash
# The default backbone's cost (builtin:motion, which looks at every decoded
# frame) next to decoding alone, on the same file, alternating runs:
#   decode:  ffmpeg -threads 0 -i FILE -map 0:v -f null -        (every frame decoded, nothing else)
#   extract: vidlstm extract --data ONE.csv --no-cache --out DIR  (decode + every frame to 128x128
#            + motion between each pair + features at 10 steps/s, written as .npy)
#   bench/bench_motion.sh [SIZE] [SECONDS] [REPEATS]    default 1920x1080 600 3
# Generates the test video once (bench/out/, testsrc2 content panned and
# zoomed so the motion estimator has real work; H.264 30 fps), prints the CPU
# and settings, one JSON line per run (wall time, peak RSS), then medians and
# the ratio extract / decode and the descriptor's cost per source frame.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1920x1080}
SECS=${2:-600}
REP=${3:-3}
VL=${VIDLSTM:-build/vidlstm}
mkdir -p bench/out
VID=bench/out/motion_${SIZE}_${SECS}s.mp4
if [ ! -s "$VID" ]; then
  echo "# generating $VID (once)" >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=${SIZE}:rate=30" -t "$SECS" \
    -vf "scale=iw*1.2:ih*1.2,crop=iw/1.2:ih/1.2:(iw-iw/1.2)/2*(1+0.8*sin(t*4)):(ih-ih/1.2)/2*(1+0.8*sin(t*11))" \
    -c:v libx264 -preset ultrafast -crf 23 -g 60 -pix_fmt yuv420p "$VID.tmp.mp4"
  mv "$VID.tmp.mp4" "$VID"
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
printf 'path,label\n%s,1\n' "$(realpath "$VID")" > "$W/one.csv"
FR=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$VID")
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(nproc) cores;" \
     "flags: $(grep -m1 -o -w -E 'avx512f|avx512_bf16|amx_bf16|avx2' /proc/cpuinfo | sort -u | xargs)"
echo "# OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}; ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3); $VID: $FR frames"
dec=() ext=()
for r in $(seq "$REP"); do
  /usr/bin/time -f '%e %M' -o "$W/t" ffmpeg -hide_banner -loglevel error -threads 0 -i "$VID" -map 0:v -f null -
  read -r t m < "$W/t"; dec+=("$t")
  echo "{\"impl\": \"decode (ffmpeg -f null)\", \"wall_s\": $t, \"peak_rss_mb\": $((m / 1024))}"
  rm -rf "$W/out"
  /usr/bin/time -f '%e %M' -o "$W/t" "$VL" extract --data "$W/one.csv" --task regress --no-cache --out "$W/out" --quiet > /dev/null
  read -r t m < "$W/t"; ext+=("$t")
  echo "{\"impl\": \"vidlstm extract (builtin:motion)\", \"wall_s\": $t, \"peak_rss_mb\": $((m / 1024))}"
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
md=$(med "${dec[@]}") me=$(med "${ext[@]}")
awk -v d="$md" -v e="$me" -v n="$FR" 'BEGIN {printf "median decode %.2f s (%.2f ms/frame), extract %.2f s: ratio %.2f; descriptor + conversion %.3f ms per source frame\n", d, 1000*d/n, e, e/d, 1000*(e-d)/n}'
