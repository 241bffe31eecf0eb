// ppool-fwd's built-in traffic generator and sink, on loopback or across two
// network namespaces joined by a veth pair, that go away with the process.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "options.h"
#include "ppool/base.h"
#include "support/netns.h"

namespace fwd {

// Two network namespaces, the forwarder's and the generator's, joined by a
// veth pair (fwd0 - gen0): the support library's harness (support/netns.h),
// so they vanish with the process, however it ends.
struct NetnsPair {
  // Needs CAP_SYS_ADMIN and CAP_NET_ADMIN, iproute2 and the veth driver.
  // The calling thread stays where it is.
  // @return the pair, or kUnsupported (support/netns.h says which step
  //   failed): what was made is gone.
  static ppool::Result<std::unique_ptr<NetnsPair>> create();
  static constexpr const char* kForwarderIp = "10.77.0.1";
  static constexpr const char* kGeneratorIp = "10.77.0.2";
  std::unique_ptr<ppool::tools::Netns> forwarder, generator;
};

// Sends bounded bursts of UDP packets to the forwarder from several source
// ports (so SO_REUSEPORT spreads them over the queues) and counts what comes
// back to its sink. The first byte of each packet is the verdict the
// forwarder applies: 1 in 16 'D' (dropped on purpose), 1 in 4 'R'
// (redirected to another queue), the rest 'T' (sent straight back).
class TrafficGenerator {
 public:
  // Sockets on ip (a sink with an ephemeral port, and the sources).
  // @return the generator, or the failed socket call's error naming ip
  //   (support/errno_error.h: kInvalidArgument when ip is not this
  //   namespace's): no socket is left.
  static ppool::Result<std::unique_ptr<TrafficGenerator>> create(const Options& options,
                                                                 const char* ip);
  ~TrafficGenerator();
  sockaddr_in sink_address() const { return sink_addr_; }

  // The generator and sink threads (their sockets already live in the
  // namespace they were created in).
  void start(const sockaddr_in& target);
  // Stops sending, waits (bounded) for what is in flight, stops the sink.
  void stop();

  std::uint64_t sent() const { return sent_.load(); }
  std::uint64_t received() const { return received_.load(); }
  std::uint64_t dropped_on_purpose() const { return marked_drops_.load(); }

 private:
  TrafficGenerator(const Options& options) : options_(options) {}
  void generate(sockaddr_in target);
  void sink();

  Options options_;
  std::vector<int> sources_;
  int sink_fd_ = -1;
  sockaddr_in sink_addr_{};
  std::atomic<bool> sending_{false}, sinking_{false};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, marked_drops_{0};
  std::thread generator_, sink_;
};

}  // namespace fwd
