#!/usr/bin/env bash
# Sets up and runs camplane on one machine with its embedded defaults: a controller
# (embedded store, TLS with its own CA), the example city, a demo camera (an RTSP
# stream of generated video), an ALPR camera (rendered plates driving past), a
# hotlist, and an agent that enrols, records both cameras, reads the plates,
# raises a hotlist alert and reports health. Ctrl-C stops everything.
#
# `deploy/demo.sh --check` does the same, checks that each of those happened (a
# recording, the camera online, the ABC1234 alert, an intact audit chain), prints
# what it found and exits: 0 when all held, 1 otherwise (deploy/purge-check.sh uses it).
set -euo pipefail
CHECK=0
case "${1:-}" in
  --check) CHECK=1 ;;
  "") ;;
  *) echo "usage: deploy/demo.sh [--check]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/fetch-models.sh
cargo build --release --bins
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
DATA=${CAMPLANE_DEMO_DIR:-$PWD/demo-data}
rm -rf "$DATA"; mkdir -p "$DATA"
export CAMPLANE_HOME="$DATA/cli" CAMPLANE_SERVER=https://127.0.0.1:7100 CAMPLANE_CA="$DATA/ca.pem"
export CAMPLANE_ADMIN_PASSWORD=${CAMPLANE_ADMIN_PASSWORD:-demo-admin-password}
# The first city manager (auth.initial_city_manager in the example config): the
# second person who confirms the governing roles the admin grants.
export CAMPLANE_CITY_MANAGER_PASSWORD=${CAMPLANE_CITY_MANAGER_PASSWORD:-city-manager-demo-password}
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# 1. The controller.
sed "s#/var/lib/camplane/#$DATA/#" config/examples/controller-embedded.yaml > "$DATA/controller.yaml"
printf 'tls:\n  ca_cert_file: %s\n' "$DATA/ca.pem" >> "$DATA/controller.yaml"
"$BIN/camplane-controller" --config "$DATA/controller.yaml" 2> "$DATA/controller.log" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$DATA/ca.pem" ] && (echo > /dev/tcp/127.0.0.1/7100) 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "the controller did not start:"; cat "$DATA/controller.log"; exit 1; }
  sleep 0.2
done
cam() { "$BIN/camplane" "$@"; }
echo "$CAMPLANE_ADMIN_PASSWORD" | cam login --password-stdin

# 2. The city, and the people of the approval chain.
cam apply -f config/examples/city.yaml -f config/examples/alpr.yaml
as() {
  local u=$1 pw="$1-demo-password"; shift
  [ "$u" = city-manager ] && pw=$CAMPLANE_CITY_MANAGER_PASSWORD
  echo "$pw" | CAMPLANE_HOME="$DATA/cli-$u" "$BIN/camplane" login -u "$u" --password-stdin >/dev/null
  CAMPLANE_HOME="$DATA/cli-$u" "$BIN/camplane" "$@"
}
for u in "pd-manager dept_manager police" "chief chief police" \
         "sergeant supervisor police" "operator alpr_operator police"; do
  set -- $u
  rc=0
  out=$(echo "$1-demo-one-time" | cam user add "$1" --role "$2" --department "$3" --password-stdin) || rc=$?
  echo "$out"
  if [ "$rc" -eq 4 ]; then
    # A governing role (chief) takes two people: the admin's grant waits, and the
    # city manager from the controller config confirms it (its id is the last line).
    as city-manager user grants confirm "$(printf '%s\n' "$out" | tail -n 1)"
  elif [ "$rc" -ne 0 ]; then
    exit "$rc"
  fi
  # The admin's password is one-time: each person signs in and chooses their own.
  echo "$1-demo-one-time" | CAMPLANE_HOME="$DATA/cli-$1" "$BIN/camplane" login -u "$1" --password-stdin >/dev/null
  printf '%s\n%s\n' "$1-demo-one-time" "$1-demo-password" | CAMPLANE_HOME="$DATA/cli-$1" "$BIN/camplane" passwd --password-stdin
done
# Alerts and searches are ALPR data: the operator's training and state-system
# certification are on record (the admin's apply), and the operator acknowledges
# the policy the controller runs under themselves, with their own password.
# The sergeant loads the state's hotlist and decides approvals: ALPR data too.
for u in "operator alpr_operator" "sergeant supervisor"; do
  set -- $u
  printf 'kind: User\nname: %s\nspec:\n  department: police\n  roles: [%s]\n  trained_at: 2026-01-05T00:00:00Z\n  certified_until: 2099-01-01T00:00:00Z\n' "$1" "$2" > "$DATA/$1.yaml"
  cam apply -f "$DATA/$1.yaml" >/dev/null
  echo "$1-demo-password" | as "$1" policy acknowledge --password-stdin
