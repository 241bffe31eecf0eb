// xdp_redirect: the kernel documentation's common driver layer, made real.
//
// Two drivers, A and B, each with N receive queues; a queue is a thread with
// its own pool registered as its XDP memory model, and its own TX ring. Each
// queue polls like NAPI: it "receives" frames into its pool's pages (one
// page per packet, or two fragments per page with --frags) and runs a
// verdict on each:
//   DROP     - recycled straight into the queue's cache (return_frame_rx_napi);
//   PASS     - handed to the "stack", which frees it with a plain put_page;
//   TX       - sent out on the queue's own TX ring;
//   REDIRECT - sent to the peer queue of the other driver.
// Every queue completes its TX ring in the same poll and returns the
// transmitted frames with a FrameBulk, so a redirected frame goes home to the
// other driver's pool through that pool's ring, never through the page
// allocator. Each driver's pages are mapped on its own debug DMA device.
//
//   xdp_redirect [--queues 1..64] [--frames 1..1000000000] [--frags]
//
// The last line on stdout is one JSON object: each pool's stats, pages in
// flight after destroy and live DMA mappings, and the verdict counts.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ppool/ring.h"
#include "ppool/xdp.h"

namespace {

constexpr int kBudget = 64;               // frames per poll
constexpr std::uint32_t kHeadroom = 192;  // XDP_PACKET_HEADROOM would be 256
constexpr std::uint32_t kFragSize = 2048;
constexpr unsigned kTxRingSize = 2048;

struct Options {
  int queues = 2;
  long frames = 200000;  // received per queue
  bool frags = false;
};

constexpr const char* kUsage =
    "usage: xdp_redirect [--queues 1..64] [--frames 1..1000000000] [--frags]\n"
    "Two drivers with a thread and a pool per queue (default 2 queues each); every\n"
    "queue receives --frames frames (default 200000) and drops, passes, transmits or\n"
    "redirects each to the other driver. --frags: two fragments per page.\n";

enum class Verdict { kDrop, kPass, kTx, kRedirect };

// The "XDP program": a fixed mix decided by the packet's first byte.
Verdict run_xdp(const unsigned char* packet) {
  unsigned v = packet[0] % 10;
  if (v < 2) return Verdict::kDrop;
  if (v < 3) return Verdict::kPass;
  if (v < 5) return Verdict::kTx;
  return Verdict::kRedirect;
}

struct Counters {
  std::atomic<std::uint64_t> redirected{0}, dropped{0}, passed{0}, tx{0};
};

struct Queue {
  std::string name;
  ppool::DebugDmaDevice* dev = nullptr;
  ppool::PagePool* pool = nullptr;
  std::unique_ptr<ppool::RxQueueInfo> rxq;
  ppool::MemInfo mem;
  ppool::MpscRing<ppool::Frame*> tx{kTxRingSize};
  Queue* peer = nullptr;  // the other driver's queue it redirects to
};

class Driver {
 public:
  Driver(const char* name, int queues) : dev_(iommu_off_), queues_(queues) {
    for (int q = 0; q < queues; ++q) {
      queues_[q].name = std::string(name) + " rxq" + std::to_string(q);
      queues_[q].dev = &dev_;
    }
  }
  std::vector<Queue>& queues() { return queues_; }
  ppool::DebugDmaDevice& dev() { return dev_; }

