#!/usr/bin/env bash
# Synthetic data for the whole-pipeline benchmark (issue 13): a class-folder
# dataset that `vidlstm train --data OUT` reads (OUT/<class>/<clip>.{mp4,webm,avi}),
# or one long 1080p H.264 video. Generated with the ffmpeg CLI only, from lavfi
# still pictures (mandelbrot, cellauto, life, a geq colour field, testsrc2) that the
# camera moves over; the classes differ only by that motion:
#   pan_left   the view slides left over the picture (content moves right)
#   pan_right  the view slides right
#   zoom_in    the view zooms into the picture's centre
#   static     the view stays put
# Every clip gets light temporal noise (the noise filter, seeded) so that no
# class is trivially compressible.
#
#   bench/pipeline/make_clips.sh OUT [--n 120] [--seed 1] [--jobs 2]
#       ~N clips (N/4 per class), 2-6 s, 640x360 or 320x240, 25 or 30 fps,
#       codecs in turn: H.264 (.mp4), VP9 (.webm), MJPEG (.avi).
#       With the defaults: ~4,900 frames sampled at vidlstm's default 10 fps,
#       ~60 MB, ~2 min on 2 cores.
#   --photos CSV  also pans over photographs (lines name,path; e.g.
#       build-cache/quality/photos.csv), about 2 pictures in 7: natural texture
#       makes decoding cost what real footage costs. Another picture sequence
#       than without it (the seed draws from 7 kinds instead of 5).
#   bench/pipeline/make_clips.sh OUT.mp4 --long [--duration 600] [--seed 1]
#       one 1920x1080 30 fps H.264 video: the view sweeps over a 2880x1620
#       picture, its direction changing every few seconds.
#
# Deterministic: the same --seed gives the same clip list, sizes, durations,
# pictures and motions (bash arithmetic LCG; no awk/$RANDOM), and every encoder
# runs single-threaded with bit-exact muxing, so the files are byte-identical
# for the same ffmpeg build. Files that exist are kept (delete OUT to redo).
# Generated media is never committed: write under /tmp or build-cache.
set -euo pipefail

FFMPEG=${FFMPEG:-/usr/bin/ffmpeg}
N=120 SEED=1 JOBS=2 LONG=0 DURATION=600 OUT= PHOTOS_CSV=
while [ $# -gt 0 ]; do
  case $1 in
    --n) N=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --long) LONG=1; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    --photos) PHOTOS_CSV=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make_clips.sh: unknown option $1" >&2; exit 2 ;;
    *) [ -z "$OUT" ] || { echo "make_clips.sh: one OUT only" >&2; exit 2; }; OUT=$1; shift ;;
  esac
done
[ -n "$OUT" ] || { echo "usage: make_clips.sh OUT [--n 120] [--seed S] [--jobs 2] [--photos CSV] | OUT.mp4 --long [--duration 600] [--photos CSV]" >&2; exit 2; }
[ -x "$FFMPEG" ] || { echo "make_clips.sh: $FFMPEG not found" >&2; exit 1; }
case $N$SEED$JOBS$DURATION in *[!0-9]*) echo "make_clips.sh: --n --seed --jobs --duration take integers" >&2; exit 2 ;; esac

