#!/bin/sh
# A directory given as an ONNX model (info FILE, --backbone SPEC) is one clear
# error and exit 1; it used to read as a file of LONG_MAX bytes and report
# "out of memory (9223372036854775807 bytes)". Nothing may be written.
# usage: cli_onnx_dir.sh VIDLSTM DATA_DIR
BIN=$1
DATA=$2
W=$(mktemp -d /tmp/vl_onnxdir.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
for c in "info $W" "extract --data $DATA --out $W/out --backbone $W"; do
  # shellcheck disable=SC2086 # word splitting of $c is intended
  if "$BIN" $c 2> "$W.err"; then
    echo "FAIL: vidlstm $c exited 0"; fail=1
  elif ! grep -q "$W is a directory, not an ONNX file" "$W.err"; then
    echo "FAIL: vidlstm $c: $(cat "$W.err")"; fail=1
  fi
  if [ -e "$W/out" ]; then echo "FAIL: vidlstm $c wrote $W/out"; fail=1; fi
done
rm -f "$W.err"
[ $fail = 0 ] && echo "cli_onnx_dir: ok"
exit $fail
