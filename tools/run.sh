#!/usr/bin/env bash
# The main job: installs what the build needs, builds ppool, and runs the
# napi_poll example on the debug DMA device (its last line is JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
./build/examples/napi_poll
