// The cost of a send from a registered (fixed) buffer against an ordinary
// one, on a UDP socket over loopback, through io_uring, in one run:
//   send          IORING_OP_SEND: the kernel copies from user memory
//   send_zc       IORING_OP_SEND_ZC from unregistered memory: pinned per send
//   send_zc_fixed IORING_OP_SEND_ZC from a registered buffer (what ppool-fwd
//                 does with pool pages: pinned once, when the pool maps them)
// Each sends N packets in batches of 32 and reaps every completion,
// notifications included; a receiver thread drains the socket.
//
//   bench_send [--packets N] [--size BYTES]
#include <arpa/inet.h>
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "support/args.h"

namespace {

enum class Kind { kSend, kSendZc, kSendZcFixed };
constexpr unsigned kBatch = 32;

struct Link {
  int tx = -1, rx = -1;
};

Link make_link() {
  Link link;
  link.rx = socket(AF_INET, SOCK_DGRAM, 0);
  link.tx = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int big = 16 << 20;
  setsockopt(link.rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  timeval tick{0, 100000};
  setsockopt(link.rx, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  bind(link.rx, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(link.rx, reinterpret_cast<sockaddr*>(&addr), &len);
  connect(link.tx, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  return link;
}

// ns per packet for one kind of send.
double run(Kind kind, long packets, unsigned size) {
  Link link = make_link();
  io_uring ring;
  if (io_uring_queue_init(2 * kBatch, &ring, 0) < 0) return -1;
  std::vector<char> buffer(kBatch * size, 'x');
  iovec iov{buffer.data(), buffer.size()};
  if (kind == Kind::kSendZcFixed && io_uring_register_buffers(&ring, &iov, 1) < 0) return -1;
  std::atomic<bool> done{false};
  std::thread receiver([&] {
    char sink[2048];
    while (!done.load(std::memory_order_relaxed)) recv(link.rx, sink, sizeof sink, 0);
  });
  auto t0 = std::chrono::steady_clock::now();
  for (long sent = 0; sent < packets; sent += kBatch) {
    unsigned expected = 0;
    for (unsigned i = 0; i < kBatch; ++i) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      char* data = buffer.data() + i * size;
      switch (kind) {
        case Kind::kSend:
          io_uring_prep_send(sqe, link.tx, data, size, 0);
          break;
        case Kind::kSendZc:
          io_uring_prep_send_zc(sqe, link.tx, data, size, 0, 0);
          break;
        case Kind::kSendZcFixed:
          io_uring_prep_send_zc_fixed(sqe, link.tx, data, size, 0, 0, 0);
          break;
      }
      ++expected;
    }
    io_uring_submit(&ring);
    while (expected) {  // every result, and every notification that follows one
      io_uring_cqe* cqe;
      io_uring_wait_cqe(&ring, &cqe);
      if (!(cqe->flags & IORING_CQE_F_MORE)) --expected;
      io_uring_cqe_seen(&ring, cqe);
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  done = true;
  receiver.join();
  io_uring_queue_exit(&ring);
  close(link.tx);
  close(link.rx);
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(packets);
}

}  // namespace

int main(int argc, char** argv) {
  long packets = 400000;
  unsigned size = 1024;
  ppool::tools::Args args(argc, argv, "bench_send",
                          "usage: bench_send [--packets 1..1000000000] [--size 64..65000]\n"
                          "ns per UDP packet over loopback (default 400000 packets of 1024\n"
                          "bytes): send, send_zc and send_zc from a fixed buffer.\n");
  while (args.next()) {
    if (!args.number("--packets", 1, 1000000000, packets) &&
        !args.number("--size", 64, 65000, size))
      args.unknown();
  }
  if (auto status = args.exit_status()) return *status;
  std::printf("%-14s %10s   (%u-byte UDP payloads over loopback)\n", "send", "ns/packet", size);
  const char* names[] = {"send", "send_zc", "send_zc_fixed"};
  for (Kind kind : {Kind::kSend, Kind::kSendZc, Kind::kSendZcFixed}) {
    double ns = run(kind, packets, size);
    if (ns < 0)
      std::printf("%-14s %10s\n", names[static_cast<int>(kind)], "unavailable");
    else
      std::printf("%-14s %10.0f\n", names[static_cast<int>(kind)], ns);
  }
  return 0;
}
