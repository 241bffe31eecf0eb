// DPDK's rte_mempool (built when Debian's dpdk-dev is found with
// pkg-config): the shape of DPDK's test_mempool_perf. Two mempools of the
// default ring ops (ring_mp_mc): one with a per-lcore cache of 256 for every
// workload, and one with no cache for ring_path, where each get and put is a
// ring operation.

// GCC 12 sees rte_memcpy's 128-byte moves, inlined into a put_bulk of at most
// 16 pointers, as reads past the array: a false positive of the kind
// rte_memcpy.h itself silences for -Wstringop-overflow. Before any include,
// so that the headers' lines are covered.
#pragma GCC diagnostic ignored "-Warray-bounds"

#include <cstdio>
#include <vector>

#include "impl.h"
#include "report.h"

#ifdef PPOOL_HAVE_DPDK
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_version.h>
#endif

namespace ppool_bench {

#ifdef PPOOL_HAVE_DPDK
namespace {

constexpr unsigned kObjects = 16383;  // 2^n - 1: DPDK's advice for the ring
// The cycle_* workloads' pool: 64 Ki buffers in flight, a burst and every
// lcore's cache on top (512 MiB of 4 KiB objects).
constexpr unsigned kCycleObjects = 131071;
constexpr unsigned kCacheSize = 256;
// A curve point's mempool holds its pages in flight and this: a burst, the
// owner's cache up to its flush threshold (1.5 x 256) and a refill.
constexpr unsigned kCurveSlack = 1023;

rte_mempool* create(const char* name, unsigned objects, unsigned cache_size);

class DpdkAdapter {
 public:
  using Buf = void*;

  DpdkAdapter(rte_mempool* cached, rte_mempool* ring, rte_mempool* cycle)
      : cached_(cached), ring_(ring), cycle_(cycle) {}
  DpdkAdapter(const DpdkAdapter&) = delete;
  DpdkAdapter& operator=(const DpdkAdapter&) = delete;
  ~DpdkAdapter() {
    rte_mempool_free(cached_);
    rte_mempool_free(ring_);
    rte_mempool_free(cycle_);
    rte_eal_cleanup();
  }

  bool runs(Workload w) const {
    return !is_baseline(w) && !is_ppool_only(w) && w != Workload::kSlowPath && !is_sync_variant(w);
  }
  bool open(Workload w) {
    const bool cycle = w == Workload::kCycle4k || w == Workload::kCycle16k ||
                       w == Workload::kCycle64k || w == Workload::kCycle16kRemote;
    mp_ = w == Workload::kRingPath ? ring_ : cycle ? cycle_ : cached_;
    return true;
  }
  // A curve point: the cycles' mempool where it holds the point's pages,
  // else mempools made for the point (256 Ki in flight: 1 GiB of objects;
  // the pools axis: one per pool, each with its cache) and freed at close,
  // so that they do not hold the EAL's memory through the other points.
  bool runs(const CurvePoint&) const { return true; }
  bool open(const CurvePoint& p) {
    const unsigned pools = pools_of(p);
    const auto objects = static_cast<unsigned>(inflight_of(p) / pools + kCurveSlack);
    if (pools == 1 && objects <= kCycleObjects) {
      pools_ = {cycle_};
    } else {
      for (unsigned i = 0; i < pools; ++i) {
        char name[RTE_MEMPOOL_NAMESIZE];
        std::snprintf(name, sizeof name, "ppb_curve%u_%u", p.x, i);
        rte_mempool* mp = create(name, objects, kCacheSize);
        if (!mp) {
          warn("dpdk_mempool: %s of %u objects: %s\n", name, objects, rte_strerror(rte_errno));
          free_made();
          return false;
        }
        made_.push_back(mp);
      }
      pools_ = made_;
    }
    mp_ = pools_[0];
    return true;
  }
  void use_pool(unsigned i) { mp_ = pools_[i]; }

  // The available count includes every lcore's cache.
  bool close() {
    bool clean = true;
    if (pools_.empty()) pools_ = {mp_};
    for (rte_mempool* mp : pools_) {
      if (rte_mempool_full(mp)) continue;
      warn("dpdk_mempool: %s: %u of %u objects not returned\n", mp->name,
           mp->size - rte_mempool_avail_count(mp), mp->size);
      clean = false;
    }
    pools_.clear();
    free_made();
    return clean;
  }

