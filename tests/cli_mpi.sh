#!/bin/sh
# mpirun -np N vidlstm train end to end (issue 14; docs/cluster.md), on
# generated feature sequences (gen_seqdata), in an MPI build:
#  - 1 process (no launcher), 2 and 3 ranks train the same model to float
#    rounding (model_diff: relative 1e-3), with class weights, a clip that
#    every step hits, batches that split unevenly and a held-out split;
#  - only rank 0 writes (one model, no stray files, one progress display);
#  - a rank killed with SIGKILL mid-run: the job ends (no hang) with a
#    non-zero status, the checkpoint it left is whole, and --resume finishes
#    the run, at 2 ranks bit-identical to an uninterrupted 2-rank run, at 3
#    ranks to float rounding (1e-3);
#  - a bad manifest fails the job cleanly on every rank;
#  - extract at 2 and 3 ranks writes one process's files byte for byte
#    (shard lists cover every clip once, rank 0 merges), and train on
#    videos at 2 ranks extracts each rank's shard into the shared cache;
#  - a rank killed mid-extraction ends the job without a manifest; the rerun
#    finds the cache consistent, reuses it and completes.
# usage: cli_mpi.sh VIDLSTM GEN_SEQDATA MODEL_DIFF MPIEXEC [LAUNCHER FLAGS...]
set -u
BIN=$1
GEN=$2
DIFF=$3
shift 3
MPI="$*"
W=$(mktemp -d /tmp/vl_cli_mpi.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$GEN" "$W" > /dev/null || { echo "gen_seqdata failed"; exit 1; }
cd "$W" || exit 1

# (1) equivalence: batch 7 over 192 training clips (27 batches of 7, one of 3)
A="--data order_train.csv --val-fraction 0.2 --layers lstm:16 --ensemble 1 --batch 7 --epochs 3 --lr 0.01
   --class-weights 0.7,1.6 --gradient-threshold 0.1 --output-network last-iteration --threads 1"
"$BIN" train $A --out one.safetensors --quiet > one.out 2> one.err
check "one process trains ($(cat one.err))" '[ $? -eq 0 ] && [ -s one.safetensors ]'
for np in 2 3; do
  mkdir -p np$np
  (cd np$np && $MPI -n $np "$BIN" train $(echo $A | sed 's|order_train.csv|../order_train.csv|') \
     --out m.safetensors > out 2> err)
  check "$np ranks train ($(tail -3 np$np/err))" '[ $? -eq 0 ] && [ -s np$np/m.safetensors ]'
  "$DIFF" np$np/m.safetensors one.safetensors 1e-3
  check "$np ranks: same weights as one process within 1e-3 ($("$DIFF" np$np/m.safetensors one.safetensors 1e-3))" \
    '"$DIFF" np$np/m.safetensors one.safetensors 1e-3 > /dev/null'
  check "$np ranks: rank 0 alone writes: the model, nothing else (no checkpoint left: $(ls np$np | tr '\n' ' '))" \
    '[ "$(ls np$np | tr "\n" " ")" = "err m.safetensors out " ]'
  check "$np ranks: one progress display, one announcement" \
    '[ "$(grep -c "^training on" np$np/err)" -eq 1 ] && grep -q "data-parallel training on $np MPI ranks" np$np/err'
  check "$np ranks: one evaluation on stdout" '[ "$(grep -c "^accuracy" np$np/out)" -eq 1 ]'
done

# (2) a rank killed mid-run; the uninterrupted 2-rank run first
# one step per epoch (the whole training set a batch): rounding differences
# between rank counts stay small over its 30 steps (a long run of small
# batches on this task amplifies them to order 1 within 300 steps)
K="--data order_train.csv --layers lstm:96 --ensemble 1 --batch 256 --epochs 30 --output-network last-iteration
   --threads 1 --quiet"
$MPI -n 2 "$BIN" train $K --out full.safetensors > /dev/null 2> full.err
check "uninterrupted 2-rank run ($(tail -2 full.err))" '[ $? -eq 0 ]'
$MPI -n 2 "$BIN" train $K --out killed.safetensors --checkpoint run.ckpt > /dev/null 2> killed.err &
job=$!
i=0
# kill as soon as the first checkpoint is there: the other 29 epochs take
# only ~0.4 s on a quiet 2-core machine (a 0.3 s pause here once let the run
# finish first)
while [ ! -e run.ckpt ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i + 1)); done
# the job's vidlstm processes: descendants of this mpirun, whatever the launcher's tree
victim=$(ps -eo pid=,ppid=,comm= | awk -v root=$job '
  { par[$1] = $2; name[$1] = $3 }
  END { for (p in par) { q = p; while (q in par && q != root && q > 1) q = par[q];
                         if (q == root && name[p] == "vidlstm") print p } }' | sort -n | tail -1)
check "found a rank to kill (job $job)" '[ -n "$victim" ]'
[ -n "$victim" ] && kill -9 "$victim"
t0=$(date +%s)
wait $job
rc=$?
t1=$(date +%s)
check "the job fails when a rank is killed (status $rc)" '[ $rc -ne 0 ]'
check "... and ends at once, not hanging ($((t1 - t0)) s)" '[ $((t1 - t0)) -le 20 ]'
check "no model from the killed run" '[ ! -e killed.safetensors ]'
check "the checkpoint is there" '[ -s run.ckpt ]'
cp run.ckpt run3.ckpt
$MPI -n 2 "$BIN" train $K --out killed.safetensors --checkpoint run.ckpt --resume --json > resume.json 2> resume.err
check "--resume at 2 ranks finishes ($(tail -2 resume.err))" '[ $? -eq 0 ] && [ -s killed.safetensors ]'
check "resumed at 2 ranks = uninterrupted 2-rank run, bit for bit ($("$DIFF" killed.safetensors full.safetensors 0))" \
  '"$DIFF" killed.safetensors full.safetensors 0 > /dev/null'
$MPI -n 3 "$BIN" train $K --out r3.safetensors --checkpoint run3.ckpt --resume --json > resume3.json 2> resume3.err
check "--resume of a 2-rank checkpoint at 3 ranks finishes ($(tail -2 resume3.err))" '[ $? -eq 0 ] && [ -s r3.safetensors ]'
# the resumed runs trained only the epochs after the checkpoint (a fresh start
# would also match the uninterrupted run)
n2=$(grep -c '"event":"epoch"' resume.json)
n3=$(grep -c '"event":"epoch"' resume3.json)
check "the 2-rank resume trained $n2 of 30 epochs" '[ "$n2" -gt 0 ] && [ "$n2" -lt 30 ]'
check "the 3-rank resume trained $n3 of 30 epochs, as many" '[ "$n3" -eq "$n2" ]'
"$DIFF" r3.safetensors full.safetensors 1e-3
check "resumed at 3 ranks = uninterrupted 2-rank run within 1e-3 ($("$DIFF" r3.safetensors full.safetensors 1e-3))" \
  '"$DIFF" r3.safetensors full.safetensors 1e-3 > /dev/null'

# (3) bad input: every rank fails, the job ends with an error naming the file
$MPI -n 2 "$BIN" train --data bad_nan.csv --out x.safetensors --quiet > /dev/null 2> bad.err
check "a bad manifest fails the job" '[ $? -ne 0 ] && grep -q "bad_nan" bad.err && [ ! -e x.safetensors ]'

# (4) sharded extraction under mpirun: 2 and 3 ranks write the files of one
# process byte for byte, rank 0 the manifest; train on videos shares the
# extraction through the cache
mkdir -p vid/a vid/b
for i in 1 2 3 4 5; do
  ffmpeg -loglevel error -y -f lavfi -i testsrc=size=96x64:rate=25:duration=$i -pix_fmt yuv420p vid/a/v$i.mp4
  ffmpeg -loglevel error -y -f lavfi -i mandelbrot=size=96x64:rate=25 -t $((6 - i)) -pix_fmt yuv420p vid/b/w$i.mp4
done
"$BIN" extract --data vid --out x1 --cache xc1 --quiet 2> x1.err
check "extract, one process ($(cat x1.err))" '[ $? -eq 0 ]'
for np in 2 3; do
  $MPI -n $np "$BIN" extract --data vid --out x$np --cache xc$np > /dev/null 2> x$np.err
  check "extract at $np ranks ($(tail -2 x$np.err))" '[ $? -eq 0 ] && [ -s x$np/manifest.csv ]'
  check "extract at $np ranks: the files of one process, byte for byte" 'diff -r -x shards x1 x$np > /dev/null'
  check "extract at $np ranks: one list per rank, each clip in one" \
    '[ "$(ls x$np/shards | wc -l)" -eq $np ] &&
     [ "$(cat x$np/shards/* | grep -v "^vidlstm-shard" | cut -d, -f1 | sort -n | uniq | wc -l)" -eq 10 ] &&
     [ "$(cat x$np/shards/* | grep -vc "^vidlstm-shard")" -eq 10 ]'
  check "extract at $np ranks: rank 0 reports the merge once" '[ "$(grep -c "all $np shards done" x$np.err)" -eq 1 ]'
done
$MPI -n 2 "$BIN" train --data vid --out vt.safetensors --cache xt --epochs 2 --ensemble 1 --threads 1 > /dev/null 2> vt.err
check "train on videos at 2 ranks ($(tail -2 vt.err))" '[ $? -eq 0 ] && [ -s vt.safetensors ]'
# rank 0 reports its own shard's extraction (k/k clips, k < 10, none cached)
# and then the read of the whole list, all of it from the cache
check "... the cache holds the 10 clips ($(ls xt | tr '\n' ' '))" '[ "$(ls xt/*.npy | wc -l)" -eq 10 ]'
check "... rank 0 extracted a shard of fewer than 10 clips ($(grep "extracting" vt.err | tr '\n' ';'))" \
  'grep -Eq "extracting features: ([1-9])/\1 clips, [0-9]+ frames \(0 cached\)" vt.err'
check "... then every rank read all 10 from the cache (rank 0's last line: $(grep "extracting" vt.err | tail -1))" \
  'grep -q "extracting features: 10/10 clips, 300 frames (10 cached)" vt.err'

# (5) a rank killed mid-extraction: the job ends, no manifest; the cache it
# was writing stays consistent: the rerun reads no damaged entry and completes
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=50:duration=30 -pix_fmt yuv420p vid/a/long.mp4
$MPI -n 2 "$BIN" extract --data vid --out xk --cache xck --jobs 1 > /dev/null 2> xk.err &
job=$!
# kill once the job has cached something (the short clips), while the rank
# with the long video is still decoding it
i=0
while [ -z "$(ls xck 2> /dev/null | grep '\.npy$')" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
victim=$(ps -eo pid=,ppid=,comm= | awk -v root=$job '
  { par[$1] = $2; name[$1] = $3 }
  END { for (p in par) { q = p; while (q in par && q != root && q > 1) q = par[q];
                         if (q == root && name[p] == "vidlstm") print p } }' | sort -n | tail -1)
check "found an extracting rank to kill" '[ -n "$victim" ]'
[ -n "$victim" ] && kill -9 "$victim"
wait $job
rc=$?
check "the extraction job fails when a rank is killed (status $rc)" '[ $rc -ne 0 ]'
check "... and writes no manifest" '[ ! -e xk/manifest.csv ]'
before=$(ls xck/*.npy 2> /dev/null | wc -l)
$MPI -n 2 "$BIN" extract --data vid --out xk --cache xck --jobs 1 > /dev/null 2> xk2.err
check "the rerun completes ($(tail -2 xk2.err))" '[ $? -eq 0 ] && [ -s xk/manifest.csv ]'
check "the rerun found no damaged cache entry" '! grep -q "damaged\|cannot be read" xk2.err'
check "the killed job left whole cache entries ($before) for the rerun: 11 now" \
  '[ "$before" -gt 0 ] && [ "$(ls xck/*.npy | wc -l)" -eq 11 ] && [ -z "$(ls xck | grep -v "\.npy$\|\.frames$\|\.tmp\.")" ]'
check "the rerun lists every clip once (11)" '[ $(($(wc -l < xk/manifest.csv) - 1)) -eq 11 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
