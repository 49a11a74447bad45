#!/usr/bin/env bash
# The test command: installs dependencies, builds, runs every test (CTest),
# then the web page end to end in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/bootstrap.sh
bash tools/build.sh
bash tools/fetch-test-data.sh build/test-data
(cd build && ctest --output-on-failure -j 2 --timeout 900)
# The web page in headless Chromium, and the OpenAPI document validated.
bash tests/e2e/run.sh
