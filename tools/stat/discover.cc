// tools/stat/discover.cc - see discover.h.
#include "stat/discover.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ppool::tools {
namespace {

// /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path", in hex
// but the inode; a listening socket has __SO_ACCEPTCON (1 << 16) in Flags.
constexpr unsigned long kAcceptCon = 1ul << 16;
constexpr unsigned long kSeqPacket = 5;

// ppool's own names, or DPDK's (PPOOL_TELEMETRY=dpdk[:PREFIX] listens at
// RUNTIME/dpdk/PREFIX/dpdk_telemetry.v2, as a DPDK application does).
bool named_by_convention(std::string_view path) {
  if (path.empty() || path[0] != '/') return false;  // abstract or relative: not ours
  const std::size_t slash = path.rfind('/');
  const std::string_view base = path.substr(slash + 1);
  if (base.starts_with("ppool") && base.ends_with(".sock")) return true;
  if (base != "dpdk_telemetry.v2" || slash == 0) return false;
  const std::string_view dir = path.substr(0, path.rfind('/', slash - 1));  // RUNTIME/dpdk
  return dir.ends_with("/dpdk");
}

// The path of one line's socket when it is a listening SOCK_SEQPACKET one; "".
std::string listening_path(const std::string& line) {
  std::istringstream in(line);
  std::string num, refcount, protocol, flags, type, state, inode;
  if (!(in >> num >> refcount >> protocol >> flags >> type >> state >> inode)) return "";
  std::string path;
  std::getline(in >> std::ws, path);
  const unsigned long f = std::strtoul(flags.c_str(), nullptr, 16);
  const unsigned long t = std::strtoul(type.c_str(), nullptr, 16);
  if (!(f & kAcceptCon) || t != kSeqPacket) return "";
  return path;
}

}  // namespace

std::vector<std::string> endpoint_paths(std::string_view proc_net_unix) {
  std::vector<std::string> paths;
  std::istringstream in{std::string(proc_net_unix)};
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::string path = listening_path(line);
    if (named_by_convention(path)) paths.push_back(std::move(path));
  }
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  return paths;
}

std::vector<std::string> find_endpoints() {
  std::ifstream file("/proc/net/unix");
  std::stringstream text;
  text << file.rdbuf();
  return endpoint_paths(text.str());
}

}  // namespace ppool::tools
