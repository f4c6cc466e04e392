#!/usr/bin/env bash
# Fetches the quality suite's photographs from Debian 12 packages (apt-get
# download + dpkg-deb -x; nothing is installed) into CACHE (default
# build-cache/quality in the repository root) and writes CACHE/photos.csv
# (name,path), one line per photo found. A package that cannot be had is
# skipped with a message; exits 3 when fewer than 4 photos are available.
#   bench/quality/fetch_photos.sh [CACHE]
set -uo pipefail
cd "$(dirname "$0")/../.."
CACHE=${1:-build-cache/quality}
mkdir -p "$CACHE/debs" "$CACHE/root"
CACHE=$(cd "$CACHE" && pwd)

# scene name | package | file inside the package (licences: bench/quality/README.md)
PHOTOS="
path|plasma-workspace-wallpapers|usr/share/wallpapers/Path/contents/images/2560x1600.jpg
bythewater|plasma-workspace-wallpapers|usr/share/wallpapers/BytheWater/contents/images/2560x1600.jpg
meadow|mate-backgrounds|usr/share/backgrounds/mate/nature/GreenMeadow.jpg
motorcycle|python3-skimage|usr/lib/python3/dist-packages/skimage/data/motorcycle_left.png
eveningglow|plasma-workspace-wallpapers|usr/share/wallpapers/EveningGlow/contents/images/2560x1600.jpg
dune|mate-backgrounds|usr/share/backgrounds/mate/nature/Dune.jpg
coffee|python3-skimage|usr/lib/python3/dist-packages/skimage/data/coffee.png
kleiber|lomiri-wallpapers-20.04|usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg
fallenleaf|plasma-workspace-wallpapers|usr/share/wallpapers/FallenLeaf/contents/images/2560x1600.jpg
garden|mate-backgrounds|usr/share/backgrounds/mate/nature/Garden.jpg
rocket|python3-skimage|usr/lib/python3/dist-packages/skimage/data/rocket.jpg
grey|plasma-workspace-wallpapers|usr/share/wallpapers/Grey/contents/images/2560x1600.jpg
cups|plasma-workspace-wallpapers|usr/share/wallpapers/ColorfulCups/contents/images/2560x1600.jpg
wood|mate-backgrounds|usr/share/backgrounds/mate/nature/Wood.jpg
moss|plasma-workspace-wallpapers|usr/share/wallpapers/OneStandsOut/contents/images/2560x1600.jpg
storm|mate-backgrounds|usr/share/backgrounds/mate/nature/Storm.jpg
"
# The order matters: the first 8 are the reduced suite's scenes; every 4th
# scene (4th, 8th, ...) is a test scene of the scene-disjoint split.

pkgs=$(echo "$PHOTOS" | awk -F'|' 'NF==3{print $2}' | sort -u)
updated=0
for p in $pkgs; do
  if ls "$CACHE/debs/${p}_"*.deb >/dev/null 2>&1; then continue; fi
  if ! (cd "$CACHE/debs" && apt-get download "$p" >/dev/null 2>&1); then
    if [ $updated -eq 0 ] && [ "$(id -u)" -eq 0 ]; then
      echo "fetch_photos: apt-get download $p failed; running apt-get update once" >&2
      apt-get update -q >/dev/null 2>&1; updated=1
      (cd "$CACHE/debs" && apt-get download "$p" >/dev/null 2>&1) || echo "fetch_photos: skipping package $p (cannot download)" >&2
    else
      echo "fetch_photos: skipping package $p (cannot download)" >&2
    fi
  fi
done

: > "$CACHE/photos.csv.tmp"
n=0
while IFS='|' read -r name pkg file; do
  [ -n "$name" ] || continue
  deb=$(ls "$CACHE/debs/${pkg}_"*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || continue
  if [ ! -e "$CACHE/root/$file" ]; then
    # extract only the wanted file (and what its symlink points to)
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$CACHE/root" --wildcards "./$(dirname "$file")/*" 2>/dev/null
  fi
  if [ -s "$CACHE/root/$file" ]; then
    echo "$name,$(readlink -f "$CACHE/root/$file")" >> "$CACHE/photos.csv.tmp"; n=$((n+1))
  else
    echo "fetch_photos: skipping $name ($file not in $pkg)" >&2
  fi
done <<< "$PHOTOS"
mv "$CACHE/photos.csv.tmp" "$CACHE/photos.csv"
echo "fetch_photos: $n photos in $CACHE/photos.csv" >&2
[ $n -ge 4 ] || { echo "fetch_photos: fewer than 4 photos available; the quality suite cannot run" >&2; exit 3; }
