// ppool-xsk's selftest world: three network namespaces joined by two veth
// pairs, netsniff-ng's trafgen on the far end, and the counters of each end.
//
//   gen ns                 fwd ns (ppool-xsk)                 sink ns
//   g0 --veth--> f0 [XDP -> XSKMAP -> AF_XDP]  f1 [AF_XDP TX] --veth--> s0
//   trafgen                 queue i: thread, socket on f0, socket on f1     rx_packets
//
// The namespaces are the support library's (support/netns.h), as ppool-fwd's
// are: unnamed, so they and their veth pairs vanish with the process however
// it ends. The destructor stops trafgen and moves the thread home; it runs
// on SIGINT/SIGTERM too, through the main loop.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "options.h"
#include "ppool/base.h"
#include "support/netns.h"

namespace xsk {

struct LinkStats {
  std::uint64_t rx_packets = 0, tx_packets = 0, rx_dropped = 0, tx_dropped = 0;
  bool ok = false;
};

class Topology {
 public:
  static constexpr unsigned char kGenMac[6] = {0x02, 0x70, 0x70, 0, 0, 0x01};     // g0
  static constexpr unsigned char kFwdInMac[6] = {0x02, 0x70, 0x70, 0, 0, 0x02};   // f0
  static constexpr unsigned char kFwdOutMac[6] = {0x02, 0x70, 0x70, 0, 0, 0x03};  // f1
  static constexpr unsigned char kSinkMac[6] = {0x02, 0x70, 0x70, 0, 0, 0x04};    // s0

  // Why the selftest cannot run here (not root, no netns, no trafgen), or
  // empty. It needs no bpffs (see selftest.cc).
  static std::string missing();

  // The namespaces and veth pairs, queues queues each way.
  // @return the topology, or kUnsupported (support/netns.h: no privilege,
  //   no iproute2, no veth driver): what was made is gone.
  static ppool::Result<std::unique_ptr<Topology>> create(unsigned queues);
  ~Topology();

  // Moves the calling thread (call it before starting any other) into the
  // forwarder's namespace, and back.
  // @return success, or kUnsupported (no /proc, setns refused): the thread
  //   is where it was.
  ppool::Result<void> enter_forwarder();
  void leave_forwarder();

  // trafgen in the generator's namespace, sending until stop_traffic().
  // @return success, or kUnsupported: its config could not be written, it
  //   could not start, or it sent nothing within 10 s (the message holds
  //   the start of its log); no trafgen runs afterwards.
  ppool::Result<void> start_traffic(const Options& options);
  void stop_traffic();
  bool traffic_running();  // false once trafgen ended by itself (an error)

  LinkStats generator_stats() const { return stats(*gen_ns_, "g0"); }
  LinkStats sink_stats() const { return stats(*sink_ns_, "s0"); }

 private:
  Topology() = default;
  static LinkStats stats(const ppool::tools::Netns& ns, const char* dev);

  std::unique_ptr<ppool::tools::Netns> gen_ns_, fwd_ns_, sink_ns_;
  std::unique_ptr<ppool::tools::NetnsReturn> home_;  // while in the forwarder's
  std::string conf_path_;
  pid_t trafgen_ = -1;
};

std::string mac_text(const unsigned char mac[6]);

}  // namespace xsk
