#!/usr/bin/env bash
# Installs exactly the Debian 12 packages ctdb needs to build and test.
# Idempotent; run as root (or with sudo available).
set -euo pipefail
packages=(
  build-essential cmake pkg-config   # toolchain
  libfaiss-dev libopenblas-dev       # vector search (FAISS + the BLAS it links)
  librocksdb-dev                     # storage engine
  libnifti2-dev zlib1g-dev           # NIfTI reader (embed/)
  libgdcm-dev                        # DICOM reader (embed/)
  libpng-dev                         # slice thumbnails (embed/)
  libtorch-dev libgflags-dev         # encoders and training (embed/; LibTorch 1.13, CPU)
  nlohmann-json3-dev                 # model manifests, REST (api/)
  doctest-dev                        # tests
  libcpp-httplib-dev libssl-dev      # REST server, TLS (api/)
  wrk                                # REST benchmark (tools/bench-rest.sh)
  chromium nodejs                    # web page end-to-end test (tests/e2e), with npm below
  curl ca-certificates               # test setup: tools/fetch-test-data.sh
)
missing=()
# npm: Debian's package, unless a Node.js that bundles npm is installed.
command -v npm >/dev/null 2>&1 || packages+=(npm)
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "bootstrap: all ${#packages[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
