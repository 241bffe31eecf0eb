#include "forwarder.h"

#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "ppool/ring.h"
#include "support/queue_threads.h"

namespace xsk {
namespace {

// A descriptor through the redirect ring, which holds non-null pointers:
// the address in the high bits, the length (at most a frame) in the low 16.
void* pack(const xdp_desc& d) {
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(d.addr << 16 | d.len));
}
xdp_desc unpack(void* p) {
  const auto v = reinterpret_cast<std::uintptr_t>(p);
  return xdp_desc{v >> 16, static_cast<std::uint32_t>(v & 0xffff), 0};
}

constexpr std::size_t kUdpPayload = 14 + 20 + 8;  // Ethernet, IPv4 without options, UDP

enum class Verdict { kTx, kRedirect, kBack, kDrop, kNotOurs };

// The "XDP program" of ppool-fwd: the first UDP payload byte decides. Frames
// that are not IPv4/UDP (neighbour discovery, ...) are dropped and counted
// apart.
Verdict verdict_of(const unsigned char* frame, std::uint32_t len, VerdictMode mode) {
  if (len <= kUdpPayload || frame[12] != 0x08 || frame[13] != 0x00 || frame[23] != 17)
    return Verdict::kNotOurs;
  switch (mode) {
    case VerdictMode::kTx:
      return Verdict::kTx;
    case VerdictMode::kDrop:
      return Verdict::kDrop;
    case VerdictMode::kRedirect:
      return Verdict::kRedirect;
    case VerdictMode::kBack:
      return Verdict::kBack;
    case VerdictMode::kMix:
      break;
  }
  const unsigned v = frame[kUdpPayload] % 16;
  if (v == 0) return Verdict::kDrop;
  if (v % 4 == 1) return Verdict::kRedirect;
  if (v == 2) return Verdict::kBack;
  return Verdict::kTx;
}

}  // namespace

class Queue {
 public:
  Queue(Forwarder& fwd, QueueIo& io, const Ports& ports, int index)
      : fwd_(fwd), io_(io), ports_(ports), index_(index) {}

  void run(std::atomic<bool>& stop);
  ppool::MpscRing<void*> redirect_in{kRingSize};
  QueueCounters counters;
  std::atomic<bool> ready{false}, failed{false};
  ppool::Result<void> setup;  // bind_thread()'s, read by start() once failed is set

 private:
  void round(bool final);
  void send(Port port, const xdp_desc* descs, unsigned n, bool kick);
  void kick(Port port);
  void drain_redirects(bool kick);

  Forwarder& fwd_;
  QueueIo& io_;
  const Ports& ports_;
  int index_;
};

// Copy mode sends in sendto(), 32 frames a call, and only while the
// completion ring has room: completions are reaped between calls.
void Queue::kick(Port port) {
  for (int i = 0; i < 256 && io_.tx_outstanding(port); ++i) {
    if (sendto(io_.tx_fd(port), nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN &&
        errno != EBUSY && errno != ENOBUFS)
      break;
    if (i % 8 == 7) counters.completed.fetch_add(io_.complete(), std::memory_order_relaxed);
  }
}

// A full TX ring pushes back: kick, reap completions, try again (the RX
// ring fills meanwhile, and the kernel drops there, outside the pipeline).
// Only a ring that takes nothing for 100 ms loses the frames: counted, and
// given back to the frame memory.
void Queue::send(Port port, const xdp_desc* descs, unsigned n, bool kick_it) {
  unsigned done = io_.transmit(port, descs, n);
  if (done < n && kick_it) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    while (done < n && std::chrono::steady_clock::now() < deadline) {
      kick(port);
      counters.completed.fetch_add(io_.complete(), std::memory_order_relaxed);
      done += io_.transmit(port, descs + done, n - done);
    }
  }
  if (done < n) {
    counters.lost.fetch_add(n - done, std::memory_order_relaxed);
    io_.drop(descs + done, n - done);
  }
  counters.forwarded.fetch_add(done, std::memory_order_relaxed);
  if (kick_it) kick(port);
}

