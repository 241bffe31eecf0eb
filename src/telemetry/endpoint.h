// The telemetry endpoint as the layers above see it (layer telemetry,
// internal): a Unix-socket server answering named commands from a table
// that the layers above fill, as DPDK's libraries register their handlers
// with rte_telemetry. The endpoint knows no pools: it owns the socket, the
// table, the hello and "/" and "/info"; the pool layer registers /ppool/...
// (src/pool/telemetry_commands.cc) and starts it. Needs only base.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "ppool/base.h"  // Error, Result, PPOOL_STATS

namespace ppool::detail {

// A command's handler, called with the command's name and what followed its
// first comma (nullopt when there was no comma): the reply's value, JSON
// text, or an Error whose message the client gets as {"error": message}.
// Runs on the endpoint's thread or on telemetry_command()'s caller, so it
// must be callable from any thread. The name is passed, as rte_telemetry
// passes it, so that one handler may serve several commands.
using TelemetryHandler = Result<std::string> (*)(std::string_view command,
                                                 std::optional<std::string_view> param);

// Adds a command to the table, after those already there ("/" lists them in
// that order); a name already there keeps its first handler. takes_param
// false: the endpoint refuses "name,..." itself. Commands are registered by
// a call, never by a static initializer: a static link keeps only the
// objects something calls, and would drop a registration nothing calls.
// Thread context: any thread.
void telemetry_register(std::string_view name, bool takes_param, TelemetryHandler handler);

// The reply to one command, as the socket sends it: {name: value} or
// {"error": ...}; a reply longer than kMaxOutputLen is replaced by an
// error saying so. Thread context: any thread.
[[nodiscard]] std::string telemetry_run(std::string_view command);

// The reply to a command that failed: {NAME: null, "error": message}, NAME
// the command up to its first comma. DPDK's server answers a command it
// does not know, or whose handler fails, with {NAME: null}; a client that
// reads the reply's NAME, as DPDK's do, finds null here too, and ppool-stat
// and people get the message. NAME "error" gets {"error": message} alone.
// Thread context: any thread.
[[nodiscard]] std::string command_error(std::string_view command, std::string_view message);

// Starts the socket server at path (ppool/telemetry.h's telemetry_start
// contract: a stale socket of ours replaced, anything else refused, an
// error naming the path or the running endpoint); nullopt once listening.
// "dpdk" and "dpdk:PREFIX" are DPDK's socket path (dpdk_socket_path()).
// The commands answered are those in the table when a client asks.
// Thread context: any thread.
Result<void> telemetry_listen(const std::string& path);

// DPDK's default file prefix (its EAL's and dpdk-telemetry.py's): "dpdk"
// alone names that prefix's socket.
inline constexpr const char* kDpdkDefaultPrefix = "rte";

// "dpdk" or "dpdk:PREFIX" as telemetry_listen()'s path: DPDK's telemetry
// socket for PREFIX (src/telemetry/dpdk_path.cc), its directories made and
// checked; nullopt for any other spec (an ordinary path). Thread context:
// any thread.
[[nodiscard]] std::optional<Result<std::string>> dpdk_socket_path(std::string_view spec);

// Stops the server's thread and removes its socket file; nothing when it is
// not running. Registered with atexit() by the first telemetry_listen().
// Thread context: any thread.
void telemetry_close();

// The server's socket path, "" when it is not running. Thread context: any
// thread.
[[nodiscard]] std::string telemetry_listening_path();

// Starts the server at $PPOOL_TELEMETRY when it is set and non-empty and the
// server is not already running; a failure is logged (LogLevel::kError)
// naming the path. Only the first call reads the environment: every later
// one is a single atomic load. Thread context: any thread.
void telemetry_listen_from_env();

// The largest reply, in bytes: the hello tells clients (DPDK telemetry's
// max_output_len) so they size their receive buffer, and a bigger reply is
// answered with an error instead. A SOCK_SEQPACKET message must fit the
// sender's socket buffer, which the server raises to hold this much.
inline constexpr std::size_t kMaxOutputLen = 256 * 1024;

// The process: {"pid": N, "version": "ppool X.Y.Z", "max_output_len": N,
// "stats": "on" or "compiled out"}, the hello a client gets on connect and
// the /info command's value.
[[nodiscard]] std::string process_info_json();

// What ppool-stat and the replies say of the counters: "on", or "compiled
// out" in a build with -DPPOOL_STATS=OFF, where the owner's counters read 0
// and no reply shows them as if they were counts.
inline constexpr const char* kStatsState = PPOOL_STATS ? "on" : "compiled out";

// What the client sent, for an error message: at most 64 bytes of it (the
// rest could be anything, of any length), "..." when cut.
[[nodiscard]] std::string shown(std::string_view text);

// The parts joined, for messages (g++ 12 at -O3 warns falsely, -Wrestrict,
// on "literal" + std::string).
[[nodiscard]] inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out += part;
  return out;
}

}  // namespace ppool::detail
