// ppool's adapter: a fresh pool per measurement, DMA-mapping on an identity
// device, or on a device that needs syncs for fast_path_sync.
#include <cstdio>

#include "impl.h"
#include "pool/counting_sync_device.h"
#include "pool/remote_context.h"
#include "ppool/page_pool.h"
#include "report.h"

namespace ppool_bench {
namespace {

// Ring capacity: room for an RX ring's worth of returns (ws4096, cross_core).
constexpr unsigned kPoolSize = 4096;

class PpoolAdapter {
 public:
  using Buf = ppool::Page*;

  bool runs(Workload w) const { return !is_baseline(w); }

  bool open(Workload w) {
    ppool::PagePoolParams params;
    params.name = "ppool-bench";
    params.pool_size = kPoolSize;
    params.flags = ppool::kDmaMap;
    params.dev = &identity_;
    if (w == Workload::kFastPathSync) {
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
    workload_ = w;
    syncs_at_open_ = sync_dev_.syncs();
    return true;
  }

  bool close() {
    const std::uint32_t inflight = ppool::PagePool::destroy(pool_);
    pool_ = nullptr;
    if (inflight) {
      warn("ppool: destroy: %u pages still in flight\n", inflight);
      return false;
    }
    if (workload_ == Workload::kFastPathSync && sync_dev_.syncs() == syncs_at_open_) {
      warn("ppool: fast_path_sync: the pool never synced\n");
      return false;
    }
    return true;
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

 private:
  ppool::IdentityDmaDevice identity_;
  ppool::bench::CountingSyncDevice sync_dev_;
  ppool::PagePool* pool_ = nullptr;
  ppool::bench::RemoteContext remote_;
  Workload workload_ = Workload::kFastPath;
  std::uint64_t syncs_at_open_ = 0;
};

}  // namespace

std::unique_ptr<Impl> make_ppool() {
  return std::make_unique<ImplOf<PpoolAdapter>>("ppool");
}

}  // namespace ppool_bench
