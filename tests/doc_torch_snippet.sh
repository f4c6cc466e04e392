#!/bin/sh
# docs/model-format.md's PyTorch loader, run as printed (doc_torch_snippet.py),
# on models `vidlstm train` wrote: LSTM, GRU, BiLSTM, LSTM + mean, mean only,
# per-frame (sequence), a 3-member ensemble, regression; against
# vl_model_predict (model_predict_npy).
# usage: doc_torch_snippet.sh VIDLSTM GEN_SEQDATA MODEL_PREDICT_NPY PYTHON DOC
set -u
BIN=$1
GEN=$2
PRED=$3
PY=$4
DOC=$5
if ! "$PY" -c "import torch, numpy" > /dev/null 2>&1; then
  echo "SKIP: doc_torch_snippet: no torch/numpy in $PY"
  exit 0
fi
W=$(mktemp -d /tmp/vl_doc_snippet.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$GEN" "$W" > /dev/null || { echo "gen_seqdata failed"; exit 1; }
head -41 "$W/order_train.csv" > "$W/o40.csv"
head -21 "$W/frames.csv" > "$W/f20.csv"
head -41 "$W/regress.csv" > "$W/r40.csv"
# sequences of different lengths, from each data set
CLIPS=$(sed -n '2,7p' "$W/order_val.csv" | cut -d, -f1 | sed "s|^|$W/|")
FRAMES=$(sed -n '22,26p' "$W/frames.csv" | cut -d, -f1 | sed "s|^|$W/|")
REGS=$(sed -n '42,46p' "$W/regress.csv" | cut -d, -f1 | sed "s|^|$W/|")
C="--epochs 2 --lr 0.01 --val-fraction 0 --quiet --threads 1"
fail=0
run() { # name data layers extra... ; inputs in $XS
  name=$1 data=$2 layers=$3
  shift 3
  if ! "$BIN" train --data "$data" --layers "$layers" --out "$W/$name.safetensors" $C "$@" > "$W/$name.log" 2>&1; then
    echo "FAIL $name: train: $(cat "$W/$name.log")"
    fail=1
    return
  fi
  mkdir -p "$W/ref_$name"
  # shellcheck disable=SC2086
  "$PRED" "$W/$name.safetensors" "$W/ref_$name" $XS || { fail=1; return; }
  # shellcheck disable=SC2086
  "$PY" "$(dirname "$0")/doc_torch_snippet.py" "$DOC" "$W/$name.safetensors" "$W/ref_$name" $XS || fail=1
}
XS=$CLIPS
run lstm "$W/o40.csv" lstm:8 --ensemble 1
run gru "$W/o40.csv" gru:8 --ensemble 1
run bilstm "$W/o40.csv" bilstm:6,dropout:0.2 --ensemble 1
run lstm_mean "$W/o40.csv" lstm:8,mean --ensemble 1
run bilstm_mean "$W/o40.csv" bilstm:5,mean --ensemble 1
run mean_only "$W/o40.csv" mean --ensemble 1
run ensemble "$W/o40.csv" bigru:6,lstm:4 --ensemble 3
run no_norm "$W/o40.csv" gru:6 --ensemble 1 --no-normalize
XS=$FRAMES
run frames "$W/f20.csv" bilstm:6 --mode sequence --ensemble 1
run frames_ens "$W/f20.csv" gru:6 --mode sequence --ensemble 2
XS=$REGS
run regress "$W/r40.csv" lstm:6 --task regress --ensemble 2
exit $fail
