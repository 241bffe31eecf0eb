// tools/stat/discover.h - finding the telemetry endpoints of the machine's
// processes (ppool/telemetry.h's naming convention).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ppool::tools {

// The paths of listening SOCK_SEQPACKET Unix sockets named by the
// convention: the file's name starts with "ppool" and ends with ".sock", or
// it is DPDK's RUNTIME/dpdk/PREFIX/dpdk_telemetry.v2 (PPOOL_TELEMETRY=dpdk;
// a DPDK application listens there too: the caller tells them apart by the
// hello's version).
// Read from proc_net_unix's text (/proc/net/unix's format); no socket is
// contacted. Sorted, without duplicates.
[[nodiscard]] std::vector<std::string> endpoint_paths(std::string_view proc_net_unix);

// endpoint_paths() of /proc/net/unix; empty when it cannot be read.
[[nodiscard]] std::vector<std::string> find_endpoints();

}  // namespace ppool::tools
