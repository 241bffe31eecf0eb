// The share transport's producer side: a pool on a shared region, a
// ShareProducer, a consumer process; the streaming measurement, the
// stale-bytes check and the killed-consumer check.
//
// One thread does everything here (it is the pool's owner): it allocates in
// bulk, stamps header and trailer into each page (in the touched pass it
// first writes every payload byte of the page's message, wire.h), hands the
// pages over in bulk and reaps the returns, which then go straight into the
// pool's cache.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include "harness.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/share.h"
#include "support/errno_error.h"

namespace share_tool {
namespace {

using Clock = std::chrono::steady_clock;
using ppool::Result;
constexpr std::size_t kBurst = 32;

unsigned order_for(std::uint32_t bytes) {
  unsigned order = 0;
  while ((ppool::kPageSize << order) < bytes) ++order;
  return order;
}

// A pool on its own shared region, a consumer process and the producer.
struct Session {
  std::unique_ptr<ppool::PageAllocator> allocator;
  ppool::PagePool* pool = nullptr;
  int fd = -1;  // the producer's end of the share socket
  pid_t consumer = -1;
  std::unique_ptr<ppool::ShareProducer> producer;
  // Why send() or report() failed: the run's loops keep a bool and this,
  // while the setup steps (open, make_pool, attach) return a Result.
  std::string error;
  // Reap while sending (off for the stale check: every page it hands must
  // come fresh from the allocator, not recycled with this run's own bytes).
  bool reap_while_sending = true;
  bool touch = false;  // write every payload byte (the touched pass)

  ~Session() { finish(); }

  // Returns the consumer's exit status (-1 when none was started).
  int finish() {
    producer.reset();  // reclaims whatever the consumer still holds
    if (fd >= 0) close(fd);
    fd = -1;
    int status = -1;
    if (consumer > 0) status = reap_consumer(consumer);
    consumer = -1;
    return status;
  }

  // A shared region of region_bytes, and a pool on it.
  Result<void> open(std::size_t region_bytes, unsigned order, std::uint32_t flags,
                    const char* name) {
    auto created = ppool::PageAllocator::create({.max_bytes = region_bytes, .shared = true});
    if (!created) return created.error();
    allocator = std::move(created).value();
    return make_pool(order, flags, name);
  }

  // A pool on the region (after destroy_pool(), a second one).
  Result<void> make_pool(unsigned order, std::uint32_t flags, const char* name) {
    ppool::PagePoolParams params;
    params.order = order;
    params.allocator = allocator.get();
    params.flags = flags;
    params.pool_size = 1024;
    params.name = name;
    auto created = ppool::PagePool::create(params);
    if (!created) return created.error();
    pool = created.value();
    return {};
  }

  // Starts the consumer and attaches the producer to the pool.
  Result<void> attach(ConsumerOptions o, std::uint32_t ring_entries) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
      return ppool::tools::errno_error("socketpair", errno);
    o.control_fd = sv[1];
    Result<pid_t> spawned = spawn_consumer(o);
    close(sv[1]);
    fd = sv[0];
    if (!spawned) return spawned.error();
    consumer = spawned.value();
    auto attached = ppool::ShareProducer::attach(pool, fd, {.ring_entries = ring_entries});
    if (!attached) return attached.error();
    producer = std::move(attached).value();
    return {};
  }

  // Hands bufs[0..n) whole, waiting for room; false (the pages not handed
  // put back) when the consumer went away.
  bool hand_all(ppool::ShareBuf* bufs, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      done += producer->hand_bulk(bufs + done, n - done);
      if (done == n) break;
      producer->reap();
      if (!producer->wait_room(5) && producer->peer_gone()) {
        for (std::size_t i = done; i < n; ++i) ppool::put_page(bufs[i].page);
        error = "the consumer went away";
        return false;
      }
    }
    return true;
  }

