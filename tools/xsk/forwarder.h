// The forwarder: N queues, each a thread, an AF_XDP socket on the receiving
// interface (queue i), one on the sending interface (queue i; both share one
// UMEM: XDP_SHARED_UMEM) and the frame memory behind them.
//
// A queue's round: completions home (both completion rings), frames
// redirected to it sent, the fill ring refilled, a batch received and given
// its verdict:
//   tx        forwarded out of the sending interface (Ethernet addresses rewritten)
//   redirect  to the next queue (an MPSC ring), which sends it out of the sending interface
//   back      sent back out of the receiving interface (addresses swapped)
//   drop      straight back to the frame memory
// Copy-mode TX happens in sendto(), so each round with frames on a TX ring
// kicks it.
//
// The frame memory is the part that differs between --alloc pool (ppool's
// XskUmem and a PagePool per queue) and --alloc stack (a free-frame stack per
// queue); both implement QueueIo and Backend below.
#pragma once

#include <linux/if_xdp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "options.h"
#include "ppool/base.h"
#include "ppool/xsk_redirect.h"

namespace xsk {

constexpr std::uint32_t kFrameSize = 4096;  // one page a frame: a frame is a pool page
constexpr std::uint32_t kRingSize = 2048;   // every AF_XDP ring
constexpr unsigned kBatch = 64;

enum class Port { kIn, kOut };

// Frames in the AF_XDP rings (kernel's view: producer - consumer).
struct RingCounts {
  std::uint64_t fill = 0, rx = 0, tx = 0, completion = 0;
  RingCounts& operator+=(const RingCounts& o) {
    fill += o.fill;
    rx += o.rx;
    tx += o.tx;
    completion += o.completion;
    return *this;
  }
};

// One queue's sockets and frame memory. Owner thread only, except rings().
class QueueIo {
 public:
  virtual ~QueueIo() = default;
  virtual int rx_fd() const = 0;  // the receiving socket (XSKMAP, poll)
  virtual int tx_fd(Port port) const = 0;
  // Called on the queue's thread before its first round.
  // @return success, or why the queue cannot run (the forwarder stops).
  virtual ppool::Result<void> bind_thread() = 0;
  // Fills the receiving socket's fill ring with as many frames as fit.
  virtual void refill() = 0;
  // Takes up to max received descriptors off the RX ring.
  virtual unsigned receive(xdp_desc* out, unsigned max) = 0;
  virtual char* data(std::uint64_t addr) = 0;
  // Puts up to n descriptors on port's TX ring; returns how many fit.
  virtual unsigned transmit(Port port, const xdp_desc* descs, unsigned n) = 0;
  // Frames from both completion rings go home; returns how many.
  virtual unsigned complete() = 0;
  // Frames the forwarder is done with (dropped, or no room to send).
  virtual void drop(const xdp_desc* descs, unsigned n) = 0;
  // Frames on each ring now (any thread; a snapshot).
  virtual RingCounts rings() const = 0;
  // Publishes allocation counts for the recycle ratio (owner thread).
  virtual void publish() {}
  // Frames outstanding on port's TX ring (not yet taken by the kernel).
  virtual std::uint32_t tx_outstanding(Port port) const = 0;
};

struct Ports {
  std::string in_dev, out_dev;
  unsigned char out_src[6], out_dst[6];  // written into forwarded frames
  // out_dev has a queue past the working ones, which no traffic uses: the
  // UMEM's registration socket goes there (see pool_backend.cc).
  bool spare_queue = false;
};

// The kernel's drops at the receiving AF_XDP sockets (XDP_STATISTICS, summed
// over the queues): no free frame (copy mode: the fill ring was empty) and
// no room on the RX ring. Frames the forwarder never saw.
struct SocketDrops {
  std::uint64_t rx_dropped = 0, rx_ring_full = 0, fill_ring_empty = 0;
  bool ok = false;  // every socket answered
};

// What a backend says after teardown.
struct Teardown {
  // Frames that did not come home, measured after teardown: the pools'
  // inflight once the UMEM is gone (--alloc pool), the frames missing from
  // the stacks (--alloc stack).
  std::uint64_t inflight = 0;
  // The ledger once every socket closed, before the UMEM's deletion
  // (--alloc pool): frames with the application, and frames the kernel still
  // held for the registration socket (reclaimed by the deletion).
  std::uint64_t ledger_app = 0, ledger_kernel = 0;
  // [{"name": ..., "stats": {...}, "queue": {...}, "inflight": N}, ...], or []
  std::string pools_json = "[]";
  std::uint64_t umem_frames = 0, umem_committed = 0;
  std::uint64_t reclaimed = 0;  // frames taken back from the rings at teardown
};

// Allocations of frames, and those that needed the allocator's slow path
// (the pools' alloc_slow + alloc_slow_high_order).
struct AllocCounts {
  std::uint64_t allocs = 0, slow = 0;
  // The share of allocations served without the page allocator (as
  // ppool-fwd counts it), between this and an earlier count.
  double recycle_ratio() const { return ratio(allocs, slow); }
  double recycle_ratio(const AllocCounts& since) const {
    return ratio(allocs - since.allocs, slow - since.slow);
  }
  static double ratio(std::uint64_t a, std::uint64_t s) {
    return a ? 1.0 - static_cast<double>(s) / static_cast<double>(a) : 0.0;
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The UMEM and the sockets of every queue.
  // @return success, or the UMEM's or a socket's error (kOutOfMemory,
  //   kUnsupported, kInvalidArgument for a queue the device lacks), its
  //   message naming which; teardown() frees what was made.
  virtual ppool::Result<void> create(const Options& options, const Ports& ports) = 0;
  virtual QueueIo& queue(int index) = 0;
  // After every queue thread ended: sockets closed, frames home, memory freed.
  virtual Teardown teardown() = 0;
  virtual AllocCounts alloc_counts() const = 0;  // any thread (published each round)
  virtual std::uint64_t inflight() const = 0;    // frames out of the frame memory now
  virtual std::uint64_t umem_frames() const = 0;
  virtual std::uint64_t umem_committed() const = 0;
};

std::unique_ptr<Backend> make_stack_backend();
std::unique_ptr<Backend> make_pool_backend();  // nullptr where ppool_xsk was not built

struct QueueCounters {
  std::atomic<std::uint64_t> received{0}, forwarded{0}, redirected{0}, back{0}, dropped{0},
      not_ours{0}, lost{0}, completed{0};
};

struct Totals {
  std::uint64_t received = 0, forwarded = 0, redirected = 0, back = 0, dropped = 0, not_ours = 0,
                lost = 0, completed = 0;
};

class Queue;

class Forwarder {
 public:
  // The frame memory, the sockets and the XDP program on ports.in_dev.
  // @return the forwarder, or on failure (what was made is gone):
  //   kUnsupported     --alloc pool in a build without ppool_xsk, or what
  //                    the kernel refused (AF_XDP, XDP, a permission);
  //   kInvalidArgument no such interface, or a queue it lacks;
  //   kOutOfMemory     the UMEM could not be mapped or locked;
  //   the library's own errors (XskRedirect, XskUmem, XskQueue), passed on.
  static ppool::Result<std::unique_ptr<Forwarder>> create(const Options& options,
                                                          const Ports& ports);
  ~Forwarder();

