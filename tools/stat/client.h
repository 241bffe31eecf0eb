// tools/stat/client.h - ppool-stat's side of a telemetry endpoint
// (ppool/telemetry.h): connect, read the hello, send one command at a time
// and read its one reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ppool/base.h"
#include "support/json_value.h"

namespace ppool::tools {

// A command's outcome: its value, the endpoint's {"error": ...}, or the
// connection lost (the process exited or closed it: ECONNRESET, EPIPE, EOF,
// no reply in time).
struct Reply {
  enum class Status { kOk, kRefused, kLost };
  Status status = Status::kLost;
  JsonValue value;      // kOk: the member keyed by the command
  std::string message;  // otherwise: what went wrong, naming the socket
};

// A per-pool command: command_for("/ppool/info", 3) is "/ppool/info,3".
[[nodiscard]] inline std::string command_for(std::string_view command, std::uint32_t id) {
  std::string text(command);
  text += ',';
  return text += std::to_string(id);
}

class TelemetryClient {
 public:
  // Connects to the endpoint at path and reads its hello.
  // @return the client, or, naming the path (no socket is left open):
  //   kInvalidArgument nothing answers there (ENOENT, ECONNREFUSED), the path
  //                    is no usable socket path, or what answers is no
  //                    ppool endpoint (no hello in time, or not ppool's);
  //   the failed socket call's other errors (support/errno_error.h).
  static Result<TelemetryClient> connect(const std::string& path);

  TelemetryClient(TelemetryClient&& other) noexcept;
  TelemetryClient& operator=(TelemetryClient&&) = delete;
  TelemetryClient(const TelemetryClient&) = delete;
  ~TelemetryClient();

  // Sends command ("/ppool/stats,3") and reads its reply.
  [[nodiscard]] Reply command(std::string_view command);

  const std::string& path() const { return path_; }
  std::int64_t pid() const { return pid_; }
  const std::string& version() const { return version_; }

 private:
  TelemetryClient(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // One message from the endpoint; nullopt with *error when the connection
  // is gone or the message is not JSON. Not a Result: it serves command()
  // too, whose outcome is a Reply (a lost connection is kLost there, an
  // outcome of the run that no Errc names).
  std::optional<JsonValue> receive(std::string* error);
  Result<void> read_hello();

  int fd_;
  std::string path_;
  std::int64_t pid_ = 0;
  std::string version_;
  std::size_t max_output_len_ = 64 * 1024;  // until the hello says
};

}  // namespace ppool::tools