void Queue::drain_redirects(bool kick_it) {
  void* in[kBatch];
  xdp_desc descs[kBatch];
  while (std::size_t n = redirect_in.consume_bulk(in, kBatch)) {
    for (std::size_t i = 0; i < n; ++i) descs[i] = unpack(in[i]);
    send(Port::kOut, descs, static_cast<unsigned>(n), kick_it);
  }
}

// One round. The final ones (stop asked) leave frames on every ring: they
// reap no completion, take a batch of what waits on the RX ring (at most
// half of it) and post it to the TX ring without a kick of their own (copy
// mode sends 32 a kick: XskQueue's own kick leaves the rest); redirects
// become plain sends, since the next queue may have stopped.
void Queue::round(bool final) {
  if (!final) {
    counters.completed.fetch_add(io_.complete(), std::memory_order_relaxed);
    drain_redirects(true);
  }
  io_.refill();
  xdp_desc rx[kBatch];
  unsigned max = kBatch;
  if (final) max = static_cast<unsigned>(std::clamp<std::uint64_t>(io_.rings().rx / 2, 1, kBatch));
  const unsigned n = io_.receive(rx, max);
  counters.received.fetch_add(n, std::memory_order_relaxed);
  xdp_desc out[kBatch], back[kBatch], drop[kBatch];
  unsigned n_out = 0, n_back = 0, n_drop = 0, n_redirect = 0, n_other = 0;
  auto& queues = fwd_.queues();
  Queue& next = *queues[static_cast<std::size_t>(index_ + 1) % queues.size()];
  for (unsigned i = 0; i < n; ++i) {
    auto* frame = reinterpret_cast<unsigned char*>(io_.data(rx[i].addr));
    Verdict v = verdict_of(frame, rx[i].len, fwd_.options().verdict);
    if (final && v == Verdict::kRedirect) v = Verdict::kTx;
    switch (v) {
      case Verdict::kTx:
      case Verdict::kRedirect:
        std::memcpy(frame, ports_.out_dst, 6);
        std::memcpy(frame + 6, ports_.out_src, 6);
        if (v == Verdict::kTx || !next.redirect_in.produce(pack(rx[i])))
          out[n_out++] = rx[i];  // the next queue's ring full: sent from here
        else
          ++n_redirect;
        break;
      case Verdict::kBack: {
        unsigned char mac[6];
        std::memcpy(mac, frame, 6);
        std::memcpy(frame, frame + 6, 6);
        std::memcpy(frame + 6, mac, 6);
        back[n_back++] = rx[i];
        break;
      }
      case Verdict::kDrop:
        drop[n_drop++] = rx[i];
        break;
      case Verdict::kNotOurs:
        drop[n_drop++] = rx[i];
        ++n_other;
        break;
    }
  }
  if (n_drop) io_.drop(drop, n_drop);
  counters.dropped.fetch_add(n_drop, std::memory_order_relaxed);
  counters.not_ours.fetch_add(n_other, std::memory_order_relaxed);
  counters.redirected.fetch_add(n_redirect, std::memory_order_relaxed);
  counters.back.fetch_add(n_back, std::memory_order_relaxed);
  if (final) {  // one post each, no kick of ours (the pool's queue kicks once: 32 go)
    send(Port::kOut, out, n_out, false);
    send(Port::kIn, back, n_back, false);
    return;
  }
  if (n_out) send(Port::kOut, out, n_out, true);
  if (n_back) send(Port::kIn, back, n_back, true);
  io_.publish();
  if (n == 0 && redirect_in.empty()) {
    pollfd p{io_.rx_fd(), POLLIN, 0};
    poll(&p, 1, 1);
  }
}