 private:
  ppool::IdentityDmaDevice iommu_off_;
  ppool::DebugDmaDevice dev_;
  std::vector<Queue> queues_;
};

// Driver setup, on the queue's thread (which becomes the pool's owner).
bool setup_queue(Queue& q) {
  ppool::PagePoolParams params;
  params.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  params.dev = q.dev;
  params.dma_dir = ppool::DmaDirection::kBidirectional;  // XDP_TX writes back out
  params.max_len = ppool::kPageSize;
  params.pool_size = 2 * kTxRingSize;  // an RX ring + frames out on TX rings
  params.name = q.name;
  auto created = ppool::PagePool::create(params);
  if (!created) {
    std::fprintf(stderr, "xdp_redirect: %s\n", created.error().message.c_str());
    return false;
  }
  q.pool = created.value();
  q.rxq = std::make_unique<ppool::RxQueueInfo>(q.name, 0);
  auto mem = q.rxq->reg_mem_model(ppool::MemType::kPagePool, q.pool);
  if (!mem) {
    std::fprintf(stderr, "xdp_redirect: %s\n", mem.error().message.c_str());
    return false;
  }
  q.mem = mem.value();
  return true;
}

// The "device" writes a packet; the frame is built in the buffer's headroom.
ppool::Frame* receive(Queue& q, bool frags, std::uint64_t seq) {
  std::uint32_t offset = 0, size = frags ? kFragSize : ppool::kPageSize;
  ppool::Page* page = frags ? q.pool->alloc(&offset, &size) : q.pool->alloc_pages();
  if (!page) return nullptr;
  char* start = static_cast<char*>(ppool::page_address(page)) + offset;
  char* data = start + kHeadroom;
  auto len = static_cast<std::uint32_t>(std::snprintf(data, 64, "%cpacket %llu",
                                                      static_cast<char>(seq * 7 % 251),
                                                      static_cast<unsigned long long>(seq)));
  q.pool->dma_sync_for_cpu(page, offset + static_cast<std::uint32_t>(data - start), len);
  return ppool::build_frame(start, data, len, size, q.mem);
}

bool transmit(Queue& to, ppool::Frame* frame, std::atomic<std::uint64_t>& counter, Counters& c) {
  if (to.tx.produce(frame)) {
    counter.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  c.dropped.fetch_add(1, std::memory_order_relaxed);  // TX ring full: drop
  ppool::return_frame_rx_napi(frame);
  return false;
}

// TX completion: the hardware is done with what was on the TX ring.
std::size_t complete_tx(Queue& q) {
  ppool::FrameBulk bulk;
  ppool::Frame* done[kBudget];
  std::size_t total = 0;
  while (std::size_t n = q.tx.consume_bulk(done, kBudget)) {
    for (std::size_t i = 0; i < n; ++i) ppool::return_frame_bulk(done[i], bulk);
    total += n;
  }
  return total;
}

void poll_rx(Queue& q, const Options& opt, std::uint64_t& seq, Counters& c) {
  for (int done = 0; done < kBudget; ++done, ++seq) {
    ppool::Frame* frame = receive(q, opt.frags, seq);
    if (!frame) return;
    switch (run_xdp(static_cast<const unsigned char*>(frame->data))) {
      case Verdict::kDrop:
        c.dropped.fetch_add(1, std::memory_order_relaxed);
        ppool::return_frame_rx_napi(frame);
        break;
      case Verdict::kPass: {
        c.passed.fetch_add(1, std::memory_order_relaxed);
        // The stack holds the page and frees it with a plain put_page.
        ppool::PageRef skb(ppool::page_of(frame->data));
        break;
      }
      case Verdict::kTx:
        transmit(q, frame, c.tx, c);
        break;
      case Verdict::kRedirect:
        transmit(*q.peer, frame, c.redirected, c);
        break;
    }
  }
}

void run_queue(Queue& q, const Options& opt, Counters& c, std::atomic<int>& receiving,
               std::atomic<bool>& setup_failed) {
  if (!setup_queue(q)) {
    setup_failed = true;
    receiving.fetch_sub(1);
    return;
  }
  std::uint64_t seq = 0;
  while (static_cast<long>(seq) < opt.frames) {
    poll_rx(q, opt, seq, c);
    complete_tx(q);
  }
  receiving.fetch_sub(1);
  // Keep completing until no queue can send here any more.
  while (receiving.load() > 0) {
    if (!complete_tx(q)) std::this_thread::yield();
  }
  complete_tx(q);
}

// The command line: --help, --frags, --queues N, --frames N (a value also as
// --name=N; N a whole decimal number in the option's range). An example
// stands alone, so it reads its options itself, strictly: a sign, a space or
// a stray argument is refused, with a message, rather than half-read.
// nullopt to go on, else the exit status (0 after --help, 2 after a bad
// command line).
std::optional<int> parse(int argc, char** argv, Options& opt) {
  struct Number {
    const char* name;
    long lo, hi;
    long* out;
  };
  long queues = opt.queues;
  const Number numbers[] = {{"--queues", 1, 64, &queues}, {"--frames", 1, 1000000000, &opt.frames}};
  auto refuse = [](const std::string& why) {
    std::fprintf(stderr, "xdp_redirect: %s\n(xdp_redirect --help for the usage)\n", why.c_str());
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (arg == "--frags") {
      opt.frags = true;
      continue;
    }
    const Number* number = nullptr;
    for (const Number& n : numbers)
      if (arg == n.name || arg.starts_with(std::string(n.name) + "=")) number = &n;
    if (!number)
      return refuse((arg.starts_with("-") ? "unknown option '" : "unexpected argument '") + arg +
                    "'");
    const std::string range = std::to_string(number->lo) + ".." + std::to_string(number->hi);
    const std::string name = number->name;
    if (arg == name && i + 1 == argc) return refuse(name + " needs a value (" + range + ")");
    const std::string value = arg == name ? argv[++i] : arg.substr(name.size() + 1);
    if (value.empty() || value.size() > 20 || value.find_first_not_of("0123456789") != value.npos)
      return refuse(name + ": '" + value + "' is not a number in " + range);
    const unsigned long long n = std::strtoull(value.c_str(), nullptr, 10);  // saturates
    if (n < static_cast<unsigned long long>(number->lo) ||
        n > static_cast<unsigned long long>(number->hi))
      return refuse(name + ": " + value + " is not in " + range);
    *number->out = static_cast<long>(n);
  }
  opt.queues = static_cast<int>(queues);
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (auto status = parse(argc, argv, opt)) return *status;
  Driver a("drvA", opt.queues), b("drvB", opt.queues);
  for (int q = 0; q < opt.queues; ++q) {
    a.queues()[q].peer = &b.queues()[q];
    b.queues()[q].peer = &a.queues()[q];
  }
  Counters counters;
  std::atomic<int> receiving{2 * opt.queues};
  std::atomic<bool> setup_failed{false};
  std::vector<std::thread> threads;
  for (Driver* d : {&a, &b})
    for (Queue& q : d->queues())
      threads.emplace_back(run_queue, std::ref(q), std::cref(opt), std::ref(counters),
                           std::ref(receiving), std::ref(setup_failed));
  for (auto& t : threads) t.join();
  if (setup_failed) return 1;

  // Driver unload: each queue's memory model and pool, then each device.
  std::string pools;
  bool clean = true;
  for (Driver* d : {&a, &b}) {
    for (Queue& q : d->queues()) {
      q.pool->bind_owner();
      q.rxq->unreg_mem_model();
      std::string stats = q.pool->stats().to_json();
      std::uint32_t inflight = ppool::PagePool::destroy(q.pool);
      std::size_t live = d->dev().live_mappings(q.name);
      clean = clean && inflight == 0 && live == 0;
      pools += std::string(pools.empty() ? "" : ", ") + "{\"name\": \"" + q.name +
               "\", \"stats\": " + stats + ", \"inflight\": " + std::to_string(inflight) +
               ", \"dma_live_mappings\": " + std::to_string(live) + "}";
    }
    clean = clean && d->dev().close() == 0 && d->dev().error_count() == 0;
  }
  std::printf("%d queues per driver, %ld frames each%s; %llu redirected\n", opt.queues, opt.frames,
              opt.frags ? ", two fragments per page" : "",
              static_cast<unsigned long long>(counters.redirected.load()));
  std::printf(
      "{\"pools\": [%s], \"frames_redirected\": %llu, \"frames_dropped\": %llu, "
      "\"frames_passed\": %llu, \"frames_tx\": %llu}\n",
      pools.c_str(), static_cast<unsigned long long>(counters.redirected.load()),
      static_cast<unsigned long long>(counters.dropped.load()),
      static_cast<unsigned long long>(counters.passed.load()),
      static_cast<unsigned long long>(counters.tx.load()));
  return clean ? 0 : 1;
}
