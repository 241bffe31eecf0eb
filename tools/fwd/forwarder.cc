#include "forwarder.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "ppool/detail/ring.h"
#include "ppool/io_uring_device.h"
#include "ppool/xdp.h"

namespace fwd {
namespace {

constexpr unsigned kRxEntries = 512;      // provided buffers a queue
constexpr unsigned kSqEntries = 1024;     // submission ring
constexpr std::uint32_t kHeadroom = 256;  // the Frame and the rest, like XDP_PACKET_HEADROOM
constexpr std::uint32_t kFragSize = 2048;
constexpr int kBufGroup = 0;
constexpr std::uint64_t kRecvTag = 1;     // user_data of the multishot receive
constexpr std::uint64_t kCancelTag = 2;   // and of its cancellation; frames are pointers
constexpr unsigned kDeviceSlots = 16384;  // fixed-buffer slots: pages mapped at once

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// SO_REUSEPORT would let us share a port with a stranger: first make sure
// nobody holds it.
bool port_is_free(const sockaddr_in& addr) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  bool free = fd >= 0 && bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  if (fd >= 0) close(fd);
  return free;
}

int udp_socket(const sockaddr_in& addr, bool bind_it, std::string* error) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    *error = errno_text("socket", errno);
    return -1;
  }
  int one = 1, big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
  if (bind_it ? bind(fd, sa, sizeof addr) : connect(fd, sa, sizeof addr)) {
    *error = errno_text(bind_it ? "bind" : "connect", errno);
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

// The io_uring fixed-buffer device over every queue's ring (pool mode).
struct Forwarder::Device {
  std::unique_ptr<ppool::IoUringDmaDevice> dev;
};

// One queue: its ring, sockets, pool and provided buffers.
class Queue {
 public:
  Queue(Forwarder& fwd, int index) : fwd_(fwd), index_(index) {}
  ~Queue();

  bool init(const sockaddr_in& listen, const sockaddr_in& dest, std::string* error);
  // Thread body: sets up the pool (this thread owns it) and forwards until
  // stop is set and nothing is left in flight.
  void run(ppool::DmaDevice* dev, std::atomic<bool>& stop);
  // After the thread ended: gives back the provided buffers, destroys the
  // pool; appends the pool's JSON. Returns pages still in flight.
  std::uint32_t teardown(std::string& json);

  io_uring* ring() { return &ring_; }
  ppool::detail::MpscRing<ppool::Frame*> tx_in{4096};  // frames redirected here
  QueueCounters counters;
  ppool::PagePool* pool() const { return pool_; }
  std::atomic<bool> ready{false}, failed{false};

 private:
  struct Buffer {
    char* start = nullptr;
    std::uint32_t size = 0;
  };
  bool pool_mode() const { return fwd_.options().alloc == AllocMode::kPool; }
  bool setup_pool(ppool::DmaDevice* dev);
  bool setup_rx();
  Buffer get_buffer();
  void put_buffer(char* start, bool direct);
  void provide(unsigned bid);
  void arm_recv();
  void cancel_recv();
  io_uring_sqe* sqe();
  void on_recv(const io_uring_cqe* cqe);
  void verdict(ppool::Frame* frame);
  void send(ppool::Frame* frame);
  void on_send(const io_uring_cqe* cqe);
  void complete(ppool::Frame* frame);
  void reap();
  void publish_stats();

  Forwarder& fwd_;
  int index_;
  io_uring ring_{};
  bool ring_ready_ = false;
  int rx_fd_ = -1, tx_fd_ = -1;
  ppool::PagePool* pool_ = nullptr;
  std::unique_ptr<ppool::RxQueueInfo> rxq_;
  ppool::MemInfo mem_;
  io_uring_buf_ring* br_ = nullptr;
  Buffer bufs_[kRxEntries];
  std::vector<unsigned> unfilled_;  // bids waiting for memory
  unsigned provided_ = 0;           // adds not yet advanced
  bool recv_armed_ = false, cancelled_ = false, rx_done_ = false;
  unsigned sends_in_flight_ = 0;
  ppool::FrameBulk completions_;
};

bool Queue::init(const sockaddr_in& listen, const sockaddr_in& dest, std::string* error) {
  int ret = io_uring_queue_init(kSqEntries, &ring_, 0);
  if (ret < 0) {
    if (ret == -ENOSYS || ret == -EPERM)
      *error =
          "io_uring is missing or refused here (kernel config, seccomp or "
          "kernel.io_uring_disabled): " +
          std::string(std::strerror(-ret));
    else if (ret == -ENOMEM)
      *error =
          "io_uring_queue_init: out of locked memory: raise RLIMIT_MEMLOCK (ulimit -l) "
          "or run with CAP_IPC_LOCK";
    else
      *error = errno_text("io_uring_queue_init", -ret);
    return false;
  }
  ring_ready_ = true;
  rx_fd_ = udp_socket(listen, true, error);
  if (rx_fd_ < 0) return false;
  tx_fd_ = udp_socket(dest, false, error);
  return tx_fd_ >= 0;
}

Queue::~Queue() {
  if (rx_fd_ >= 0) close(rx_fd_);
  if (tx_fd_ >= 0) close(tx_fd_);
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

bool Queue::setup_pool(ppool::DmaDevice* dev) {
  if (!pool_mode()) return true;
  ppool::PagePoolParams params;
  params.name = "fwd rxq" + std::to_string(index_);
  params.queue = static_cast<unsigned>(index_);
  params.flags = ppool::kDmaMap;
  params.dev = dev;
  params.dma_dir = ppool::DmaDirection::kBidirectional;  // received, then sent out
  params.pool_size = 4096;                               // the seeds: RX ring + what is out on TX
  auto created = ppool::PagePool::create(params);
  if (!created) {
    ppool::log(ppool::LogLevel::kError, created.error().message);
    return false;
  }
  pool_ = created.value();
  rxq_ = std::make_unique<ppool::RxQueueInfo>("fwd", static_cast<std::uint32_t>(index_));
  auto mem = rxq_->reg_mem_model(ppool::MemType::kPagePool, pool_);
  if (!mem) {
    ppool::log(ppool::LogLevel::kError, mem.error().message);
    return false;
  }
  mem_ = mem.value();
  return true;
}

Queue::Buffer Queue::get_buffer() {
  if (!pool_mode()) {
    auto* start = static_cast<char*>(std::aligned_alloc(64, kFragSize));
    return {start, start ? kFragSize : 0};
  }
  std::uint32_t offset = 0, size = fwd_.options().frags ? kFragSize : ppool::kPageSize;
  ppool::Page* page = fwd_.options().frags ? pool_->alloc(&offset, &size) : pool_->alloc_pages();
  if (!page) return {};
  return {static_cast<char*>(ppool::page_address(page)) + offset, size};
}

void Queue::put_buffer(char* start, bool direct) {
  if (pool_mode())
    pool_->free_va(start, direct);
  else
    std::free(start);
}

// A fresh buffer at bid in the provided ring (advanced once per batch).
void Queue::provide(unsigned bid) {
  Buffer buf = get_buffer();
  if (!buf.start) {
    unfilled_.push_back(bid);  // out of memory: retried next round
    bufs_[bid] = {};
    return;
  }
  bufs_[bid] = buf;
  io_uring_buf_ring_add(br_, buf.start + kHeadroom, buf.size - kHeadroom,
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(kRxEntries),
                        static_cast<int>(provided_++));
}

bool Queue::setup_rx() {
  void* mem = mmap(nullptr, kRxEntries * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return false;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = kRxEntries;
  reg.bgid = kBufGroup;
  if (int ret = io_uring_register_buf_ring(&ring_, &reg, 0); ret < 0) {
    ppool::log(ppool::LogLevel::kError, errno_text("io_uring_register_buf_ring", -ret));
    return false;
  }
  io_uring_buf_ring_init(br_);
  for (unsigned bid = 0; bid < kRxEntries; ++bid) provide(bid);
  io_uring_buf_ring_advance(br_, static_cast<int>(provided_));
  if (provided_ == 0) {
    ppool::log(ppool::LogLevel::kError,
               "queue " + std::to_string(index_) +
                   ": no receive buffer could be set up (memory, or the DMA device refused "
                   "to map; see above)");
    return false;
  }
  provided_ = 0;
  return true;
}

io_uring_sqe* Queue::sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (!sqe) {  // the submission ring is full: hand it to the kernel first
    io_uring_submit(&ring_);
    counters.syscalls.fetch_add(1, std::memory_order_relaxed);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Queue::arm_recv() {
  io_uring_sqe* s = sqe();
  io_uring_prep_recv_multishot(s, rx_fd_, nullptr, 0, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = kBufGroup;
  io_uring_sqe_set_data64(s, kRecvTag);
  recv_armed_ = true;
}

void Queue::cancel_recv() {
  io_uring_sqe* s = sqe();
  io_uring_prep_cancel64(s, kRecvTag, 0);
  io_uring_sqe_set_data64(s, kCancelTag);
  cancelled_ = true;
}

void Queue::on_recv(const io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) recv_armed_ = false;
  if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) return;  // ENOBUFS, cancel: re-armed
  unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
  Buffer buf = bufs_[bid];
  provide(bid);
  counters.received.fetch_add(1, std::memory_order_relaxed);
  ppool::Frame* frame = ppool::build_frame(buf.start, buf.start + kHeadroom,
                                           static_cast<std::uint32_t>(cqe->res), buf.size, mem_);
  verdict(frame);
}

// The "XDP program": the packet's first byte says what to do.
void Queue::verdict(ppool::Frame* frame) {
  switch (static_cast<const char*>(frame->data)[0]) {
    case 'D':
      counters.dropped.fetch_add(1, std::memory_order_relaxed);
      put_buffer(reinterpret_cast<char*>(frame), true);
      return;
    case 'R': {
      auto& queues = fwd_.queues();
      Queue& peer = *queues[static_cast<std::size_t>(index_ + 1) % queues.size()];
      if (peer.tx_in.produce(frame)) {
        counters.redirected.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      counters.dropped.fetch_add(1, std::memory_order_relaxed);  // peer's TX ring full
      put_buffer(reinterpret_cast<char*>(frame), true);
      return;
    }
    default:
      send(frame);
  }
}

// Pool mode: a zero-copy send from the registered page (its DMA address on
// the io_uring device is the fixed-buffer index in every queue's ring).
void Queue::send(ppool::Frame* frame) {
  io_uring_sqe* s = sqe();
  if (pool_mode()) {
    ppool::Page* page = ppool::page_of(frame->data);
    auto index = static_cast<unsigned>(ppool::page_pool_of(page)->get_dma_addr(page));
    io_uring_prep_send_zc_fixed(s, tx_fd_, frame->data, frame->len, 0, 0, index);
  } else {
    io_uring_prep_send(s, tx_fd_, frame->data, frame->len, 0);
  }
  io_uring_sqe_set_data(s, frame);
  ++sends_in_flight_;
}

void Queue::on_send(const io_uring_cqe* cqe) {
  auto* frame = static_cast<ppool::Frame*>(io_uring_cqe_get_data(cqe));
  if (cqe->flags & IORING_CQE_F_NOTIF) return complete(frame);  // the kernel let go
  if (cqe->res < 0)
    counters.send_errors.fetch_add(1, std::memory_order_relaxed);
  else
    counters.sent.fetch_add(1, std::memory_order_relaxed);
  if (!(cqe->flags & IORING_CQE_F_MORE)) complete(frame);  // no notification will follow
}

// TX completion: home in bulk, whichever queue's pool the frame came from.
void Queue::complete(ppool::Frame* frame) {
  --sends_in_flight_;
  if (pool_mode())
    completions_.add(frame);
  else
    std::free(frame);
}

void Queue::reap() {
  unsigned head, seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    std::uint64_t tag = cqe->user_data;
    if (tag == kRecvTag)
      on_recv(cqe);
    else if (tag != kCancelTag)
      on_send(cqe);
  }
  io_uring_cq_advance(&ring_, seen);
}

void Queue::publish_stats() {
  if (!pool_mode()) return;
  auto s = pool_->stats();
  std::uint64_t slow = s.alloc.slow + s.alloc.slow_high_order;
  counters.allocs.store(s.alloc.fast + s.alloc.refill + slow, std::memory_order_relaxed);
  counters.slow_allocs.store(slow, std::memory_order_relaxed);
}

void Queue::run(ppool::DmaDevice* dev, std::atomic<bool>& stop) {
  if (!setup_pool(dev) || !setup_rx()) {
    failed = true;
    fwd_.rx_stopped.fetch_add(1);
    return;
  }
  arm_recv();
  ready = true;
  const int queues = static_cast<int>(fwd_.queues().size());
  for (;;) {
    ppool::Frame* redirected[64];
    while (std::size_t n = tx_in.consume_bulk(redirected, 64))
      for (std::size_t i = 0; i < n; ++i) send(redirected[i]);
    for (std::size_t i = unfilled_.size(); i-- > 0;) {  // memory came back?
      unsigned bid = unfilled_[i];
      unfilled_.pop_back();
      provide(bid);
    }
    if (stop.load(std::memory_order_relaxed)) {
      if (recv_armed_ && !cancelled_) cancel_recv();
      if (!recv_armed_ && !rx_done_) {
        rx_done_ = true;
        fwd_.rx_stopped.fetch_add(1);
      }
      if (rx_done_ && fwd_.rx_stopped.load() == queues && sends_in_flight_ == 0 && tx_in.empty())
        break;
    } else if (!recv_armed_) {
      arm_recv();
    }
    __kernel_timespec wait{0, 1000000};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &wait, nullptr);
    counters.syscalls.fetch_add(1, std::memory_order_relaxed);
    reap();
    if (provided_) {
      io_uring_buf_ring_advance(br_, static_cast<int>(provided_));
      provided_ = 0;
    }
    completions_.flush();
    publish_stats();
  }
}

std::uint32_t Queue::teardown(std::string& json) {
  if (pool_) pool_->bind_owner();
  for (Buffer& buf : bufs_)
    if (buf.start) put_buffer(buf.start, true);
  if (br_) {
    io_uring_unregister_buf_ring(&ring_, kBufGroup);
    munmap(br_, kRxEntries * sizeof(io_uring_buf));
    br_ = nullptr;
  }
  if (!pool_) return 0;
  rxq_->unreg_mem_model();
  std::string stats = pool_->stats().to_json();
  std::string name = pool_->name();
  std::uint32_t inflight = ppool::PagePool::destroy(pool_);
  pool_ = nullptr;
  json += std::string(json.empty() ? "" : ", ") + "{\"name\": \"" + name +
          "\", \"stats\": " + stats + ", \"inflight\": " + std::to_string(inflight) + "}";
  return inflight;
}

// ---- Forwarder ----

Forwarder::Forwarder(const Options& options) : options_(options) {}

std::unique_ptr<Forwarder> Forwarder::create(const Options& options, const sockaddr_in& listen,
                                             const sockaddr_in& dest, std::string* error) {
  if (!port_is_free(listen)) {
    *error = "port " + std::to_string(ntohs(listen.sin_port)) + " is in use";
    return nullptr;
  }
  std::unique_ptr<Forwarder> fwd(new Forwarder(options));
  for (int q = 0; q < options.queues; ++q) {
    fwd->queues_.push_back(std::make_unique<Queue>(*fwd, q));
    if (!fwd->queues_.back()->init(listen, dest, error)) return nullptr;
  }
  if (options.alloc == AllocMode::kPool) {
    std::vector<io_uring*> rings;
    for (auto& q : fwd->queues_) rings.push_back(q->ring());
    auto dev = ppool::IoUringDmaDevice::create(rings, kDeviceSlots);
    if (!dev) {
      *error = dev.error().message;
      return nullptr;
    }
    fwd->device_ = std::make_unique<Device>();
    fwd->device_->dev = std::move(dev.value());
  }
  return fwd;
}

bool Forwarder::start(std::string* error) {
  stop_ = false;
  ppool::DmaDevice* dev = device_ ? device_->dev.get() : nullptr;
  for (auto& q : queues_) threads_.emplace_back([this, &q, dev] { q->run(dev, stop_); });
  for (auto& q : queues_) {
    while (!q->ready && !q->failed) std::this_thread::yield();
    if (q->failed) {
      *error = "a queue could not set up its pool or provided-buffer ring (see the log above)";
      stop();
      return false;
    }
  }
  return true;
}

void Forwarder::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (!pools_json_.empty() || queues_.empty()) return;
  std::uint64_t inflight = 0;
  for (auto& q : queues_) inflight += q->teardown(pools_json_);
  clean_ = inflight == 0;
}

Forwarder::~Forwarder() {
  if (!threads_.empty()) stop();
  device_.reset();  // after the pools: destroy unmapped through it
}

std::uint64_t Forwarder::received() const {
  std::uint64_t n = 0;
  for (auto& q : queues_) n += q->counters.received.load(std::memory_order_relaxed);
  return n;
}

std::vector<std::uint64_t> Forwarder::received_per_queue() const {
  std::vector<std::uint64_t> n;
  for (auto& q : queues_) n.push_back(q->counters.received.load(std::memory_order_relaxed));
  return n;
}

std::uint64_t Forwarder::syscalls() const {
  std::uint64_t n = 0;
  for (auto& q : queues_) n += q->counters.syscalls.load(std::memory_order_relaxed);
  return n;
}

std::uint64_t Forwarder::pages_in_flight() const {
  std::uint64_t n = 0;
  for (auto& q : queues_)
    if (ppool::PagePool* pool = q->pool()) n += pool->inflight();
  return n;
}

double Forwarder::recycle_ratio() const {
  std::uint64_t allocs = 0, slow = 0;
  for (auto& q : queues_) {
    allocs += q->counters.allocs.load(std::memory_order_relaxed);
    slow += q->counters.slow_allocs.load(std::memory_order_relaxed);
  }
  return allocs ? 1.0 - static_cast<double>(slow) / static_cast<double>(allocs) : 0.0;
}

}  // namespace fwd
