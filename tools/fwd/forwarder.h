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
// the limit; note says what was shrunk, in one line (empty when nothing
// was). False, with error saying what to change, when even the smallest
// setup cannot fit.
bool fit_locked_memory(Options& options, std::string* note, std::string* error);

class Forwarder {
 public:
  // Sockets bound to listen, sends connected to dest. The port is this
  // forwarder's alone (see PortLock in forwarder.cc) or it fails with
  // "port N is in use". On failure returns nullptr and says why.
  static std::unique_ptr<Forwarder> create(const Options& options, const sockaddr_in& listen,
                                           const sockaddr_in& dest, std::string* error);
  ~Forwarder();

  bool start(std::string* error);  // the queue threads; false if a queue cannot set up
  void stop();                     // stops RX, drains TX, joins, frees every buffer

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
