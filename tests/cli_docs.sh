#!/bin/sh
# The documentation agrees with the program: docs/cli.md is exactly what
# docs/gen_cli.sh makes from the commands' --help, and the README names every
# command and every option its tables mention exists in that command's --help.
# usage: cli_docs.sh VIDLSTM SOURCE_DIR
BIN=$1
SRC=$2
pass=0
fail=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
rm -f "$tmp"
mkdir -p "$tmp.d"
sh "$SRC/docs/gen_cli.sh" "$BIN" "$tmp.d"
if diff -r "$tmp.d/cli.md" "$SRC/docs/cli.md" > /dev/null && diff -r "$tmp.d/cli" "$SRC/docs/cli" > /dev/null; then
  pass=$((pass + 1))
else
  echo "FAIL: docs/cli.md or docs/cli/ is stale: run docs/gen_cli.sh build/vidlstm docs"
  diff -r "$tmp.d" "$SRC/docs" 2> /dev/null | grep -v "^Only in" | head -20
  fail=$((fail + 1))
fi
rm -rf "$tmp.d"
for c in demo train eval predict extract backbones fetch info infer import-tfjs; do
  if grep -q "vidlstm $c" "$SRC/README.md"; then pass=$((pass + 1)); else echo "FAIL: README does not mention vidlstm $c"; fail=$((fail + 1)); fi
done
# README table rows: | `vidlstm CMD ...` | ... | -- every --option in the row must be in CMD --help
grep -E '^\| `vidlstm [a-z-]+' "$SRC/README.md" | while IFS= read -r row; do
  c=$(echo "$row" | sed -E 's/^\| `vidlstm ([a-z-]+).*/\1/')
  for o in $(echo "$row" | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
    if "$BIN" "$c" --help | grep -q -- "$o"; then echo ok; else echo "FAIL: README says vidlstm $c takes $o; its --help does not"; fi
  done
done > "$tmp.rows"
pass=$((pass + $(grep -c '^ok$' "$tmp.rows")))
fail=$((fail + $(grep -c '^FAIL' "$tmp.rows")))
grep '^FAIL' "$tmp.rows"
rm -f "$tmp.rows"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