  Buf alloc() {
    void* obj;
    if (__builtin_expect(rte_mempool_get(mp_, &obj) != 0, 0)) die("dpdk_mempool", "pool empty");
    return obj;
  }
  void alloc_bulk(Buf* objs, unsigned n) {
    if (__builtin_expect(rte_mempool_get_bulk(mp_, objs, n) != 0, 0))
      die("dpdk_mempool", "pool empty");
  }
  void recycle_direct(Buf obj) { rte_mempool_put(mp_, obj); }
  void put(Buf obj) { rte_mempool_put(mp_, obj); }
  [[noreturn]] void release(Buf) { die("dpdk_mempool", "has no page allocator path"); }
  void put_bulk(Buf* objs, unsigned n) { rte_mempool_put_bulk(mp_, objs, n); }
  // The consumer needs an lcore id to have a cache; it flushes the cache
  // before it goes, so the objects are back in the pool and the id is free.
  void remote_begin() {
    if (rte_lcore_id() == LCORE_ID_ANY && rte_thread_register() != 0)
      die("dpdk_mempool", "rte_thread_register failed");
  }
  void remote_end() {
    rte_mempool_cache_flush(rte_mempool_default_cache(mp_, rte_lcore_id()), mp_);
    rte_thread_unregister();
  }
  void* data(Buf obj) { return obj; }

 private:
  void free_made() {
    for (rte_mempool* mp : made_) rte_mempool_free(mp);
    made_.clear();
  }

  rte_mempool* cached_;
  rte_mempool* ring_;
  rte_mempool* cycle_;
  rte_mempool* mp_ = nullptr;
  std::vector<rte_mempool*> pools_;  // a curve point's, mp_ among them
  std::vector<rte_mempool*> made_;   // those of pools_ made for the point
};

// The EAL wants no hugepages, devices or shared config for a mempool. Its
// memory (-m, committed as it is used): the three mempools above, about
// 680 MiB, and a curve point's, 1.1 GiB at 256 Ki in flight.
bool eal_init() {
  const char* argv[] = {"ppool-bench", "--no-huge", "--no-pci",         "--no-shconf",
                        "-m",          "3072",      "--log-level=error"};
  return rte_eal_init(static_cast<int>(std::size(argv)), const_cast<char**>(argv)) >= 0;
}

rte_mempool* create(const char* name, unsigned objects, unsigned cache_size) {
  return rte_mempool_create(name, objects, kBufSize, cache_size, 0, nullptr, nullptr, nullptr,
                            nullptr, SOCKET_ID_ANY, 0);
}

std::unique_ptr<Impl> skip(const char* why) {
  std::printf("# %-12s skipped: %s\n", "dpdk_mempool", why);
  return nullptr;
}

}  // namespace

std::unique_ptr<Impl> make_dpdk_mempool() {
  if (!eal_init()) return skip("the EAL did not start (rte_eal_init failed)");
  rte_mempool* cached = create("ppb_cached", kObjects, kCacheSize);
  rte_mempool* ring = create("ppb_ring", kObjects, 0);
  rte_mempool* cycle = create("ppb_cycle", kCycleObjects, kCacheSize);
  if (!cached || !ring || !cycle) {
    const char* why = rte_strerror(rte_errno);
    rte_mempool_free(cached);
    rte_mempool_free(ring);
    rte_mempool_free(cycle);
    rte_eal_cleanup();
    return skip(why);
  }
  std::printf(
      "# %-12s %s; %u objects of %zu bytes (cycle_*: %u), ops %s, cache %u (ring_path: none)\n",
      "dpdk_mempool", rte_version(), kObjects, kBufSize, kCycleObjects,
      rte_mempool_get_ops(cached->ops_index)->name, kCacheSize);
  return std::make_unique<ImplOf<DpdkAdapter>>("dpdk_mempool", cached, ring, cycle);
}

#else

std::unique_ptr<Impl> make_dpdk_mempool() {
  std::printf("# %-12s skipped: built without DPDK (dpdk-dev not found by pkg-config)\n",
              "dpdk_mempool");
  return nullptr;
}

#endif

}  // namespace ppool_bench
