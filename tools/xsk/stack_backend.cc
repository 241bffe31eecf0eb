// --alloc stack: the pipeline on the free-frame stack (frame_stack.h).
#include <sys/socket.h>
#include <xdp/xsk.h>

#include <atomic>
#include <cstring>

#include "forwarder.h"
#include "frame_stack.h"
#include "ppool/ring.h"
#include "support/errno_error.h"

namespace xsk {
namespace {

constexpr std::uint32_t kFramesPerQueue = 4096;

std::uint32_t occupancy(const std::uint32_t* producer, const std::uint32_t* consumer) {
  return __atomic_load_n(producer, __ATOMIC_ACQUIRE) - __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
}

// A frame's home is the queue whose stack it started on; a frame completed
// on another queue (redirected there) goes home through the home's return
// ring, or the queues' stacks would drift apart until one starves.
class StackQueue final : public QueueIo {
 public:
  StackQueue(char* area, std::uint32_t index, std::uint32_t total,
             std::vector<std::unique_ptr<StackQueue>>& all)
      : area_(area), index_(index), all_(all), returns_(total) {
    stack_.init(index * kFramesPerQueue, kFramesPerQueue, kFrameSize);
  }
  ~StackQueue() override { close_sockets(); }

  ppool::Result<void> open(xsk_umem* umem, const Ports& ports, unsigned queue) {
    xsk_socket_config config{};
    config.rx_size = kRingSize;
    config.tx_size = kRingSize;
    config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;  // our own program
    config.bind_flags = XDP_COPY;
    int ret = xsk_socket__create_shared(&in_, ports.in_dev.c_str(), queue, umem, &rx_, &tx_in_,
                                        &fill_in_, &comp_in_, &config);
    if (ret == 0)
      ret = xsk_socket__create_shared(&out_, ports.out_dev.c_str(), queue, umem, nullptr, &tx_out_,
                                      &fill_out_, &comp_out_, &config);
    if (ret != 0) {
      // libxdp unmaps a failed socket's rings but leaves their pointers
      // here: cleared, so that reclaim() finds nothing in them.
      if (!in_) {
        rx_ = {};
        comp_in_ = {};
        tx_in_ = {};
        fill_in_ = {};
      }
      if (!out_) {
        comp_out_ = {};
        tx_out_ = {};
        fill_out_ = {};
      }
      return ppool::tools::errno_error("AF_XDP socket on queue " + std::to_string(queue), -ret);
    }
    return {};
  }

  void close_sockets() {
    if (out_) xsk_socket__delete(out_);
    if (in_) xsk_socket__delete(in_);
    out_ = in_ = nullptr;
  }

  int rx_fd() const override { return xsk_socket__fd(in_); }
  int tx_fd(Port port) const override { return xsk_socket__fd(port == Port::kIn ? in_ : out_); }
  ppool::Result<void> bind_thread() override { return {}; }

  // addr (a frame's start) back to its home stack.
  void free_frame(std::uint64_t addr) {
    const auto home =
        static_cast<std::uint32_t>(addr / (std::uint64_t{kFramesPerQueue} * kFrameSize));
    if (home == index_) {
      stack_.free(addr);
      return;
    }
    // Never full: it has room for every frame of the UMEM.
    all_[home]->returns_.produce(reinterpret_cast<void*>(static_cast<std::uintptr_t>(addr + 1)));
  }

  void drain_returns() {
    void* back[kBatch];
    while (std::size_t n = returns_.consume_bulk(back, kBatch))
      for (std::size_t i = 0; i < n; ++i)
        stack_.free(reinterpret_cast<std::uintptr_t>(back[i]) - 1);
  }

  void refill() override {
    drain_returns();
    std::uint32_t want = std::min(stack_.free_count(), xsk_prod_nb_free(&fill_in_, kRingSize));
    std::uint32_t idx;
    if (!want || xsk_ring_prod__reserve(&fill_in_, want, &idx) != want) return;
    for (std::uint32_t i = 0; i < want; ++i)
      *xsk_ring_prod__fill_addr(&fill_in_, idx + i) = stack_.alloc();
    xsk_ring_prod__submit(&fill_in_, want);
    allocs_ += want;
  }