PHOTOS=()
if [ -n "$PHOTOS_CSV" ]; then
  [ -f "$PHOTOS_CSV" ] || { echo "make_clips.sh: $PHOTOS_CSV: no such file" >&2; exit 1; }
  while IFS=, read -r _ path; do
    case $path in *[\',:\;\[\]=]*) echo "make_clips.sh: $path: characters lavfi cannot take, skipped" >&2; continue ;; esac
    [ -f "$path" ] && PHOTOS+=("$path")
  done < "$PHOTOS_CSV"
  [ ${#PHOTOS[@]} -gt 0 ] || { echo "make_clips.sh: $PHOTOS_CSV lists no readable pictures" >&2; exit 1; }
fi

# LCG (glibc's constants, 31 bits); rnd LO HI -> R in [LO, HI]
STATE=$(( (SEED * 2654435761 + 12345) % 2147483648 ))
rnd() {
  STATE=$(( (STATE * 1103515245 + 12345) % 2147483648 ))
  R=$(( $1 + (STATE >> 8) % ($2 - $1 + 1) ))
}
# a decimal fraction from an integer in millionths: frac 1234567 -> 1.234567
frac() { local v=$1 s=; [ "$v" -lt 0 ] && { s=-; v=$(( -v )); }; printf '%s%d.%06d' "$s" $((v / 1000000)) $((v % 1000000)); }

# still picture number K of size WxH (lavfi source + its parameters from the LCG)
picture() { # $1 = W, $2 = H; sets SRC (a lavfi graph producing frames of that picture)
  local w=$1 h=$2 rules=(18 22 30 45 54 60 73 90 105 110 126 150)
  if [ -n "${ONLY_PHOTOS:-}" ]; then R=5; else rnd 0 $(( ${#PHOTOS[@]} ? 6 : 4 )); fi
  case $R in
    0) rnd -300000 300000; local dx=$R; rnd -300000 300000; local dy=$R; rnd 5 60
       SRC="mandelbrot=s=${w}x${h}:maxiter=2048:start_x=$(frac $(( -743644 + dx / 10 ))):start_y=$(frac $(( -131826 + dy / 10 ))):start_scale=$(frac $(( R * 10000 )))" ;;
    1) rnd 0 $(( ${#rules[@]} - 1 )); local rule=${rules[$R]}; rnd 1 1000000
       SRC="cellauto=s=$(( w / 4 ))x$(( h / 4 )):rule=$rule:seed=$R:full=1,scale=${w}x${h}:flags=neighbor" ;;
    2) rnd 1 1000000; local s=$R; rnd 2 6
       SRC="life=s=$(( w / 8 ))x$(( h / 8 )):seed=$s:ratio=0.$R:mold=5:life_color=#f0c040:death_color=#202060:mold_color=#40a040,scale=${w}x${h}:flags=neighbor" ;;
    3) rnd 20 90; local a=$R; rnd 20 90; local b=$R; rnd 20 90; local c=$R; rnd 20 90  # (gradients= is not deterministic)
       SRC="color=c=black:s=${w}x${h},geq=r='128+100*sin(X/$a+Y/$b)':g='128+100*sin(X/$c-Y/$R)':b='128+100*cos((X+Y)/$a)',drawgrid=w=$(( w / 12 )):h=$(( h / 9 )):t=2:c=white@0.6" ;;
    4) rnd 0 359
       SRC="testsrc2=s=${w}x${h},hue=h=$R" ;;
    *) rnd 0 $(( ${#PHOTOS[@]} - 1 )); local ph=${PHOTOS[$R]}; rnd 0 100; local cx=$R; rnd 0 100
       SRC="movie=filename=${ph},scale=${w}:${h}:force_original_aspect_ratio=increase,crop=${w}:${h}:x='(iw-ow)*$cx/100':y='(ih-oh)*$R/100'" ;;
  esac
  # one frame, as a picture the camera moves over
  SRC="$SRC,trim=end_frame=1,format=yuv444p"
}

# encoder arguments for codec index C (0 H.264, 1 VP9, 2 MJPEG); sets EXT, ENC
codec() {
  case $1 in
    0) EXT=mp4  ENC="-c:v libx264 -preset veryfast -crf 23 -g 60 -pix_fmt yuv420p -x264-params threads=1" ;;
    1) EXT=webm ENC="-c:v libvpx-vp9 -deadline realtime -cpu-used 8 -crf 36 -b:v 0 -g 60 -row-mt 0 -threads 1 -pix_fmt yuv420p" ;;
    2) EXT=avi  ENC="-c:v mjpeg -q:v 5 -pix_fmt yuvj420p" ;;
  esac
}

# the camera over a picture of PWxPH: a filter chain ending in WxH frames at FPS
# for D seconds. $1 motion, $2 W, $3 H, $4 fps, $5 duration (s), $6 speed (%)
camera() {
  local m=$1 w=$2 h=$3 fps=$4 d=$5 sp=$6 pw=$(( $2 * 2 )) ph=$(( $3 * 2 ))
  local nfr=$(( fps * d )) span=$(( w * sp / 100 ))  # pixels travelled over the clip
  case $m in
    pan_left)  CAM="crop=$w:$h:x='$(( (pw - w + span) / 2 ))-$span*n/$nfr':y=$(( (ph - h) / 2 ))" ;;
    pan_right) CAM="crop=$w:$h:x='$(( (pw - w - span) / 2 ))+$span*n/$nfr':y=$(( (ph - h) / 2 ))" ;;
    zoom_in)   CAM="zoompan=z='2+$sp*0.02*on/$nfr':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=${w}x${h}:fps=$fps" ;;
    static)    CAM="crop=$w:$h:x=$(( (pw - w) / 2 )):y=$(( (ph - h) / 2 ))" ;;
  esac
}

