// --alloc pool: the pipeline on ppool's AF_XDP support (ppool/xsk.h): one
// XskUmem, and per queue an XskQueue on each interface (its own PagePool;
// the sending one's never allocates: it only sends frames of the receiving
// pools and sends them home on completion).
#include <ppool/registry.h>
#include <ppool/xsk.h>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "forwarder.h"
#include "support/json.h"
#include "support/report.h"

namespace xsk {
namespace {

constexpr std::uint32_t kUmemFramesPerQueue = 8192;  // 32 MiB a queue, committed as needed
constexpr std::uint32_t kTxOnlyRxSize = 64;          // the sending socket receives nothing
// A receiving pool's ring takes what its owner cannot cache (128) of a
// round's completions and drops. Its frames can all come home at once: the
// fill and RX rings, its TX ring, the sending sockets' TX rings (its queue's
// and the one it redirects to). A ring that held less would overflow into
// the page allocator and make the next refills slow.
constexpr unsigned kRxPoolSize = 16384;
constexpr unsigned kTxPoolSize = 64;  // the sending sockets' pools never allocate
// A queue's usual working set: its fill and RX rings full, and a ring's worth
// on the TX rings (its own and the sending sockets').
constexpr std::size_t kWarmPages = 3 * kRingSize;

// XskQueue::create's error, its message prefixed with the device and queue.
ppool::Result<std::unique_ptr<ppool::XskQueue>> open_queue(
    ppool::XskUmem& umem, const std::string& dev, std::uint32_t queue, std::uint32_t rx_size,
    unsigned pool_size, const std::string& pool_name) {
  ppool::XskQueueParams params;
  params.ifname = dev;
  params.queue_id = queue;
  params.rx_size = rx_size;
  params.tx_size = kRingSize;
  params.mode = ppool::XskBindMode::kCopy;
  params.load_program = false;  // ours (ppool/xsk_redirect.h)
  params.pool_name = pool_name;
  params.pool_size = pool_size;
  auto created = ppool::XskQueue::create(umem, params);
  if (!created)
    return ppool::Error{created.error().code,
                        dev + " queue " + std::to_string(queue) + ": " + created.error().message};
  return std::move(created.value());
}

class PoolQueue final : public QueueIo {
 public:
  PoolQueue(ppool::XskUmem& umem, std::unique_ptr<ppool::XskQueue> in,
            std::unique_ptr<ppool::XskQueue> out)
      : umem_(umem),
        base_(static_cast<char*>(umem.region().base)),
        in_(std::move(in)),
        out_(std::move(out)) {}

  int rx_fd() const override { return in_->fd(); }
  int tx_fd(Port port) const override { return (port == Port::kIn ? in_ : out_)->fd(); }
  // Takes the queue and warms its pool to the working set's usual size
  // (kWarmPages): those pages are committed and their
  // descriptors touched before the traffic, not as page faults during it.
  // What a queue needs beyond that still comes from the allocator.
  ppool::Result<void> bind_thread() override {
    in_->bind_owner();
    out_->bind_owner();
    ppool::PagePool& pool = in_->pool();
    std::vector<ppool::Page*> pages(kWarmPages);
    std::size_t got = 0;
    while (got < pages.size()) {
      const std::size_t n =
          pool.alloc_pages_bulk(pages.data() + got, std::min<std::size_t>(64, pages.size() - got));
      if (n == 0) break;
      got += n;
    }
    for (std::size_t i = 0; i < got; ++i)
      *static_cast<volatile char*>(ppool::page_address(pages[i])) = 0;
    ppool::put_page_bulk(pages.data(), got);
    return {};
  }

  void refill() override { in_->refill(kRingSize); }

  unsigned receive(xdp_desc* out, unsigned max) override {
    ppool::XskDesc descs[kBatch];
    const auto n = static_cast<unsigned>(in_->receive(descs, std::min(max, kBatch)));
    for (unsigned i = 0; i < n; ++i)
      out[i] = xdp_desc{umem_.addr_of(descs[i].page) + descs[i].offset, descs[i].len, 0};
    return n;
  }

  char* data(std::uint64_t addr) override { return base_ + addr; }

  unsigned transmit(Port port, const xdp_desc* descs, unsigned n) override {
    ppool::XskDesc x[kBatch];
    n = std::min(n, kBatch);
    to_xsk(descs, n, x);
    return static_cast<unsigned>((port == Port::kIn ? in_ : out_)->transmit(x, n));
  }

