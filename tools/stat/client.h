// tools/stat/client.h - ppool-stat's side of a telemetry endpoint
// (ppool/telemetry.h): connect, read the hello, send one command at a time
// and read its one reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
  // Connects to the endpoint at path and reads its hello; nullopt with
  // *error naming the path when nothing answers there (ENOENT, ECONNREFUSED)
  // or what answers is no ppool endpoint.
  static std::optional<TelemetryClient> connect(const std::string& path, std::string* error);

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
  // is gone or the message is not JSON.
  std::optional<JsonValue> receive(std::string* error);
  bool read_hello(std::string* error);

  int fd_;
  std::string path_;
  std::int64_t pid_ = 0;
  std::string version_;
  std::size_t max_output_len_ = 64 * 1024;  // until the hello says
};

}  // namespace ppool::tools
