// PPOOL_TELEMETRY starts the endpoint, with the pools' commands, in a
// program that uses nothing of ppool/telemetry.h: it includes page_pool.h
// only and references no telemetry function, so in a static link
// (libppool.a, the default) nothing but the pool's creation pulls the
// endpoint in. A registration left to a static initializer would be
// dropped there and this would fail.
//   env_start        (exits 0 when the endpoint answered, 1 otherwise)
// It sets PPOOL_TELEMETRY itself, to a socket in a fresh directory, before
// its first pool: the library reads the environment at that creation.
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "ppool/page_pool.h"

namespace {

int failed(const std::string& what) {
  std::fprintf(stderr, "env_start: %s\n", what.c_str());
  return 1;
}

// One reply, "" when none came within the socket's timeout.
std::string receive(int fd) {
  std::string buffer(1 << 20, '\0');
  const ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
  return n > 0 ? buffer.substr(0, static_cast<std::size_t>(n)) : std::string();
}

std::string ask(int fd, const std::string& command) {
  if (send(fd, command.data(), command.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(command.size()))
    return "";
  return receive(fd);
}

int check(const std::string& path, ppool::PagePool* pool) {
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed(std::string("socket: ") + std::strerror(errno));
  const timeval timeout{10, 0};  // a hung endpoint fails the test instead of hanging it
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string why = std::strerror(errno);
    close(fd);
    return failed("PPOOL_TELEMETRY did not start the endpoint: connect " + path + ": " + why);
  }
  const std::string hello = receive(fd);
  const std::string list = ask(fd, "/ppool/list");
  const std::string commands = ask(fd, "/");
  close(fd);
  if (hello.find("\"max_output_len\"") == std::string::npos) return failed("hello: " + hello);
  if (list != "{\"/ppool/list\": [" + std::to_string(pool->id()) + "]}")
    return failed("the pool's commands are missing: /ppool/list answered " + list);
  if (commands.find("\"/ppool/prometheus\"") == std::string::npos)
    return failed("/ answered " + commands);
  return 0;
}

}  // namespace

int main() {
  char dir[] = "/tmp/ppool-env-start-XXXXXX";
  if (!mkdtemp(dir)) return failed(std::string("mkdtemp: ") + std::strerror(errno));
  const std::string path = std::string(dir) + "/ppool-env-start.sock";
  setenv("PPOOL_TELEMETRY", path.c_str(), 1);
  ppool::PagePoolParams params;
  params.name = "env start";
  auto created = ppool::PagePool::create(params);
  if (!created) {
    rmdir(dir);
    return failed(created.error().message);
  }
  const int rc = check(path, created.value());
  if (ppool::PagePool::destroy(created.value()) != 0) return failed("pages left in flight");
  // The endpoint runs until exit (which stops it); its socket file and the
  // directory go now, without a call into ppool/telemetry.h.
  if (rc == 0) std::printf("env_start: PPOOL_TELEMETRY started the endpoint at %s\n", path.c_str());
  unlink(path.c_str());
  rmdir(dir);
  return rc;
}
