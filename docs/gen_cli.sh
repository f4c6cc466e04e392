#!/bin/sh
# Writes the command reference (docs/cli.md) from every command's --help, so
# the two cannot drift apart: tests/cli_docs.sh fails when docs/cli.md is stale.
#   docs/gen_cli.sh [build/vidlstm] > docs/cli.md
BIN=${1:-build/vidlstm}
echo "# Command reference"
echo
echo "Generated from \`vidlstm <command> --help\` by \`docs/gen_cli.sh\` (the test suite checks"
echo "that this page and the program agree). The guides: [train.md](train.md) (training,"
echo "evaluation, prediction), [video.md](video.md) (video input), [backbones.md](backbones.md)"
echo "(ONNX CNNs), [builtin-backbone.md](builtin-backbone.md), [model-format.md](model-format.md),"
echo "[report.md](report.md)."
for c in demo train eval predict extract info infer; do
  echo
  echo "## vidlstm $c"
  echo
  echo '```'
  "$BIN" "$c" --help
  echo '```'
done
