#!/usr/bin/env bash
# Installs the Debian 12 packages vidlstm needs (as root, skipping what is
# already there) and builds it, so the command ends up at build/vidlstm.
#   ./setup.sh            install + build (Release)
#   ./setup.sh --no-build install only
set -euo pipefail
cd "$(dirname "$0")"

# Build: compiler, CMake, pkg-config. Numerics: oneDNN (GEMM backend, OpenMP)
# and OpenBLAS (optional backend, also what Debian's PyTorch uses); Debian
# builds oneDNN with its OpenCL runtime, so its CMake package needs the
# OpenCL loader's development files even though we never use a GPU through it.
# Video: FFmpeg's libraries; the ffmpeg command for benchmarks and test set-up.
# ONNX: protobuf-c and its compiler (onnx.proto is compiled at build time).
# Fetching named backbones: libcurl (HTTP(S), timeouts, Range requests).
# Tests: clang with libFuzzer and its OpenMP runtime (the fuzz targets);
# llvm for llvm-symbolizer, without which sanitizer reports show bare
# addresses instead of function names; ONNX's operator conformance cases
# (libonnx-testdata); chromium renders the HTML report headless in
# tests/report_render.sh.
# libjemalloc2: bench/run_bench.sh preloads it for PyTorch's tuned reference.
# python3 (the plain interpreter, no packages): tests/check_arch runs
# scripts/check_arch.py, the include rules of docs/ARCHITECTURE.md.
# MPI: Open MPI's compiler wrappers, headers and mpirun, for the
# -DVIDLSTM_MPI=ON build (data-parallel training, sharded extraction;
# run_tests.sh builds one and runs its MPI tests; docs/cluster.md).
PKGS=(build-essential cmake pkg-config libdnnl-dev ocl-icd-opencl-dev libopenblas-dev
      libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
      libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev
      clang-14 libclang-rt-14-dev libomp-14-dev llvm libonnx-testdata chromium
      libopenmpi-dev openmpi-bin libjemalloc2 python3)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)"
echo "setup.sh: built build/vidlstm"