  // The queue threads.
  // @return success, or the first queue's bind_thread() error; the
  //   forwarder is stopped then.
  ppool::Result<void> start();
  // Stops every queue with frames left on its rings (see forwarder.cc),
  // records them, tears down. Idempotent.
  void stop();

  Totals totals() const;
  std::string received_per_queue() const;  // " N N ..."
  AllocCounts alloc_counts() const { return backend_->alloc_counts(); }
  double recycle_ratio() const { return alloc_counts().recycle_ratio(); }
  std::uint64_t inflight() const { return backend_->inflight(); }
  const char* xdp_mode() const { return xdp_.mode(); }
  // The receiving sockets' drops so far (any thread, before stop()).
  SocketDrops socket_drops();

  // After stop().
  const RingCounts& rings_at_teardown() const { return rings_at_teardown_; }
  const Teardown& teardown() const { return teardown_; }

  const Options& options() const { return options_; }
  std::vector<std::unique_ptr<Queue>>& queues() { return queues_; }
  std::atomic<int> quiesced{0};

 private:
  Forwarder(const Options& options, const Ports& ports);

  Options options_;
  Ports ports_;
  std::unique_ptr<Backend> backend_;
  ppool::XskRedirect xdp_;
  std::vector<std::unique_ptr<Queue>> queues_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  bool stopped_ = false;
  RingCounts rings_at_teardown_;
  Teardown teardown_;
};

}  // namespace xsk