  unsigned receive(xdp_desc* out, unsigned max) override {
    std::uint32_t idx;
    unsigned n = xsk_ring_cons__peek(&rx_, max, &idx);
    for (unsigned i = 0; i < n; ++i) {
      const xdp_desc* d = xsk_ring_cons__rx_desc(&rx_, idx + i);
      out[i] = *d;
    }
    if (n) xsk_ring_cons__release(&rx_, n);
    return n;
  }

  char* data(std::uint64_t addr) override { return area_ + addr; }

  unsigned transmit(Port port, const xdp_desc* descs, unsigned n) override {
    xsk_ring_prod* tx = port == Port::kIn ? &tx_in_ : &tx_out_;
    n = std::min(n, xsk_prod_nb_free(tx, n));
    std::uint32_t idx;
    if (!n || xsk_ring_prod__reserve(tx, n, &idx) != n) return 0;
    for (unsigned i = 0; i < n; ++i) *xsk_ring_prod__tx_desc(tx, idx + i) = descs[i];
    xsk_ring_prod__submit(tx, n);
    return n;
  }

  unsigned complete() override {
    unsigned total = 0;
    for (xsk_ring_cons* comp : {&comp_in_, &comp_out_}) {
      std::uint32_t idx;
      unsigned n = xsk_ring_cons__peek(comp, kRingSize, &idx);
      for (unsigned i = 0; i < n; ++i)
        free_frame(*xsk_ring_cons__comp_addr(comp, idx + i) & ~std::uint64_t{kFrameSize - 1});
      if (n) xsk_ring_cons__release(comp, n);
      total += n;
    }
    return total;
  }

  void drop(const xdp_desc* descs, unsigned n) override {
    for (unsigned i = 0; i < n; ++i) free_frame(descs[i].addr & ~std::uint64_t{kFrameSize - 1});
  }

  RingCounts rings() const override {
    RingCounts r;
    r.fill = occupancy(fill_in_.producer, fill_in_.consumer) +
             occupancy(fill_out_.producer, fill_out_.consumer);
    r.rx = occupancy(rx_.producer, rx_.consumer);
    r.tx =
        occupancy(tx_in_.producer, tx_in_.consumer) + occupancy(tx_out_.producer, tx_out_.consumer);
    r.completion = occupancy(comp_in_.producer, comp_in_.consumer) +
                   occupancy(comp_out_.producer, comp_out_.consumer);
    return r;
  }

  std::uint32_t tx_outstanding(Port port) const override {
    const xsk_ring_prod& tx = port == Port::kIn ? tx_in_ : tx_out_;
    return occupancy(tx.producer, tx.consumer);
  }

  void publish() override {
    published_allocs_.store(allocs_, std::memory_order_relaxed);
    published_free_.store(stack_.free_count(), std::memory_order_relaxed);
  }

  // Teardown, after the thread ended: what an application can find of its
  // frames in the rings (the entries between consumer and producer) goes
  // back on the stack; frames the kernel took off the fill ring and holds
  // internally are not found. Returns the frames found.
  std::uint64_t reclaim() {
    const std::uint64_t mask = ~std::uint64_t{kFrameSize - 1};
    std::uint64_t found = 0;
    auto span = [](const std::uint32_t* producer, const std::uint32_t* consumer, auto&& take) {
      if (!producer) return std::uint32_t{0};  // the ring of a socket never made
      const std::uint32_t end = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
      std::uint32_t n = 0;
      for (std::uint32_t i = __atomic_load_n(consumer, __ATOMIC_ACQUIRE); i != end; ++i, ++n)
        take(i);
      return n;
    };
    for (xsk_ring_prod* fill : {&fill_in_, &fill_out_})
      found += span(fill->producer, fill->consumer, [&](std::uint32_t i) {
        free_frame(*xsk_ring_prod__fill_addr(fill, i) & mask);
      });
    for (xsk_ring_prod* tx : {&tx_in_, &tx_out_})
      found += span(tx->producer, tx->consumer, [&](std::uint32_t i) {
        free_frame(xsk_ring_prod__tx_desc(tx, i)->addr & mask);
      });
    for (xsk_ring_cons* comp : {&comp_in_, &comp_out_})
      found += span(comp->producer, comp->consumer, [&](std::uint32_t i) {
        free_frame(*xsk_ring_cons__comp_addr(comp, i) & mask);
      });
    found += span(rx_.producer, rx_.consumer, [&](std::uint32_t i) {
      free_frame(xsk_ring_cons__rx_desc(&rx_, i)->addr & mask);
    });
    close_sockets();  // unmaps the rings
    return found;
  }

