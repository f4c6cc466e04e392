#!/bin/sh
# vidlstm extract --shard I/N (issue 14; docs/cluster.md), no MPI needed:
#  - the shards of 3 (and of 2 as a Slurm array job: SLURM_ARRAY_TASK_*)
#    write exactly the files of an unsharded run, byte for byte, and the
#    manifest once the last one finishes;
#  - the shard lists cover every clip exactly once, balanced by frames;
#  - extract --merge: a missing shard, a damaged feature file, lists of two
#    different runs are errors naming the problem;
#  - a shard killed mid-extraction (SIGKILL) leaves no list and a cache
#    that its rerun reads without a damaged entry; the rerun completes.
# usage: cli_shard.sh VIDLSTM
set -u
BIN=$1
W=$(mktemp -d /tmp/vl_cli_shard.XXXXXX)
trap 'rm -rf "$W"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
cd "$W" || exit 1
mkdir -p data/a data/b
# 12 videos of 1..6 s: file counts per shard say nothing about their work
for i in 1 2 3 4 5 6; do
  ffmpeg -loglevel error -y -f lavfi -i testsrc=size=96x64:rate=25:duration=$i -pix_fmt yuv420p data/a/v$i.mp4
  ffmpeg -loglevel error -y -f lavfi -i mandelbrot=size=96x64:rate=25 -t $((7 - i)) -pix_fmt yuv420p data/b/w$i.mp4
done
X="--data data --quiet"
"$BIN" extract $X --out full --cache c0 2> full.err
check "unsharded extract ($(cat full.err))" '[ $? -eq 0 ] && [ -s full/manifest.csv ]'

# (1) three shards, one after another, into one output folder and one cache
for i in 0 2 1; do
  "$BIN" extract $X --out s3 --cache c1 --shard $i/3 2> s3_$i.err
  check "shard $i/3 runs ($(cat s3_$i.err))" '[ $? -eq 0 ] && [ -s s3/shards/part-000$i-of-0003.csv ]'
  [ $i -ne 1 ] && check "no manifest before the last shard ($i)" '[ ! -e s3/manifest.csv ]'
done
check "the last shard wrote the manifest" '[ -s s3/manifest.csv ]'
check "3 shards: the same files as one run, byte for byte ($(diff -r -x shards full s3 2>&1 | head -3))" \
  'diff -r -x shards full s3 > /dev/null'
cat s3/shards/part-*.csv | grep -v '^vidlstm-shard' > rows
n=$(($(wc -l < full/manifest.csv) - 1))
check "every clip in exactly one list ($(wc -l < rows) rows, $n clips)" \
  '[ "$(cut -d, -f1 rows | sort -n | uniq | wc -l)" -eq "$n" ] && [ "$(wc -l < rows)" -eq "$n" ] &&
   [ "$(cut -d, -f1 rows | sort -n | tail -1)" -eq $((n - 1)) ]'
# balance: the frames of each shard (column 5) within the longest clip of each other
frames=$(for i in 0 1 2; do grep -v '^vidlstm' s3/shards/part-000$i-of-0003.csv | awk -F, '{ s += $5 } END { print s }'; done)
longest=$(cut -d, -f5 rows | sort -n | tail -1)
echo "frames per shard: $(echo $frames) (longest clip $longest)"
check "shards balanced by frames: $(echo $frames), longest clip $longest" \
  'echo $frames | awk -v l=$longest "{ mx = \$1; mn = \$1; for (i = 2; i <= NF; i++) { if (\$i > mx) mx = \$i; if (\$i < mn) mn = \$i }
                                    exit !(mx - mn <= l) }"'
count_a=$(grep -c 'data/a/' s3/shards/part-0000-of-0003.csv)
"$BIN" extract --merge --out s3 2> merge.err
check "extract --merge of complete lists ($(cat merge.err))" '[ $? -eq 0 ]'

