// napi_poll: the kernel's page_pool coding examples, made real.
//
// A driver registers a pool for its receive queue, then runs a NAPI-style
// poll loop on the queue's thread: it allocates pages, lets the "device"
// write packets into them, and decides each packet's fate:
//   DROP  - recycled straight into the pool's cache (recycle_direct);
//   TX    - handed to a completion thread that returns the page through the
//           pool's ring once "transmitted" (in bulk, put_page_bulk);
//   SKB   - passed up the stack holding an extra reference, so the pool
//           releases the page to its new holder (released_refcnt), which
//           frees it later with put_page.
// Then the driver unloads: the pool is destroyed. Everything runs on the
// debug DMA device, which checks every map, sync and unmap.
//
//   napi_poll [--polls N]
//
// The last line on stdout is one JSON object: the pool's stats at unload, the pages
// still in flight after destroy, and the DMA checker's live mappings and
// errors.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ppool/page_pool.h"

namespace {

constexpr unsigned kRxRingSize = 256;  // DESC_NUM
constexpr unsigned kTxRingSize = 256;
constexpr int kBudget = 64;  // NAPI budget per poll

constexpr const char* kUsage =
    "usage: napi_poll [--polls 1..1000000]\n"
    "A driver's receive queue on a page pool: NAPI polls of 64 packets (default 2000\n"
    "polls), each dropped, transmitted or passed up the stack, then the driver unloads.\n";
constexpr std::uint32_t kHeadroom = 256;

enum class Verdict { kDrop, kTx, kSkb };

// The completion side of TX: pages arrive from the poll loop and go back to
// their pool in bulk once "the hardware is done with them".
class TxCompletion {
 public:
  // False when the TX ring is full: the driver then drops the packet.
  bool submit(ppool::Page* page) {
    std::lock_guard guard(lock_);
    if (queue_.size() >= kTxRingSize) return false;
    queue_.push_back(page);
    cv_.notify_one();
    return true;
  }
  void stop() {
    {
      std::lock_guard guard(lock_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  void run() {
    std::vector<ppool::Page*> done;
    std::unique_lock guard(lock_);
    for (;;) {
      cv_.wait(guard, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      done.assign(queue_.begin(), queue_.end());
      queue_.clear();
      guard.unlock();
      ppool::put_page_bulk(done.data(), done.size());  // any thread: through the ring
      guard.lock();
    }
  }

  std::mutex lock_;
  std::condition_variable cv_;
  std::deque<ppool::Page*> queue_;
  bool stopping_ = false;
  std::thread thread_{[this] { run(); }};
};

Verdict classify(std::uint64_t seq) {
  switch (seq % 8) {
    case 0:
      return Verdict::kSkb;
    case 1:
    case 2:
    case 3:
      return Verdict::kTx;
    default:
      return Verdict::kDrop;
  }
}

// The device wrote a packet; the driver syncs it for the CPU and reads it.
std::uint32_t receive(ppool::PagePool* pool, ppool::Page* page, std::uint64_t seq) {
  auto* data = static_cast<char*>(ppool::page_address(page)) + kHeadroom;
  int len = std::snprintf(data, 128, "received packet %llu", static_cast<unsigned long long>(seq));
  pool->dma_sync_for_cpu(page, kHeadroom, static_cast<std::uint32_t>(len));
  return static_cast<std::uint32_t>(len);
}

struct PollResult {
  std::vector<ppool::Page*> skbs;  // pages up the stack, held by "sockets"
  std::uint64_t packets = 0;
};

// The NAPI poller: the pool's owner thread.
void napi_poll(ppool::PagePool* pool, TxCompletion& tx, PollResult& out, unsigned polls) {
  pool->bind_owner();
  std::uint64_t seq = 0;
  for (unsigned poll = 0; poll < polls; ++poll) {
    for (int done = 0; done < kBudget; ++done, ++seq) {
      ppool::Page* page = pool->alloc_pages();
      if (!page) break;  // out of memory: end this poll, retry the next
      std::uint32_t len = receive(pool, page, seq);
      switch (classify(seq)) {
        case Verdict::kDrop:
          pool->recycle_direct(page);
          break;
        case Verdict::kTx:
          if (!tx.submit(page)) pool->recycle_direct(page);  // TX ring full: drop
          break;
        case Verdict::kSkb:
          ppool::get_page(page);  // the stack's reference
          out.skbs.push_back(page);
          pool->put_page(page, kHeadroom + len, true);  // refcount 2: released
          break;
      }
    }
  }
  out.packets = seq;
}

// The command line: --help, or --polls N (or --polls=N), N a whole decimal
// number in 1..1000000. An example stands alone, so it reads its one option
// itself, strictly: a sign, a space or a stray argument is refused, with a
// message, rather than half-read. nullopt to go on, else the exit status (0
// after --help, 2 after a bad command line).
std::optional<int> parse_args(int argc, char** argv, unsigned& polls) {
  std::string why;  // what is wrong with the command line; empty while nothing is
  for (int i = 1; i < argc && why.empty(); ++i) {
    const std::string arg = argv[i];
    const bool inline_value = arg.starts_with("--polls=");
    std::string value;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg != "--polls" && !inline_value) {
      why = (arg.starts_with("-") ? "unknown option '" : "unexpected argument '") + arg + "'";
    } else if (!inline_value && i + 1 == argc) {
      why = "--polls needs a value (1..1000000)";
    } else if (value = inline_value ? arg.substr(8) : argv[++i];
               value.empty() || value.size() > 20 ||
               value.find_first_not_of("0123456789") != std::string::npos) {
      why = "--polls: '" + value + "' is not a number in 1..1000000";
    } else if (const unsigned long long n = std::strtoull(value.c_str(), nullptr, 10);  // saturates
               n < 1 || n > 1000000) {
      why = "--polls: " + value + " is not in 1..1000000";
    } else {
      polls = static_cast<unsigned>(n);
    }
  }
  if (why.empty()) return std::nullopt;
  std::fprintf(stderr, "napi_poll: %s\n(napi_poll --help for the usage)\n", why.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned polls = 2000;
  if (auto status = parse_args(argc, argv, polls)) return *status;

  ppool::IdentityDmaDevice iommu_off;
  ppool::DebugDmaDevice dev(iommu_off);

  // Registration.
  ppool::PagePoolParams params;
  params.order = 0;
  params.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
  params.pool_size = kRxRingSize;
  params.nid = ppool::kNoNode;
  params.dev = &dev;
  params.dma_dir = ppool::DmaDirection::kFromDevice;
  params.max_len = ppool::kPageSize - kHeadroom;
  params.offset = kHeadroom;
  params.name = "napi_poll rxq0";
  auto created = ppool::PagePool::create(params);
  if (!created) {
    std::fprintf(stderr, "napi_poll: %s\n", created.error().message.c_str());
    return 1;
  }
  ppool::PagePool* pool = created.value();

  TxCompletion tx;
  PollResult result;
  std::thread poller(napi_poll, pool, std::ref(tx), std::ref(result), polls);
  poller.join();
  tx.stop();  // every transmitted page is back in the ring
  std::printf("polled %llu packets; %zu passed up the stack\n",
              static_cast<unsigned long long>(result.packets), result.skbs.size());

  // The sockets consume their packets: the last reference frees each page.
  for (ppool::Page* page : result.skbs) ppool::put_page(page);

  // Driver unload, on the thread that now owns the queue.
  pool->bind_owner();
  ppool::PagePoolStats stats = pool->stats();
  std::uint32_t inflight = ppool::PagePool::destroy(pool);
  std::size_t live = dev.close();
  std::printf(
      "{\"stats\": %s, \"inflight\": %u, \"dma_live_mappings\": %zu, \"dma_errors\": %llu}\n",
      stats.to_json().c_str(), inflight, live, static_cast<unsigned long long>(dev.error_count()));
  return inflight == 0 && live == 0 && dev.error_count() == 0 ? 0 : 1;
}
