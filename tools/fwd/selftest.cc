#include "selftest.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "../common/quiet_command.h"

namespace fwd {
namespace {

constexpr int kSources = 8;  // source ports, for SO_REUSEPORT's flow hash
constexpr unsigned kBurst = 32;

// Runs `ip args...` to the end, quietly, in the calling thread's network
// namespace; true when it exits 0. A stop signal meanwhile does not kill it
// (quiet_command.h): the setup completes, and the selftest stops right
// after it, printing its JSON.
bool ip(std::initializer_list<std::string> args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return ppool::tools::run_quiet(argv);
}

// An fd for the calling thread's network namespace, or -1.
int this_netns() {
  return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

char verdict_for(std::uint64_t seq) {
  if (seq % 16 == 0) return 'D';
  if (seq % 4 == 1) return 'R';
  return 'T';
}

}  // namespace

// ---- namespaces ----

std::unique_ptr<NetnsPair> NetnsPair::create(std::string* error) {
  std::unique_ptr<NetnsPair> pair(new NetnsPair);
  pair->home_fd_ = this_netns();
  if (pair->home_fd_ < 0) {
    *error = std::string("cannot open /proc/thread-self/ns/net: ") + std::strerror(errno);
    return nullptr;
  }
  // The generator's namespace, then the forwarder's: unshare() moves the
  // calling thread alone into a new one each time. From here on the
  // destructor (on any return) moves it home, and the fds are the only
  // holders left.
  for (int* fd : {&pair->gen_fd_, &pair->fwd_fd_}) {
    if (unshare(CLONE_NEWNET) != 0 || (*fd = this_netns()) < 0) {
      *error = std::string("cannot create a network namespace (needs root or CAP_SYS_ADMIN): ") +
               std::strerror(errno);
      return nullptr;
    }
  }
  // In the forwarder's namespace: the pair, its far end sent to the
  // generator's by a path to our fd (iproute2 opens a netns argument that
  // contains a '/' as a file).
  const std::string gen_ns =
      "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(pair->gen_fd_);
  const char* step = "ip link add fwd0 type veth peer name gen0 netns ...";
  bool ok = ip({"link", "add", "fwd0", "type", "veth", "peer", "name", "gen0", "netns", gen_ns});
  if (ok) step = "ip addr add / link set up, forwarder side";
  ok = ok && ip({"addr", "add", std::string(kForwarderIp) + "/24", "dev", "fwd0"}) &&
       ip({"link", "set", "fwd0", "up"}) && ip({"link", "set", "lo", "up"});
  if (ok && !pair->enter_generator_side(error)) return nullptr;
  if (ok) step = "ip addr add / link set up, generator side";
  ok = ok && ip({"addr", "add", std::string(kGeneratorIp) + "/24", "dev", "gen0"}) &&
       ip({"link", "set", "gen0", "up"}) && ip({"link", "set", "lo", "up"});
  if (!ok) {
    *error = std::string("cannot set up the veth pair between the namespaces: ") + step +
             " failed (is iproute2 installed, the veth driver there?)";
    return nullptr;
  }
  if (setns(pair->home_fd_, CLONE_NEWNET) != 0) {
    *error = std::string("cannot go back to the first network namespace: ") + std::strerror(errno);
    return nullptr;
  }
  return pair;
}

NetnsPair::~NetnsPair() {
  if (home_fd_ >= 0) {
    setns(home_fd_, CLONE_NEWNET);  // cannot fail: we were there
    close(home_fd_);
  }
  if (fwd_fd_ >= 0) close(fwd_fd_);
  if (gen_fd_ >= 0) close(gen_fd_);
}

bool NetnsPair::enter(int fd, const char* side, std::string* error) {
  if (setns(fd, CLONE_NEWNET) == 0) return true;
  *error =
      std::string("cannot enter the ") + side + "'s network namespace: " + std::strerror(errno);
  return false;
}

// ---- traffic ----

std::unique_ptr<TrafficGenerator> TrafficGenerator::create(const Options& options, const char* ip,
                                                           std::string* error) {
  std::unique_ptr<TrafficGenerator> gen(new TrafficGenerator(options));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &addr.sin_addr);
  int big = 8 << 20;
  for (int i = 0; i <= kSources; ++i) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      *error = std::string("traffic generator socket on ") + ip + ": " + std::strerror(errno);
      if (fd >= 0) close(fd);
      return nullptr;
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
