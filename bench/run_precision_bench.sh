#!/usr/bin/env bash
# Reduced precision (issue 13 item 3): CNN frames/s of ours in each precision
# beside ONNX Runtime (fp32, the same .onnx file), interleaved per round
# (ours fp32, ours bf16, ours int8, ORT, ours fp32, ...) so machine load hits
# all alike, plus the features' relative error ||f - f_fp32|| / ||f_fp32|| on
# the model's reference images (ONNX_DIR/<model>.input.npy, repeated to fill
# the batch), or on INPUT (e.g. photographs from bench/quality/photo_batch.py:
# int8's scales are calibrated for natural images, not the fixtures' noise).
# Prints '#' settings lines, one JSON line per run, then two '#' tables with
# the ratios: the median over rounds of each run's median, and the best (the
# fastest iteration of all rounds; on a shared, loaded machine the least
# disturbed figure).
#   bench/run_precision_bench.sh [> results.jsonl]
# Environment (defaults): MODELS="resnet18 mobilenet_v2 resnet50" BATCHES="1 16"
#   PRECISIONS="fp32 bf16 int8" INPUT=(ONNX_DIR/<model>.input.npy) ROUNDS=3 ITERS=10 THREADS=2 ONNX_DIR=build-cache/onnx
#   BIN=build/bench/bench_backbone
set -uo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-"resnet18 mobilenet_v2 resnet50"}
BATCHES=${BATCHES:-"1 16"}
PRECISIONS=${PRECISIONS:-"fp32 bf16 int8"}
INPUT=${INPUT:-}
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-10}
THREADS=${THREADS:-2}
ONNX_DIR=${ONNX_DIR:-build-cache/onnx}
BIN=${BIN:-build/bench/bench_backbone}
NODE=${NODE:-node}
CLEAN=(env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u LD_PRELOAD -u MALLOC_CONF)

[ -x "$BIN" ] || { echo "run_precision_bench.sh: $BIN not built (cmake --build build --target bench_backbone)" >&2; exit 1; }
have_ort=0 ort_ver="(missing)"
if command -v "$NODE" >/dev/null 2>&1 &&
   ort_ver=$(cd bench && "$NODE" -e 'console.log(require("onnxruntime-node/package.json").version)' 2>/dev/null); then
  have_ort=1
else
  ort_ver="(missing)"
  echo "# onnxruntime: skipped (onnxruntime-node not installed: cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install)"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# machine: nproc $(nproc), $(lscpu | grep -m1 'Model name' | cut -d: -f2 | xargs), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8|amx_tile)$' | xargs)"
echo "# settings: threads=$THREADS iters=$ITERS rounds=$ROUNDS (median per run; 2 warm-up runs each) OMP_NUM_THREADS=${OMP_NUM_THREADS:-(unset)} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-(unset)} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-(unset)}"
echo "# versions: onnxruntime-node $ort_ver (node $("$NODE" -v 2>/dev/null || echo missing)), oneDNN $(dpkg-query -W -f '${Version}' libdnnl2 2>/dev/null || echo '?')"
echo "# ours: $BIN (graph up to the default tap), precisions $PRECISIONS; onnxruntime: fp32, full graph (logits)"
echo "# relerr input: ${INPUT:-ONNX_DIR/MODEL.input.npy of each model}"

for model in $MODELS; do
  f="$ONNX_DIR/$model.onnx"
  [ -f "$f" ] || { echo "# $model: $f missing (/usr/bin/python3 tests/fixtures/onnx/gen_onnx.py --large --only $model)"; continue; }
  in=${INPUT:-"$ONNX_DIR/$model.input.npy"}
  [ -f "$in" ] && inarg=(--input "$in") || inarg=()
  for b in $BATCHES; do
    for r in $(seq "$ROUNDS"); do
      for p in $PRECISIONS; do
        "$BIN" "$f" --batch "$b" --iters "$ITERS" --threads "$THREADS" --precision "$p" "${inarg[@]}" --json |
          sed "s/^{/{\"round\": $r, /" | tee -a "$out"
      done
      if [ $have_ort = 1 ]; then
        "${CLEAN[@]}" "$NODE" bench/ort_ref.js "$f" --batch "$b" --iters "$ITERS" --threads "$THREADS" |
          sed "s/^{/{\"round\": $r, /" | tee -a "$out"
      fi
    done
  done
done

python3 - "$out" "$PRECISIONS" <<'EOF'
import json, os, statistics, sys
runs = {}
best = {}
err = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    key = (os.path.basename(r["model"]).replace(".onnx", ""), r["batch"])
    impl = r["impl"] if r["impl"] != "vidlstm" else r.get("precision", "fp32")
    runs.setdefault(key, {}).setdefault(impl, []).append(r["frames_per_s"])
    if "min_ms" in r:
        best.setdefault(key, {}).setdefault(impl, []).append(r["batch"] / (r["min_ms"] / 1e3))
    if "relerr_vs_fp32" in r:
        err.setdefault(key, {}).setdefault(impl, []).append(r["relerr_vs_fp32"])
precs = sys.argv[2].split()
cols = precs + ["onnxruntime"]
both = "int8" in precs and "bf16" in precs
def table(title, data, agg):
  print(f"# {title}; relerr = ||f - f_fp32|| / ||f_fp32|| of the features")
  print("# model         batch " + " ".join(f"{c:>10s}" for c in cols) + "  " +
        " ".join(f"{p + '/fp32':>10s} {p + '/ORT':>10s}" for p in precs) +
        (f" {'int8/bf16':>10s}" if both else "") + "  relerr")
  for (m, b), d in data.items():
    med = {c: agg(d[c]) if c in d else None for c in cols}
    cells = " ".join(f"{med[c]:10.1f}" if med[c] else f"{'-':>10s}" for c in cols)
    rat = []
    for p in precs:
        a, f32, ort = med.get(p), med.get("fp32"), med.get("onnxruntime")
        rat.append(f"{a / f32:9.2f}x" if a and f32 else f"{'-':>10s}")
        rat.append(f"{a / ort:9.2f}x" if a and ort else f"{'-':>10s}")
    if both:
        a, bf = med.get("int8"), med.get("bf16")
        rat.append(f"{a / bf:9.2f}x" if a and bf else f"{'-':>10s}")
    e = " ".join(f"{p}:{statistics.median(v):.2g}" for p, v in err.get((m, b), {}).items())
    print(f"# {m:13s} {b:5d} {cells}  {' '.join(rat)}  {e}")
table("median over rounds of each run's median, frames/s", runs, statistics.median)
if best:
  table("best: fastest iteration over all rounds, frames/s", best, max)
EOF
