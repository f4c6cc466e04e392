#!/usr/bin/env bash
# Feature extraction against the backbone's own speed (issue 13): how close
# `vidlstm extract` comes to the CNN's standalone frames/s at the same thread
# count, and its peak memory. Alternates, REPS times:
#   standalone  build/bench/bench_backbone MODEL --batch 16 --threads T (the CNN alone)
#   extract     build/vidlstm extract --data DIR --backbone MODEL --no-cache --threads T
#               for each mode (cross: batches spanning clips, the default for ONNX
#               backbones; per-clip: VL_EXTRACT_PER_CLIP=1, the previous code path;
#               decode-all: cross with VL_DECODE_ALL=1, every frame decoded, as before
#               unsampled frames were skipped) and each --jobs in JOBS.
# Extraction frames/s come from the library's VL_PROFILE=1 line (frames / wall
# time of vl_extract_clips: decoding, conversion, the CNN, caching; not the
# process start or the model load); peak RSS from GNU time (whole process).
# Prints '#' settings lines, one JSON line per run, then a '#' summary: medians,
# and the median over repetitions of extract / standalone measured side by side.
#   bench/extract_speed.sh DIR [> results.jsonl]
# Environment (defaults): MODEL=build-cache/onnx/resnet18.onnx THREADS=2 REPS=3
#   JOBS="1 2" MODES="cross per-clip" ITERS=6 BIN=build/vidlstm BB=build/bench/bench_backbone
# DIR: a class-folder dataset (bench/pipeline/make_clips.sh OUT, or OUT.mp4 --long put
# in a class folder beside a second class).
set -uo pipefail
cd "$(dirname "$0")/.."
DIR=${1:?usage: bench/extract_speed.sh DIR}
MODEL=${MODEL:-build-cache/onnx/resnet18.onnx}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
JOBS=${JOBS:-"1 2"}
MODES=${MODES:-"cross per-clip"}
ITERS=${ITERS:-6}
BIN=${BIN:-build/vidlstm}
BB=${BB:-build/bench/bench_backbone}
for b in "$BIN" "$BB"; do [ -x "$b" ] || { echo "extract_speed.sh: $b not built" >&2; exit 1; }; done
[ -f "$MODEL" ] || { echo "extract_speed.sh: $MODEL missing" >&2; exit 1; }

echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), flags: $(grep -o 'avx512[a-z_0-9]*' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "# settings: threads=$THREADS reps=$REPS jobs='$JOBS' modes='$MODES' OMP_NUM_THREADS=${OMP_NUM_THREADS:-(unset)} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-(unset)} load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# data: $DIR ($(find "$DIR" -type f | wc -l) files, $(du -sh "$DIR" | cut -f1)); model: $MODEL"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/runs.jsonl
for r in $(seq "$REPS"); do
  # CPU time of the CNN alone per frame: (ITERS+2 runs) - (2 runs), so loading and planning cancel
  /usr/bin/time -f '%U %S' -o "$tmp/cpu2" "$BB" "$MODEL" --batch 16 --iters 1 --threads "$THREADS" --size 224 --json > /dev/null
  /usr/bin/time -f '%U %S' -o "$tmp/cpuN" "$BB" "$MODEL" --batch 16 --iters "$((ITERS + 1))" --threads "$THREADS" --size 224 --json > "$tmp/bb"
  cpu_ms=$(python3 -c "import sys; a=sum(map(float,open('$tmp/cpuN').read().split())); b=sum(map(float,open('$tmp/cpu2').read().split())); print(f'{1e3*(a-b)/($ITERS*16):.2f}')")
  sed "s/^{/{\"rep\": $r, \"run\": \"standalone\", \"cpu_ms_per_frame\": $cpu_ms, /" "$tmp/bb" | tee -a "$out"
  for mode in $MODES; do
    for j in $JOBS; do
      pc=0; [ "$mode" = per-clip ] && pc=1
      da=0; [ "$mode" = decode-all ] && da=1
      VL_PROFILE=1 VL_EXTRACT_PER_CLIP=$pc VL_DECODE_ALL=$da /usr/bin/time -f '%M' -o "$tmp/rss" \
        "$BIN" extract --data "$DIR" --backbone "$MODEL" --out "$tmp/out" --no-cache --threads "$THREADS" \
        --jobs "$j" --quiet 2> "$tmp/err"
      rc=$?
      line=$(grep '^vidlstm profile:' "$tmp/err" | tail -1)
      fps=$(sed -n 's/.*(\([0-9.]*\) frames\/s[;)].*/\1/p' <<< "$line")
      frames=$(sed -n 's/.* \([0-9]*\) frames in .*/\1/p' <<< "$line")
      cpuf=$(sed -n 's/.*, \([0-9.]*\) ms a frame).*/\1/p' <<< "$line")
      [ $rc = 0 ] && [ -n "$fps" ] || { echo "# extract failed ($mode, jobs $j): $(tail -3 "$tmp/err")"; continue; }
      echo "{\"rep\": $r, \"run\": \"extract\", \"mode\": \"$mode\", \"jobs\": $j, \"frames\": $frames, \"frames_per_s\": $fps, \"cpu_ms_per_frame\": $cpuf, \"peak_rss_mb\": $(( $(cat "$tmp/rss") / 1024 ))}" | tee -a "$out"
      echo "#   $line"
      rm -rf "$tmp/out"
    done
  done
done

python3 - "$out" <<'EOF'
import json, sys, statistics as st
runs = [json.loads(l) for l in open(sys.argv[1])]
alone = {r["rep"]: r["frames_per_s"] for r in runs if r["run"] == "standalone"}
alone_cpu = {r["rep"]: r["cpu_ms_per_frame"] for r in runs if r["run"] == "standalone" and "cpu_ms_per_frame" in r}
keys = sorted({(r["mode"], r["jobs"]) for r in runs if r["run"] == "extract"})
print(f"# standalone CNN (batch 16): median {st.median(alone.values()):.1f} frames/s over {len(alone)} runs")
if alone_cpu:
    print(f"# standalone CNN CPU time: median {st.median(alone_cpu.values()):.2f} ms a frame")
print("# cpu ratio = standalone CPU ms a frame / extraction's (process CPU during extraction): the fraction of the CNN's")
print("#   standalone speed extraction reaches when it has the cores to itself; robust to other load, unlike frames/s")
print("# mode       jobs  frames/s (median)  extract/standalone (median of side-by-side ratios)  cpu ratio (median)  peak RSS MB (max)")
for m, j in keys:
    rs = [r for r in runs if r["run"] == "extract" and r["mode"] == m and r["jobs"] == j]
    ratios = [r["frames_per_s"] / alone[r["rep"]] for r in rs if r["rep"] in alone]
    print(f"# {m:10s} {j:4d}  {st.median(r['frames_per_s'] for r in rs):17.1f}  {st.median(ratios):10.2f}  "
          f"(runs: {' '.join(f'{x:.2f}' for x in ratios)})  "
          f"{st.median([alone_cpu[r['rep']] / r['cpu_ms_per_frame'] for r in rs if r['rep'] in alone_cpu] or [0]):6.2f}  "
          f"{max(r['peak_rss_mb'] for r in rs):6d}")
EOF
