#!/usr/bin/env bash
# A whole camplane cluster on one machine, for trying it out: a three-member etcd
# cluster, three controllers on it (one leads; any serves the API, agent sessions
# and the public portal), and several site agents, each recording a demo camera
# (a live RTSP test pattern) and listing all three controllers. Ctrl-C stops it.
#
#   deploy/local-cluster.sh                  # builds release binaries first
#   CAMPLANE_BIN=target/debug AGENTS=2 deploy/local-cluster.sh
#
# Env: CAMPLANE_BIN (binaries; skips the build), CAMPLANE_CLUSTER_DIR (data,
# default ./cluster-data), AGENTS (default 3), PORT_BASE (default 7100: gRPC on
# PORT_BASE+0..2, portal and /metrics on PORT_BASE+80..82, agents' /metrics on
# PORT_BASE+90.., RTSP on PORT_BASE+1454, etcd on PORT_BASE+16279..).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${CAMPLANE_BIN:-}" ]; then
  deploy/install-deps.sh
  cargo build --release --bins
  CAMPLANE_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
BIN=$(cd "$CAMPLANE_BIN" && pwd)
DATA=${CAMPLANE_CLUSTER_DIR:-$PWD/cluster-data}
AGENTS=${AGENTS:-3}
BASE=${PORT_BASE:-7100}
RTSP_PORT=$((BASE + 1454))
rm -rf "$DATA"; mkdir -p "$DATA"
DATA=$(cd "$DATA" && pwd)
export CAMPLANE_HOME="$DATA/cli" CAMPLANE_SERVER=https://127.0.0.1:$BASE CAMPLANE_CA="$DATA/ca.pem"
export CAMPLANE_ADMIN_PASSWORD=${CAMPLANE_ADMIN_PASSWORD:-cluster-admin-password}
# The first city manager (auth.initial_city_manager below) confirms the chief's grant.
export CAMPLANE_CITY_MANAGER_PASSWORD=${CAMPLANE_CITY_MANAGER_PASSWORD:-city-manager-cluster-password}
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
wait_port() { # PORT WHAT PID LOG
  for _ in $(seq 200); do
    (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { echo "$2 did not start:"; tail -n 30 "$4"; exit 1; }
    sleep 0.1
  done
  echo "$2 did not open port $1"; tail -n 30 "$4"; exit 1
}

# 1. Three etcd members.
command -v etcd >/dev/null || { echo "etcd is missing: apt-get install -y etcd-server"; exit 1; }
cluster=""; endpoints=()
for i in 0 1 2; do
  cluster+="${cluster:+,}e$i=http://127.0.0.1:$((BASE + 16280 + 10 * i))"
  endpoints+=("http://127.0.0.1:$((BASE + 16279 + 10 * i))")
done
for i in 0 1 2; do
  c=$((BASE + 16279 + 10 * i)); p=$((c + 1))
  etcd --name "e$i" --data-dir "$DATA/etcd-$i" \
    --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
    --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token camplane-local \
    --log-level error > "$DATA/etcd-$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do wait_port $((BASE + 16279 + 10 * i)) "etcd member e$i" "${pids[$i]}" "$DATA/etcd-$i.log"; done

# 2. Three controllers on it (the first creates the CA in etcd; the others load it).
for i in 0 1 2; do
  cat > "$DATA/controller-$i.yaml" <<YAML
city:
  name: Dubuque
  time_zone: America/Chicago
listen: 127.0.0.1:$((BASE + i))
http_listen: 127.0.0.1:$((BASE + 80 + i))
store:
  etcd:
    endpoints: [$(IFS=,; echo "${endpoints[*]}")]
    prefix: /camplane/local
    lease_seconds: 5
auth:
  initial_city_manager: city-manager
  initial_city_manager_password_env: CAMPLANE_CITY_MANAGER_PASSWORD
tls:
  ca_cert_file: $DATA/ca-$i.pem
YAML
  "$BIN/camplane-controller" --config "$DATA/controller-$i.yaml" > "$DATA/controller-$i.log" 2>&1 &
  pids+=($!)
  wait_port $((BASE + i)) "controller $i" "$!" "$DATA/controller-$i.log"
  for _ in $(seq 100); do [ -s "$DATA/ca-$i.pem" ] && break; sleep 0.1; done
done
cp "$DATA/ca-0.pem" "$DATA/ca.pem"
cam() { "$BIN/camplane" "$@"; }
echo "$CAMPLANE_ADMIN_PASSWORD" | cam login --password-stdin >/dev/null

# 3. The city: one site, gateway (enrolled now, started below) and approved camera per agent.
as() {
  local u=$1 pw="$1-cluster-password"; shift
  [ "$u" = city-manager ] && pw=$CAMPLANE_CITY_MANAGER_PASSWORD
  echo "$pw" | CAMPLANE_HOME="$DATA/cli-$u" "$BIN/camplane" login -u "$u" --password-stdin >/dev/null
  CAMPLANE_HOME="$DATA/cli-$u" "$BIN/camplane" "$@"
}
for u in "pd-manager dept_manager police" "chief chief police"; do
  set -- $u
  rc=0
  out=$(echo "$1-cluster-one-time" | cam user add "$1" --role "$2" --department "$3" --password-stdin) || rc=$?
  if [ "$rc" -eq 4 ]; then
    # The chief's role takes two people: the config's first city manager confirms it.
    as city-manager user grants confirm "$(printf '%s\n' "$out" | tail -n 1)" >/dev/null
  elif [ "$rc" -ne 0 ]; then
    echo "$out"; exit "$rc"
  fi
  # The admin's password is one-time: each person chooses their own first.
  echo "$1-cluster-one-time" | CAMPLANE_HOME="$DATA/cli-$1" "$BIN/camplane" login -u "$1" --password-stdin >/dev/null
  printf '%s\n%s\n' "$1-cluster-one-time" "$1-cluster-password" | CAMPLANE_HOME="$DATA/cli-$1" "$BIN/camplane" passwd --password-stdin >/dev/null
done
{
  printf 'kind: Department\nname: police\nspec: {display_name: Police Department}\n'
  for a in $(seq 1 "$AGENTS"); do
    printf -- '---\nkind: Site\nname: site-%s\nspec: {address: "Site %s, Dubuque, IA", lat: 42.50%03d, lon: -90.66458}\n' "$a" "$a" "$a"
  done
} > "$DATA/sites.yaml"
cam apply -f "$DATA/sites.yaml" >/dev/null
for a in $(seq 1 "$AGENTS"); do
  cam agent enroll --site "site-$a" --name "gw-$a" | tail -n 1 > "$DATA/token-$a"
done
{
  for a in $(seq 1 "$AGENTS"); do
    lat=$(printf '42.50%03d' "$a")
    cat <<YAML
---
kind: PlacementRequest
name: req-cam-$a
spec:
  location: {lat: $lat, lon: -90.66452}
  mount: outdoor
  purpose: property_protection
  view: {heading_deg: 180, fov_deg: 90, range_m: 30}
  justification: Demo camera $a of the local cluster
  funding_source: General fund
  department: police
  kind: fixed
  camera: cam-$a
---
kind: Camera
name: cam-$a
spec:
  site: site-$a
  department: police
  kind: fixed
  purpose: property_protection
  mount: outdoor
  location: {lat: $lat, lon: -90.66452}
  view: {heading_deg: 180, fov_deg: 90, range_m: 30}
  streams: {main: "rtsp://127.0.0.1:$RTSP_PORT/cam-$a"}
  placement_request: req-cam-$a
  agent: gw-$a
YAML
  done
} > "$DATA/city.yaml"
cam apply -f "$DATA/city.yaml" >/dev/null
mounts=()
for a in $(seq 1 "$AGENTS"); do
  as pd-manager request recommend "req-cam-$a" -m "needed" >/dev/null
  as chief request recommend "req-cam-$a" -m "supports" >/dev/null
  # No streets layer here: placement fails closed until the chief overrides in writing.
  as chief request override "req-cam-$a" --justification "local cluster without a streets layer: placement checked on site" >/dev/null
  as city-manager request approve "req-cam-$a" -m "approved" >/dev/null
  cam camera activate "cam-$a" >/dev/null
  mounts+=("/cam-$a=live:320x180")
done

# 4. The demo cameras, then the agents (each lists all three controllers).
/usr/bin/python3 tests/support/rtsp_server.py "$RTSP_PORT" "${mounts[@]}" > "$DATA/rtsp.log" 2>&1 &
pids+=($!)
wait_port "$RTSP_PORT" "the RTSP server" "$!" "$DATA/rtsp.log"
for a in $(seq 1 "$AGENTS"); do
  cat > "$DATA/agent-$a.yaml" <<YAML
controllers: [https://127.0.0.1:$((BASE + (a - 1) % 3)), https://127.0.0.1:$((BASE + a % 3)), https://127.0.0.1:$((BASE + (a + 1) % 3))]
ca_file: $DATA/ca.pem
enroll_token_file: $DATA/token-$a
data_dir: $DATA/agent-$a
report_interval_seconds: 2
segment_seconds: 4
min_free_bytes: 0
min_free_percent: 1
metrics_listen: 127.0.0.1:$((BASE + 90 + a))
YAML
  "$BIN/camplane-agent" --config "$DATA/agent-$a.yaml" > "$DATA/agent-$a.log" 2>&1 &
  pids+=($!)
done

cat <<MSG
camplane local cluster is up (data in $DATA):
  etcd:        ${endpoints[*]}
  controllers: https://127.0.0.1:$BASE, :$((BASE + 1)), :$((BASE + 2))  (portal and /metrics on :$((BASE + 80))-$((BASE + 82)))
  agents:      gw-1..gw-$AGENTS, each recording cam-N from rtsp://127.0.0.1:$RTSP_PORT/cam-N
In another shell:
  export CAMPLANE_HOME=$DATA/cli CAMPLANE_SERVER=$CAMPLANE_SERVER CAMPLANE_CA=$CAMPLANE_CA PATH=$BIN:\$PATH
  camplane agent list; camplane camera status
  curl -s 127.0.0.1:$((BASE + 80))/metrics | grep leader     # which controller leads
Kill a controller (its pid is in $DATA/pids) and watch the agents move on.
MSG
printf '%s\n' "${pids[@]}" > "$DATA/pids"
echo "ready" > "$DATA/ready"
wait