  unsigned complete() override {
    return static_cast<unsigned>(in_->complete(kRingSize) + out_->complete(kRingSize));
  }

  void drop(const xdp_desc* descs, unsigned n) override {
    ppool::XskDesc x[kBatch];
    while (n) {
      const unsigned m = std::min(n, kBatch);
      to_xsk(descs, m, x);
      in_->recycle(x, m);
      descs += m;
      n -= m;
    }
  }

  RingCounts rings() const override {
    RingCounts r;
    for (const auto* q : {in_.get(), out_.get()}) {
      const ppool::XskRingCounts c = q->ring_counts();
      r.fill += c.fill;
      r.rx += c.rx;
      r.tx += c.tx;
      r.completion += c.completion;
    }
    return r;
  }

  std::uint32_t tx_outstanding(Port port) const override {
    return (port == Port::kIn ? in_ : out_)->ring_counts().tx;
  }

  void publish() override {
    const ppool::PagePoolStats s = in_->pool().stats();
    const std::uint64_t slow = s.alloc.slow + s.alloc.slow_high_order;
    allocs_.store(s.alloc.fast + s.alloc.refill + slow, std::memory_order_relaxed);
    slow_.store(slow, std::memory_order_relaxed);
  }

  std::uint64_t allocs() const { return allocs_.load(std::memory_order_relaxed); }
  std::uint64_t slow() const { return slow_.load(std::memory_order_relaxed); }
  std::uint32_t inflight() const { return in_->pool().inflight(); }
  ppool::XskQueue& in() { return *in_; }
  ppool::XskQueue& out() { return *out_; }

 private:
  void to_xsk(const xdp_desc* descs, unsigned n, ppool::XskDesc* x) const {
    for (unsigned i = 0; i < n; ++i) {
      x[i].page = umem_.frame_page(descs[i].addr);  // received here: no check needed
      x[i].offset = static_cast<std::uint32_t>(descs[i].addr & (ppool::kXskFrameSize - 1));
      x[i].len = descs[i].len;
    }
  }

  ppool::XskUmem& umem_;
  char* base_;
  std::unique_ptr<ppool::XskQueue> in_, out_;
  std::atomic<std::uint64_t> allocs_{0}, slow_{0};
};

// A closed queue's pool, for the JSON: its name and stats read before
// close() destroyed it, and its id, by which the registry is asked what it
// still has in flight once the UMEM is gone.
struct ClosedPool {
  std::string name, stats, queue;
  std::uint32_t id = 0;
};

// The queue's own counts: alloc_short says whether a refill ever found its
// pool short (a fill ring left empty while frames were to be had would show
// there, or as the pool's alloc_slow past the warm-up).
std::string queue_json(const ppool::XskQueue& q) {
  const ppool::XskQueueStats& s = q.stats();
  ppool::tools::JsonWriter o('{');
  o.key("fill_posted").num(s.fill_posted).key("rx").num(s.rx).key("tx").num(s.tx);
  o.key("completed").num(s.completed).key("alloc_short").num(s.alloc_short);
  o.key("tx_refused").num(s.tx_refused).key("rejected").num(s.rejected);
  o.key("returns_refused").num(q.returns_refused());
  return o.close();
}

// Closes q (owner: this thread from now on).
ClosedPool close_queue(ppool::XskQueue& q) {
  q.bind_owner();
  ClosedPool closed{q.pool().name(), q.pool().stats().to_json(), queue_json(q), q.pool().id()};
  (void)q.close();  // the pages it has out now: measured later, when they can have come back
  return closed;
}

class PoolBackend final : public Backend {
 public:
  ~PoolBackend() override {
    if (!torn_down_) teardown();
  }

