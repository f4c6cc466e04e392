#!/bin/sh
# vidlstm train's SGD-momentum steps against PyTorch (torch_train_step.py):
# the initial weights come from a run whose learning rate is too small to
# move any weight, the trained ones from 4 full-batch iterations.
# usage: torch_train_step.sh VIDLSTM GEN_SEQDATA PYTHON
set -u
BIN=$1
GEN=$2
PY=$3
if ! "$PY" -c "import torch, numpy" > /dev/null 2>&1; then
  echo "SKIP: torch_train_step: no torch/numpy in $PY"
  exit 0
fi
W=$(mktemp -d /tmp/vl_torch_step.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$GEN" "$W" > /dev/null || { echo "gen_seqdata failed"; exit 1; }
head -61 "$W/order_train.csv" > "$W/t60.csv"
C="--data $W/t60.csv --layers bigru:6,lstm:4 --optimizer sgdm --momentum 0.9 --l2 0 --batch 1000 --shuffle never
   --no-bucket --no-normalize --val-fraction 0 --seed 3 --ensemble 1 --quiet --threads 1"
"$BIN" train $C --lr 1e-12 --epochs 1 --out "$W/init.safetensors" || exit 1
"$BIN" train $C --lr 0.5 --epochs 4 --out "$W/trained.safetensors" || exit 1
"$PY" "$(dirname "$0")/torch_train_step.py" "$W/t60.csv" "$W/init.safetensors" "$W/trained.safetensors" 4 0.5
