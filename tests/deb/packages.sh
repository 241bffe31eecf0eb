#!/usr/bin/env bash
# ppool's Debian packages as a user gets them: builds them
# (scripts/package.sh) into DIR, runs lintian on each (an error or a
# warning fails), installs them with apt-get, builds the C and C++ consumers of
# tests/install against the installed files with no extra paths (CMake
# finds the package in /usr, pkg-config with its own search path), runs
# them and the tools from /usr/bin (and man on the pages the packages
# hold), then purges the packages and checks that every path they listed
# is gone but the directories other packages own.
#   bash tests/deb/packages.sh DIR
# Installs into /usr: root, or sudo. A trap purges the packages whatever
# fails, so a failed run leaves the machine as it found it. Refuses to run
# where a ppool package is installed already (its purge would remove it).
# A pipe into grep uses `grep >/dev/null`, never `grep -q`: -q exits at the
# first match, and under pipefail the writer's SIGPIPE (141) would fail the
# step, or turn an `if` false, whenever it had more to write (ldconfig -p).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(realpath -m "${1:?usage: packages.sh DIR}")
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# The build's output (dh's compile lines) in a log, its end shown on failure.
mkdir -p "$dir"
bash scripts/package.sh "$dir/debs" >"$dir/package.log" 2>&1 || {
  tail -n 40 "$dir/package.log" >&2
  exit 1
}
debs=("$dir"/debs/*.deb)
packages=()
for deb in "${debs[@]}"; do packages+=("$(dpkg-deb -f "$deb" Package)"); done
echo "packages: ${packages[*]}"

# lintian: errors and warnings fail (its exit status; a program without its
# man page is a warning, no-manual-page); the informational tags are printed.
lintian --fail-on error,warning --info "${debs[@]}"
echo "lintian: no errors, no warnings"

for package in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep >/dev/null ' installed$'; then
    echo "packages.sh: $package is installed already: purge it first" >&2
    exit 1
  fi
done
purge() {
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${packages[@]}" >/dev/null
}
installed=0
trap '[ "$installed" = 0 ] || purge' EXIT
installed=1
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null
listed="$dir/listed"
dpkg-query -L "${packages[@]}" | sort -u >"$listed"
echo "installed: $(grep -c . "$listed") paths"
# The ldconfig trigger ran: the loader's cache has the library.
ldconfig -p | grep >/dev/null 'libppool\.so\.0\.1 '

# The C++ consumer through CMake: find_package's own search finds /usr's
# package; the backends the package has are required components.
expect=""
for comp in io_uring cuda xsk; do
  grep -q "/cmake/ppool/ppool-$comp-targets.cmake$" "$listed" && expect="$expect;$comp"
done
rm -rf "$dir/cxx" "$dir/c"
cmake -S tests/install -B "$dir/cxx" -G Ninja -DPPOOL_EXPECT_COMPONENTS="${expect#;}" >/dev/null
grep -q '^ppool_DIR:PATH=/usr/lib/.*/cmake/ppool$' "$dir/cxx/CMakeCache.txt"
ninja -C "$dir/cxx" >/dev/null
"$dir/cxx/consumer"
ldd "$dir/cxx/consumer" | grep >/dev/null 'libppool\.so\.0\.1 => /'
[[ $expect != *io_uring* ]] || "$dir/cxx/uring_consumer"
[[ $expect != *xsk* ]] || "$dir/cxx/xsk_consumer"
# The C consumer through CMake (a C-only project) and pkg-config's ppool-c,
# shared (the default) and static (the static archive beside it).
cmake -S tests/install/c -B "$dir/c" -G Ninja >/dev/null
ninja -C "$dir/c" >/dev/null
"$dir/c/c_consumer"
# shellcheck disable=SC2046  # pkg-config's flags are words
cc -std=c11 -Wall -Wextra -Werror -pedantic tests/install/c/consumer.c -o "$dir/c/pc" \
  $(pkg-config --cflags --libs ppool-c)
"$dir/c/pc"
ldd "$dir/c/pc" | grep >/dev/null 'libppool\.so\.0\.1 => /'
# shellcheck disable=SC2046
cc -static -std=c11 tests/install/c/consumer.c -o "$dir/c/pc-static" \
  $(pkg-config --static --cflags --libs ppool-c)
"$dir/c/pc-static"
if readelf -d "$dir/c/pc-static" | grep >/dev/null NEEDED; then
  echo "packages.sh: the -static C consumer is linked dynamically" >&2
  exit 1
fi
# shellcheck disable=SC2046
c++ tests/install/consumer.cc -o "$dir/cxx/pc" $(pkg-config --cflags --libs ppool)
"$dir/cxx/pc"
echo "consumers (CMake C++ and C, pkg-config C shared and static, C++): ok"

# The tools, from /usr/bin.
[ "$(command -v ppool-stat)" = /usr/bin/ppool-stat ]
ppool-stat --help >/dev/null
if [ -x /usr/bin/ppool-fwd ]; then
  # As a user runs it: an ordinary account, the locked-memory limit a
  # desktop session has (8 MiB), in /tmp (this test's directory is root's).
  $SUDO runuser -u nobody -- bash -c 'ulimit -l 8192 && cd /tmp &&
    /usr/bin/ppool-fwd --selftest --seconds 1 --port 9300 2>/dev/null' | tail -n 1 >"$dir/fwd.json"
  python3 - "$dir/fwd.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["packets_forwarded"] > 0 and all(p["inflight"] == 0 for p in r["pools"]), r
print("/usr/bin/ppool-fwd --selftest as nobody: ok,", r["packets_forwarded"], "packets")
PY
fi
# The man pages, where the packages hold them.
if grep -q '^/usr/share/man/man1/ppool-stat\.1' "$listed"; then
  man -w ppool-stat | grep >/dev/null '^/usr/share/man/man1/ppool-stat\.1'
  echo "man ppool-stat: $(man -w ppool-stat)"
fi
if grep -q '^/usr/share/man/man7/ppool\.7' "$listed"; then
  man -w 7 ppool | grep >/dev/null '^/usr/share/man/man7/ppool\.7'
  echo "man 7 ppool: $(man -w 7 ppool)"
fi

# Removal: nothing left but the directories other packages own.
purge
installed=0
for package in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep >/dev/null ' installed$'; then
    echo "packages.sh: $package is still installed after the purge" >&2
    exit 1
  fi
done
left=()
while IFS= read -r path; do
  [ "$path" != /. ] || continue
  if [ -L "$path" ] || [ -e "$path" ]; then
    [ -d "$path" ] && [ ! -L "$path" ] && dpkg-query -S "$path" >/dev/null 2>&1 && continue
    left+=("$path")
  fi
done <"$listed"
if ((${#left[@]})); then
  printf 'packages.sh: left after the purge: %s\n' "${left[@]}" >&2
  exit 1
fi
if ldconfig -p | grep >/dev/null libppool; then
  echo "packages.sh: the loader's cache still has libppool after the purge" >&2
  exit 1
fi
echo "purged: every path gone but $(while IFS= read -r p; do [ -d "$p" ] && echo "$p"; done <"$listed" |
  grep -c .) shared directories"
