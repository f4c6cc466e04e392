#!/bin/sh
# Named backbones end to end against a local HTTP server (tests/http_server.c
# on 127.0.0.1, no internet): `vidlstm backbones` and `vidlstm fetch` with a
# good file, a wrong checksum, 404, a transfer cut half-way (resumed with a
# Range request), one that keeps failing (clean failure, no final file), a
# server that never answers (the stall timeout fires), a mirror, an unknown
# name; then --backbone NAME in train/predict: the model records the file's
# SHA-256, a corrupted cached file is fetched again, and a model whose
# backbone file changed is refused naming both hashes.
# usage: cli_fetch.sh VIDLSTM HTTP_SERVER FIXTURES_ONNX
set -u
BIN=$1
SRV=$2
FX=$3
W=$(mktemp -d /tmp/vl_cli_fetch.XXXXXX)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { if eval "$2"; then ok; else bad "$1"; fi; }

TINY=$FX/tiny.onnx
SHA=$(sha256sum "$TINY" | cut -d' ' -f1)
SIZE=$(wc -c < "$TINY" | tr -d ' ')
OTHER=$FX/tiny_bnfused.onnx
OSHA=$(sha256sum "$OTHER" | cut -d' ' -f1)
OSIZE=$(wc -c < "$OTHER" | tr -d ' ')

mkdir -p "$W/srv"
for n in tinyok tinycut tinyfail tinyhang tinymirror tinynamed tinyfresh; do cp "$TINY" "$W/srv/$n.onnx"; done
# same size, one byte changed: only the checksum can tell
cp "$TINY" "$W/srv/wrong.onnx"
printf 'X' | dd of="$W/srv/wrong.onnx" bs=1 seek=100 conv=notrunc 2>/dev/null
cp "$OTHER" "$W/srv/other.onnx"

"$SRV" "$W/srv" "$W/port" "$W/log" &
SPID=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$W/port")
check "the server is listening" '[ -n "$PORT" ]'
U=http://127.0.0.1:$PORT

entry() { # name url file sha size
  printf '{"name":"%s","architecture":"test CNN","url":"%s","file":"%s","size":%s,"sha256":"%s","licence":"MIT"}' \
    "$1" "$2" "$3" "$5" "$4"
}
{
  echo '{"backbones": ['
  entry tinyok "$U/good/tinyok.onnx" tinyok.onnx "$SHA" "$SIZE"; echo ,
  entry tinybad "$U/good/wrong.onnx" tinybad.onnx "$SHA" "$SIZE"; echo ,
  entry tiny404 "$U/good/nothere.onnx" tiny404.onnx "$SHA" "$SIZE"; echo ,
  entry tinycut "$U/cut/tinycut.onnx" tinycut.onnx "$SHA" "$SIZE"; echo ,
  entry tinyfail "$U/alwayscut/tinyfail.onnx" tinyfail.onnx "$SHA" "$SIZE"; echo ,
  entry tinyhang "$U/hang/tinyhang.onnx" tinyhang.onnx "$SHA" "$SIZE"; echo ,
  entry tinymirror "http://mirror-me.invalid/models/tinymirror.onnx" tinymirror.onnx "$SHA" "$SIZE"; echo ,
  entry tinynamed "$U/good/tinynamed.onnx" tinynamed.onnx "$SHA" "$SIZE"; echo ,
  entry tinyfresh "$U/good/tinyfresh.onnx" tinyfresh.onnx "$SHA" "$SIZE"
  echo ']}'
} > "$W/table.json"

export VIDLSTM_BACKBONES="$W/table.json" VIDLSTM_BACKBONE_CACHE="$W/cache" VIDLSTM_FETCH_BACKOFF=0.1 \
  VIDLSTM_FETCH_RETRIES=2 VIDLSTM_STALL_TIMEOUT=2 VIDLSTM_CONNECT_TIMEOUT=2
unset VIDLSTM_MIRROR
C=$W/cache
reqs() { grep -c " /$1/$2.onnx " "$W/log"; }

