#!/usr/bin/env bash
# Fetches the ALPR models (PP-OCRv4 detection + recognition, from the PyPI wheel
# rapidocr-onnxruntime, Apache-2.0) and ONNX Runtime's shared library (from the PyPI
# onnxruntime wheel, MIT) into .models/ at the repository root (or $1), then makes the
# int8 versions of the two PP-OCRv4 models, and their simplified float graphs (same
# function, fewer passes), with agent/models/quantize/quantize.py (ONNX
# Runtime's own quantisation, from the committed calibration ranges: no data needed) in a
# virtual environment of hash-pinned wheels under the wheel cache.
# Pinned by version and SHA-256; idempotent: a second run only re-checks checksums.
# Nothing here is committed: .models/ is in .gitignore.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-${CAMPLANE_MODELS:-$ROOT/.models}}"
CACHE="${CAMPLANE_WHEEL_CACHE:-$ROOT/.whl}"
PY="${PYTHON:-python3}"

RAPIDOCR_VERSION=1.4.4
RAPIDOCR_WHEEL=rapidocr_onnxruntime-1.4.4-py3-none-any.whl
RAPIDOCR_WHEEL_SHA256=971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf
ORT_VERSION=1.31.1
ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f

# file in .models/ <- member of the wheel, expected SHA-256 (also compiled into the agent:
# agent/src/alpr/models.rs must list the same sums).
MODELS=(
  "ch_PP-OCRv4_det_infer.onnx|rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx|d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"
  "ch_PP-OCRv4_rec_infer.onnx|rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx|48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"
)
LIBS=(
  "libonnxruntime.so|onnxruntime/capi/libonnxruntime.so.1.31.1|fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
)
# file in .models/ made by quantize.py, expected SHA-256 (also in models.rs): the int8
# models and the simplified ("folded") float graphs the reader runs as its float models.
INT8=(
  "ch_PP-OCRv4_det_infer_int8.onnx||ed9b7a0deffe8d7f69fc9015e093769cdfc0e016bd9826401a03d894e13f9130"
  "ch_PP-OCRv4_rec_infer_int8.onnx||a3d49fdb907f143e4fc8fbbab00d54ab96103793670425ac527d8f3a249ce52b"
  "ch_PP-OCRv4_det_infer_folded.onnx||e052cb0b20e7b174ab4ccd9d3cb0f8817d461bbb2182f26a6707669b17913ee1"
  "ch_PP-OCRv4_rec_infer_folded.onnx||1d006becb84ecb44d312e1b467fb30c4e88098182361ca754978cc2aab8f2ebb"
)
QUANT_REQS="$ROOT/agent/models/quantize/requirements.txt"

sha() { sha256sum "$1" | cut -d' ' -f1; }
all_ok() {
  local e name
  for e in "${MODELS[@]}" "${LIBS[@]}" "${INT8[@]}"; do
    IFS='|' read -r name _ sum <<<"$e"
    [ -f "$DEST/$name" ] && [ "$(sha "$DEST/$name")" = "$sum" ] || return 1
  done
}
if all_ok; then echo "models ready in $DEST"; exit 0; fi

mkdir -p "$DEST" "$CACHE"
fetch_wheel() { # name version wheel-file sha256 [platform args...]
  local pkg="$1" ver="$2" file="$3" sum="$4"; shift 4
  if [ ! -f "$CACHE/$file" ] || [ "$(sha "$CACHE/$file")" != "$sum" ]; then
    rm -f "$CACHE/$file"
    "$PY" -m pip download -q --no-deps --only-binary=:all: "$@" -d "$CACHE" "$pkg==$ver"
  fi
  if [ ! -f "$CACHE/$file" ]; then echo "fetch-models: pip did not produce $file" >&2; exit 1; fi
  local got; got="$(sha "$CACHE/$file")"
  if [ "$got" != "$sum" ]; then
    echo "fetch-models: $file has SHA-256 $got, expected $sum" >&2; rm -f "$CACHE/$file"; exit 1
  fi
}
fetch_wheel rapidocr-onnxruntime "$RAPIDOCR_VERSION" "$RAPIDOCR_WHEEL" "$RAPIDOCR_WHEEL_SHA256"
# The library is the same whatever the Python tag; pin one wheel for this platform.
fetch_wheel onnxruntime "$ORT_VERSION" "$ORT_WHEEL" "$ORT_WHEEL_SHA256" \
  --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_28_x86_64

extract() { # wheel entries...
  local whl="$1"; shift
  local e name member sum tmp
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' RETURN
  for e in "$@"; do
    IFS='|' read -r name member sum <<<"$e"
    if [ -f "$DEST/$name" ] && [ "$(sha "$DEST/$name")" = "$sum" ]; then continue; fi
    "$PY" - "$whl" "$member" "$tmp/$name" <<'PYEOF'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PYEOF
    local got; got="$(sha "$tmp/$name")"
    if [ "$got" != "$sum" ]; then echo "fetch-models: $name has SHA-256 $got, expected $sum" >&2; exit 1; fi
    mv "$tmp/$name" "$DEST/$name"
  done
}
extract "$CACHE/$RAPIDOCR_WHEEL" "${MODELS[@]}"
extract "$CACHE/$ORT_WHEEL" "${LIBS[@]}"

int8_ok() {
  local e name sum
  for e in "${INT8[@]}"; do
    IFS='|' read -r name _ sum <<<"$e"
    [ -f "$DEST/$name" ] && [ "$(sha "$DEST/$name")" = "$sum" ] || return 1
  done
}
if ! int8_ok; then
  # One environment per requirements file (its hash names it), reused on later runs.
  VENV="$CACHE/quant-venv-$(sha "$QUANT_REQS" | cut -c1-12)"
  if [ ! -x "$VENV/bin/python" ] || [ ! -f "$VENV/.ready" ]; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
      --no-deps --only-binary=:all: --find-links "$CACHE" -r "$QUANT_REQS"
    touch "$VENV/.ready"
  fi
  qtmp="$(mktemp -d)"
  "$VENV/bin/python" "$ROOT/agent/models/quantize/quantize.py" --models "$DEST" --out "$qtmp" >/dev/null
  for e in "${INT8[@]}"; do
    IFS='|' read -r name _ sum <<<"$e"
    got="$(sha "$qtmp/$name")"
    if [ "$got" != "$sum" ]; then
      echo "fetch-models: quantize.py made $name with SHA-256 $got, expected $sum" >&2
      rm -rf "$qtmp"; exit 1
    fi
    mv "$qtmp/$name" "$DEST/$name"
  done
  rm -rf "$qtmp"
fi
all_ok
echo "models ready in $DEST"