void Queue::run(std::atomic<bool>& stop) {
  setup = io_.bind_thread();
  if (!setup) {
    failed = true;
    fwd_.quiesced.fetch_add(1);
    return;
  }
  io_.publish();  // the warm-up's allocations, before ready: counted apart
  ready = true;
  while (!stop.load(std::memory_order_relaxed)) round(false);
  // Let the RX ring fill a little, then the final round.
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  round(true);
  // One send (32 frames in copy mode) between two final rounds: the
  // completion ring gets frames, the TX ring keeps some.
  sendto(io_.tx_fd(Port::kOut), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
  round(true);
  // Once no queue redirects any more, what was redirected here goes on the
  // TX ring, unkicked.
  fwd_.quiesced.fetch_add(1);
  while (fwd_.quiesced.load() < static_cast<int>(fwd_.queues().size())) std::this_thread::yield();
  drain_redirects(false);
  io_.publish();
}

// ---- Forwarder ----

Forwarder::Forwarder(const Options& options, const Ports& ports)
    : options_(options), ports_(ports) {}

ppool::Result<std::unique_ptr<Forwarder>> Forwarder::create(const Options& options,
                                                            const Ports& ports) {
  using ppool::Errc;
  using ppool::Error;
  std::unique_ptr<Forwarder> fwd(new Forwarder(options, ports));
  fwd->backend_ = options.alloc == AllocMode::kPool ? make_pool_backend() : make_stack_backend();
  if (!fwd->backend_)
    return Error{Errc::kUnsupported,
                 "--alloc pool needs the ppool_xsk library, which this build does not have"};
  const int in_ifindex = static_cast<int>(if_nametoindex(ports.in_dev.c_str()));
  if (!in_ifindex || !if_nametoindex(ports.out_dev.c_str()))
    return Error{Errc::kInvalidArgument,
                 "no interface " + (in_ifindex ? ports.out_dev : ports.in_dev)};
  if (auto loaded = fwd->xdp_.load(static_cast<unsigned>(options.queues)); !loaded)
    return loaded.error();
  if (auto created = fwd->backend_->create(options, ports); !created) return created.error();
  for (int q = 0; q < options.queues; ++q) {
    QueueIo& io = fwd->backend_->queue(q);
    fwd->queues_.push_back(std::make_unique<Queue>(*fwd, io, fwd->ports_, q));
    if (auto added = fwd->xdp_.add_socket(static_cast<unsigned>(q), io.rx_fd()); !added)
      return added.error();
  }
  if (auto attached = fwd->xdp_.attach(in_ifindex); !attached) return attached.error();
  return fwd;
}

ppool::Result<void> Forwarder::start() {
  Queue* failed =
      ppool::tools::start_queue_threads(queues_, threads_, [this](Queue* q) { q->run(stop_); });
  if (!failed) return {};
  ppool::Result<void> why = failed->setup;
  stop();
  return why;
}

void Forwarder::stop() {
  if (stopped_ || !backend_) return;
  stopped_ = true;
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
  xdp_.detach();  // no new frames for the sockets
  for (int q = 0; q < static_cast<int>(queues_.size()); ++q)
    rings_at_teardown_ += backend_->queue(q).rings();
  teardown_ = backend_->teardown();
}

Forwarder::~Forwarder() {
  stop();
}

SocketDrops Forwarder::socket_drops() {
  SocketDrops d;
  d.ok = !stopped_;
  for (int q = 0; d.ok && q < static_cast<int>(queues_.size()); ++q) {
    xdp_statistics st{};
    socklen_t len = sizeof st;
    if (getsockopt(backend_->queue(q).rx_fd(), SOL_XDP, XDP_STATISTICS, &st, &len) != 0) {
      d.ok = false;
      break;
    }
    d.rx_dropped += st.rx_dropped;
    d.rx_ring_full += st.rx_ring_full;
    d.fill_ring_empty += st.rx_fill_ring_empty_descs;
  }
  return d;
}

std::string Forwarder::received_per_queue() const {
  std::string spread;
  for (auto& q : queues_) {
    spread += ' ';  // appended apart: g++ 12 -O3 warns falsely (-Wrestrict) on " " + string
    spread += std::to_string(q->counters.received.load());
  }
  return spread;
}

Totals Forwarder::totals() const {
  Totals t;
  for (auto& q : queues_) {
    const QueueCounters& c = q->counters;
    t.received += c.received.load(std::memory_order_relaxed);
    t.forwarded += c.forwarded.load(std::memory_order_relaxed);
    t.redirected += c.redirected.load(std::memory_order_relaxed);
    t.back += c.back.load(std::memory_order_relaxed);
    t.dropped += c.dropped.load(std::memory_order_relaxed);
    t.not_ours += c.not_ours.load(std::memory_order_relaxed);
    t.lost += c.lost.load(std::memory_order_relaxed);
    t.completed += c.completed.load(std::memory_order_relaxed);
  }
  return t;
}

}  // namespace xsk
