#!/usr/bin/env bash
# The quality suite: head-camera videos rendered from real photographs by
# bench/quality/headcam (independent of src/demo), trained and evaluated with
# vidlstm for each dataset x split x configuration (x seed). See README.md.
#
#   bench/quality/run.sh [--reduced] [--config NAME=FLAGS ...] [--seeds 1,2,3]
#                        [--datasets walkrun,walkrunstand,frames] [--splits scene-disjoint,scene-balanced]
#                        [--vidlstm PATH] [--headcam PATH] [--suite DIR] [--cache DIR] [--gen-seed N]
#                        [--no-groups] [--only-named]
#                        [--check|--check-mean [--min-walkrun A] [--min-walkrunstand A] [--min-frames A]
#                                 [--check-config NAME] [--check-split SPLIT]]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

REDUCED=0; SEEDS=""; VIDLSTM=build/vidlstm; HEADCAM=build/bench/headcam; SUITE=""; CACHE=""; GENSEED=1
DATASETS="walkrun,walkrunstand,frames"; SPLITS="scene-disjoint,scene-balanced"
CHECK=0; CHECK_MEAN=0; MIN_WR=0.75; MIN_WRS=0.65; MIN_FR=0.5; CHECK_CONFIG=ego-motion; CHECK_SPLIT=scene-disjoint
CONFIGS=(); USER_CONFIGS=0; USE_GROUPS=1; ONLY_NAMED=0
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.0f", b-a}'; }
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --reduced) REDUCED=1 ;;
    --config) CONFIGS+=("$2"); USER_CONFIGS=1; shift ;;
    --seeds) SEEDS="$2"; shift ;;
    --datasets) DATASETS="$2"; shift ;;
    --splits) SPLITS="$2"; shift ;;
    --vidlstm) VIDLSTM="$2"; shift ;;
    --headcam) HEADCAM="$2"; shift ;;
    --suite) SUITE="$2"; shift ;;
    --cache) CACHE="$2"; shift ;;
    --gen-seed) GENSEED="$2"; shift ;;
    --check) CHECK=1 ;;
    --check-mean) CHECK=1; CHECK_MEAN=1 ;;
    --no-groups) USE_GROUPS=0 ;;
    --only-named) ONLY_NAMED=1 ;;
    --min-walkrun) MIN_WR="$2"; shift ;;
    --min-walkrunstand) MIN_WRS="$2"; shift ;;
    --min-frames) MIN_FR="$2"; shift ;;
    --check-config) CHECK_CONFIG="$2"; shift ;;
    --check-split) CHECK_SPLIT="$2"; shift ;;
    -h|--help) usage ;;
    *) echo "run.sh: unknown option $1" >&2; usage ;;
  esac
  shift
done
# --config NAME=FLAGS adds to the two standard configurations; a bare --config
# defaults or --config ego-motion selects a standard one.
STD=("defaults=" "ego-motion=--backbone builtin:ego-motion")
if [ $USER_CONFIGS -eq 0 ]; then CONFIGS=("${STD[@]}"); else
  sel=()
  for c in "${CONFIGS[@]}"; do
    case "$c" in
      defaults) sel+=("${STD[0]}") ;;
      ego-motion) sel+=("${STD[1]}") ;;
      *=*) sel+=("$c") ;;
      *) echo "run.sh: --config '$c': expected NAME=FLAGS, defaults or ego-motion" >&2; exit 2 ;;
    esac
  done
  # user configurations come after the standard two unless only standard ones were named
  only_std=1; for c in "${CONFIGS[@]}"; do case "$c" in defaults|ego-motion) ;; *) only_std=0 ;; esac; done
  if [ $only_std -eq 1 ]; then CONFIGS=("${sel[@]}"); else CONFIGS=("${STD[@]}"); for c in "${sel[@]}"; do
    case "$c" in defaults=|"ego-motion=--backbone builtin:ego-motion") ;; *) CONFIGS+=("$c") ;; esac; done; fi
fi

