// The page pool's life cycle and allocation slow path: creation, the owner,
// refill from the ring, the page allocator path with DMA mapping, destroy,
// and the in-flight accounting.
#include "ppool/page_pool.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include "pool/dma_record.h"
#include "pool/pool_internal.h"
#include "pool/pool_storage.h"
#include "pool/release_worker.h"

namespace ppool {

using detail::kLiveMagic;
using detail::kNoOwner;

namespace {
std::atomic<std::uint32_t> g_next_pool_id{1};
std::atomic<std::uint64_t> g_next_thread_id{1};
}  // namespace

namespace detail {
std::uint64_t assign_thread_id() {
  tls_thread_id = g_next_thread_id.fetch_add(1, std::memory_order_relaxed);
  return tls_thread_id;
}
}  // namespace detail

// ---- life cycle ----

Result<PagePool*> PagePool::create(const PagePoolParams& params) {
  if (auto error = detail::validate_params(params)) return *error;
  static std::once_flag hook_installed;
  std::call_once(hook_installed, [] { detail::set_pool_page_put(&PagePool::generic_put); });
  PageAllocator& allocator =
      params.allocator ? *params.allocator : PageAllocator::for_node(params.nid);
  return new PagePool(params, allocator);
}

PagePool::PagePool(const PagePoolParams& params, PageAllocator& allocator)
    : max_len_(params.max_len),
      sync_on_put_((params.flags & kDmaSyncDev) && params.dev->needs_sync()),
      ring_(params.pool_size),
      magic_(kLiveMagic),
      id_(g_next_pool_id.fetch_add(1, std::memory_order_relaxed)),
      nid_(params.nid == kNoNode ? allocator.nid() : params.nid),
      params_(params),
      allocator_(&allocator) {
  std::snprintf(name_, sizeof name_, "%s", params.name.c_str());
  if (params.flags & kDmaMap)
    dma_record_ = std::make_unique<detail::DmaRecord>(*params.dev, params.dma_dir, name_);
  set_owner(detail::current_thread_id());
}

PagePool::~PagePool() {
  detail::pool_storage_retire(this, id_, name_);
}

void* PagePool::operator new(std::size_t bytes) {
  return detail::pool_storage_alloc(bytes);
}

void PagePool::operator delete(void* pool) {
  detail::pool_storage_free(pool);
}

bool PagePool::alive() const {
  return magic_.load(std::memory_order_acquire) == kLiveMagic;
}

void PagePool::bind_owner() {
  set_owner(detail::current_thread_id());
}

void PagePool::set_owner(std::uint64_t thread_id) {
  owner_.store(thread_id, std::memory_order_relaxed);
  direct_owner_.store(sync_on_put_ ? kNoOwner : thread_id, std::memory_order_relaxed);
}

void PagePool::nid_changed(int nid) {
  nid_ = nid;
  if (!params_.allocator) allocator_ = &PageAllocator::for_node(nid);
}

std::uint32_t PagePool::destroy(PagePool* pool) {
  pool->set_owner(kNoOwner);  // no more direct recycling
  pool->destroying_.store(true, std::memory_order_seq_cst);
  while (pool->syncing_.load(std::memory_order_acquire)) std::this_thread::yield();
  pool->free_frag();
  pool->drain();
  if (pool->dma_record_) pool->dma_record_->unmap_all();
  pool->detach_time_ns_ = detail::now_ns();
  std::uint32_t inflight = pool->inflight();
  if (inflight == 0)
    delete pool;
  else
    detail::ReleaseWorker::instance().adopt(pool);
  return inflight;
}

// Empties the cache (owner) and the ring (its consumer: the owner, or the
// release worker once the pool is destroyed) back to the allocator.
void PagePool::drain() {
  while (cache_.count) return_page(cache_.pages[--cache_.count]);
  Page* batch[kAllocCacheRefill];
  while (std::size_t n = ring_.consume_bulk(batch, kAllocCacheRefill))
    for (std::size_t i = 0; i < n; ++i) return_page(batch[i]);
}

// Frees the pool when nothing is in flight. Thread context: destroy(), then
// the release worker.
bool PagePool::try_finish_release() {
  if (inflight() != 0) return false;
  delete this;
  return true;
}

// ---- allocation slow path ----

Page* PagePool::alloc_pages_slow() {
  if (PPOOL_UNLIKELY(!alloc_allowed())) return nullptr;
  if (Page* page = refill_from_ring()) return page;
  if (Page* page = alloc_from_allocator()) return page;
  ++alloc_failures_;
  return nullptr;
}

// Allocation is the owner's alone: two threads taking from the cache at once
// would hand out the same page twice. Checked where it costs nothing (every
// refill and slow path; every allocation with PPOOL_DEBUG) with one compare:
// the owner's id is never 0, destroy sets it to kNoOwner, and a freed pool's
// memory reads 0, so only the owner of a live pool matches.
bool PagePool::alloc_allowed() {
  const std::uint64_t me = detail::tls_thread_id;
  if (PPOOL_LIKELY(me && me == owner_.load(std::memory_order_relaxed))) return true;
  report_bad_alloc();
  return false;
}

void PagePool::report_bad_alloc() const {
  const char* why = !alive() ? "after the pool was freed"
                    : destroying_.load(std::memory_order_relaxed)
                        ? "after destroy"
                        : "from a thread that is not its owner (bind_owner() hands a pool over)";
  detail::report_misuse("alloc on " + label() + " " + why);
}

// Takes up to a refill's worth from the ring; a page of another node than the
// pool's is released instead (alloc_waive), so the cache converges to local
// memory after the queue moves.
Page* PagePool::refill_from_ring() {
  // The cache is empty here: consume straight into it, then waive in place.
  std::uint32_t n = static_cast<std::uint32_t>(ring_.consume_bulk(cache_.pages, kAllocCacheRefill));
  if (n == 0) {
    PPOOL_STAT_INC(owner_stats_.empty);
    return nullptr;
  }
  for (std::uint32_t i = 0; i < n;) {
    Page* page = cache_.pages[i];
    if (PPOOL_LIKELY(page->nid == nid_)) {
      ++i;
      continue;
    }
    PPOOL_STAT_INC(owner_stats_.waive);
    cache_.pages[i] = cache_.pages[--n];
    return_page(page);
  }
  cache_.count = n;
  if (!n) return nullptr;
  PPOOL_STAT_INC(owner_stats_.refill);
  Page* page = cache_.pages[--cache_.count];
  page->pp_tag = tag_in_use();
  return page;
}

// A bulk of order-0 pages (or one compound page), mapped once: the cost the
// cache exists to amortise.
Page* PagePool::alloc_from_allocator() {
  Page* batch[kAllocCacheRefill];
  std::size_t n = 0;
  if (params_.order == 0) {
    n = allocator_->alloc_bulk(batch, kAllocCacheRefill);
  } else if ((batch[0] = allocator_->alloc(params_.order))) {
    n = 1;
  }
  n = map_pages(batch, n);
  for (std::size_t i = 0; i < n; ++i) {
    batch[i]->pp_tag = tag_recycled();
    cache_.pages[cache_.count++] = batch[i];
  }
  hold_.store(hold_.load(std::memory_order_relaxed) + static_cast<std::uint32_t>(n),
              std::memory_order_release);
  if (!cache_.count) return nullptr;
  if (params_.order)
    PPOOL_STAT_INC(owner_stats_.slow_high_order);
  else
    PPOOL_STAT_INC(owner_stats_.slow);
  Page* page = cache_.pages[--cache_.count];
  page->pp_tag = tag_in_use();
  return page;
}

// ---- DMA ----

// Readies a bulk of fresh pages and maps them (kDmaMap); pages the device
// refuses go straight back to the allocator and are counted. Returns how many
// of pages[] (compacted to the front) are now the pool's.
std::size_t PagePool::map_pages(Page** pages, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    pages[i]->pp_ref_count.store(1, std::memory_order_relaxed);
    pages[i]->pp_frag_handed.store(0, std::memory_order_relaxed);
  }
  if (!dma_record_) return n;
  const std::size_t mapped = dma_record_->map(pages, n);
  for (std::size_t i = mapped; i < n; ++i) ppool::put_page(pages[i]);  // not yet the pool's
  if (sync_on_put_)
    for (std::size_t i = 0; i < mapped; ++i) sync_for_device(pages[i], kSyncFull);
  return mapped;
}

