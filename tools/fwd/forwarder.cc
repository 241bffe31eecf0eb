#include "forwarder.h"

#include <liburing.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "ppool/holder.h"
#include "ppool/io_uring_device.h"
#include "ppool/ring.h"
#include "ppool/xdp.h"
#include "support/errno_error.h"
#include "support/json.h"
#include "support/queue_threads.h"
#include "support/report.h"

namespace fwd {

using ppool::Errc;
using ppool::Error;
using ppool::Result;
using ppool::tools::errno_error;

namespace {

constexpr unsigned kMaxRxBuffers = 512;   // provided buffers a queue, at most
constexpr unsigned kMinRxBuffers = 16;    // and at least
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

// "RLIMIT_MEMLOCK 8192 KiB", for messages.
std::string memlock_text() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "RLIMIT_MEMLOCK";
  if (limit.rlim_cur == RLIM_INFINITY) return "RLIMIT_MEMLOCK unlimited";
  return "RLIMIT_MEMLOCK " + std::to_string(limit.rlim_cur / 1024) + " KiB";
}

// CAP_IPC_LOCK in the effective set: io_uring charges nothing to the limit.
bool can_lock_any_memory() {
  constexpr int kCapIpcLock = 14;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    unsigned long long caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    return (caps >> kCapIpcLock) & 1;
  }
  return false;
}

std::size_t pages(std::size_t bytes) {
  return (bytes + ppool::kPageSize - 1) / ppool::kPageSize;
}

// Pages of locked memory io_uring charges for one queue's ring: its SQEs,
// the SQ/CQ rings (the CQ twice the SQ) and the provided-buffer ring, as
// kernel 6.x counts them, plus a margin for another kernel's layout.
std::size_t ring_pages(unsigned rx_buffers) {
  constexpr std::size_t kMargin = 4;
  return pages(kSqEntries * 64) + pages(2 * kSqEntries * 16 + kSqEntries * 4 + 1024) +
         pages(rx_buffers * sizeof(io_uring_buf)) + kMargin;
}

// The port is the caller's choice (--port): kInvalidArgument.
Error port_in_use(const sockaddr_in& addr, const char* by) {
  return Error{Errc::kInvalidArgument,
               "port " + std::to_string(ntohs(addr.sin_port)) + " is in use" + by};
}

// Every queue's socket sets SO_REUSEPORT, and the kernel lets a socket with
// SO_REUSEPORT join a port whose sockets all have it and belong to the same
// effective UID. So two forwarders of one user started together both pass
// any "is the port free?" probe and then both bind: one port, two
// processes, the flows split between them. No check before the bind can
// close that window. Instead each forwarder first takes a lock that the
// kernel grants to one process at a time: a Unix socket bound to an
// abstract name made of the port. bind() of an abstract name is atomic and
// fails with EADDRINUSE for everyone else in the network namespace (the
// namespace of the port, too), and the name goes away with its socket, when
// the forwarder ends or dies, so no stale lock outlives a crash.
// With the lock held:
//  - a probe bind without SO_REUSEPORT fails if any socket holds the port
//    (another program, or a forwarder whose lock was in another namespace);
//  - a program that binds after the probe without SO_REUSEPORT makes our
//    bind fail (EADDRINUSE) rather than share.
// Left over is what SO_REUSEPORT itself allows: another program of the same
// user that sets it can join the group at any time, after any check.
// Returns the lock's fd, or why not.
Result<int> lock_port(const sockaddr_in& addr) {
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("socket(AF_UNIX)", errno);
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  // sun_path[0] == 0: the abstract namespace; the name is the bytes after it.
  int n = std::snprintf(name.sun_path + 1, sizeof name.sun_path - 1, "ppool-fwd/udp/%u",
                        static_cast<unsigned>(ntohs(addr.sin_port)));
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&name), len) != 0) {
    Error error = errno == EADDRINUSE ? port_in_use(addr, " (by another ppool-fwd)")
                                      : errno_error("bind of the port lock", errno);
    close(fd);
    return error;
  }
  int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bool free = probe >= 0 && bind(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  if (probe >= 0) close(probe);
  if (!free) {
    close(fd);
    return port_in_use(addr, "");
  }
  return fd;
}

