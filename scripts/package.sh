#!/usr/bin/env bash
# Builds ppool's Debian packages into OUTDIR (default build-deb):
#   bash scripts/package.sh [OUTDIR]
# libppool0.1 (the shared libraries: libppool and the backends built),
# libppool-dev (headers, the .so links, the static libraries, the CMake
# package, the pkg-config files) and ppool-tools (the programs). Release
# builds, stripped, without debug symbols (no -dbgsym packages).
#
# Why a debian/ directory and dpkg-buildpackage rather than CPack's DEB
# generator: debhelper does the Debian parts as policy wants them, where
# CPack (3.25, bookworm's) does them differently or not at all: the
# ldconfig trigger (CPack writes ldconfig calls into postinst/postrm,
# which lintian flags: lacks-ldconfig-trigger, maintscript-calls-ldconfig),
# the shlibs file and dependencies computed across the packages built
# together (the tools on libppool0.1), stripping, the
# copyright and changelog files of each package, the hardening build flags,
# permissions, md5sums and root ownership without fakeroot. debian/rules
# still takes each package's files from the CMake install components, so
# the packaging follows what CMakeLists.txt installs.
#
# The build runs on a copy of the tree (dpkg-buildpackage writes into the
# source tree and its parent); the build dependencies are checked by
# dpkg-buildpackage (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-deb}")
version=$(dpkg-parsechangelog -S Version)
work="$out/work"
rm -rf "$work"
mkdir -p "$work/ppool-$version"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # The tree as it is (uncommitted changes too), without ignored files.
  git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - | tar -xf - -C "$work/ppool-$version"
else
  tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$work/ppool-$version"
fi
(
  cd "$work/ppool-$version"
  # Binary packages only, unsigned; as many compile jobs as cores.
  DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -b -us -uc
)
rm -f "$out"/*.deb
mv "$work"/*.deb "$out"/
rm -rf "$work"
ls -l "$out"/*.deb
