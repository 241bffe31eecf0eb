// ppool's adapter: a fresh pool per measurement, DMA-mapping on an identity
// device, or on a device that needs syncs for fast_path_sync and
// ring_path_sync (the owner's sync and another thread's); and the workloads
// of the memory backings (ppool only), on an allocator of their own.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "hugepages.h"
#include "impl.h"
#include "pool/counting_sync_device.h"
#include "pool/remote_context.h"
#include "ppool/page_pool.h"
#include "report.h"

namespace ppool_bench {
namespace {

// Ring capacity: room for an RX ring's worth of returns (ws4096, cross_core).
constexpr unsigned kPoolSize = 4096;
// slow_path_thp and slow_path_hugetlb: the allocator's limit. Their loop
// keeps about a refill of pages out; one chunk would do.
constexpr std::size_t kSlowPathBytes = std::size_t{16} << 20;
// fresh_*: pages are taken from a new allocator this many at a time (the
// timed part), then given back and the allocator destroyed (untimed), so a
// run of any length commits fresh chunks throughout and holds 64 MiB at most.
constexpr std::size_t kFreshBatchPages = std::size_t{16} << 10;
// The pool's refill can take a chunk past what a workload asks for.
constexpr std::size_t kSlackBytes = 2 * ppool::kChunkBytes;

std::size_t huge_pages_for(std::size_t bytes) {
  return (bytes + kHugePageBytes - 1) / kHugePageBytes;
}

// MemAvailable in bytes, 0 when /proc/meminfo does not say.
std::size_t mem_available() {
  std::ifstream in("/proc/meminfo");
  for (std::string key; in >> key;) {
    std::size_t kib = 0;
    in >> kib;
    if (key == "MemAvailable:") return kib << 10;
    in.ignore(64, '\n');
  }
  return 0;
}

std::string gib(std::size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

bool is_touch(Workload w) {
  return w == Workload::kTouch4k || w == Workload::kTouchThp || w == Workload::kTouchHugetlb;
}

bool is_fresh(Workload w) {
  return w == Workload::kFresh4k || w == Workload::kFreshZero || w == Workload::kFreshThp ||
         w == Workload::kFreshHugetlb;
}

ppool::Backing backing_of(Workload w) {
  switch (w) {
    case Workload::kSlowPathThp:
    case Workload::kFreshThp:
    case Workload::kTouchThp:
      return ppool::Backing::kThp;
    case Workload::kSlowPathHugetlb:
    case Workload::kFreshHugetlb:
    case Workload::kTouchHugetlb:
      return ppool::Backing::kHugetlb2M;
    default:
      return ppool::Backing::k4K;
  }
}

// Where in page i the chase touches: a line picked by a hash of i, so the
// lines do not all fall in the same cache sets.
std::size_t line_of(std::size_t i) {
  std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  return static_cast<std::size_t>(x % (ppool::kPageSize / 64)) * 64;
}

class PpoolAdapter {
 public:
  using Buf = ppool::Page*;

  explicit PpoolAdapter(const PpoolOptions& options)
      : touch_pages_(static_cast<std::size_t>(options.touch_gib * (1 << 30)) / ppool::kPageSize) {
    touch_pages_ = std::max<std::size_t>(touch_pages_, 1);
    std::fill(std::begin(huge_), std::end(huge_), -1);
  }

  bool runs(Workload w) const { return !is_baseline(w); }

  bool open(Workload w) {
    workload_ = w;
    const ppool::Backing backing = backing_of(w);
    // What the workload holds at once, and the allocator's limit.
    const std::size_t bytes = is_touch(w)   ? touch_pages_ * ppool::kPageSize + kSlackBytes
                              : is_fresh(w) ? kFreshBatchPages * ppool::kPageSize + kSlackBytes
                                            : kSlowPathBytes;
    if (is_touch(w)) {
      // The pages, their descriptors (1/64) and the chase's order (1/1024).
      const std::size_t need = bytes + bytes / 64 + bytes / 1024 + (std::size_t{256} << 20);
      const std::size_t avail = mem_available();
      if (avail < need)
        return skip(w, "needs " + gib(need) + " of memory, " + gib(avail) +
                           " available (--touch-gib less)");
    }
    if (backing == ppool::Backing::kHugetlb2M) {
      std::string why;
      if (!hugepages_.reserve(huge_pages_for(bytes), why)) return skip(w, why);
    }
    const bool own_allocator = backing != ppool::Backing::k4K || is_touch(w) || is_fresh(w);
    if (own_allocator && !make_allocator(backing, bytes)) return false;
    if (is_fresh(w)) {
      allocator_.reset();  // fresh() makes one per batch; this one checked the backing
      return true;
    }
    if (!make_pool(allocator_.get())) return false;
    if (is_touch(w)) take_and_chain();
    return true;
  }

  // A curve point: its pools on the default allocator, as cycle_16k's (the
  // allocator has no limit that 256 Ki pages in flight, 1 GiB, would meet).
  bool runs(const CurvePoint&) const { return true; }
  bool open(const CurvePoint& p) {
    workload_ = Workload::kCycle16k;
    for (unsigned i = 0; i < pools_of(p); ++i) {
      if (!make_pool(nullptr)) {
        for (ppool::PagePool* pool : pools_) destroy(pool);
        pools_.clear();
        pool_ = nullptr;
        return false;
      }
      pools_.push_back(pool_);
    }
    pool_ = pools_[0];
    return true;
  }
  void use_pool(unsigned i) { pool_ = pools_[i]; }

  bool close() {
    bool clean = true;
    for (ppool::Page* page : touched_) release(page);
    touched_ = {};
    if (!pools_.empty()) {
      for (std::size_t i = 1; i < pools_.size(); ++i) clean &= destroy(pools_[i]);
      pool_ = pools_[0];
      pools_.clear();
    }
    if (pool_) {
      clean &= destroy(pool_);
      pool_ = nullptr;
    }
    if (is_sync_variant(workload_) && sync_dev_.syncs() == syncs_at_open_) {
      warn("ppool: %s: the pool never synced\n", to_string(workload_));
      clean = false;
    }
    if (allocator_ && !is_touch(workload_)) note_huge(allocator_->huge_backed_bytes());
    allocator_.reset();
    hugepages_.release();
    return clean;
  }

  Buf alloc() {
    ppool::Page* page = pool_->alloc_pages();
    if (PPOOL_UNLIKELY(!page)) die("ppool", "alloc_pages failed");
    return page;
  }
  void alloc_bulk(Buf* pages, unsigned n) {
    if (PPOOL_UNLIKELY(pool_->alloc_pages_bulk(pages, n) != n))
      die("ppool", "alloc_pages_bulk failed");
  }
  void recycle_direct(Buf page) { pool_->recycle_direct(page); }
  // Into the pool's ring, as a put from another thread (RemoteContext); the
  // next alloc that finds the cache empty refills from the ring.
  void put(Buf page) {
    remote_.run([&] { pool_->put_full_page(page, false); });
  }
  // The page leaves the pool (unmapped, no longer in flight) and its last
  // reference frees it to the page allocator.
  void release(Buf page) {
    pool_->release_page(page);
    ppool::put_page(page);
  }
  // On the owner: napi-local, into the cache; from the consumer thread of
  // cross_core: the ring.
  void put_bulk(Buf* pages, unsigned n) { ppool::put_page_bulk(pages, n); }
  void remote_begin() {}
  void remote_end() {}
  void* data(Buf page) { return ppool::page_address(page); }

  // fresh_*: ops pages from allocators with nothing committed, in batches;
  // only alloc_pages_bulk is timed: the refills, each taking 64 pages from
  // the allocator, which commits and populates a chunk when it has none
  // free, maps them (identity) and, for fresh_zero, clears them.
  double fresh(std::uint64_t ops) {
    const ppool::Backing backing = backing_of(workload_);
    const std::size_t bytes = kFreshBatchPages * ppool::kPageSize + kSlackBytes;
    std::vector<ppool::Page*> pages(kFreshBatchPages);
    double ns = 0;
    for (std::uint64_t done = 0; done < ops;) {
      const std::size_t n = std::min<std::uint64_t>(ops - done, kFreshBatchPages);
      if (!make_allocator(backing, bytes) || !make_pool(allocator_.get()))
        die("ppool", "fresh: the allocator or the pool could not be made again");
      Stopwatch sw;
      const std::size_t got = pool_->alloc_pages_bulk(pages.data(), n);
      ns += sw.ns();
      if (got != n) die("ppool", "fresh: alloc_pages_bulk failed");
      for (std::size_t i = 0; i < n; ++i) release(pages[i]);
      if (!done) note_huge(allocator_->huge_backed_bytes());  // the first, a whole batch
      done += n;
      ppool::PagePool::destroy(pool_);
      pool_ = nullptr;
      allocator_.reset();
    }
    return ns;
  }

  // touch_*: ops dependent loads along the chain take_and_chain() built,
  // carrying on where the last run stopped.
  double touch(std::uint64_t ops) {
    void* p = cursor_;
    Stopwatch sw;
    for (std::uint64_t i = 0; i < ops; ++i) p = *static_cast<void**>(p);
    keep(p);
    const double ns = sw.ns();
    cursor_ = p;
    return ns;
  }

  long long huge_backed_bytes(Workload w) const { return huge_[static_cast<int>(w)]; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  // Says once per workload why it does not run (stderr now, stdout after
  // the table); false.
  bool skip(Workload w, const std::string& why) {
    if (!skipped_[static_cast<int>(w)]) {
      skipped_[static_cast<int>(w)] = true;
      warn("ppool-bench: %s skipped: %s\n", to_string(w), why.c_str());
      notes_.push_back(std::string(to_string(w)) + ": skipped: " + why);
    }
    return false;
  }

  static bool destroy(ppool::PagePool* pool) {
    const std::uint32_t inflight = ppool::PagePool::destroy(pool);
    if (inflight) warn("ppool: destroy: %u pages still in flight\n", inflight);
    return !inflight;
  }

  bool make_allocator(ppool::Backing backing, std::size_t bytes) {
    ppool::PageAllocatorOptions options;
    options.backing = backing;
    options.max_bytes = bytes;
    auto allocator = ppool::PageAllocator::create(options);
    if (!allocator) return skip(workload_, allocator.error().message);
    allocator_ = std::move(allocator.value());
    return true;
  }

  bool make_pool(ppool::PageAllocator* allocator) {
    ppool::PagePoolParams params;
    params.name = "ppool-bench";
    params.pool_size = kPoolSize;
    params.allocator = allocator;
    if (!is_touch(workload_)) {
      params.flags = ppool::kDmaMap;
      params.dev = &identity_;
    }
    if (workload_ == Workload::kSlowPathZero || workload_ == Workload::kFreshZero)
      params.flags |= ppool::kZeroPages;
    if (is_sync_variant(workload_)) {
      params.flags |= ppool::kDmaSyncDev;
      params.max_len = kBufSize;
      params.dev = &sync_dev_;
    }
    auto pool = ppool::PagePool::create(params);
    if (!pool) {
      warn("ppool: create: %s\n", pool.error().message.c_str());
      return false;
    }
    pool_ = pool.value();
    syncs_at_open_ = sync_dev_.syncs();
    return true;
  }

  // The touch workloads' pages (order 0, taken in one bulk: the allocator
  // hands them out chunk by chunk, so they cover touch_pages_ * 4 KiB of
  // its chunks, each 2 MiB of which is one huge page on a huge backing)
  // and one cycle through them in a random order: one line of each page,
  // holding the address of the next page's line. The order is the same on
  // every backing (a fixed seed over the pages' indices).
  void take_and_chain() {
    touched_.resize(touch_pages_);
    if (pool_->alloc_pages_bulk(touched_.data(), touch_pages_) != touch_pages_)
      die("ppool", "touch: alloc_pages_bulk failed");
    std::vector<std::uint32_t> order(touch_pages_);
    std::iota(order.begin(), order.end(), 0u);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
    auto line = [&](std::uint32_t i) {
      return static_cast<char*>(ppool::page_address(touched_[i])) + line_of(i);
    };
    for (std::size_t k = 0; k < touch_pages_; ++k)
      *reinterpret_cast<void**>(line(order[k])) = line(order[(k + 1) % touch_pages_]);
    cursor_ = line(order[0]);
    note_huge(allocator_->huge_backed_bytes());
  }

  void note_huge(std::size_t bytes) {
    huge_[static_cast<int>(workload_)] = static_cast<long long>(bytes);
  }

  ppool::IdentityDmaDevice identity_;
  ppool::bench::CountingSyncDevice sync_dev_;
  std::unique_ptr<ppool::PageAllocator> allocator_;  // outlives pool_
  ppool::PagePool* pool_ = nullptr;
  std::vector<ppool::PagePool*> pools_;  // a curve point's, pool_ among them
  ppool::bench::RemoteContext remote_;
  Workload workload_ = Workload::kFastPath;
  std::uint64_t syncs_at_open_ = 0;
  HugepageReservation hugepages_;
  std::size_t touch_pages_;
  std::vector<ppool::Page*> touched_;
  void* cursor_ = nullptr;
  long long huge_[kWorkloadCount];  // huge_backed_bytes() where read; -1 elsewhere
  bool skipped_[kWorkloadCount] = {};
  std::vector<std::string> notes_;
};

}  // namespace

std::unique_ptr<Impl> make_ppool(const PpoolOptions& options) {
  return std::make_unique<ImplOf<PpoolAdapter>>("ppool", options);
}

}  // namespace ppool_bench