Result<int> udp_socket(const sockaddr_in& addr, bool bind_it) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return errno_error("socket", errno);
  int one = 1, big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
  if (bind_it ? bind(fd, sa, sizeof addr) : connect(fd, sa, sizeof addr)) {
    Error error = bind_it && errno == EADDRINUSE ? port_in_use(addr, "")
                                                 : errno_error(bind_it ? "bind" : "connect", errno);
    close(fd);
    return error;
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
  Queue(Forwarder& fwd, int index)
      : fwd_(fwd), index_(index), rx_entries_(fwd.options().rx_buffers), bufs_(rx_entries_) {}
  ~Queue();

  // The ring and the two sockets; on failure what was made goes with the
  // queue.
  Result<void> init(const sockaddr_in& listen, const sockaddr_in& dest);
  // Thread body: sets up the pool (this thread owns it) and forwards until
  // stop is set and nothing is left in flight.
  void run(ppool::DmaDevice* dev, std::atomic<bool>& stop);
  // After the thread ended: gives back the provided buffers, destroys the
  // pool; appends the pool's JSON. Returns pages still in flight.
  std::uint32_t teardown(ppool::tools::JsonWriter& pools);

  io_uring* ring() { return &ring_; }
  ppool::MpscRing<ppool::Frame*> tx_in{4096};  // frames redirected here
  QueueCounters counters;
  ppool::PagePool* pool() const { return pool_; }
  std::atomic<bool> ready{false}, failed{false};

 private:
  struct Buffer {
    char* start = nullptr;
    std::uint32_t size = 0;
  };
  bool pool_mode() const { return fwd_.options().alloc == AllocMode::kPool; }
  // The queue's holder tags: its receive ring's pages, its sends' pages.
  std::uint32_t rx_holder() const { return 2 * static_cast<std::uint32_t>(index_) + 1; }
  std::uint32_t tx_holder() const { return 2 * static_cast<std::uint32_t>(index_) + 2; }
  bool setup_pool(ppool::DmaDevice* dev);
  bool setup_rx();
  Buffer get_buffer();
  void put_buffer(char* start, bool direct);
  bool provide(unsigned bid);
  void park(unsigned bid);
  void provide_all(const std::vector<unsigned>& bids);
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
  unsigned rx_entries_;
  std::vector<Buffer> bufs_;        // by bid
  std::vector<unsigned> unfilled_;  // bids waiting for memory
  std::vector<unsigned> retry_;     // unfilled_ being retried
  std::chrono::steady_clock::time_point last_retry_{};
  unsigned provided_ = 0;  // adds not yet advanced
  bool recv_armed_ = false, cancelled_ = false, rx_done_ = false;
  unsigned sends_in_flight_ = 0;
  ppool::FrameBulk completions_;
};

