#!/bin/sh
# `vidlstm predict` inputs and hints of issue 12, on the small demo's videos
# and models (generated here, never committed):
#   - pipe:N (pipe:0 = stdin, pipe:3 = a redirected descriptor) and a FIFO
#     are read as streams;
#   - an MP4 with its index at the end, piped: one error naming the cause;
#   - a URL whose server accepts and never answers: --timeout / VIDLSTM_TIMEOUT
#     make predict fail with "timed out" instead of hanging;
#   - predict --data takes the video manifest eval takes, and labels its
#     videos as it does the same videos given as arguments;
#   - the demo's closing hint names a command that runs (the binary's path
#     when PATH has no vidlstm, "vidlstm" when PATH finds this one).
# usage: cli_predict.sh VIDLSTM HTTP_SERVER [small]
# (small: sanitizer builds skip the second demo, which only checks the
# PATH-found hint; each demo takes minutes there)
set -u
BIN=$1
SRV=$2
SIZE=${3:-}
W=$(mktemp -d /tmp/vl_cli_predict.XXXXXX)
SPID=
trap '[ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$W"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }
case "$BIN" in /*) ;; *) BIN=$(pwd)/$BIN ;; esac

# the demo from a folder with no vidlstm on PATH: its hint must be a path that runs
mkdir -p "$W/bin" "$W/cwd"
(cd "$W/cwd" && PATH=/usr/bin:/bin "$BIN" demo --dir "$W/d" --clips 4 --long 4 --epochs 1 > "$W/demo.txt" 2> "$W/demo.err")
check "small demo completes ($(tail -2 "$W/demo.err"))" '[ $? -eq 0 ]'
hint=$(sed -n 's/.*try: \(.*\) predict --model .*/\1/p' "$W/demo.txt")
check "the demo's hint is not a bare 'vidlstm' when PATH has none ($hint)" '[ -n "$hint" ] && [ "$hint" != vidlstm ]'
check "the hinted command runs from where the demo ran ($hint)" '(cd "$W/cwd" && PATH=/usr/bin:/bin $hint --version > /dev/null)'
ln -s "$BIN" "$W/bin/vidlstm"
if [ "$SIZE" = small ]; then
  echo "cli_predict: second demo (hint with vidlstm on PATH) skipped in the small (sanitizer) run"
else
  (cd "$W/cwd" && PATH="$W/bin:/usr/bin:/bin" "$BIN" demo --dir "$W/d2" --clips 4 --long 4 --epochs 1 > "$W/demo2.txt" 2>&1)
  check "with this vidlstm on PATH the hint says 'vidlstm' ($(tail -1 "$W/demo2.txt"))" \
    'grep -q "try: vidlstm predict --model" "$W/demo2.txt"'
fi

