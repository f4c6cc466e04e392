#!/usr/bin/env bash
# Video ingestion: ours next to the ffmpeg command line on the same file.
#   bench/bench_video.sh [MINUTES] [REPEATS]      default: 10 minutes, 3 repeats
# Generates (once, cached in bench/out/) a MINUTES-long 1920x1080 30 fps H.264
# video with moving content, then alternates runs of
#   build/bench/bench_video FILE --fps 5 --size 224
#   ffmpeg -i FILE -vf fps=5,scale=224:224:flags=bilinear -f rawvideo -pix_fmt rgb24 -y /dev/null
# and prints wall time and peak RSS (GNU time) for each, as JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
MIN=${1:-10}
REP=${2:-3}
mkdir -p bench/out
VID=bench/out/bench_${MIN}min_1080p.mp4
if [ ! -s "$VID" ]; then
  echo "# generating $VID (once)" >&2
  ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30" -t $((MIN * 60)) \
    -c:v libx264 -preset ultrafast -crf 23 -g 60 -pix_fmt yuv420p "$VID.tmp.mp4"
  mv "$VID.tmp.mp4" "$VID"
fi
echo "# $(nproc) cores; ffmpeg $(ffmpeg -version | head -1 | cut -d' ' -f3); file $VID"
for r in $(seq "$REP"); do
  build/bench/bench_video "$VID" --fps 5 --size 224   # prints its own JSON line, peak RSS included
  t0=$(date +%s.%N)
  /usr/bin/time -f '%M' -o bench/out/rss.txt ffmpeg -hide_banner -loglevel error -i "$VID" \
    -vf fps=5,scale=224:224:flags=bilinear -f rawvideo -pix_fmt rgb24 -y /dev/null
  t1=$(date +%s.%N)
  rss=$(cat bench/out/rss.txt)
  echo "{\"impl\": \"ffmpeg\", \"wall_s\": $(echo "$t1 - $t0" | bc -l | xargs printf '%.2f'), \"peak_rss_mb\": $((rss / 1024))}"
done