# (2) a Slurm array job of two tasks (ids 4 and 5)
for id in 5 4; do
  SLURM_ARRAY_TASK_ID=$id SLURM_ARRAY_TASK_COUNT=2 SLURM_ARRAY_TASK_MIN=4 "$BIN" extract $X --out s2 --cache c1 2> sl.err
  check "Slurm task $id ($(cat sl.err))" '[ $? -eq 0 ] && [ -s s2/shards/part-000$((id - 4))-of-0002.csv ]'
done
check "Slurm array: the same files as one run" 'diff -r -x shards full s2 > /dev/null'
SLURM_ARRAY_TASK_ID=7 SLURM_ARRAY_TASK_COUNT=2 SLURM_ARRAY_TASK_MIN=4 "$BIN" extract $X --out s9 --cache c1 2> sl.err
check "a Slurm task id outside the array is an error ($(cat sl.err))" '[ $? -ne 0 ] && grep -q "SLURM_ARRAY_TASK_ID=7" sl.err'

# (3) merge errors
rm s2/manifest.csv
mv s2/shards/part-0001-of-0002.csv p1
"$BIN" extract --merge --out s2 2> m.err
check "merge with a shard missing fails, naming it ($(cat m.err))" \
  '[ $? -ne 0 ] && grep -q "shard 1 of 2 not finished" m.err && [ ! -e s2/manifest.csv ]'
mv p1 s2/shards/part-0001-of-0002.csv
f=$(ls s2/features | head -1)
cp "s2/features/$f" keep.npy
printf 'X' | dd of="s2/features/$f" bs=1 seek=200 conv=notrunc 2> /dev/null
"$BIN" extract --merge --out s2 2> m.err
check "merge finds a damaged feature file by its SHA-256 ($(cat m.err))" \
  '[ $? -ne 0 ] && grep -q "$f: its SHA-256" m.err && [ ! -e s2/manifest.csv ]'
cp keep.npy "s2/features/$f"
cp s3/shards/part-0000-of-0003.csv s2/shards/
"$BIN" extract --merge --out s2 2> m.err
check "merge refuses lists of runs with other shard counts ($(cat m.err))" '[ $? -ne 0 ] && grep -q "into 2 and into 3" m.err'
rm s2/shards/part-0000-of-0003.csv
"$BIN" extract $X --out s4 --cache c1 --shard 0/2 --fps 5 2> /dev/null
cp s4/shards/part-0000-of-0002.csv s2/shards/
"$BIN" extract --merge --out s2 2> m.err
check "merge refuses a list of another run (other options) ($(cat m.err))" '[ $? -ne 0 ] && grep -q "another run" m.err'
"$BIN" extract $X --out s5 --shard 2/2 2> m.err
check "--shard 2/2 is an error ($(cat m.err))" '[ $? -ne 0 ] && grep -q "0 <= I < N" m.err'

# (4) a shard killed mid-extraction: one long video makes the shard slow
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=50:duration=90 -pix_fmt yuv420p data/a/long.mp4
"$BIN" extract --data data --out k --cache ck --shard 0/2 --jobs 1 > /dev/null 2> k.err &
pid=$!
sleep 0.7
kill -9 $pid 2> /dev/null
wait $pid
rc=$?
check "the shard was killed mid-run (status $rc)" '[ $rc -eq 137 ]'
check "a killed shard leaves no list" '[ ! -e k/shards/part-0000-of-0002.csv ]'
"$BIN" extract --data data --out k --cache ck --shard 1/2 2> k1.err
check "the other shard completes, no manifest yet" '[ $? -eq 0 ] && [ ! -e k/manifest.csv ]'
"$BIN" extract --merge --out k 2> m.err
check "merge says shard 0 did not finish" '[ $? -ne 0 ] && grep -q "shard 0 of 2 not finished" m.err'
"$BIN" extract --data data --out k --cache ck --shard 0/2 2> k0.err
check "the killed shard, run again, completes and writes the manifest ($(tail -2 k0.err))" \
  '[ $? -eq 0 ] && [ -s k/manifest.csv ]'
check "no damaged cache entry after the kill" '! grep -q "damaged\|cannot be read" k0.err'
check "k: every clip listed once" '[ $(($(wc -l < k/manifest.csv) - 1)) -eq $((n + 1)) ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