Result<void> Queue::init(const sockaddr_in& listen, const sockaddr_in& dest) {
  int ret = io_uring_queue_init(kSqEntries, &ring_, 0);
  if (ret < 0) {
    if (ret == -ENOSYS || ret == -EPERM)
      return Error{Errc::kUnsupported,
                   "io_uring is missing or refused here (kernel config, seccomp or "
                   "kernel.io_uring_disabled): " +
                       std::string(std::strerror(-ret))};
    if (ret == -ENOMEM)
      return Error{Errc::kOutOfMemory,
                   "io_uring refused to set up queue " + std::to_string(index_) +
                       "'s ring: out of locked memory (" + memlock_text() +
                       "); raise it with `ulimit -l` or run with fewer --queues"};
    return errno_error("io_uring_queue_init", -ret);
  }
  ring_ready_ = true;
  Result<int> rx = udp_socket(listen, true);
  if (!rx) return rx.error();
  rx_fd_ = rx.value();
  Result<int> tx = udp_socket(dest, false);
  if (!tx) return tx.error();
  tx_fd_ = tx.value();
  return {};
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
  params.pool_size = 4096;                               // an RX ring + what is out on TX
  auto created = ppool::PagePool::create(params);
  if (!created) {
    ppool::log(ppool::LogLevel::kError, created.error().message);
    return false;
  }
  pool_ = created.value();
  // Holder tags (ppool/holder.h) for `ppool-stat --holders`: a page posted
  // to the receive ring, and one on a zero-copy send.
  const std::string queue = "rxq" + std::to_string(index_);
  ppool::name_holder(rx_holder(), queue + " receive ring");
  ppool::name_holder(tx_holder(), queue + " zero-copy send");
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

// A fresh buffer at bid in the provided ring (advanced once per batch);
// false, with bid parked, when the pool had no page.
bool Queue::provide(unsigned bid) {
  Buffer buf = get_buffer();  // {} when the pool returned nullptr
  if (!buf.start) {
    park(bid);
    return false;
  }
  bufs_[bid] = buf;
  if (pool_mode()) ppool::set_page_holder(ppool::page_of(buf.start), rx_holder());
  io_uring_buf_ring_add(br_, buf.start + kHeadroom, buf.size - kHeadroom,
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(rx_entries_),
                        static_cast<int>(provided_++));
  return true;
}

// bid waits for memory; the run loop retries it.
void Queue::park(unsigned bid) {
  bufs_[bid] = {};
  unfilled_.push_back(bid);
}

// Once an allocation failed, the next ones of the same round would too, each
// after a slow path (a bulk from the page allocator, a map of each page that
// the device refuses): the rest wait for the next round.
void Queue::provide_all(const std::vector<unsigned>& bids) {
  std::size_t i = 0;
  while (i < bids.size() && provide(bids[i])) ++i;
  for (++i; i < bids.size(); ++i) park(bids[i]);
}

bool Queue::setup_rx() {
  void* mem = mmap(nullptr, rx_entries_ * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) return false;
  br_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(mem);
  reg.ring_entries = rx_entries_;
  reg.bgid = kBufGroup;
  if (int ret = io_uring_register_buf_ring(&ring_, &reg, 0); ret < 0) {
    ppool::log(ppool::LogLevel::kError, errno_text("io_uring_register_buf_ring", -ret));
    return false;
  }
  io_uring_buf_ring_init(br_);
  std::vector<unsigned> all(rx_entries_);
  for (unsigned bid = 0; bid < rx_entries_; ++bid) all[bid] = bid;
  provide_all(all);
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
  Buffer buf = bid < rx_entries_ ? bufs_[bid] : Buffer{};
  if (!buf.start) {  // never provided: the kernel and bufs_ disagree
    counters.rx_errors.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (unfilled_.empty())
    provide(bid);
  else
    park(bid);  // short of memory: the run loop's retry comes first
  counters.received.fetch_add(1, std::memory_order_relaxed);
  ppool::Frame* frame = ppool::build_frame(buf.start, buf.start + kHeadroom,
                                           static_cast<std::uint32_t>(cqe->res), buf.size, mem_);
  if (!frame) {
    counters.rx_errors.fetch_add(1, std::memory_order_relaxed);
    put_buffer(buf.start, true);
    return;
  }
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
    ppool::set_page_holder(page, tx_holder());
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
    if (!unfilled_.empty()) {  // memory came back? asked once a millisecond at most
      auto now = std::chrono::steady_clock::now();
      if (now - last_retry_ >= std::chrono::milliseconds(1)) {
        last_retry_ = now;
        retry_.swap(unfilled_);
        provide_all(retry_);
        retry_.clear();
      }
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

std::uint32_t Queue::teardown(ppool::tools::JsonWriter& pools) {
  if (pool_) pool_->bind_owner();
  for (Buffer& buf : bufs_)
    if (buf.start) put_buffer(buf.start, true);
  if (br_) {
    io_uring_unregister_buf_ring(&ring_, kBufGroup);
    munmap(br_, rx_entries_ * sizeof(io_uring_buf));
    br_ = nullptr;
  }
  if (!pool_) return 0;
  rxq_->unreg_mem_model();
  std::string stats = pool_->stats().to_json();
  std::string name = pool_->name();
  std::uint32_t inflight = ppool::PagePool::destroy(pool_);
  pool_ = nullptr;
  pools.raw(ppool::tools::pool_json(name, stats, inflight));
  return inflight;
}

// ---- Forwarder ----

Forwarder::Forwarder(const Options& options) : options_(options) {}

Result<std::unique_ptr<Forwarder>> Forwarder::create(const Options& options,
                                                     const sockaddr_in& listen,
                                                     const sockaddr_in& dest) {
  Result<int> lock = lock_port(listen);
  if (!lock) return lock.error();
  std::unique_ptr<Forwarder> fwd(new Forwarder(options));
  fwd->port_lock_ = lock.value();
  for (int q = 0; q < options.queues; ++q) {
    fwd->queues_.push_back(std::make_unique<Queue>(*fwd, q));
    if (Result<void> init = fwd->queues_.back()->init(listen, dest); !init) return init.error();
  }
  if (options.alloc == AllocMode::kPool) {
    std::vector<io_uring*> rings;
    for (auto& q : fwd->queues_) rings.push_back(q->ring());
    auto dev = ppool::IoUringDmaDevice::create(rings, options.device_slots);
    if (!dev) return dev.error();
    fwd->device_ = std::make_unique<Device>();
    fwd->device_->dev = std::move(dev.value());
  }
  return fwd;
}

Result<void> Forwarder::start() {
  stop_ = false;
  ppool::DmaDevice* dev = device_ ? device_->dev.get() : nullptr;
  if (!ppool::tools::start_queue_threads(queues_, threads_,
                                         [this, dev](Queue* q) { q->run(dev, stop_); }))
    return {};
  stop();
  return Error{Errc::kOutOfMemory,
               "a queue could not set up its pool or provided-buffer ring (see the log above)"};
}

void Forwarder::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (torn_down_ || queues_.empty()) return;
  torn_down_ = true;
  ppool::tools::JsonWriter pools('[');
  std::uint64_t inflight = 0;
  for (auto& q : queues_) inflight += q->teardown(pools);
  pools_json_ = pools.close();
  clean_ = inflight == 0;
}

Forwarder::~Forwarder() {
  if (!threads_.empty()) stop();
  device_.reset();  // after the pools: destroy unmapped through it
  queues_.clear();  // the sockets, then the port's lock
  if (port_lock_ >= 0) close(port_lock_);
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

Result<std::string> fit_locked_memory(Options& o) {
  if (o.alloc != AllocMode::kPool) return std::string();  // malloc mode registers nothing
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
      can_lock_any_memory())
    return std::string();
  const std::size_t queues = static_cast<std::size_t>(o.queues);
  const std::size_t budget = limit.rlim_cur / ppool::kPageSize;
  const std::size_t rings = queues * ring_pages(kMaxRxBuffers);
  // Each mapped page is charged once per ring: slots = what is left / queues.
  const std::size_t slots =
      std::min<std::size_t>(budget > rings ? (budget - rings) / queues : 0, kDeviceSlots);
  // A queue's pool keeps the most pages it ever needed: its receive buffers,
  // what is in flight (the selftest's window, which may all be one queue's)
  // and the rest of a slow-path bulk (kSlack). A share per queue each.
  constexpr std::size_t kSlack = 64, kMinWindow = 32;
  const std::size_t share = slots / queues;
  unsigned rx = kMaxRxBuffers;
  auto fits = [&](unsigned n) { return 3 * n <= share && n + kSlack + kMinWindow <= share; };
  while (rx > kMinRxBuffers && !fits(rx)) rx /= 2;
  if (!fits(rx))
    return Error{Errc::kOutOfMemory,
                 "io_uring cannot register enough buffers for " + std::to_string(queues) +
                     " queues: out of locked memory (" + memlock_text() + " leaves room for " +
                     std::to_string(slots) + " pages, " +
                     std::to_string(queues * (kMinRxBuffers + kSlack + kMinWindow)) +
                     " needed); raise it with `ulimit -l` or run with fewer --queues"};
  o.rx_buffers = rx;
  o.device_slots = static_cast<unsigned>(slots);
  o.window = static_cast<unsigned>(std::min<std::size_t>(o.window, share - rx - kSlack));
  if (rx == kMaxRxBuffers) return std::string();
  return memlock_text() + " leaves io_uring room for " + std::to_string(slots) +
         " registered pages: " + std::to_string(rx) + " receive buffers a queue instead of " +
         std::to_string(kMaxRxBuffers) + " (raise it with `ulimit -l` for the full size)";
}

}  // namespace fwd