M=$W/d/walk-run.safetensors
RUN=$(ls "$W"/d/clips/run/*.mp4 | head -1)
"$BIN" predict --model "$M" "$RUN" --json > "$W/file.json"
check "the clip model labels a file" '[ $? -eq 0 ] && grep -q "\"label\":" "$W/file.json"'

# pipe:N and FIFOs
"$BIN" predict --model "$M" pipe:0 --window 1 --json < "$RUN" > "$W/p0.json" 2> "$W/err.txt"
check "pipe:0 reads stdin ($(cat "$W/err.txt"))" '[ $? -eq 0 ] && grep -q "\"latency_ms\":" "$W/p0.json"'
"$BIN" predict --model "$M" pipe:3 --window 1 --json 3< "$RUN" > "$W/p3.json" 2> "$W/err.txt"
check "pipe:3 reads descriptor 3 ($(cat "$W/err.txt"))" \
  '[ $? -eq 0 ] && [ "$(grep -c latency_ms "$W/p3.json")" -eq "$(grep -c latency_ms "$W/p0.json")" ]'
mkfifo "$W/fifo"
cat "$RUN" > "$W/fifo" &
CPID=$!
"$BIN" predict --model "$M" "$W/fifo" --window 1 --json > "$W/fifo.json" 2> "$W/err.txt"
check "a FIFO is read as a stream ($(cat "$W/err.txt"))" \
  '[ $? -eq 0 ] && [ "$(grep -c latency_ms "$W/fifo.json")" -eq "$(grep -c latency_ms "$W/p0.json")" ]'
kill "$CPID" 2> /dev/null # a writer no reader opened would wait forever
wait "$CPID" 2> /dev/null

# an MP4 with its index at the end: fine as a file, named as the cause on a pipe
ffmpeg -v error -y -i "$RUN" -c copy "$W/late.mp4"
"$BIN" predict --model "$M" "$W/late.mp4" > /dev/null 2> "$W/err.txt"
check "an index-at-the-end MP4 file predicts ($(cat "$W/err.txt"))" '[ $? -eq 0 ]'
timeout 60 "$BIN" predict --model "$M" - < "$W/late.mp4" > /dev/null 2> "$W/err.txt"
rc=$?
check "piped, it is one error naming the cause ($(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && grep -q "MP4 with its index at the end cannot be read from a pipe; remux with -movflags +faststart or pass a file" "$W/err.txt" && [ "$(wc -l < "$W/err.txt")" -eq 1 ]'

# a server that accepts and never answers
mkdir -p "$W/srv/hang"
cp "$RUN" "$W/srv/run.mp4"
"$SRV" "$W/srv" "$W/port" "$W/log" &
SPID=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
U=http://127.0.0.1:$(cat "$W/port")
t0=$(date +%s)
timeout 60 "$BIN" predict --model "$M" "$U/hang/run.mp4" --timeout 2 > /dev/null 2> "$W/err.txt"
rc=$?
secs=$(($(date +%s) - t0))
check "--timeout 2: a silent server is an error ($rc, $(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "hang/run.mp4: timed out after 2 s" "$W/err.txt"'
check "... within the timeout, not 60 s ($secs s)" '[ "$secs" -le 10 ]'
t0=$(date +%s)
VIDLSTM_TIMEOUT=1 timeout 60 "$BIN" predict --model "$M" "$U/hang/run.mp4" > /dev/null 2> "$W/err.txt"
rc=$?
secs=$(($(date +%s) - t0))
check "VIDLSTM_TIMEOUT=1 does the same ($rc, $secs s, $(cat "$W/err.txt"))" \
  '[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "timed out after 1 s" "$W/err.txt" && [ "$secs" -le 10 ]'
VIDLSTM_TIMEOUT=soon timeout 60 "$BIN" predict --model "$M" "$U/hang/run.mp4" > /dev/null 2> "$W/err.txt"
check "a bad VIDLSTM_TIMEOUT is an error naming it" '[ $? -ne 0 ] && grep -q "VIDLSTM_TIMEOUT" "$W/err.txt"'
timeout 60 "$BIN" predict --model "$M" "$U/good/run.mp4" --timeout 5 --json > "$W/http.json" 2> "$W/err.txt"
check "a server that answers still streams ($(cat "$W/err.txt"))" '[ $? -eq 0 ] && grep -q "\"latency_ms\":" "$W/http.json"'

# predict --data: the video manifest eval takes
WALK=$(ls "$W"/d/clips/walk/*.mp4 | head -1)
printf 'path,label\n%s,run\n%s,walk\n' "$RUN" "$WALK" > "$W/videos.csv"
"$BIN" eval --model "$M" --data "$W/videos.csv" > /dev/null 2> "$W/err.txt"
check "eval takes the video manifest ($(tail -1 "$W/err.txt"))" '[ $? -eq 0 ]'
"$BIN" predict --model "$M" --data "$W/videos.csv" > "$W/data.txt" 2> "$W/err.txt"
check "predict --data takes it too ($(cat "$W/err.txt"))" '[ $? -eq 0 ] && [ "$(wc -l < "$W/data.txt")" -eq 2 ]'
"$BIN" predict --model "$M" "$RUN" "$WALK" > "$W/args.txt"
check "... with the labels and probabilities of the same videos given as arguments" 'cmp -s "$W/data.txt" "$W/args.txt"'
"$BIN" predict --model "$M" --data "$W/videos.csv" --window 1 --json > "$W/dataw.json" 2> "$W/err.txt"
check "... and --window counts seconds for them ($(cat "$W/err.txt"))" \
  '[ $? -eq 0 ] && grep -q "\"windows\":\[{\"start\":0,\"end\":10," "$W/dataw.json"'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