# --- the table
"$BIN" backbones > "$W/list.txt" 2> "$W/list.err"
check "backbones exits 0 ($(cat "$W/list.err"))" '[ $? -eq 0 ]'
check "backbones lists the built-in and the user entries" \
  'grep -q "^resnet18 " "$W/list.txt" && grep -q "^efficientnet-lite4 " "$W/list.txt" && grep -q "^tinyok " "$W/list.txt"'
check "backbones says what is cached" 'grep -A8 "^tinyok " "$W/list.txt" | grep -q "cached: *no"'
"$BIN" backbones --json > "$W/list.json"
check "backbones --json" 'grep -q "\"name\":\"tinyok\"" "$W/list.json" && grep -q "\"sha256\":\"$SHA\"" "$W/list.json"'
check "backbones --json is valid JSON" \
  '! command -v python3 > /dev/null || python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$W/list.json"'

# --- a good file
"$BIN" fetch tinyok > "$W/ok.out" 2> "$W/ok.err"
check "fetch tinyok exits 0 ($(cat "$W/ok.err"))" '[ $? -eq 0 ]'
check "the file is in the cache, byte for byte" 'cmp -s "$C/tinyok.onnx" "$TINY"'
check "no .part left" '[ ! -e "$C/tinyok.onnx.part" ]'
check "its verified hash is kept beside it" 'grep -q "$SHA" "$C/tinyok.onnx.sha256"'
check "fetch prints the path" 'grep -q "^tinyok $C/tinyok.onnx" "$W/ok.out"'
"$BIN" fetch tinyok 2> /dev/null > /dev/null
check "a second fetch downloads nothing" '[ "$(reqs good tinyok)" -eq 1 ]'
"$BIN" backbones > "$W/list2.txt"
check "backbones: cached and verified" 'grep -A8 "^tinyok " "$W/list2.txt" | grep -q "cached: *verified"'

# --- a wrong checksum
"$BIN" fetch tinybad 2> "$W/bad.err"
check "fetch tinybad fails" '[ $? -ne 0 ]'
check "the error names both hashes ($(cat "$W/bad.err"))" \
  'grep -q "$SHA" "$W/bad.err" && grep -q "$(sha256sum "$W/srv/wrong.onnx" | cut -d" " -f1)" "$W/bad.err"'
check "nothing under the final name, no .part" '[ ! -e "$C/tinybad.onnx" ] && [ ! -e "$C/tinybad.onnx.part" ]'

# --- 404: no retries
"$BIN" fetch tiny404 2> "$W/404.err"
check "fetch tiny404 fails" '[ $? -ne 0 ]'
check "the error says 404 ($(cat "$W/404.err"))" 'grep -q "HTTP 404" "$W/404.err"'
check "404 is not retried" '[ "$(reqs good nothere)" -eq 1 ]'
check "nothing under the final name" '[ ! -e "$C/tiny404.onnx" ]'

# --- a cut transfer, resumed by a Range request
"$BIN" fetch tinycut 2> "$W/cut.err"
check "fetch tinycut completes ($(cat "$W/cut.err"))" '[ $? -eq 0 ] && cmp -s "$C/tinycut.onnx" "$TINY"'
check "the retry asked for the rest with Range: bytes=$((SIZE / 2))-" \
  'grep -q "/cut/tinycut.onnx range=bytes=$((SIZE / 2))-" "$W/log"'
check "the retry was announced" 'grep -q "try 1 of 3" "$W/cut.err"'

# --- keeps failing: clean failure after 1 + 2 tries
"$BIN" fetch tinyfail 2> "$W/fail.err"
check "fetch tinyfail fails ($(tail -1 "$W/fail.err"))" '[ $? -ne 0 ]'
check "three tries" '[ "$(reqs alwayscut tinyfail)" -eq 3 ]'
check "later tries resume" 'grep -q "/alwayscut/tinyfail.onnx range=bytes=100-" "$W/log"'
check "no final file" '[ ! -e "$C/tinyfail.onnx" ]'
check "one error line" '[ "$(grep -c "^vidlstm fetch:" "$W/fail.err")" -eq 1 ]'

