#!/bin/sh
# Two vidlstm builds give the same evaluation, byte for byte (issue 15: `eval`
# and train's held-out evaluation moved onto the library's prediction).
#
# Trains small models with build A (clip, per-frame, regression and per-frame
# regression models on generated features; the demo's clip and per-frame
# models on videos), then runs the same `eval` commands (text, --json,
# --report, --smooth, --background; feature manifests, class folders, a CSV
# of videos, labelled long videos) and the same `train` runs (their final
# held-out evaluation, the run's timings removed; without --mode on per-frame
# data), `predict --data` and `extract` (what they decide from the data's
# description) and `demo` with A and with B, and compares every output
# (130 files). One difference is intended against builds before
# `vl_data_describe`: a per-frame model evaluated on a folder of neither
# layout (emptydir.seq) now gets the labelled-folder scan's message ("no
# video files (a sequence model needs videos, each with a same-named .csv
# ...)") instead of the class-folder scan's. Not in ctest: it needs two
# builds (about two minutes on 2 quiet cores), e.g. the commit before a
# change and after it:
#   git worktree add /tmp/old HEAD~1 && cmake -S /tmp/old -B /tmp/old/build ... && cmake --build ...
#   sh tests/eval_compare.sh /tmp/old/build/vidlstm build/vidlstm build/tests/gen_seqdata
# usage: eval_compare.sh VIDLSTM_A VIDLSTM_B GEN_SEQDATA [WORKDIR]
set -u
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
A=$(abs "$1")
B=$(abs "$2")
GEN=$(abs "$3")
W=${4:-$(mktemp -d /tmp/vl_eval_compare.XXXXXX)}
mkdir -p "$W"
W=$(cd "$W" && pwd)
T="--threads 2"
"$GEN" "$W/g" > /dev/null || { echo "gen_seqdata failed"; exit 1; }
G=$W/g

# per-frame regression targets from the per-frame labels: down -> -0.5, up -> 1.5
: > "$G/frames_reg.csv"
for f in $(cut -d, -f2 "$G/frames.csv" | head -40); do
  awk -F, 'NR == 1 { print "frame,target"; next } { print $1 "," ($2 == "up" ? 1.5 : -0.5) }' "$G/$f" \
    > "$G/reg_$f"
  echo "${f%.csv}.npy,reg_$f" >> "$G/frames_reg.csv"
done

# the models, trained once with A
q="--quiet $T"
"$A" train --data "$G/order_train.csv" --layers lstm:8 --epochs 4 --lr 0.01 --ensemble 1 --out "$W/order.safetensors" $q
"$A" train --data "$G/order_train.csv" --layers gru:8 --epochs 3 --lr 0.01 --ensemble 2 --out "$W/order2.safetensors" $q
"$A" train --data "$G/frames.csv" --mode sequence --layers bilstm:8 --epochs 3 --lr 0.01 --out "$W/frames.safetensors" $q
"$A" train --data "$G/regress.csv" --task regress --layers lstm:8 --epochs 4 --lr 0.01 --out "$W/reg.safetensors" $q
"$A" train --data "$G/frames_reg.csv" --task regress --mode sequence --layers lstm:8 --epochs 3 \
  --lr 0.01 --out "$W/freg.safetensors" $q