  // n pages (waiting for returns when the region is all out), stamped with
  // seq, seq + 1, ... (or the end marker), handed over.
  bool send(std::size_t n, std::uint32_t bytes, std::uint64_t* seq, bool end = false) {
    ppool::Page* pages[kBurst];
    ppool::ShareBuf bufs[kBurst];
    while (n) {
      const std::size_t got = pool->alloc_pages_bulk(pages, std::min(n, kBurst));
      if (!got) {
        producer->reap();
        if (!producer->wait_returns(5) && producer->peer_gone()) {
          error = "the consumer went away";
          return false;
        }
        continue;
      }
      for (std::size_t i = 0; i < got; ++i) {
        void* msg = ppool::page_address(pages[i]);
        const std::uint64_t this_seq = end ? kEndSeq : (*seq)++;
        if (touch) fill_payload(msg, bytes, this_seq);
        stamp(msg, bytes, this_seq);
        bufs[i] = {pages[i], 0, bytes};
      }
      if (!hand_all(bufs, got)) return false;
      if (reap_while_sending) producer->reap();
      n -= got;
    }
    return true;
  }

  bool report(Report* r) {
    if (read_report(fd, r, 10000, [this] { producer->reap(); })) return true;
    error = "no report from the consumer";
    return false;
  }

  // Destroys the pool; the pages still in flight (0: all came home).
  std::uint32_t destroy_pool() {
    const std::uint32_t left = ppool::PagePool::destroy(pool);
    pool = nullptr;
    return left;
  }
};

}  // namespace

Measurement measure_share(std::uint32_t bytes, double seconds, std::uint32_t ring_entries,
                          bool touch) {
  Measurement m;
  Session s;
  const unsigned order = order_for(bytes);
  // Room for both rings' worth of pages and the pool's cache and ring.
  const std::size_t region = std::max<std::size_t>(
      std::size_t{8} << 20,
      std::min<std::size_t>(std::size_t{2} * ring_entries * (ppool::kPageSize << order),
                            std::size_t{32} << 20));
  ConsumerOptions o;
  o.transport = Transport::kShare;
  o.bytes = bytes;
  o.touch = touch;
  s.touch = touch;
  Result<void> ready = s.open(region, order, ppool::kZeroPages, "share");
  if (ready) ready = s.attach(o, ring_entries);
  if (!ready) {
    m.error = ready.error().message;
    return m;
  }
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(seconds);
  bool sent = true;
  while (sent && Clock::now() < deadline) sent = s.send(kBurst, bytes, &m.sent);
  std::uint64_t none = 0;
  sent = sent && s.send(1, bytes, &none, /*end=*/true);
  const bool reported = sent && s.report(&m.report);
  m.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const int status = s.finish();
  const std::uint32_t left = s.destroy_pool();
  if (!sent || !reported)
    m.error = s.error;
  else if (status != 0)
    m.error = "the consumer exited with " + std::to_string(status);
  else if (const std::string bad = report_error(m.report, m.sent); !bad.empty())
    m.error = bad;
  else if (left)
    m.error = std::to_string(left) + " pages still in flight after the run";
  m.ok = m.error.empty();
  return m;
}