run_ffmpeg() { # $1 = output; the rest: ffmpeg arguments; atomic (temp + rename)
  local out=$1; shift
  local tmp="${out%.*}.part.${out##*.}"
  if "$FFMPEG" -nostdin -hide_banner -loglevel error -y "$@" -fflags +bitexact -flags:v +bitexact "$tmp"; then
    mv -f "$tmp" "$out"
  else
    rm -f "$tmp"; echo "make_clips.sh: ffmpeg failed for $out" >&2; return 1
  fi
}

if [ $LONG = 1 ]; then
  case $OUT in *.mp4) ;; *) OUT="$OUT/long_1080p_${DURATION}s.mp4" ;; esac
  mkdir -p "$(dirname "$OUT")"
  [ -s "$OUT" ] && { echo "make_clips.sh: $OUT exists, kept"; exit 0; }
  [ ${#PHOTOS[@]} -eq 0 ] || ONLY_PHOTOS=1  # with --photos, a photograph (more like real footage)
  picture 2880 1620
  # camera path: slow sweeps whose periods come from the seed (crop, not
  # zoompan: zoompan's per-frame rescale made 10 minutes take ~25 CPU-minutes)
  rnd 13 29; px=$R; rnd 17 37; py=$R
  CAM="crop=1920:1080:x='480*(1+sin(2*PI*t/$px))':y='270*(1+sin(2*PI*t/$py))'"
  codec 0
  echo "make_clips.sh: writing $OUT (1920x1080, 30 fps, ${DURATION}s, H.264)"
  # the picture is made once, looped, then the camera samples 1080p from it
  # shellcheck disable=SC2086
  run_ffmpeg "$OUT" -f lavfi -i "$SRC,loop=loop=-1:size=1:start=0,setpts=N/30/TB,$CAM,noise=alls=3:allf=t:all_seed=$SEED,format=yuv420p" \
    -t "$DURATION" -r 30 -c:v libx264 -preset veryfast -crf 23 -g 60 -pix_fmt yuv420p -x264-params threads=2
  ls -l "$OUT"
  exit 0
fi

CLASSES=(pan_left pan_right zoom_in static)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
list=$(mktemp) recipe=$(mktemp)
trap 'rm -f "$list" "$recipe"' EXIT
per=$(( (N + ${#CLASSES[@]} - 1) / ${#CLASSES[@]} ))
i=0
for k in $(seq 0 $(( per - 1 ))); do
  for ci in "${!CLASSES[@]}"; do
    [ $i -lt "$N" ] || break
    cls=${CLASSES[$ci]}
    rnd 0 1; if [ $R = 0 ]; then w=640 h=360; else w=320 h=240; fi
    rnd 0 1; fps=$(( R == 0 ? 30 : 25 ))
    rnd 2 6; d=$R
    rnd 40 90; sp=$R
    codec $(( (k + ci) % 3 ))
    picture $(( w * 2 )) $(( h * 2 ))
    camera "$cls" "$w" "$h" "$fps" "$d" "$sp"
    mkdir -p "$OUT/$cls"
    f=$(printf '%s/%s/%s_%03d.%s' "$OUT" "$cls" "$cls" "$k" "$EXT")
    # one line per clip: output, lavfi graph, encoder args (tab-separated)
    line=$(printf '%s\t%s\t%s' "$f" \
      "$SRC,loop=loop=-1:size=1:start=0,setpts=N/$fps/TB,$CAM,noise=alls=4:allf=t:all_seed=$(( SEED * 1000 + i )),format=yuv420p" \
      "-t $d -r $fps $ENC")
    echo "${line#"$OUT"/}" >> "$recipe"
    [ -s "$f" ] || echo "$line" >> "$list"
    i=$(( i + 1 ))
  done
done
todo=$(wc -l < "$list")
echo "make_clips.sh: $i clips in $OUT ($todo to write, seed $SEED, $JOBS jobs)"
export FFMPEG
export -f run_ffmpeg
# shellcheck disable=SC2016
tr '\n' '\0' < "$list" | xargs -0 -r -P "$JOBS" -n 1 bash -c '
  IFS=$'"'"'\t'"'"' read -r f graph enc <<< "$1"
  read -r -a e <<< "$enc"
  run_ffmpeg "$f" -f lavfi -i "$graph" "${e[@]}"' _
find "$OUT" -name '*.part.*' -delete
cp "$recipe" "$OUT/clips.tsv"  # how each clip was made (path, lavfi graph, encoder); not a class folder
echo "make_clips.sh: done: $(find "$OUT" -type f | wc -l) files, $(du -sh "$OUT" | cut -f1)"
