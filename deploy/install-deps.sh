#!/usr/bin/env bash
# Installs the system packages camplane's build, demo and tests need (Debian 12).
# Idempotent: packages already installed are skipped by apt.
set -euo pipefail
PKGS=(
  # build: protobuf compiler for tonic/etcd-client and the well-known types it imports
  # (google/protobuf/descriptor.proto is in libprotobuf-dev, which --no-install-recommends
  # would otherwise leave out), FFmpeg headers for ffmpeg-next (bindgen needs libclang)
  protobuf-compiler libprotobuf-dev pkg-config clang libclang-dev
  libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libavfilter-dev libavdevice-dev libswresample-dev
  # real parts the tests start: etcd, FFmpeg, a GStreamer RTSP server, a browser for page checks
  etcd-server etcd-client ffmpeg
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav
  chromium fonts-dejavu-core
  # mobile readers' GPS: the tests run a real gpsd
  gpsd
  # promtool checks the /metrics output; systemd-analyze checks the units
  prometheus systemd
  # benches: /usr/bin/time for peak memory; Debian's python3 with venv and pip for the
  # model fetch and the RapidOCR baseline; GStreamer's RTSP server runs on /usr/bin/python3
  time python3 python3-venv python3-pip
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "system packages ready"