done
# The chief watches cameras (live and recorded), under the policy acknowledged.
echo "chief-demo-password" | as chief policy acknowledge --password-stdin
as pd-manager request recommend req-ch-entrance -m "vandalism at the entrance" >/dev/null
as chief request recommend req-ch-entrance -m "supports" >/dev/null
# Placement fails closed: the demo loads no streets layer, so each verdict is
# cannot_check and the chief overrides it in writing before the City Manager decides.
echo "no streets layer loaded: the chief overrides the cannot_check placement verdicts with a written justification"
as chief request override req-ch-entrance --justification "demo city without a streets layer: placement checked on site" >/dev/null
as city-manager request approve req-ch-entrance -m "approved" >/dev/null
cam camera activate ch-entrance
as pd-manager request recommend req-ch-lpr -m "stolen vehicles downtown" >/dev/null
as chief request recommend req-ch-lpr -m "supports" >/dev/null
as chief request override req-ch-lpr --justification "demo city without a streets layer: placement checked on site" >/dev/null
as city-manager request approve req-ch-lpr -m "approved" >/dev/null
cam camera activate ch-lpr

# The hotlist the reads are matched against (its bad row is reported by line, exit 2).
as sergeant hotlist load --source NCIC --category stolen_vehicle config/examples/hotlist-ncic.csv || [ $? -eq 2 ]

# 3. The demo camera: a live RTSP stream of generated H.264 video.
deploy/render-plates.sh "$DATA/plates.mp4"
/usr/bin/python3 tests/support/rtsp_server.py 8554 /ch-entrance=live:640x360 "/ch-lpr=mp4:$DATA/plates.mp4" > "$DATA/camera.log" 2>&1 &
pids+=($!)

# 4. The site agent: enrols with a one-time token, then runs on mutual TLS.
cam agent enroll --site city-hall --name city-hall-gw | tail -n 1 > "$DATA/enroll-token"
cat > "$DATA/agent.yaml" <<YAML
controllers: [https://127.0.0.1:7100]
ca_file: $DATA/ca.pem
enroll_token_file: $DATA/enroll-token
data_dir: $DATA/agent
report_interval_seconds: 5
segment_seconds: 10
min_free_bytes: 0
min_free_percent: 1
models_dir: $PWD/.models
alpr_fps: 4
alpr_region: us
YAML
"$BIN/camplane-agent" --config "$DATA/agent.yaml" 2> "$DATA/agent.log" &
pids+=($!)

echo "waiting for the first recordings and health report..."
for _ in $(seq 60); do
  n=$( (find "$DATA/agent/recordings" -name '*.ts' 2>/dev/null || true) | wc -l)
  [ "$n" -ge 1 ] && cam camera status 2>/dev/null | grep -q online && break
  sleep 1
done
echo "waiting for the ALPR camera's reads and the hotlist alert..."
for _ in $(seq 60); do
  as operator alerts list 2>/dev/null | grep -q ABC1234 && break
  sleep 1
done
cam camera status
cam agent list
as operator alerts list
# The public log counts assists by offence (never the case number).
as operator case-assist add --case 26-04711 --offense vehicle_theft --arrests 1
echo "recorded segments:"; (find "$DATA/agent/recordings" -name '*.ts' 2>/dev/null || true) | head
cam audit verify
if [ "$CHECK" = 1 ]; then
  fail=0
  ok() { if "$@" >/dev/null 2>&1; then echo "demo check: ok: $what"; else echo "demo check: FAILED: $what"; fail=1; fi; }
  what="a recorded segment"; ok test -n "$(find "$DATA/agent/recordings" -name '*.ts' -print -quit 2>/dev/null)"
  what="the demo camera online"; ok sh -c "'$BIN/camplane' camera status | grep -q online"
  what="the hotlist alert for ABC1234"; ok sh -c "CAMPLANE_HOME='$DATA/cli-operator' '$BIN/camplane' alerts list | grep -q ABC1234"
  what="the audit chain verifies"; ok "$BIN/camplane" audit verify
  what="the chief watches ch-entrance live"; ok as chief view live ch-entrance --seconds 2 --out "$DATA/live-check.mp4" --reason "demo check"
  from=$(date -u -d '-2 minutes' +%Y-%m-%dT%H:%M:%SZ); to=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  what="the chief plays ch-entrance back"; ok as chief view playback ch-entrance --from "$from" --to "$to" --out "$DATA/playback-check.mp4" --reason "demo check"
  exit "$fail"
fi
cat <<MSG

camplane is running: controller https://127.0.0.1:7100, agent city-hall-gw, demo camera
rtsp://127.0.0.1:8554/ch-entrance, data in $DATA. In another shell:
  export CAMPLANE_HOME=$DATA/cli CAMPLANE_SERVER=$CAMPLANE_SERVER CAMPLANE_CA=$CAMPLANE_CA PATH=$BIN:\$PATH
  camplane camera status; camplane get cameras -o yaml; camplane audit tail
  CAMPLANE_HOME=$DATA/cli-operator camplane alerts watch     # ALPR operator: alerts as they come
  camplane camera windows                                     # active periods, plates read, hits
  camplane publog generate --month YYYY-MM --out DIR          # a month's public log (once it is over)
  CAMPLANE_HOME=$DATA/cli-chief camplane view live ch-entrance --seconds 10 --out live.mp4
Operators' console (chief / chief-demo-password; the controller's CA in $DATA/ca.pem):
  live view of ch-entrance: https://127.0.0.1:7443/console/cameras/ch-entrance?live=1#player
Public transparency portal (no sign-in): http://127.0.0.1:7180/public/
Ctrl-C stops it.
MSG
wait "${pids[0]}"
