#!/usr/bin/env bash
# Renders the demo ALPR camera's video: 1280x720 H.264, 12 s, plate-like white
# boxes with black text driving across the frame (ABC1234, then XYZ9876, then
# KLM4455). Served over RTSP by tests/support/rtsp_server.py it replays on each
# connection. Needs ffmpeg and fonts-dejavu-core.
# usage: deploy/render-plates.sh OUT.mp4
set -euo pipefail
out=${1:?usage: deploy/render-plates.sh OUT.mp4}
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
[ -f "$font" ] || { echo "font $font missing: apt-get install -y fonts-dejavu-core" >&2; exit 1; }
plate() { # TEXT T0 T1 Y
  local en="between(t,$2,$3)"
  printf "drawbox=x='100+(t-%s)*120':y=%s:w=360:h=120:color=white:t=fill:enable='%s',drawtext=fontfile=%s:text=%s:fontsize=72:fontcolor=black:x='120+(t-%s)*120':y=%s:enable='%s'" \
    "$2" "$4" "$en" "$font" "$1" "$2" "$(( $4 + 25 ))" "$en"
}
vf="$(plate ABC1234 0.5 3.0 120),$(plate XYZ9876 4.0 6.5 480),$(plate KLM4455 8.0 10.5 300)"
ffmpeg -loglevel error -y -f lavfi -i color=c=0x405060:s=1280x720:r=25:d=12 -vf "$vf" \
  -c:v libx264 -pix_fmt yuv420p -g 25 "$out"
