// tools/stat/client.cc - see client.h.
#include "stat/client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "support/errno_error.h"

namespace ppool::tools {
namespace {

// How long a reply may take: the endpoint answers from a snapshot, so a
// process that does not answer within this is stuck or stopped.
constexpr int kReplyTimeoutS = 5;
// The most a hello may claim for max_output_len (the library sends 256 KiB).
constexpr std::uint64_t kMaxReply = 64ull << 20;

std::string errno_text(const std::string& path, const char* what) {
  std::string m = path;
  m += ": ";
  m += what;
  m += ": ";
  return m + std::strerror(errno);
}

}  // namespace

Result<TelemetryClient> TelemetryClient::connect(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return Error{Errc::kInvalidArgument, path + ": not a usable Unix socket path"};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error(path + ": socket", errno);
  TelemetryClient client(fd, path);
  const timeval timeout{kReplyTimeoutS, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return errno_error(path + ": connect", errno);
  if (Result<void> hello = client.read_hello(); !hello) return hello.error();
  return client;
}

TelemetryClient::TelemetryClient(TelemetryClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      pid_(other.pid_),
      version_(std::move(other.version_)),
      max_output_len_(other.max_output_len_) {}

TelemetryClient::~TelemetryClient() {
  if (fd_ >= 0) close(fd_);
}

Result<void> TelemetryClient::read_hello() {
  std::string error;
  std::optional<JsonValue> hello = receive(&error);
  if (!hello) return Error{Errc::kInvalidArgument, error};
  const JsonValue* pid = hello->get("pid");
  const JsonValue* max_len = hello->get("max_output_len");
  const JsonValue* version = hello->get("version");
  if (!pid || !pid->i64() || !max_len || !max_len->u64() || !version ||
      !version->is(JsonValue::Kind::kString))
    return Error{Errc::kInvalidArgument,
                 path_ + ": not a ppool telemetry endpoint (its hello: " + hello->dump() + ")"};
  pid_ = *pid->i64();
  version_ = version->text;
  max_output_len_ = static_cast<std::size_t>(std::min(*max_len->u64(), kMaxReply));
  return {};
}

std::optional<JsonValue> TelemetryClient::receive(std::string* error) {
  std::string buffer(max_output_len_ + 1, '\0');
  // MSG_TRUNC: the message's whole length even when the buffer is short.
  const ssize_t n = recv(fd_, buffer.data(), buffer.size(), MSG_TRUNC);
  if (n < 0) {
    *error = errno == EAGAIN ? path_ + ": no reply within " + std::to_string(kReplyTimeoutS) + " s"
                             : errno_text(path_, "recv");
    return std::nullopt;
  }
  if (n == 0) {
    *error = path_ + ": the process closed the connection";
    return std::nullopt;
  }
  if (static_cast<std::size_t>(n) > max_output_len_) {
    *error =
        path_ + ": a reply of " + std::to_string(n) + " bytes, over the hello's max_output_len";
    return std::nullopt;
  }
  buffer.resize(static_cast<std::size_t>(n));
  Result<JsonValue> value = parse_json(buffer);
  if (!value || !value.value().is(JsonValue::Kind::kObject)) {
    *error = path_ + ": a reply that is not a JSON object (" +
             (value ? "" : value.error().message) + ")";
    return std::nullopt;
  }
  return std::move(value).value();
}

Reply TelemetryClient::command(std::string_view command) {
  Reply reply;
  if (send(fd_, command.data(), command.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(command.size())) {
    reply.message = errno_text(path_, "send");
    return reply;
  }
  std::optional<JsonValue> object = receive(&reply.message);
  if (!object) return reply;
  if (const JsonValue* error = object->get("error")) {
    reply.status = Reply::Status::kRefused;
    reply.message = path_ + ": " + error->text;
    return reply;
  }
  const std::string_view name = command.substr(0, command.find(','));
  const JsonValue* value = object->get(name);
  if (!value) {
    reply.message = path_ + ": a reply without its command's key: " + object->dump();
    return reply;
  }
  reply.status = Reply::Status::kOk;
  reply.value = *value;
  return reply;
}

}  // namespace ppool::tools
