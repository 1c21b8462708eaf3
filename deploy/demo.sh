#!/usr/bin/env bash
# Sets up and runs camplane on one machine with its embedded defaults:
# a controller (embedded store), the example city, and (once the agent lands) an
# agent recording a demo camera. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cargo build --release --bins
BIN=target/release
[ -n "${CARGO_TARGET_DIR:-}" ] && BIN="$CARGO_TARGET_DIR/release"
DATA=${CAMPLANE_DEMO_DIR:-$PWD/demo-data}
mkdir -p "$DATA"
export CAMPLANE_HOME="$DATA/cli"
export CAMPLANE_ADMIN_PASSWORD=${CAMPLANE_ADMIN_PASSWORD:-demo-admin-password}
sed "s#/var/lib/camplane/controller#$DATA/controller#" config/examples/controller-embedded.yaml > "$DATA/controller.yaml"
"$BIN/camplane-controller" --config "$DATA/controller.yaml" &
CTL=$!
trap 'kill $CTL 2>/dev/null; wait' EXIT INT TERM
for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/7100) 2>/dev/null && break; sleep 0.2; done
echo "$CAMPLANE_ADMIN_PASSWORD" | "$BIN/camplane" login --password-stdin
"$BIN/camplane" apply -f config/examples/city.yaml
"$BIN/camplane" get cameras
"$BIN/camplane" audit verify
cat <<MSG

camplane is running (controller on 127.0.0.1:7100, data in $DATA).
Try, in another shell:
  export CAMPLANE_HOME=$DATA/cli PATH=$PWD/$BIN:\$PATH
  camplane get cameras -o yaml
  camplane request show req-ch-entrance
  camplane audit tail
Ctrl-C stops it.
MSG
wait $CTL
