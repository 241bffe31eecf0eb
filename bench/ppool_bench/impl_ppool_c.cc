// ppool_c: ppool through its C API (<ppool.h>) alone, so that every alloc
// and put is a real call into libppool, as a C program's is: the cost of
// the binding against ppool's inline C++ fast path. The same pools as
// ppool's (a fresh one per measurement, DMA-mapping on the identity
// device, a ring of 4096), on the default allocator; the owner-side
// workloads, the ring path and the cycles. Run only when named in --only:
// a measurement of the C call, not a peer.
#include <ppool.h>

#include "impl.h"
#include "pool/remote_context.h"
#include "report.h"

namespace ppool_bench {
namespace {

constexpr unsigned kPoolSize = 4096;  // as ppool's adapter

class PpoolCAdapter {
 public:
  using Buf = ppool_page*;

  // The owner-only workloads, plus those with other threads and the slow path.
  bool runs(Workload w) const {
    return stack_runs(w) || w == Workload::kRingPath || w == Workload::kSlowPath ||
           w == Workload::kCrossCore;
  }

  bool open(Workload) {
    ppool_pool_params params;
    ppool_pool_params_init(&params);
    params.name = "ppool-bench c";
    params.pool_size = kPoolSize;
    params.flags = PPOOL_F_DMA_MAP;
    params.dev = ppool_dma_identity();
    if (ppool_pool_create(&params, &pool_) < 0) {
      warn("ppool_c: create: %s\n", ppool_last_error());
      return false;
    }
    return true;
  }

  bool close() {
    const std::uint32_t inflight = ppool_pool_destroy(pool_);
    pool_ = nullptr;
    if (inflight) warn("ppool_c: destroy: %u pages still in flight\n", inflight);
    return !inflight;
  }

  Buf alloc() {
    ppool_page* page = ppool_alloc_pages(pool_);
    if (__builtin_expect(!page, 0)) die("ppool_c", "ppool_alloc_pages failed");
    return page;
  }
  void alloc_bulk(Buf* pages, unsigned n) {
    if (__builtin_expect(ppool_alloc_pages_bulk(pool_, pages, n) != n, 0))
      die("ppool_c", "ppool_alloc_pages_bulk failed");
  }
  void recycle_direct(Buf page) { ppool_recycle_direct(pool_, page); }
  // Into the pool's ring, from another thread (RemoteContext), as ppool's.
  void put(Buf page) {
    remote_.run([&] { ppool_pool_put_full_page(pool_, page, false); });
  }
  void release(Buf page) {
    ppool_release_page(pool_, page);
    ppool_put_page(page);
  }
  void put_bulk(Buf* pages, unsigned n) { ppool_put_page_bulk(pages, n); }
  void remote_begin() {}
  void remote_end() {}
  void* data(Buf page) { return ppool_page_address(page); }

 private:
  ppool_pool* pool_ = nullptr;
  ppool::bench::RemoteContext remote_;
};

}  // namespace

std::unique_ptr<Impl> make_ppool_c() {
  return std::make_unique<ImplOf<PpoolCAdapter>>("ppool_c");
}

}  // namespace ppool_bench
