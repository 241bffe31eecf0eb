// The forwarder: N queues, a thread, an io_uring, a pool and a UDP socket
// each (SO_REUSEPORT spreads flows over them).
//
// RX: a provided-buffer ring refilled from the queue's pool, drained by one
//     multishot receive.
// Verdict, from the packet's first byte: 'D' drops (recycled directly), 'R'
//     redirects to the next queue's TX, anything else is sent back out (TX).
// TX: a zero-copy send from the registered buffer (send_zc, fixed buffer:
//     the page's DMA address on the io_uring device is its buffer index, in
//     every queue's ring). Its notification is the TX completion: the frame
//     goes home in bulk (FrameBulk), from whichever queue sent it.
// With --alloc malloc the same pipeline runs on malloc'd buffers and plain
// (copying, unregistered) sends, for comparison.
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

namespace fwd {

// What a queue publishes for the progress line and the summary: written by
// its thread only, read by anyone.
struct QueueCounters {
  std::atomic<std::uint64_t> received{0}, sent{0}, dropped{0}, redirected{0}, send_errors{0};
  std::atomic<std::uint64_t> rx_errors{0};  // completions for a buffer that was not there
  std::atomic<std::uint64_t> syscalls{0};   // io_uring_enter calls
  std::atomic<std::uint64_t> allocs{0}, slow_allocs{0};  // from the pool's stats
};

class Queue;

// Pool mode without CAP_IPC_LOCK: io_uring charges every registered page to
// RLIMIT_MEMLOCK once per ring it is registered in (a page is registered in
// every queue's ring), and each ring's own memory too. Sizes the receive
// buffers, the device's slots and the selftest's window in options to fit
// the limit.
// @return a note saying what was shrunk, in one line ("" when nothing was),
//   or kOutOfMemory saying what to change when even the smallest setup
//   cannot fit (options unchanged).
ppool::Result<std::string> fit_locked_memory(Options& options);

class Forwarder {
 public:
  // Sockets bound to listen, sends connected to dest. The port is this
  // forwarder's alone (see PortLock in forwarder.cc).
  // @return the forwarder, or on failure (nothing of it is left):
  //   kInvalidArgument "port N is in use", or an address the kernel refused;
  //   kUnsupported  io_uring missing or refused, a socket not permitted;
  //   kOutOfMemory  locked memory or descriptors ran out;
  //   the device's own error (ppool::IoUringDmaDevice::create) in pool mode.
  static ppool::Result<std::unique_ptr<Forwarder>> create(const Options& options,
                                                          const sockaddr_in& listen,
                                                          const sockaddr_in& dest);
  ~Forwarder();

  // The queue threads.
  // @return success, or kOutOfMemory when a queue could not set up its
  //   pool or provided-buffer ring (the queue logged why); the forwarder
  //   is stopped then.
  ppool::Result<void> start();
  void stop();  // stops RX, drains TX, joins, frees every buffer

  std::uint64_t received() const;
  std::vector<std::uint64_t> received_per_queue() const;
  std::uint64_t syscalls() const;
  std::uint64_t pages_in_flight() const;  // pool mode: the pools' in-flight pages
  double recycle_ratio() const;           // allocations served without the page allocator
  // After stop(): [{"name": S, "stats": {...}, "inflight": N}, ...] ([] in malloc mode).
  const std::string& pools_json() const { return pools_json_; }
  bool clean() const { return clean_; }  // after stop(): every pool ended with inflight 0

  const Options& options() const { return options_; }
  std::vector<std::unique_ptr<Queue>>& queues() { return queues_; }
  std::atomic<int> rx_stopped{0};

 private:
  explicit Forwarder(const Options& options);

  Options options_;
  std::vector<std::unique_ptr<Queue>> queues_;
  struct Device;
  std::unique_ptr<Device> device_;
  int port_lock_ = -1;  // held for the forwarder's life
  std::string pools_json_ = "[]";
  bool torn_down_ = false;
  bool clean_ = false;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace fwd