"$A" demo --dir "$W/demo" --clips 4 --long 4 --epochs 1 $T > /dev/null 2>&1 || { echo "demo failed"; exit 1; }
D=$W/demo
mkdir -p "$W/empty_dir"
{ echo "path,label"; for v in "$D"/clips/*/*.mp4; do echo "$v,$(basename "$(dirname "$v")")"; done; } > "$W/videos.csv"
{ echo "path,labels"; for v in "$D"/long/*.mp4; do echo "$v,${v%.mp4}.csv"; done; } > "$W/long.csv"

run_all() { # BIN OUTDIR
  bin=$1
  o=$2
  rm -rf "$o"
  mkdir -p "$o"
  cd "$o" || exit 1 # relative report and model paths: the same text from both builds
  ev() { # NAME ARGS...: one eval run: stdout, stderr, exit status
    name=$1
    shift
    "$bin" eval $T "$@" > "$name.out" 2> "$name.err"
    echo "exit $?" >> "$name.err"
    sed -i '/^extracting features: /d' "$name.err" # progress: timing-dependent
  }
  for m in order order2; do
    ev "$m" --model "$W/$m.safetensors" --data "$G/order_val.csv"
    ev "$m.json" --model "$W/$m.safetensors" --data "$G/order_val.csv" --json
  done
  ev order.report --model "$W/order.safetensors" --data "$G/order_val.csv" --report "rep_order"
  ev frames --model "$W/frames.safetensors" --data "$G/frames.csv"
  ev frames.json --model "$W/frames.safetensors" --data "$G/frames.csv" --json
  ev frames.s5 --model "$W/frames.safetensors" --data "$G/frames.csv" --smooth 5
  ev frames.s9bg.json --model "$W/frames.safetensors" --data "$G/frames.csv" --smooth 9 --background down --json
  ev frames.bg1 --model "$W/frames.safetensors" --data "$G/frames.csv" --background 1 --batch 7
  ev frames.report --model "$W/frames.safetensors" --data "$G/frames.csv" --smooth 3 --report "rep_frames"
  ev frames.badbg --model "$W/frames.safetensors" --data "$G/frames.csv" --background sideways
  ev order.smooth --model "$W/order.safetensors" --data "$G/order_val.csv" --smooth 3
  ev reg --model "$W/reg.safetensors" --data "$G/regress.csv"
  ev reg.json --model "$W/reg.safetensors" --data "$G/regress.csv" --json
  ev reg.report --model "$W/reg.safetensors" --data "$G/regress.csv" --report "rep_reg"
  ev freg --model "$W/freg.safetensors" --data "$G/frames_reg.csv"
  ev freg.json --model "$W/freg.safetensors" --data "$G/frames_reg.csv" --json
  ev clipsdir --model "$D/walk-run.safetensors" --data "$D/clips" --cache "$W/cache"
  ev clipsdir.json --model "$D/walk-run.safetensors" --data "$D/clips" --cache "$W/cache" --json
  ev videos.csv --model "$D/walk-run.safetensors" --data "$W/videos.csv" --no-cache
  ev long --model "$D/activity.safetensors" --data "$D/long" --cache "$W/cache"
  ev long.json --model "$D/activity.safetensors" --data "$D/long" --cache "$W/cache" --smooth 5 --background stand \
    --json
  ev long.csv --model "$D/activity.safetensors" --data "$W/long.csv" --cache "$W/cache" --smooth 4 \
    --report "rep_long"
  ev long.asclips --model "$D/walk-run.safetensors" --data "$D/long" --cache "$W/cache"
  ev clips.asframes --model "$D/activity.safetensors" --data "$D/clips" --cache "$W/cache"
  ev feats.novideo --model "$W/order.safetensors" --data "$D/clips"
  ev missing --model "$W/order.safetensors" --data "$W/no_such.csv"
  ev emptydir --model "$D/walk-run.safetensors" --data "$W/empty_dir"
  ev emptydir.seq --model "$D/activity.safetensors" --data "$W/empty_dir"
  # what the other commands decide from the data's description
  "$bin" predict $T --model "$W/order.safetensors" --data "$G/order_val.csv" --window 12 --json > predict.feat.out \
    2>&1
  "$bin" predict $T --model "$D/walk-run.safetensors" --data "$W/videos.csv" --window 1 --json > predict.vid.out 2>&1
  "$bin" extract $T --data "$G/order_val.csv" --out ext0 > extract.feat.out 2>&1
  "$bin" extract $T --data "$D/long" --out ext1 --no-cache --quiet > extract.long.out 2>&1
  "$bin" extract $T --data "$W/long.csv" --out ext2 --no-cache --quiet > extract.longcsv.out 2>&1
  "$bin" extract $T --data "$D/clips" --out ext3 --no-cache --quiet > extract.clips.out 2>&1
  "$bin" extract $T --data "$W/empty_dir" --out ext4 --no-cache --quiet > extract.empty.out 2>&1
  for e in ext1 ext2 ext3; do sed -i "s#$W#W#g" $e/manifest.csv; done
  # train's held-out evaluation (the epoch lines carry times: only the summary, times cut)
  tr() { # NAME ARGS...
    name=$1
    shift
    "$bin" train $T --out "$name.safetensors" "$@" > "train.$name.out" 2> "train.$name.err"
    echo "exit $?" >> "train.$name.err"
    sed -i -e 's/"seconds":[0-9.e+-]*//g' -e 's/"elapsed":[0-9.e+-]*//g' -e 's/"time_s":[0-9.e+-]*//g' -e 's/ in [0-9.]* s//g' \
      -e 's/[0-9.]* s\/epoch//g' -e 's/elapsed [0-9:]*//' -e '/^extracting features: /d' "train.$name.out" \
      "train.$name.err"
    rm -f "$name.safetensors"
  }
  tr clip --data "$G/order_train.csv" --val-data "$G/order_val.csv" --layers lstm:8 --epochs 2 --ensemble 1 --json \
    --quiet
  tr clip3 --data "$G/order_train.csv" --val-data "$G/order_val.csv" --layers lstm:8 --epochs 1 --json --quiet
  tr seq --data "$G/frames.csv" --val-fraction 0.25 --mode sequence --layers bilstm:8 --epochs 2 --json \
    --report "rep_train_seq" --quiet
  tr auto_seq --data "$G/frames.csv" --val-fraction 0.25 --layers bilstm:8 --epochs 1 --json
  tr auto_vid --data "$D/long" --val-fraction 0.25 --epochs 1 --json --cache "$W/cache"
  tr auto_vidcsv --data "$W/long.csv" --val-fraction 0.25 --epochs 1 --json --cache "$W/cache"
  tr clips_as_seq --data "$D/clips" --mode sequence --epochs 1 --cache "$W/cache"
  tr reg --data "$G/regress.csv" --val-fraction 0.2 --task regress --layers lstm:8 --epochs 2 --json --quiet
  "$bin" demo --dir "$D" --clips 4 --long 4 --epochs 1 $T 2> /dev/null | sed -e 's/done in [0-9]* s/done/' \
    -e "s#$bin#BIN#" > demo.out
  rm -rf rep_train_seq/progress.svg
  find . -name report.html -exec sed -i 's/ · [0-9-]* [0-9:]* UTC//' {} + # the time it was written
  cd "$W" || exit 1
}
run_all "$A" "$W/a"
run_all "$B" "$W/b"
if diff -r "$W/a" "$W/b" > "$W/diff.txt"; then
  echo "same: $(find "$W/a" -type f | wc -l) files, every output byte-identical ($W)"
else
  echo "DIFFERENT ($W/diff.txt):"
  head -40 "$W/diff.txt"
  exit 1
fi