# --only-named: just the --config ones given, without the standard two
if [ $ONLY_NAMED -eq 1 ] && [ $USER_CONFIGS -eq 1 ]; then
  kept=(); for c in "${CONFIGS[@]}"; do
    case "$c" in "${STD[0]}"|"${STD[1]}") ;; *) kept+=("$c") ;; esac; done
  [ ${#kept[@]} -gt 0 ] && CONFIGS=("${kept[@]}")
fi

[ -x "$VIDLSTM" ] || { echo "run.sh: $VIDLSTM not found (build with ./setup.sh, or pass --vidlstm)" >&2; exit 2; }
[ -x "$HEADCAM" ] || { echo "run.sh: $HEADCAM not found (it is built with the project: ./setup.sh)" >&2; exit 2; }
FFMPEG=$(command -v ffmpeg) || { echo "run.sh: SKIP: the ffmpeg command is not installed" >&2; exit 0; }

if ! bench/quality/fetch_photos.sh build-cache/quality; then
  echo "run.sh: SKIP: not enough photographs could be fetched from Debian packages" >&2; exit 0
fi
PHOTOS=build-cache/quality/photos.csv

# ---- generation, cached by a hash of the generator, the photo list and the parameters
tag=full; [ $REDUCED -eq 1 ] && tag=reduced
[ -n "$SUITE" ] || SUITE=build-cache/quality/suite-$tag
HASH=$( { cat bench/quality/headcam.c bench/quality/fetch_photos.sh; cut -d, -f1 "$PHOTOS";
          for f in $(cut -d, -f2 "$PHOTOS"); do cksum < "$f"; done; echo "reduced=$REDUCED seed=$GENSEED";
          "$FFMPEG" -version | head -1; } | sha256sum | cut -c1-16)
if [ "$(cat "$SUITE/.stamp" 2>/dev/null)" = "$HASH" ]; then
  echo "run.sh: reusing the generated suite in $SUITE ($HASH)" >&2; GEN_S=0
else
  echo "run.sh: generating the $tag suite in $SUITE ($HASH)..." >&2
  rm -rf "$SUITE"; mkdir -p "$SUITE"
  t0=$(date +%s.%N)
  genflags=(); [ $REDUCED -eq 1 ] && genflags=(--reduced)
  nice -n 10 "$HEADCAM" suite --photos "$PHOTOS" --out "$SUITE" --seed "$GENSEED" --ffmpeg "$FFMPEG" "${genflags[@]}" \
    || { echo "run.sh: generation failed" >&2; exit 1; }
  GEN_S=$(elapsed "$t0")
  echo "$HASH" > "$SUITE/.stamp"
  echo "run.sh: generated in ${GEN_S}s" >&2
fi
[ -n "$CACHE" ] || CACHE=$SUITE/features
OUT=$SUITE/runs; mkdir -p "$OUT" "$CACHE"

jget() { # jget KEY FILE: the first "KEY":number in FILE, or -
  local v; v=$(grep -o "\"$1\":[-0-9.eE+]*" "$2" 2>/dev/null | head -1 | cut -d: -f2)
  [ -n "$v" ] && echo "$v" || echo "-"
}
pct() { [ "$1" = "-" ] && echo "-" || awk -v x="$1" 'BEGIN{printf "%.1f", 100*x}'; }

# Training manifests with a group column (the scene, from clips.csv): the
# validation split that `train` holds out then keeps scenes apart, as a user's
# manifest with a `group` column does (docs/video.md). --no-groups trains on
# the plain path,label manifests (validation then holds out clips, not scenes).
if [ $USE_GROUPS -eq 1 ]; then
  GSUF=_grouped
  for ds in walkrun walkrunstand frames; do
    for f in "$SUITE/$ds"/*_train.csv; do
      [ -f "$f" ] || continue
      g=${f%.csv}_grouped.csv
      [ -s "$g" ] && [ "$g" -nt "$f" ] && continue
      awk -F, 'NR == FNR { if (FNR > 1) scene[$1] = $2; next }
               FNR == 1 { print $0 ",group"; next }
               { print $0 "," scene[$1] }' "$SUITE/$ds/clips.csv" "$f" > "$g.tmp" && mv "$g.tmp" "$g"
    done
  done
else
  GSUF=""
fi

ROWS=(); CMDS=(); FAIL=0
T0=$(date +%s.%N)
IFS=, read -ra DSL <<< "$DATASETS"; IFS=, read -ra SPL <<< "$SPLITS"
SEEDL=("")
[ -n "$SEEDS" ] && IFS=, read -ra SEEDL <<< "$SEEDS"
for ds in "${DSL[@]}"; do
  extra=() # per-frame data: train sees the label files and builds a per-frame model
  for sp in "${SPL[@]}"; do
    for cfg in "${CONFIGS[@]}"; do
      name=${cfg%%=*}; flags=${cfg#*=}
      for seed in "${SEEDL[@]}"; do
        sflags=(); [ -n "$seed" ] && sflags=(--seed "$seed")
        id="$ds.$sp.$name${seed:+.s$seed}"
        model="$OUT/$id.safetensors"
        # shellcheck disable=SC2206
        tcmd=("$VIDLSTM" train --data "$SUITE/$ds/${sp}_train$GSUF.csv" --out "$model" --cache "$CACHE" "${extra[@]}" $flags "${sflags[@]}" --json --quiet)
        ecmd=("$VIDLSTM" eval --model "$model" --data "$SUITE/$ds/${sp}_test.csv" --cache "$CACHE" --json)
        CMDS+=("${tcmd[*]}" "${ecmd[*]}")
        t1=$(date +%s.%N)
        if nice -n 10 "${tcmd[@]}" > "$OUT/$id.train.json" 2> "$OUT/$id.train.log" &&
           nice -n 10 "${ecmd[@]}" > "$OUT/$id.eval.json" 2> "$OUT/$id.eval.log"; then :; else
          echo "run.sh: $id failed (see $OUT/$id.*.log)" >&2; FAIL=1
        fi
        secs=$(elapsed "$t1")
        trainacc=$(grep '"event":"epoch"' "$OUT/$id.train.json" 2>/dev/null | tail -1 > "$OUT/$id.lastepoch.json"; jget accuracy "$OUT/$id.lastepoch.json")
        acc=$(jget accuracy "$OUT/$id.eval.json"); facc=$(jget frame_accuracy "$OUT/$id.eval.json")
        ROWS+=("$ds|$sp|$name|${seed:--}|$(pct "$trainacc")|$(pct "$acc")|$(pct "$facc")|$(jget edit "$OUT/$id.eval.json")|$(jget f1_10 "$OUT/$id.eval.json")|$(jget f1_25 "$OUT/$id.eval.json")|$(jget f1_50 "$OUT/$id.eval.json")|$secs")
        echo "run.sh: $id: test accuracy $(pct "$acc")% frame accuracy $(pct "$facc")% (${secs}s)" >&2
      done
    done
  done
done
RUN_S=$(elapsed "$T0")

echo
echo "quality suite ($tag, $SUITE): accuracies in % on the test split; train = last epoch's training accuracy"
printf '%-13s %-15s %-14s %-5s %7s %7s %7s %6s %6s %6s %6s %5s\n' dataset split config seed train acc frameacc edit f1@10 f1@25 f1@50 secs
for r in "${ROWS[@]}"; do IFS='|' read -ra c <<< "$r"
  printf '%-13s %-15s %-14s %-5s %7s %7s %7s %6s %6s %6s %6s %5s\n' "${c[@]}"; done
echo
echo "generation: ${GEN_S}s (0 = reused); training + evaluation: ${RUN_S}s"
echo "commands:"
for c in "${CMDS[@]}"; do echo "  $c"; done

if [ $CHECK -eq 1 ]; then
  # each seed's figure against the bar, or with --check-mean the mean over the
  # seeds (steadier on a small test split, where one clip is several percent)
  bad=0
  declare -A SUM CNT
  for r in "${ROWS[@]}"; do IFS='|' read -ra c <<< "$r"
    [ "${c[1]}" = "$CHECK_SPLIT" ] && [ "${c[2]}" = "$CHECK_CONFIG" ] || continue
    case "${c[0]}" in walkrun) v=${c[5]}; m=$MIN_WR ;; walkrunstand) v=${c[5]}; m=$MIN_WRS ;; frames) v=${c[6]}; m=$MIN_FR ;; *) continue ;; esac
    if [ $CHECK_MEAN -eq 1 ]; then
      [ "$v" = "-" ] && { echo "CHECK FAILED: ${c[0]} seed ${c[3]}: no result"; bad=1; continue; }
      SUM[${c[0]}]=$(awk -v a="${SUM[${c[0]}]:-0}" -v v="$v" 'BEGIN{print a+v}'); CNT[${c[0]}]=$(( ${CNT[${c[0]}]:-0} + 1 ))
      eval "MIN_OF_${c[0]}=$m"
      continue
    fi
    if [ "$v" = "-" ] || awk -v v="$v" -v m="$m" 'BEGIN{exit !(v < 100*m)}'; then
      echo "CHECK FAILED: ${c[0]} ${c[1]} ${c[2]} seed ${c[3]}: $v% < $(pct "$m")%"; bad=1
    else echo "check ok: ${c[0]} ${c[1]} ${c[2]} seed ${c[3]}: $v% >= $(pct "$m")%"; fi
  done
  for ds in "${!CNT[@]}"; do
    v=$(awk -v s="${SUM[$ds]}" -v n="${CNT[$ds]}" 'BEGIN{printf "%.1f", s/n}'); mv=MIN_OF_$ds; m=${!mv}
    if awk -v v="$v" -v m="$m" 'BEGIN{exit !(v < 100*m)}'; then
      echo "CHECK FAILED: $ds $CHECK_SPLIT $CHECK_CONFIG mean of ${CNT[$ds]} seeds: $v% < $(pct "$m")%"; bad=1
    else echo "check ok: $ds $CHECK_SPLIT $CHECK_CONFIG mean of ${CNT[$ds]} seeds: $v% >= $(pct "$m")%"; fi
  done
  [ $bad -eq 0 ] && [ $FAIL -eq 0 ] || exit 1
fi
exit $FAIL