  ppool::Result<void> create(const Options& options, const Ports& ports) override {
    const auto queues = static_cast<std::uint32_t>(options.queues);
    ppool::XskUmemParams params;
    params.frames = queues * kUmemFramesPerQueue;
    params.lock = options.lock_umem;  // else committed as the working set grows
    params.fill_size = kRingSize;
    params.comp_size = kRingSize;
    auto umem = ppool::XskUmem::create(params);
    if (!umem) return ppool::Error{umem.error().code, "UMEM: " + umem.error().message};
    umem_ = std::move(umem.value());
    // The first socket of a UMEM is its registration: the kernel frees what
    // it held only when the UMEM goes. Where the sending interface has a
    // spare queue (the selftest's), that socket is one that never holds a
    // frame, so every working queue's close() gives back all of its frames.
    // Elsewhere it goes there when sysfs shows such a queue, else the first
    // working socket is the registration (teardown() then counts its frames
    // home at the UMEM's deletion). A failed first socket leaves libxdp's
    // UMEM unusable, so it is not tried blindly.
    const std::string spare =
        "/sys/class/net/" + ports.out_dev + "/queues/rx-" + std::to_string(queues);
    if (ports.spare_queue || access(spare.c_str(), F_OK) == 0) {
      auto registration =
          open_queue(*umem_, ports.out_dev, queues, kTxOnlyRxSize, kTxPoolSize, "xsk registration");
      if (!registration) return registration.error();
      registration_ = std::move(registration).value();
    }
    for (std::uint32_t q = 0; q < queues; ++q) {
      const std::string n = std::to_string(q);
      auto in = open_queue(*umem_, ports.in_dev, q, kRingSize, kRxPoolSize,
                           "xsk " + ports.in_dev + " rxq" + n);
      if (!in) return in.error();
      auto out = open_queue(*umem_, ports.out_dev, q, kTxOnlyRxSize, kTxPoolSize,
                            "xsk " + ports.out_dev + " txq" + n);
      if (!out) return out.error();
      queues_.push_back(
          std::make_unique<PoolQueue>(*umem_, std::move(in).value(), std::move(out).value()));
    }
    return {};
  }

  QueueIo& queue(int index) override { return *queues_[static_cast<std::size_t>(index)]; }

  // Sending sockets first (their TX and completion rings hold frames of the
  // receiving pools, which go home while those pools are alive), then the
  // receiving ones, then the registration socket and the UMEM. What did not
  // come home is measured afterwards, not computed: each pool's inflight in
  // the registry once the UMEM is gone (its deletion reclaims what the
  // kernel held for the registration socket, and waits for the pools that
  // this brought to 0 to be freed; a pool still listed has frames out).
  Teardown teardown() override {
    Teardown t;
    torn_down_ = true;
    if (!umem_) return t;
    const ppool::XskFrameCounts before = umem_->counts();
    t.umem_frames = umem_->frames();
    t.umem_committed = before.committed;
    t.reclaimed = before.fill + before.tx;
    std::vector<ClosedPool> senders, closed;  // listed receivers first
    for (auto& q : queues_) senders.push_back(close_queue(q->out()));
    for (auto& q : queues_) closed.push_back(close_queue(q->in()));
    closed.insert(closed.end(), senders.begin(), senders.end());
    if (registration_) closed.push_back(close_queue(*registration_));
    const ppool::XskFrameCounts after = umem_->counts();
    t.ledger_app = after.app;
    t.ledger_kernel = after.fill + after.tx;
    queues_.clear();
    registration_.reset();
    umem_.reset();
    ppool::tools::JsonWriter pools('[');
    for (const ClosedPool& pool : closed) {
      const std::optional<ppool::PoolInfo> info = ppool::find_pool(pool.id);
      const std::uint32_t inflight = info ? info->inflight : 0;  // not listed: freed
      t.inflight += inflight;
      pools.raw(ppool::tools::pool_json(pool.name, pool.stats, inflight, pool.queue));
    }
    t.pools_json = pools.close();
    return t;
  }

  AllocCounts alloc_counts() const override {
    AllocCounts c;
    for (auto& q : queues_) {
      c.allocs += q->allocs();
      c.slow += q->slow();
    }
    return c;
  }
  std::uint64_t inflight() const override {
    std::uint64_t n = 0;
    for (auto& q : queues_) n += q->inflight();
    return n;
  }
  std::uint64_t umem_frames() const override { return umem_ ? umem_->frames() : 0; }
  std::uint64_t umem_committed() const override { return umem_ ? umem_->counts().committed : 0; }

 private:
  std::unique_ptr<ppool::XskUmem> umem_;
  std::unique_ptr<ppool::XskQueue> registration_;
  std::vector<std::unique_ptr<PoolQueue>> queues_;
  bool torn_down_ = false;
};

}  // namespace

std::unique_ptr<Backend> make_pool_backend() {
  return std::make_unique<PoolBackend>();
}

}  // namespace xsk
