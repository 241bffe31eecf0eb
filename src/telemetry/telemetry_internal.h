// What the telemetry endpoint's source files share (layer telemetry,
// internal): the reply size limit, the process's description, the counters'
// state and the throttled holder report.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "ppool/base.h"  // PPOOL_STATS

namespace ppool::detail {

// The largest reply, in bytes: the hello tells clients (DPDK telemetry's
// max_output_len) so they size their receive buffer, and a bigger reply is
// answered with an error instead. A SOCK_SEQPACKET message must fit the
// sender's socket buffer, which the server raises to hold this much.
inline constexpr std::size_t kMaxOutputLen = 256 * 1024;

// The process: {"pid": N, "version": "ppool X.Y.Z", "max_output_len": N,
// "stats": "on" or "compiled out"}, the
// hello a client gets on connect and the /info command's value.
[[nodiscard]] std::string process_info_json();

// What ppool-stat and the replies say of the counters: "on", or "compiled
// out" in a build with -DPPOOL_STATS=OFF, where the owner's counters read 0
// and no reply shows them as if they were counts.
inline constexpr const char* kStatsState = PPOOL_STATS ? "on" : "compiled out";

// /ppool/holders' value for pool id (holder_command.cc): a scan at most
// once per interval for all pools together (a request sooner waits), a
// pool's result younger than the interval served again with its age_ms;
// nullopt when there is no such pool. Thread context: any thread (one scan
// at a time).
[[nodiscard]] std::optional<std::string> holders_json(std::uint32_t id);
// The interval (100 ms unless set); forgets the kept results and lets the
// next scan start at once. For tests. Thread context: any thread.
void set_holder_scan_interval(std::chrono::milliseconds interval);

// The parts joined, for messages (g++ 12 at -O3 warns falsely, -Wrestrict,
// on "literal" + std::string).
[[nodiscard]] inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

}  // namespace ppool::detail
