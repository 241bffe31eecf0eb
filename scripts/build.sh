#!/usr/bin/env bash
# Configures and builds one flavour of ppool into a build directory.
#   scripts/build.sh DIR [extra cmake args...]
set -euo pipefail
dir=$1
shift
cmake -S "$(dirname "$0")/.." -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir"