void PagePool::unmap_page(Page* page) {
  if (dma_record_) dma_record_->unmap(page);
}

// Skipped once destroy has begun: the mapping may be gone.
void PagePool::sync_for_device(Page* page, std::uint32_t dma_sync_size) {
  syncing_.fetch_add(1, std::memory_order_seq_cst);
  if (!destroying_.load(std::memory_order_seq_cst))
    params_.dev->sync_for_device(page->dma_addr, params_.offset, std::min(dma_sync_size, max_len_),
                                 params_.dma_dir, name_);
  syncing_.fetch_sub(1, std::memory_order_release);
}

void PagePool::dma_sync_for_cpu(Page* page, std::uint32_t offset, std::uint32_t len) {
  if ((params_.flags & kDmaMap) && params_.dev->needs_sync())
    params_.dev->sync_for_cpu(page->dma_addr, params_.offset + offset, len, params_.dma_dir, name_);
}

// ---- accounting ----

std::uint32_t PagePool::inflight() const {
  std::int32_t n = static_cast<std::int32_t>(hold_.load(std::memory_order_acquire) -
                                             release_.load(std::memory_order_acquire));
  return n < 0 ? 0 : static_cast<std::uint32_t>(n);
}

std::uint64_t PagePool::map_failures() const {
  return dma_record_ ? dma_record_->map_failures() : 0;
}

PagePoolStats PagePool::stats() const {
  PagePoolStats s{};
  const OwnerStats& o = owner_stats_;
  s.alloc = {o.fast, o.slow, o.slow_high_order, o.empty, o.refill, o.waive};
  s.recycle = {o.cached, o.cache_full, ring_.produced(), ring_full_.load(std::memory_order_relaxed),
               released_refcnt_.load(std::memory_order_relaxed)};
  return s;
}

}  // namespace ppool
