#!/usr/bin/env bash
# Two builds of vidlstm side by side (e.g. before and after a redesign that
# must not make any figure worse: issue 15): each command runs with the new
# build (A) and the old one (B) in turn, A B A B ..., through farm-bench,
# which prints min/median/max wall, CPU and peak memory and the A/B ratio
# pair by pair.
#   bench/compare_builds.sh NEW_BUILD_DIR OLD_BUILD_DIR --clips DIR --onnx resnet18.onnx [--runs 5]
# The clips: a class-folder tree (bench/pipeline/make_clips.sh). Commands:
# extract (ResNet-18, --no-cache), train on the extracted features, predict
# one clip with that model, bench_backbone (the CNN alone, batch 16) and
# bench_rnn (d) and (a) (one training step, medians printed by the program).
set -u
NEW=$1 OLD=$2
shift 2
CLIPS="" ONNX="" RUNS=5
while [ $# -gt 0 ]; do
  case $1 in
    --clips) CLIPS=$2; shift 2 ;;
    --onnx) ONNX=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "compare_builds.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$CLIPS" ] && [ -n "$ONNX" ] || { echo "usage: compare_builds.sh NEW OLD --clips DIR --onnx M.onnx" >&2; exit 2; }
command -v farm-bench > /dev/null || { echo "compare_builds.sh: needs farm-bench" >&2; exit 2; }
W=$(mktemp -d /tmp/vl_cmp.XXXXXX)
trap 'rm -rf "$W"' EXIT
echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //');" \
     "OMP_NUM_THREADS=${OMP_NUM_THREADS:-(unset)} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
echo "# A = $NEW, B = $OLD"
# features and a model, made once with the old build, used by both
"$OLD/vidlstm" extract --data "$CLIPS" --backbone "$ONNX" --out "$W/x" --no-cache --quiet
"$OLD/vidlstm" train --data "$W/x/manifest.csv" --out "$W/m.safetensors" --quiet > /dev/null
clip=$(find "$CLIPS" -type f \( -name '*.mp4' -o -name '*.webm' -o -name '*.avi' \) | sort | head -1)
# one TITLE B_COMMAND_STRING A_COMMAND...
one() {
  echo
  echo "## $1"
  local b=$2
  shift 2
  farm-bench -n "$RUNS" --timeout 1800 --vs "$b" -- "$@"
}
one "extract (ResNet-18, --no-cache)" \
  "sh -c 'rm -rf $W/xb; exec $OLD/vidlstm extract --data $CLIPS --backbone $ONNX --out $W/xb --no-cache --quiet'" \
  sh -c "rm -rf $W/xa; exec $NEW/vidlstm extract --data $CLIPS --backbone $ONNX --out $W/xa --no-cache --quiet"
one "train on the features (defaults)" "$OLD/vidlstm train --data $W/x/manifest.csv --out $W/mb.safetensors --quiet" \
  "$NEW/vidlstm" train --data "$W/x/manifest.csv" --out "$W/ma.safetensors" --quiet
one "predict one clip" "$OLD/vidlstm predict --model $W/m.safetensors $clip" \
  "$NEW/vidlstm" predict --model "$W/m.safetensors" "$clip"
[ "${SKIP_PROGRAMS:-0}" = 1 ] && exit 0
for c in "bench_backbone $ONNX --batch 16 --iters 10" "bench_rnn --config d --iters 100 --no-peak" "bench_rnn --config a --iters 3 --no-peak"; do
  set -- $c
  prog=$1
  shift
  echo
  echo "## $prog $*"
  for r in 1 2 3; do
    echo "A: $("$NEW/bench/$prog" "$@" 2>&1 | tail -1)"
    echo "B: $("$OLD/bench/$prog" "$@" 2>&1 | tail -1)"
  done
done