StaleResult stale_check(bool zero_pages) {
  StaleResult r;
  Session s;
  constexpr std::uint32_t kBytes = 1500;
  constexpr std::size_t kPages = 256;  // fewer than the region's: every one fresh
  if (Result<void> ready = s.open(ppool::kChunkBytes, 0, 0, "share-first"); !ready) {
    r.error = ready.error().message;
    return r;
  }
  // The first user: marks every page of the region and gives them all back
  // to the allocator (no kZeroPages: they leave as they are).
  std::size_t marked = 0;
  {
    ppool::Page* pages[kBurst];
    std::vector<ppool::Page*> all;
    while (std::size_t got = s.pool->alloc_pages_bulk(pages, kBurst)) {
      for (std::size_t i = 0; i < got; ++i) {
        std::memset(ppool::page_address(pages[i]), kMark, ppool::page_bytes(pages[i]));
        all.push_back(pages[i]);
      }
    }
    marked = all.size();
    for (ppool::Page* page : all) ppool::put_page(page);
  }
  if (std::uint32_t left = s.destroy_pool()) {
    r.error = "the first pool kept " + std::to_string(left) + " pages";
    return r;
  }
  if (marked < kPages + 1) {
    r.error = "the region gave the first pool only " + std::to_string(marked) + " pages";
    return r;
  }
  // The second user: fresh pages to the consumer, which counts the marks.
  ConsumerOptions o;
  o.transport = Transport::kShare;
  o.bytes = kBytes;
  o.page_bytes = static_cast<std::uint32_t>(ppool::kPageSize);
  s.reap_while_sending = false;
  Result<void> ready =
      s.make_pool(0, zero_pages ? std::uint32_t{ppool::kZeroPages} : 0u, "share-second");
  if (ready) ready = s.attach(o, 1024);
  if (!ready) {
    r.error = ready.error().message;
    return r;
  }
  std::uint64_t seq = 0, none = 0;
  Report report{};
  const bool ok =
      s.send(kPages, kBytes, &seq) && s.send(1, kBytes, &none, true) && s.report(&report);
  const int status = s.finish();
  const std::uint32_t left = s.destroy_pool();
  if (!ok)
    r.error = s.error;
  else if (status != 0 || report.bad || report.messages != kPages || left)
    r.error = "the stale-bytes run failed (consumer status " + std::to_string(status) + ", " +
              std::to_string(report.bad) + " bad messages, " + std::to_string(left) +
              " pages left)";
  r.stale = report.stale_bytes;
  r.ok = r.error.empty();
  return r;
}

KillResult kill_check() {
  KillResult r;
  Session s;
  constexpr std::uint32_t kBytes = 1500, kHold = 64;
  ConsumerOptions o;
  o.transport = Transport::kShare;
  o.bytes = kBytes;
  o.hold = kHold;  // it gives back messages 0..63 and keeps 64..127
  if (Result<void> ready = s.open(ppool::kChunkBytes, 0, ppool::kZeroPages, "share-kill"); !ready) {
    r.error = ready.error().message;
    return r;
  }
  r.inflight_before = s.pool->inflight();
  if (Result<void> attached = s.attach(o, 256); !attached) {
    r.error = attached.error().message;
    return r;
  }
  std::uint64_t seq = 0;
  Report report{};
  if (!s.send(2 * kHold, kBytes, &seq) || !s.report(&report)) {
    r.error = s.error;
    return r;
  }
  // Its returns went on the ring before its report: take them all.
  s.producer->reap();
  const ppool::ShareProducerStats before = s.producer->stats();
  r.returned = before.returned;
  r.holding = before.holding;
  kill(s.consumer, SIGKILL);
  const int status = reap_consumer(s.consumer);
  s.consumer = -1;
  // The producer notices the hang-up and reclaims.
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (!s.producer->reclaim_if_gone() && Clock::now() < deadline) usleep(1000);
  r.reclaimed = s.producer->stats().reclaimed;
  s.finish();
  r.inflight_after = s.destroy_pool();
  if (status != 128 + SIGKILL)
    r.error = "the consumer ended with " + std::to_string(status) + ", not SIGKILL";
  else if (report.held != kHold || r.holding != kHold)
    r.error = "the consumer held " + std::to_string(r.holding) + " pages (it said " +
              std::to_string(report.held) + "), not " + std::to_string(kHold);
  else if (r.reclaimed != r.holding)
    r.error = std::to_string(r.reclaimed) + " pages reclaimed of " + std::to_string(r.holding);
  else if (r.inflight_after != r.inflight_before)
    r.error = std::to_string(r.inflight_after) + " pages in flight after the reclaim";
  r.ok = r.error.empty();
  return r;
}

}  // namespace share_tool
