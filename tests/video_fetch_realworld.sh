#!/bin/sh
# Fetches a real-world test video no one here made: OpenCV's vtest.avi, from
# Debian's opencv-doc package, into DIR (default: /tmp/vidlstm-video-cache).
# Used by test_video (ctest runs this first, as a fixture). Never fails the
# suite: without the network or apt, it says so and test_video skips that part.
# It tries the download once per DIR; delete DIR/fetch-failed to try again.
dir=${1:-/tmp/vidlstm-video-cache}
name=usr/share/doc/opencv-doc/examples/data/vtest.avi
mkdir -p "$dir" || { echo "SKIP: cannot create $dir"; exit 0; }
if [ -s "$dir/vtest.avi" ]; then echo "have $dir/vtest.avi"; exit 0; fi
if [ -s "/$name" ] || [ -s "/$name.gz" ]; then echo "have /$name (installed)"; exit 0; fi
if [ -e "$dir/fetch-failed" ]; then echo "SKIP: an earlier fetch failed ($dir/fetch-failed)"; exit 0; fi
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 ||
  { echo "SKIP: no apt-get/dpkg-deb here"; : > "$dir/fetch-failed"; exit 0; }
work=$(mktemp -d "$dir/fetch.XXXXXX") || exit 0
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && timeout 300 apt-get download opencv-doc >/dev/null 2>&1); then
  echo "SKIP: apt-get download opencv-doc failed (no network?)"; : > "$dir/fetch-failed"; exit 0
fi
deb=$(ls "$work"/opencv-doc_*.deb 2>/dev/null | head -n 1)
# extract just the one file (the package is ~100 MB); else unpack it all
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" "./$name" 2>/dev/null ||
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" "./$name.gz" 2>/dev/null ||
  dpkg-deb -x "$deb" "$work"
if [ -s "$work/$name" ]; then
  mv "$work/$name" "$dir/vtest.avi.part" && mv "$dir/vtest.avi.part" "$dir/vtest.avi"
elif [ -s "$work/$name.gz" ]; then
  gzip -dc "$work/$name.gz" > "$dir/vtest.avi.part" && mv "$dir/vtest.avi.part" "$dir/vtest.avi"
fi
if [ -s "$dir/vtest.avi" ]; then echo "fetched $dir/vtest.avi"; else echo "SKIP: vtest.avi not in opencv-doc"; : > "$dir/fetch-failed"; fi
exit 0
