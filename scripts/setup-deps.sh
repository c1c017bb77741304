#!/usr/bin/env bash
# Installs the Debian 12 packages poolnet needs to build and test. Idempotent: installs only
# what is missing, so a second run is fast and needs no network.
set -euo pipefail

# `setup-deps.sh --bench` also installs PyTorch for the comparison scripts in bench/ (large; the
# build, the tests and the demo do not need it).
with_bench=0
[ "${1:-}" = "--bench" ] && with_bench=1

packages=(
  build-essential   # g++ and make
  cmake             # >= 3.25 (Debian 12 ships 3.25.1)
  pkg-config
  libgtest-dev      # GoogleTest (tests)
  nlohmann-json3-dev  # JSON (layer configs, conformance cases)
  libcli11-dev      # command line
  libopenblas-openmp-dev  # GEMM for convolutions and Dense (OpenMP build)
  zlib1g-dev        # gzip-compressed IDX files
  libpng-dev        # PNG images (predict, figures)
  libhwy-dev        # Google Highway: SIMD pooling kernels with run-time dispatch
  libdnnl-dev       # oneDNN 2.6, the pooling baseline of build/poolnet-bench (optional to build)
  dataset-fashion-mnist   # the default data set, /usr/share/datasets/fashion-mnist
  gnuplot-nox       # the charts of `poolnet study` (pngcairo terminal)
  fonts-dejavu-core # a font for those charts (recommended, not required, by gnuplot-nox)
  clang-14          # fuzzing and ThreadSanitizer builds (make fuzz, make test-tsan)
  libfuzzer-14-dev  # libFuzzer (make fuzz)
  libclang-rt-14-dev  # clang's sanitizer runtimes
  libomp-14-dev     # LLVM OpenMP for clang builds, with Archer (OpenMP-aware TSan)
)

[ "$with_bench" -eq 1 ] && packages+=(python3-torch)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
