// What the telemetry tests share: a temporary directory for sockets, a raw
// SOCK_SEQPACKET client (the protocol as a client sees it, independent of
// ppool-stat's), and JSON parsing of replies.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ppool/telemetry.h"
#include "support/json_value.h"

namespace ppool::test {

using tools::JsonValue;

// A fresh directory under /tmp, removed with what is in it.
class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/ppool-telemetry-XXXXXX";
    EXPECT_NE(mkdtemp(name), nullptr) << std::strerror(errno);
    path_ = name;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // A path in it whose name follows ppool-stat's convention.
  std::string socket(std::string_view name = "ppool-test.sock") const {
    return path_ + "/" + std::string(name);
  }

 private:
  std::string path_;
};

inline sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), std::min(path.size(), sizeof addr.sun_path - 1));
  return addr;
}

// One connection to an endpoint. Every call fails the test, not the
// process, when the endpoint misbehaves.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    const timeval timeout{10, 0};  // a hung server fails the test instead of hanging it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const sockaddr_un addr = unix_address(path);
    connected_ = connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    if (!connected_) errno_ = errno;
  }
  ~RawClient() { close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  int connect_errno() const { return errno_; }
  int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send_text(std::string_view text) {
    return send(fd_, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size());
  }
  // One message; "" when the connection is closed or nothing came in time.
  std::string receive() {
    std::string buffer(1 << 20, '\0');
    const ssize_t n = recv(fd_, buffer.data(), buffer.size(), 0);
    buffer.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return buffer;
  }
  // The reply to command, parsed; a test failure and an empty value when it
  // is not JSON.
  JsonValue ask(std::string_view command) {
    EXPECT_TRUE(send_text(command)) << command;
    return parse(receive());
  }

  static JsonValue parse(const std::string& text) {
    Result<JsonValue> v = tools::parse_json(text);
    EXPECT_TRUE(v) << "not JSON (" << (v ? "" : v.error().message) << "): " << text;
    return v ? std::move(v).value() : JsonValue{};
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  int errno_ = 0;
};

// telemetry_command(command), parsed.
inline JsonValue command_json(std::string_view command) {
  return RawClient::parse(telemetry_command(command));
}

// The error message of an {"error": ...} reply; "" (and a test failure)
// when the reply is something else.
inline std::string error_of(const JsonValue& reply) {
  const JsonValue* e = reply.get("error");
  EXPECT_TRUE(e && e->is(JsonValue::Kind::kString)) << reply.dump();
  return e ? e->text : std::string();
}

}  // namespace ppool::test
