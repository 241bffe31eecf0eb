#include "selftest.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "support/errno_error.h"

namespace fwd {
namespace {

constexpr int kSources = 8;  // source ports, for SO_REUSEPORT's flow hash
constexpr unsigned kBurst = 32;

char verdict_for(std::uint64_t seq) {
  if (seq % 16 == 0) return 'D';
  if (seq % 4 == 1) return 'R';
  return 'T';
}

}  // namespace

// ---- namespaces ----

ppool::Result<std::unique_ptr<NetnsPair>> NetnsPair::create() {
  auto pair = std::make_unique<NetnsPair>();
  for (auto* ns : {&pair->generator, &pair->forwarder}) {
    ppool::Result<std::unique_ptr<ppool::tools::Netns>> made = ppool::tools::Netns::create();
    if (!made) return made.error();
    *ns = std::move(made).value();
  }
  // The kernel's MACs and one queue each: the generator's flows spread over
  // the forwarder's sockets by SO_REUSEPORT, not by queue.
  const ppool::tools::VethEnd fwd0{pair->forwarder.get(), "fwd0", std::string(kForwarderIp) + "/24",
                                   "", 0};
  const ppool::tools::VethEnd gen0{pair->generator.get(), "gen0", std::string(kGeneratorIp) + "/24",
                                   "", 0};
  if (ppool::Result<void> veth = ppool::tools::veth_pair(fwd0, gen0); !veth) return veth.error();
  return pair;
}

// ---- traffic ----

ppool::Result<std::unique_ptr<TrafficGenerator>> TrafficGenerator::create(const Options& options,
                                                                          const char* ip) {
  std::unique_ptr<TrafficGenerator> gen(new TrafficGenerator(options));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &addr.sin_addr);
  int big = 8 << 20;
  for (int i = 0; i <= kSources; ++i) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      const int err = errno;
      if (fd >= 0) close(fd);
      return ppool::tools::errno_error(std::string("traffic generator socket on ") + ip, err);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (i == 0)
      gen->sink_fd_ = fd;
    else
      gen->sources_.push_back(fd);
  }
  socklen_t len = sizeof gen->sink_addr_;
  getsockname(gen->sink_fd_, reinterpret_cast<sockaddr*>(&gen->sink_addr_), &len);
  timeval tick{0, 50000};
  setsockopt(gen->sink_fd_, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  return gen;
}

TrafficGenerator::~TrafficGenerator() {
  stop();
  for (int fd : sources_) close(fd);
  if (sink_fd_ >= 0) close(sink_fd_);
}

void TrafficGenerator::start(const sockaddr_in& target) {
  sending_ = sinking_ = true;
  generator_ = std::thread([this, target] { generate(target); });
  sink_ = std::thread([this] { sink(); });
}

// Bounded bursts: never more than options_.window (+ a burst) packets
// unaccounted for.
void TrafficGenerator::generate(sockaddr_in target) {
  std::vector<char> payload(kBurst * options_.packet_size);
  mmsghdr msgs[kBurst];
  iovec iovs[kBurst];
  std::uint64_t seq = 0;
  for (std::size_t turn = 0; sending_.load(std::memory_order_relaxed); ++turn) {
    if (seq - received_.load(std::memory_order_relaxed) - marked_drops_.load() >= options_.window) {
      std::this_thread::yield();
      continue;
    }
    for (unsigned i = 0; i < kBurst; ++i) {
      char* p = payload.data() + i * options_.packet_size;
      p[0] = verdict_for(seq + i);
      std::memcpy(p + 1, &seq, sizeof seq);
      iovs[i] = {p, options_.packet_size};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &target;
      msgs[i].msg_hdr.msg_namelen = sizeof target;
    }
    int n = sendmmsg(sources_[turn % sources_.size()], msgs, kBurst, 0);
    if (n <= 0) continue;
    std::uint64_t drops = 0;
    for (int i = 0; i < n; ++i) drops += verdict_for(seq + static_cast<unsigned>(i)) == 'D';
    marked_drops_.fetch_add(drops, std::memory_order_relaxed);
    seq += static_cast<unsigned>(n);
    sent_.store(seq, std::memory_order_relaxed);
  }
}

void TrafficGenerator::sink() {
  constexpr unsigned kBatch = 64;
  std::vector<char> buf(kBatch * 2048);
  mmsghdr msgs[kBatch];
  iovec iovs[kBatch];
  for (unsigned i = 0; i < kBatch; ++i) {
    iovs[i] = {buf.data() + i * 2048, 2048};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  while (sinking_.load(std::memory_order_relaxed)) {
    int n = recvmmsg(sink_fd_, msgs, kBatch, MSG_WAITFORONE, nullptr);
    if (n > 0) received_.fetch_add(static_cast<unsigned>(n), std::memory_order_relaxed);
  }
}

void TrafficGenerator::stop() {
  if (!generator_.joinable()) return;
  sending_ = false;
  generator_.join();
  // What is still in flight has half a second to come back.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (received() + dropped_on_purpose() < sent() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  sinking_ = false;
  sink_.join();
}

}  // namespace fwd
