#!/bin/sh
# Writes the command reference from every command's --help, so the docs and
# the program cannot drift apart (tests/cli_docs.sh fails when they differ):
#   DOCS/cli.md          all commands on one page
#   DOCS/cli/<cmd>.md    one page per command
# usage: docs/gen_cli.sh [build/vidlstm] [docs]
BIN=${1:-build/vidlstm}
OUT=${2:-docs}
CMDS="demo train eval predict extract backbones fetch info infer import-tfjs export"
mkdir -p "$OUT/cli"
guides="The guides: [train.md](train.md) (training, evaluation, prediction), [video.md](video.md)
(video input), [backbones.md](backbones.md) (ONNX CNNs), [tfjs.md](tfjs.md) (TF.js models from npm), [builtin-backbone.md](builtin-backbone.md),
[model-format.md](model-format.md), [report.md](report.md), [deploy.md](deploy.md) (ONNX export), [cluster.md](cluster.md) (MPI, Slurm)."
{
  echo "# Command reference"
  echo
  echo "Generated from \`vidlstm <command> --help\` by \`docs/gen_cli.sh\` (the test suite checks"
  echo "that these pages and the program agree). One page per command:"
  for c in $CMDS; do printf ' [%s](cli/%s.md)' "$c" "$c"; done
  echo "."
  echo
  echo "$guides"
  for c in $CMDS; do
    echo
    echo "## vidlstm $c"
    echo
    echo '```'
    "$BIN" "$c" --help
    echo '```'
  done
} > "$OUT/cli.md"
for c in $CMDS; do
  {
    echo "# vidlstm $c"
    echo
    echo "Generated from \`vidlstm $c --help\` by \`docs/gen_cli.sh\`. All commands: [../cli.md](../cli.md)."
    echo
    echo '```'
    "$BIN" "$c" --help
    echo '```'
  } > "$OUT/cli/$c.md"
done