# --- a server that never answers: the stall timeout fires
t0=$(date +%s)
"$BIN" fetch tinyhang --stall-timeout 1 --retries 1 2> "$W/hang.err"
rc=$?
t1=$(date +%s)
check "fetch tinyhang fails" '[ $rc -ne 0 ]'
check "it times out ($(tail -1 "$W/hang.err"))" 'grep -q "timed out" "$W/hang.err"'
check "within seconds ($((t1 - t0)) s)" '[ $((t1 - t0)) -le 10 ]'
check "two tries (--retries 1)" '[ "$(reqs hang tinyhang)" -eq 2 ]'
check "no final file" '[ ! -e "$C/tinyhang.onnx" ]'

# --- a mirror serves the same file
VIDLSTM_MIRROR=$U/good "$BIN" fetch tinymirror 2> "$W/mirror.err"
check "fetch from the mirror ($(cat "$W/mirror.err"))" '[ $? -eq 0 ] && cmp -s "$C/tinymirror.onnx" "$TINY"'
check "the mirror was asked for FILE" '[ "$(reqs good tinymirror)" -eq 1 ]'
rm -f "$C/tinymirror.onnx"
"$BIN" fetch tinymirror --mirror "$U/good/" --cache "$W/cache2" 2> /dev/null > /dev/null
check "--mirror and --cache" 'cmp -s "$W/cache2/tinymirror.onnx" "$TINY"'

# --- unknown names and a broken table
"$BIN" fetch nosuch 2> "$W/unk.err"
check "fetch nosuch fails" '[ $? -ne 0 ]'
check "the error lists the known names ($(cat "$W/unk.err"))" \
  'grep -q "resnet18" "$W/unk.err" && grep -q "tinyok" "$W/unk.err" && [ "$(wc -l < "$W/unk.err")" -eq 1 ]'
echo '{"backbones": [{"name": "x", "url": "http://a/x.onnx", "size": 1, "sha256": "zz"}]}' > "$W/badtable.json"
VIDLSTM_BACKBONES=$W/badtable.json "$BIN" backbones > /dev/null 2> "$W/bt.err"
check "a bad table is one error naming it ($(cat "$W/bt.err"))" \
  '[ $? -ne 0 ] && grep -q "badtable.json" "$W/bt.err" && grep -q "sha256" "$W/bt.err"'

