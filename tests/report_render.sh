#!/bin/sh
# Renders generated reports in a real browser: when `chromium` is on PATH,
# test_report writes its reports into WORKDIR, headless Chromium screenshots
# report.html of the classify (3 and 101 classes), regress and sequence cases,
# and png_nonblank decodes each PNG with FFmpeg and requires visible content
# (non-white pixels, distinct colours). Without chromium it prints a skip
# message and passes.
# Usage: report_render.sh TEST_REPORT PNG_NONBLANK WORKDIR
set -u
test_report=$1
png_nonblank=$2
work=$3

browser=$(command -v chromium || true)
if [ -z "$browser" ]; then
  echo "report_render: chromium not on PATH; skipped (apt-get install chromium to run it)"
  echo "0 passed, 0 failed"
  exit 0
fi

rm -rf "$work"
mkdir -p "$work/shots" "$work/profile"
"$test_report" "$work/reports" > "$work/test_report.log" 2>&1 || {
  cat "$work/test_report.log"
  echo "report_render: test_report failed"
  exit 1
}

fail=0
pass=0
for case in classify3/nested/dir classify101 regress sequence; do
  html="$work/reports/$case/report.html"
  png="$work/shots/$(echo "$case" | cut -d/ -f1).png"
  # a fresh profile folder keeps the run independent of ~/.config
  if ! timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
      --user-data-dir="$work/profile" --screenshot="$png" --window-size=1200,2000 \
      "file://$html" > "$work/chromium.log" 2>&1 || [ ! -s "$png" ]; then
    cat "$work/chromium.log"
    echo "report_render: chromium could not render $html"
    fail=$((fail + 1))
    continue
  fi
  # a chart page: at least 1.5% ink and a couple of dozen colours
  if "$png_nonblank" "$png" 1.5 24; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
  fi
done
echo "screenshots in $work/shots"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