  std::uint32_t free_count() const { return stack_.free_count(); }  // owner, or after the thread
  std::uint32_t published_free() const { return published_free_.load(std::memory_order_relaxed); }
  std::uint64_t allocs() const { return published_allocs_.load(std::memory_order_relaxed); }

 private:
  char* area_;
  std::uint32_t index_;
  std::vector<std::unique_ptr<StackQueue>>& all_;
  ppool::MpscRing<void*> returns_;
  FrameStack stack_;
  xsk_socket *in_ = nullptr, *out_ = nullptr;
  xsk_ring_cons rx_{}, comp_in_{}, comp_out_{};
  xsk_ring_prod tx_in_{}, tx_out_{}, fill_in_{}, fill_out_{};
  std::uint64_t allocs_ = 0;
  std::atomic<std::uint64_t> published_allocs_{0};
  std::atomic<std::uint32_t> published_free_{kFramesPerQueue};  // for any thread
};

class StackBackend final : public Backend {
 public:
  ~StackBackend() override {
    queues_.clear();  // sockets before the UMEM
  }

  ppool::Result<void> create(const Options& options, const Ports& ports) override {
    const auto queues = static_cast<std::uint32_t>(options.queues);
    total_ = queues * kFramesPerQueue;
    // The UMEM's own fill and completion rings become queue 0's.
    xsk_ring_prod fill{};
    xsk_ring_cons comp{};
    if (auto made = umem_.create(total_, kFrameSize, kRingSize, options.lock_umem, &fill, &comp);
        !made)
      return made;
    for (std::uint32_t q = 0; q < queues; ++q) {
      queues_.push_back(std::make_unique<StackQueue>(umem_.area(), q, total_, queues_));
      if (auto opened = queues_.back()->open(umem_.umem(), ports, q); !opened) return opened;
    }
    return {};
  }

  QueueIo& queue(int index) override { return *queues_[static_cast<std::size_t>(index)]; }

  Teardown teardown() override {
    Teardown t;
    t.umem_frames = total_;
    t.umem_committed = umem_.committed_frames();
    for (auto& q : queues_) t.reclaimed += q->reclaim();
    for (auto& q : queues_) q->drain_returns();
    std::uint64_t free = 0;
    for (auto& q : queues_) free += q->free_count();
    t.inflight = total_ - free;
    return t;
  }

  AllocCounts alloc_counts() const override {
    // A stack never goes to an allocator: every frame is a recycled one.
    AllocCounts c;
    for (auto& q : queues_) c.allocs += q->allocs();
    return c;
  }
  std::uint64_t inflight() const override {
    std::uint64_t free = 0;
    for (auto& q : queues_) free += q->published_free();
    return total_ - free;
  }
  std::uint64_t umem_frames() const override { return total_; }
  std::uint64_t umem_committed() const override { return umem_.committed_frames(); }

 private:
  StackUmem umem_;
  std::vector<std::unique_ptr<StackQueue>> queues_;
  std::uint64_t total_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_stack_backend() {
  return std::make_unique<StackBackend>();
}

}  // namespace xsk