# --- --backbone NAME in train / predict / extract
if command -v ffmpeg > /dev/null; then
  mkdir -p "$W/data/a" "$W/data/b"
  for c in a b; do
    for i in 1 2 3; do
      h=0; [ $c = b ] && h=120
      ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc=size=64x48:rate=10:duration=1" -vf "hue=h=$h" \
        -pix_fmt yuv420p "$W/data/$c/v$i.mp4"
    done
  done
  T="--epochs 2 --ensemble 1 --cache $W/fc --quiet"
  "$BIN" train --data "$W/data" --backbone nosuch --out "$W/x.safetensors" $T 2> "$W/tu.err"
  check "train --backbone nosuch fails" '[ $? -ne 0 ] && [ ! -e "$W/x.safetensors" ]'
  check "with one error listing the names ($(cat "$W/tu.err"))" \
    '[ "$(wc -l < "$W/tu.err")" -eq 1 ] && grep -q "resnet18" "$W/tu.err" && grep -q "tinyok" "$W/tu.err"'

  "$BIN" train --data "$W/data" --backbone tinynamed --out "$W/m.safetensors" ${T% --quiet} 2> "$W/tn.err" > /dev/null
  check "train --backbone tinynamed fetches and trains ($(tail -1 "$W/tn.err"))" '[ $? -eq 0 ] && [ -e "$W/m.safetensors" ]'
  check "it said it was fetching" 'grep -q "fetching tinynamed" "$W/tn.err"'
  rm -f "$C/tinynamed.onnx" "$C/tinynamed.onnx.sha256"
  "$BIN" train --data "$W/data" --backbone tinynamed --out "$W/m.safetensors" $T 2> "$W/tq.err"
  check "with --quiet it fetches in silence ($(cat "$W/tq.err"))" '[ $? -eq 0 ] && [ ! -s "$W/tq.err" ] && [ -e "$C/tinynamed.onnx" ]'
  check "the model records the name and the SHA-256" \
    '"$BIN" info "$W/m.safetensors" | grep -q "backbone: tinynamed" && "$BIN" info "$W/m.safetensors" | grep -q "SHA-256: $SHA"'
  "$BIN" predict --model "$W/m.safetensors" "$W/data/a/v1.mp4" > "$W/p1.txt" 2> "$W/p1.err"
  check "predict with the named backbone ($(cat "$W/p1.err"))" '[ $? -eq 0 ]'
  check "predict did not fetch again" '[ "$(reqs good tinynamed)" -eq 2 ]'

  # a corrupted cached file (same size) is not used: fetched again
  printf 'X' | dd of="$C/tinynamed.onnx" bs=1 seek=200 conv=notrunc 2>/dev/null
  touch -d '2001-01-01' "$C/tinynamed.onnx"
  "$BIN" predict --model "$W/m.safetensors" "$W/data/a/v1.mp4" > "$W/p2.txt" 2> "$W/p2.err"
  check "predict after corruption succeeds ($(tail -1 "$W/p2.err"))" '[ $? -eq 0 ] && cmp -s "$W/p1.txt" "$W/p2.txt"'
  check "it said the cached file fails its checksum" 'grep -q "fails its checksum" "$W/p2.err"'
  check "and fetched it again" '[ "$(reqs good tinynamed)" -eq 3 ] && cmp -s "$C/tinynamed.onnx" "$TINY"'

  # the table now says tinynamed is another file: the model refuses it
  sed "s|$U/good/tinynamed.onnx\",\"file\":\"tinynamed.onnx\",\"size\":$SIZE,\"sha256\":\"$SHA\"|$U/good/other.onnx\",\"file\":\"tinynamed2.onnx\",\"size\":$OSIZE,\"sha256\":\"$OSHA\"|" \
    "$W/table.json" > "$W/table2.json"
  check "table rewritten" 'grep -q "tinynamed2.onnx" "$W/table2.json"'
  VIDLSTM_BACKBONES=$W/table2.json "$BIN" predict --model "$W/m.safetensors" "$W/data/a/v1.mp4" > /dev/null 2> "$W/p3.err"
  check "predict refuses another file under the same name" '[ $? -ne 0 ]'
  check "naming both hashes ($(tail -1 "$W/p3.err"))" 'grep -q "$SHA" "$W/p3.err" && grep -q "$OSHA" "$W/p3.err"'
  VIDLSTM_BACKBONES=$W/table2.json "$BIN" eval --model "$W/m.safetensors" --data "$W/data" --cache "" > /dev/null 2> "$W/e3.err"
  check "eval refuses it too" '[ $? -ne 0 ] && grep -q "$OSHA" "$W/e3.err"'

  # a fused backbone with a named part records one hash per part and checks them
  "$BIN" train --data "$W/data" --backbone "tinynamed+builtin:motion-grid" --out "$W/fu.safetensors" $T 2> "$W/fu.err"
  check "train on tinynamed+builtin:motion-grid ($(tail -1 "$W/fu.err"))" \
    '[ $? -eq 0 ] && "$BIN" info "$W/fu.safetensors" | grep -q "SHA-256: $SHA+\$"'
  "$BIN" predict --model "$W/fu.safetensors" "$W/data/a/v1.mp4" > /dev/null 2> "$W/fu1.err"
  check "predict with it ($(tail -1 "$W/fu1.err"))" '[ $? -eq 0 ]'
  VIDLSTM_BACKBONES=$W/table2.json "$BIN" predict --model "$W/fu.safetensors" "$W/data/a/v1.mp4" > /dev/null 2> "$W/fu2.err"
  check "a changed named part is refused ($(tail -1 "$W/fu2.err"))" '[ $? -ne 0 ] && grep -q "$OSHA" "$W/fu2.err"'

  # a model trained on a file path whose file then changed
  cp "$TINY" "$W/mine.onnx"
  "$BIN" train --data "$W/data" --backbone "$W/mine.onnx" --out "$W/f.safetensors" $T 2> "$W/tf.err"
  check "train on a file ($(tail -1 "$W/tf.err"))" '[ $? -eq 0 ] && "$BIN" info "$W/f.safetensors" | grep -q "SHA-256: $SHA"'
  cp "$OTHER" "$W/mine.onnx"
  "$BIN" predict --model "$W/f.safetensors" "$W/data/a/v1.mp4" > /dev/null 2> "$W/pf.err"
  check "predict refuses the changed file naming both hashes ($(tail -1 "$W/pf.err"))" \
    '[ $? -ne 0 ] && grep -q "$SHA" "$W/pf.err" && grep -q "$OSHA" "$W/pf.err" && grep -q "mine.onnx" "$W/pf.err"'

  # extract --backbone NAME fetches into the cache given by the environment
  "$BIN" extract --data "$W/data" --backbone tinyfresh --out "$W/feats" --cache "" 2> "$W/ex.err" > /dev/null
  check "extract --backbone tinyfresh ($(tail -1 "$W/ex.err"))" '[ $? -eq 0 ] && cmp -s "$C/tinyfresh.onnx" "$TINY"'
  check "its backbone.json records the hash" 'grep -q "\"sha256\":\"$SHA\"" "$W/feats/backbone.json"'
