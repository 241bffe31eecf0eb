// The baselines: the same messages over a SOCK_STREAM Unix socket and over a
// pipe, one write() per message (the producer stamps header and trailer into
// one buffer and writes it; in the touched pass it first writes every payload
// byte of that buffer too), the consumer reading in big chunks.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "harness.h"

namespace share_tool {
namespace {

using Clock = std::chrono::steady_clock;

bool write_all(int fd, const std::byte* data, std::size_t n) {
  while (n) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

Measurement measure_stream(Transport transport, std::uint32_t bytes, double seconds, bool touch) {
  Measurement m;
  int control[2], data[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control) != 0) {
    m.error = std::string("socketpair: ") + std::strerror(errno);
    return m;
  }
  const int made = transport == Transport::kSocket
                       ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, data)
                       : pipe2(data, O_CLOEXEC);
  if (made != 0) {
    m.error = std::string(transport_name(transport)) + ": " + std::strerror(errno);
    close(control[0]);
    close(control[1]);
    return m;
  }
  // data[0] reads (the pipe's read end; either end of the socket pair).
  ConsumerOptions o;
  o.control_fd = control[1];
  o.data_fd = data[0];
  o.transport = transport;
  o.bytes = bytes;
  o.touch = touch;
  const ppool::Result<pid_t> spawned = spawn_consumer(o);
  close(control[1]);
  close(data[0]);
  if (!spawned) {
    m.error = spawned.error().message;
    close(control[0]);
    close(data[1]);
    return m;
  }
  const pid_t pid = spawned.value();

  std::vector<std::byte> buf(bytes);
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  bool wrote = true;
  while (Clock::now() < deadline) {
    if (touch) fill_payload(buf.data(), bytes, m.sent);
    stamp(buf.data(), bytes, m.sent);
    if (!(wrote = write_all(data[1], buf.data(), bytes))) break;
    ++m.sent;
  }
  if (touch) fill_payload(buf.data(), bytes, kEndSeq);
  stamp(buf.data(), bytes, kEndSeq);
  wrote = wrote && write_all(data[1], buf.data(), bytes);
  const bool reported = wrote && read_report(control[0], &m.report, 10000);
  m.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  close(data[1]);
  close(control[0]);
  const int status = reap_consumer(pid);
  if (!wrote)
    m.error = std::string("writing to the ") + transport_name(transport) + " failed";
  else if (!reported)
    m.error = "no report from the consumer";
  else if (status != 0)
    m.error = "the consumer exited with " + std::to_string(status);
  else
    m.error = report_error(m.report, m.sent);
  m.ok = m.error.empty();
  return m;
}

}  // namespace share_tool
