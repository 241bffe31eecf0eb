#!/usr/bin/env bash
# The layer rule, checked: every #include in src/, include/ppool/ and the C
# headers include/ppool*.h goes to its own layer or one below, in the order
# src/README.md's table gives (the one place it is written; this script
# parses it), and public headers include only public headers. With --programs, also tools/, bench/ and
# examples/: only <ppool/...> public headers, their own folder's files and
# tools/support's, and no src/ on a program's include path.
#   scripts/check-layers.sh [--programs] [ROOT]
# ROOT is the tree to check (default: this script's repository). Prints each
# violation as FILE:LINE: ... and exits 1 when there is one, 0 when there is
# none, 2 when it cannot check (no table, a bad argument).
set -euo pipefail

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "$0"
}

programs=0
root=
while [ $# -gt 0 ]; do
  case $1 in
    --programs) programs=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*)
      echo "check-layers: unknown option '$1'" >&2
      usage >&2
      exit 2
      ;;
    *)
      if [ -n "$root" ]; then
        echo "check-layers: one ROOT only (got '$root' and '$1')" >&2
        exit 2
      fi
      root=$1
      ;;
  esac
  shift
done
root=${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root" || exit 2
if [ ! -f src/README.md ]; then
  echo "check-layers: $root/src/README.md not found: it holds the layers' table" >&2
  exit 2
fi

# Every file of the tree the includes may name, for resolving them; then the
# sources to check (C and C++: scripts and data include nothing).
areas=(src include)
[ "$programs" = 1 ] && areas+=(tools bench examples)
existing=()
for area in "${areas[@]}"; do [ -d "$area" ] && existing+=("$area"); done
mapfile -t all < <(find "${existing[@]}" -type f | LC_ALL=C sort)
checked=()
for f in "${all[@]}"; do
  case $f in
    *.h | *.hpp | *.c | *.cc | *.cpp) checked+=("$f") ;;
    tools/*CMakeLists.txt | bench/*CMakeLists.txt | examples/*CMakeLists.txt) checked+=("$f") ;;
  esac
done

# The inputs, in order: the table (src/README.md), the list of files (one
# per line), then each file to check.
# shellcheck disable=SC2016  # $ in the awk program is awk's
awk -v programs="$programs" '
function fail(msg) {
  print FILENAME ":" FNR ": " msg
  failures++
}
# a/b/../c -> a/c, ./x -> x; "" when it climbs above the root.
function normalize(path,    n, parts, out, k, i) {
  n = split(path, parts, "/")
  k = 0
  for (i = 1; i <= n; i++) {
    if (parts[i] == "" || parts[i] == ".") continue
    if (parts[i] == "..") {
      if (k == 0) return ""
      k--
      continue
    }
    out[++k] = parts[i]
  }
  path = ""
  for (i = 1; i <= k; i++) path = path (i > 1 ? "/" : "") out[i]
  return path
}
function dirname(path) {
  return sub(/\/[^\/]*$/, "", path) ? path : "."
}
# The public header an include names: "ppool/x.h" is x.h, a C header
# "ppool.h" or "ppool_x.h" (include/ppool_x.h) is itself; "" for anything else.
function public_header(inc) {
  if (inc ~ /^ppool(_[a-z0-9_]+)?\.h$/) return inc
  return inc ~ /^ppool\// ? substr(inc, 7) : ""
}
# The layer of a file in src/, include/ppool/ or a C header include/ppool*.h,
# "" when the table has none.
function layer_of_file(path,    folder, header) {
  if (path ~ /^include\/ppool(_[a-z0-9_]+)?\.h$/) {
    header = substr(path, 9)
    return (header in header_layer) ? header_layer[header] : ""
  }
  if (path ~ /^src\//) {
    folder = path
    sub(/^src\//, "", folder)
    sub(/\/.*/, "", folder)
    return (folder in src_layer) ? src_layer[folder] : ""
  }
  if (path ~ /^include\/ppool\//) {
    header = path
    sub(/^include\/ppool\//, "", header)
    return (header in header_layer) ? header_layer[header] : ""
  }
  return ""
}
# The program folder a program file may include from: tools/NAME/ for a
# tool, bench/ or examples/ for the others.
function program_home(path) {
  if (path ~ /^tools\/[^\/]+\//) {
    sub(/^tools\//, "", path)
    sub(/\/.*/, "", path)
    return "tools/" path "/"
  }
  sub(/\/.*/, "", path)
  return path "/"
}

# 1. The table: | N | layer | sources | public headers | what |
FILENAME == ARGV[1] {
  if ($0 !~ /^\|[ \t]*[0-9]+[ \t]*\|/) next
  n = split($0, cell, "|")
  rank = cell[2]
  gsub(/[ \t]/, "", rank)
  name = cell[3]
  gsub(/[ \t`]/, "", name)
  layer_rank[name] = rank + 0
  layers++
  text = cell[4]
  while (match(text, /`src\/[^`]*`/)) {
    folder = substr(text, RSTART + 5, RLENGTH - 6)
    sub(/\/$/, "", folder)
    src_layer[folder] = name
    text = substr(text, RSTART + RLENGTH)
  }
  text = cell[5]
  while (match(text, /`[^`]*`/)) {
    header_layer[substr(text, RSTART + 1, RLENGTH - 2)] = name
    text = substr(text, RSTART + RLENGTH)
  }
  next
}
# 2. The files there are.
FILENAME == ARGV[2] {
  exists[$0] = 1
  next
}
FNR == 1 {
  if (!tabled) {
    tabled = 1
    if (layers == 0) {
      print ARGV[1] ": no layer table (rows | N | layer | sources | public headers | what |)"
      exit 2
    }
  }
  file = FILENAME
  from = layer_of_file(file)
  home = program_home(file)
  if ((file ~ /^include\/ppool\// || file ~ /^include\/ppool(_[a-z0-9_]+)?\.h$/) && from == "")
    fail("a public header that src/README.md'"'"'s table does not place in a layer")
  if (file ~ /^src\// && from == "")
    fail("a source folder that src/README.md'"'"'s table does not place in a layer")
}
# 3. A program'"'"'s build puts src/ on its include path.
file ~ /CMakeLists\.txt$/ {
  if ($0 ~ /^[ \t]*#/) next
  if ($0 ~ /(SOURCE_DIR\}|\.\.)\/src([ \t)\/]|$)/)
    fail("puts src/ on a program'"'"'s include path (programs build on the public headers)")
  next
}
# 4. The includes.
{
  if (!match($0, /^[ \t]*#[ \t]*include[ \t]*["<][^">]*[">]/)) next
  spec = substr($0, RSTART, RLENGTH)
  sub(/^[^"<]*/, "", spec)
  quoted = substr(spec, 1, 1) == "\""
  inc = substr(spec, 2, length(spec) - 2)
  if (!quoted && public_header(inc) == "") next  # the system'"'"'s and other libraries'"'"' headers

  if (file ~ /^(src|include)\//) {
    # The library.
    if (public_header(inc) != "") {
      header = public_header(inc)
      if (!(header in header_layer)) {
        if (("include/" inc) in exists)
          fail("'"'"'" inc "'"'"' is a public header that src/README.md'"'"'s table does not place in a layer")
        else
          fail("'"'"'" inc "'"'"' is no public header (include/" inc " does not exist)")
        next
      }
      to = header_layer[header]
    } else if (file ~ /^include\//) {
      fail("'"'"'" inc "'"'"' in a public header: public headers include only public headers \"ppool/...\"")
      next
    } else {
      folder = inc
      sub(/\/.*/, "", folder)
      near = normalize(dirname(file) "/" inc)
      if (inc ~ /\// && (folder in src_layer) && (("src/" inc) in exists))
        to = src_layer[folder]
      else if (near != "" && (near in exists) && layer_of_file(near) != "")
        to = layer_of_file(near)
      else {
        fail("'"'"'" inc "'"'"' is neither a public header \"ppool/...\" nor a layer'"'"'s file \"<layer>/...\" in src/")
        next
      }
    }
    if (from == "" || to == from) next
    if (layer_rank[to] > layer_rank[from])
      fail("'"'"'" inc "'"'"' goes up from " from " to " to)
    else if (layer_rank[to] == layer_rank[from])
      fail("'"'"'" inc "'"'"' goes across from " from " to " to " (layers of one number include neither the other)")
    next
  }

  # A program: public headers, its own folder'"'"'s files, tools/support'"'"'s.
  if (public_header(inc) != "") {
    if (("include/" inc) in exists) next
    fail("'"'"'" inc "'"'"' is no public header (include/" inc " does not exist)")
    next
  }
  # As the compiler finds it: next to the file, or under the program area
  # (tools/, bench/, examples/), which the builds put on the include path.
  near = normalize(dirname(file) "/" inc)
  area = file
  sub(/\/.*/, "/", area)
  if (!(near != "" && (near in exists))) near = normalize(area inc)
  # The include folder of the support library is tools/: "support/x.h" from
  # anywhere (bench links ppool_tool_support too).
  if (!(near != "" && (near in exists)) && inc ~ /^support\// && (("tools/" inc) in exists))
    near = "tools/" inc
  if (near != "" && (near in exists) && (index(near, home) == 1 || near ~ /^tools\/support\//))
    next
  folder = inc
  sub(/\/.*/, "", folder)
  if (inc ~ /\// && (folder in src_layer) && (("src/" inc) in exists))
    fail("'"'"'" inc "'"'"' goes into the " src_layer[folder] " layer'"'"'s internals (src/" inc "): programs include only public headers <ppool/...>")
  else if (near != "" && (near in exists))
    fail("'"'"'" inc "'"'"' is " near ", outside " home ": programs include only public headers <ppool/...>, their own folder'"'"'s files and tools/support'"'"'s")
  else
    fail("'"'"'" inc "'"'"' is not a public header <ppool/...>, nor " home "'"'"'s, nor tools/support'"'"'s")
}
END {
  if (failures) {
    print failures " include(s) break the layer rule of src/README.md" > "/dev/stderr"
    exit 1
  }
}
'  src/README.md <(printf '%s\n' "${all[@]}") "${checked[@]}"