else
  echo "ffmpeg missing: --backbone NAME with videos not tested"
fi

# npm-sourced names (mobilenetv2-trunk, converted from nsfwjs's TF.js model
# on first use): without the package, one error that says how to get it; a
# package file that is not the pinned one is refused; with the real package
# (scripts/get_npm_models.sh, optional), the conversion gives the pinned file
mkdir -p "$W/npm/nsfwjs-4.4.0/mobilenet_v2"
VIDLSTM_NPM_DIR=$W/nonpm "$BIN" fetch mobilenetv2-trunk --cache "$W/npmc" > /dev/null 2> "$W/npm1.err"
check "an npm name without its package says to run get_npm_models.sh ($(cat "$W/npm1.err"))" \
  '[ $? -ne 0 ] && grep -q "scripts/get_npm_models.sh" "$W/npm1.err" && [ ! -e "$W/npmc/mobilenetv2-trunk-nsfwjs-4.4.0.onnx" ]'
echo '{"format":"layers-model"}' > "$W/npm/nsfwjs-4.4.0/mobilenet_v2/model.json"
: > "$W/npm/nsfwjs-4.4.0/mobilenet_v2/group1-shard1of1.bin"
VIDLSTM_NPM_DIR=$W/npm "$BIN" fetch mobilenetv2-trunk --cache "$W/npmc" > /dev/null 2> "$W/npm2.err"
check "a package file with another hash is refused ($(cat "$W/npm2.err"))" \
  '[ $? -ne 0 ] && grep -q "f12c449cf6ba0b4c" "$W/npm2.err" && [ ! -e "$W/npmc/mobilenetv2-trunk-nsfwjs-4.4.0.onnx" ]'
NPMD=${XDG_CACHE_HOME:-$HOME/.cache}/vidlstm/npm
if [ -f "$NPMD/nsfwjs-4.4.0/mobilenet_v2/model.json" ]; then
  VIDLSTM_NPM_DIR=$NPMD "$BIN" fetch mobilenetv2-trunk --cache "$W/npmc" > /dev/null 2> "$W/npm3.err"
  check "the real package converts to the pinned file ($(tail -1 "$W/npm3.err"))" \
    '[ $? -eq 0 ] && [ "$(sha256sum < "$W/npmc/mobilenetv2-trunk-nsfwjs-4.4.0.onnx" | cut -c1-64)" = 789bd8c065682091eb4ae26c6ab14bcb90b42f639cce0e3f29214b62b0c1cdb4 ]'
else
  echo "SKIP: nsfwjs 4.4.0 not in $NPMD (scripts/get_npm_models.sh): its conversion not tested"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
