#!/usr/bin/env bash
# The test command: installs dependencies, builds, runs every test (CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
bash tools/build.sh
bash tools/fetch-test-data.sh build/test-data
cd build
ctest --output-on-failure -j 2 --timeout 900
