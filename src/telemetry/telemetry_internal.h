// What the telemetry endpoint's source files share (layer telemetry,
// internal): the reply size limit and the process's description.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace ppool::detail {

// The largest reply, in bytes: the hello tells clients (DPDK telemetry's
// max_output_len) so they size their receive buffer, and a bigger reply is
// answered with an error instead. A SOCK_SEQPACKET message must fit the
// sender's socket buffer, which the server raises to hold this much.
inline constexpr std::size_t kMaxOutputLen = 256 * 1024;

// The process: {"pid": N, "version": "ppool X.Y.Z", "max_output_len": N}, the
// hello a client gets on connect and the /info command's value.
[[nodiscard]] std::string process_info_json();

// The parts joined, for messages (g++ 12 at -O3 warns falsely, -Wrestrict,
// on "literal" + std::string).
[[nodiscard]] inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

}  // namespace ppool::detail
