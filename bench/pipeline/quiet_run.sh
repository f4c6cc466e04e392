#!/usr/bin/env bash
# bench/pipeline/run.sh on a quiet many-core machine, pinned to two cores
# (taskset), with the data generated there on the other cores: the same
# benchmark without the shared 2-core machine's load. Expects, beside the
# built build/vidlstm and build/bench/bench_backbone:
#   build/pb/resnet18.onnx     (a copy of build-cache/onnx/resnet18.onnx)
#   build/pb/photos.csv        name,PWD/build/pb/photos/FILE lines (PWD is
#   build/pb/photos/*          replaced by the repository root), copies of
#                              build-cache/quality/photos.csv's pictures
#   bench/pipeline/quiet_run.sh OUTDIR [run.sh options]   (default: --repeat 1)
set -uo pipefail
cd "$(dirname "$0")/../.."
O=${1:?OUTDIR}; shift
mkdir -p "$O"
echo "# probe: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), load $(cut -d' ' -f1-3 /proc/loadavg)"
bad=0
if ldd build/vidlstm | grep 'not found'; then bad=1; fi
for t in /usr/bin/ffmpeg /usr/bin/time /usr/bin/python3 taskset; do command -v $t >/dev/null || { echo "missing $t"; bad=1; }; done
/usr/bin/python3 -c 'import torch, torchvision, av, onnx, numpy' || bad=1
[ $bad = 0 ] || { echo "quiet_run.sh: this machine lacks what the benchmark needs"; exit 3; }
sed "s#,PWD/#,$PWD/#" build/pb/photos.csv > "$O/photos.csv"
D=/tmp/pbench
n=$(nproc)
t0=$(date +%s)
taskset -c 2-$((n - 1)) bench/pipeline/make_clips.sh $D/clips --photos "$O/photos.csv" --jobs $((n - 4)) > "$O/make_clips.txt" 2>&1 &
taskset -c 2-$((n - 1)) bench/pipeline/make_clips.sh $D/long_180s.mp4 --long --duration 180 --photos "$O/photos.csv" > "$O/make_long.txt" 2>&1 &
wait
echo "# data made in $(( $(date +%s) - t0 )) s: $(tail -1 "$O/make_clips.txt"); $(ls -l $D/long_180s.mp4 2>&1 | awk '{print $5}') bytes long video"
cp $D/clips/clips.tsv "$O/" 2>/dev/null
md5sum $D/clips/*/* | sed "s#$D/##" > "$O/clips.md5"
ONNX=$PWD/build/pb/resnet18.onnx taskset -c 0,1 bench/pipeline/run.sh --clips $D/clips --long $D/long_180s.mp4 \
  --repeat 1 --out "$O/results.jsonl" "$@"
