#!/usr/bin/env bash
# CNN backbone frames/s: ours (bench_backbone), ONNX Runtime (bench/ort_ref.js) and
# PyTorch (bench/torch_backbone_ref.py) on the same .onnx files / architectures,
# in one session, alternating per configuration. Prints '#' settings lines, one
# JSON line per run, then a '#' summary table with ratios.
#   bench/run_backbone_bench.sh [> results.jsonl]
# Environment (defaults): MODELS="resnet18 mobilenet_v2" BATCHES="1 16" ITERS=10
#   THREADS=2 ONNX_DIR=build-cache/onnx (tests/fixtures/onnx/gen_onnx.py --large)
#   BIN=build/bench/bench_backbone TORCH_VARIANTS=plain,channels_last (add ,frozen
#   for torch.jit.freeze + optimize_for_inference) SKIP_AS_INSTALLED=1.
# What each runs:
#   ours         the ONNX graph up to bench_backbone's default tap (the pooled feature).
#   onnxruntime  onnxruntime-node (CPU EP, intra-op T threads, inter-op 1, optimisation 'all'),
#                the whole graph: ORT only returns graph outputs, so it includes the final
#                Gemm (feature -> 1000 logits, <0.1% of the FLOPs).
#                Install: cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install
#   pytorch      the torchvision architecture (random init), eval() + no_grad(),
#                torch.set_num_threads(T), classifier = Identity (the same feature as ours);
#                as-installed, and tuned (OPENBLAS_NUM_THREADS=1, jemalloc preloaded), as in
#                bench/run_bench.sh: OpenBLAS's own threads otherwise fight PyTorch's OpenMP
#                threads on the 1x1 convs that PyTorch sends to its slow (im2col+GEMM) path.
# Each reference is skipped with a message if it is not installed.
set -uo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-"resnet18 mobilenet_v2"}
BATCHES=${BATCHES:-"1 16"}
ITERS=${ITERS:-10}
THREADS=${THREADS:-2}
ONNX_DIR=${ONNX_DIR:-build-cache/onnx}
BIN=${BIN:-build/bench/bench_backbone}
TORCH_VARIANTS=${TORCH_VARIANTS:-plain,channels_last}
PY=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-node}
JEMALLOC=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null || true)
JEMALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1"
CLEAN=(env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u LD_PRELOAD -u MALLOC_CONF)

[ -x "$BIN" ] || { echo "run_backbone_bench.sh: $BIN not built (cmake --build build --target bench_backbone)" >&2; exit 1; }

have_ort=0 ort_ver="(missing)"
if ! command -v "$NODE" >/dev/null 2>&1; then
  echo "# onnxruntime: skipped (node not found)"
elif ort_ver=$(cd bench && "$NODE" -e 'console.log(require("onnxruntime-node/package.json").version)' 2>/dev/null); then
  have_ort=1
else
  ort_ver="(missing)"
  echo "# onnxruntime: skipped (onnxruntime-node not installed: cd bench && ONNXRUNTIME_NODE_INSTALL=skip npm install)"
fi
have_torch=0 torch_ver="(missing)"
if torch_ver=$("$PY" -c 'import torch, torchvision; print(torch.__version__, "torchvision", torchvision.__version__)' 2>/dev/null); then
  have_torch=1
else
  torch_ver="(missing)"
  echo "# pytorch: skipped ($PY cannot import torch/torchvision: apt-get install python3-torch python3-torchvision)"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# settings: threads=$THREADS iters=$ITERS (median; 2 warm-up runs each) OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-(unset)} OMP_NUM_THREADS=${OMP_NUM_THREADS:-(unset)}"
echo "# versions: onnxruntime-node $ort_ver (node $("$NODE" -v 2>/dev/null || echo missing)); pytorch $torch_ver; jemalloc ${JEMALLOC:-(missing)}"
echo "# ours: $BIN (graph up to default tap); onnxruntime: full graph (logits); pytorch: classifier = Identity, variants $TORCH_VARIANTS"

for model in $MODELS; do
  f="$ONNX_DIR/$model.onnx"
  [ -f "$f" ] || { echo "# $model: $f missing (/usr/bin/python3 tests/fixtures/onnx/gen_onnx.py --large --only $model)"; continue; }
  # input size and layout: TF.js imports (import-tfjs) keep TF.js's NHWC input
  case $model in
    movenet_lightning) sz=192 nhwc=1 ;;
    movenet_thunder) sz=256 nhwc=1 ;;
    mobilenetv2_trunk) sz=224 nhwc=1 ;;
    *) sz=224 nhwc=0 ;;
  esac
  for b in $BATCHES; do
    "$BIN" "$f" --batch "$b" --iters "$ITERS" --threads "$THREADS" --size $sz --json | tee -a "$out"
    if [ $have_ort = 1 ]; then
      "${CLEAN[@]}" "$NODE" bench/ort_ref.js "$f" --batch "$b" --iters "$ITERS" --threads "$THREADS" --size $sz \
        $([ $nhwc = 1 ] && echo --nhwc 1) | tee -a "$out"
    fi
    case $model in # PyTorch rebuilds torchvision architectures only (imported TF.js models have no twin there)
      resnet18|resnet50|mobilenet_v2|googlenet|efficientnet_b0|squeezenet1_1) torch_ok=$have_torch ;;
      *) torch_ok=0 ;;
    esac
    if [ $torch_ok = 1 ]; then
      targs=("$model" --batch "$b" --iters "$ITERS" --threads "$THREADS" --variants "$TORCH_VARIANTS")
      if [ -z "${SKIP_AS_INSTALLED:-}" ]; then
        "${CLEAN[@]}" "$PY" bench/torch_backbone_ref.py "${targs[@]}" | sed 's/^{"impl": "pytorch", /{"impl": "pytorch", "env": "as-installed", /' | tee -a "$out"
      fi
      "${CLEAN[@]}" OPENBLAS_NUM_THREADS=1 ${JEMALLOC:+LD_PRELOAD="$JEMALLOC" MALLOC_CONF="$JEMALLOC_CONF"} \
        "$PY" bench/torch_backbone_ref.py "${targs[@]}" | sed 's/^{"impl": "pytorch", /{"impl": "pytorch", "env": "tuned", /' | tee -a "$out"
    fi
  done
done

# Summary: frames/s and ratios (ours / reference). "pytorch best" = fastest PyTorch line.
python3 - "$out" <<'EOF'
import json, os, sys
rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    key = (os.path.basename(r["model"]).replace(".onnx", ""), r["batch"])
    d = rows.setdefault(key, {})
    if r["impl"] == "pytorch":
        d.setdefault("pytorch", []).append((r["frames_per_s"], f'{r["variant"]}/{r["env"]}'))
    else:
        d[r["impl"]] = r["frames_per_s"]
f = lambda v: f"{v:8.1f}" if v else "       -"
q = lambda a, b: f"{a / b:6.2f}x" if a and b else "      -"
print("# model         batch    ours     ORT  pt-plain  pt-best (variant)                   ours/ORT ours/pt-plain ours/pt-best")
for (m, b), d in rows.items():
    ours, ort = d.get("vidlstm"), d.get("onnxruntime")
    pt = d.get("pytorch", [])
    plain = max((v for v, n in pt if n.startswith("plain/")), default=None)
    best = max(pt, default=(None, "-"))
    print(f"# {m:13s} {b:5d} {f(ours)} {f(ort)} {f(plain)} {f(best[0])} ({best[1]:26s}) {q(ours, ort)} {q(ours, plain):>13s} {q(ours, best[0]):>12s}")
EOF
