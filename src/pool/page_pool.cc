// The page pool's slow paths: creation, refill, the page allocator path with
// DMA mapping, the ring and release paths, misuse reports and destroy.
#include "ppool/page_pool.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>

#include "pool/release_worker.h"

namespace ppool {
namespace {

constexpr std::uint32_t kLiveMagic = 0x70706f6c;   // "ppol"
constexpr std::uint32_t kFreedMagic = 0x64656164;  // "dead"
constexpr std::uint64_t kNoOwner = ~std::uint64_t{0};
constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};

std::atomic<std::uint32_t> g_next_pool_id{1};
std::atomic<std::uint64_t> g_next_thread_id{1};

// Storage of freed pools, kept forever and reused (type-stable memory). The
// list itself is never destroyed, so the shells stay reachable at exit.
std::mutex g_shell_lock;
std::deque<void*>& shells() {
  static auto* list = new std::deque<void*>;
  return *list;
}

Error invalid(std::string message) {
  return Error{Errc::kInvalidArgument, "page_pool_create: " + std::move(message)};
}

// Each bad field gets its own message, checked in the kernel's order.
std::optional<Error> validate(const PagePoolParams& p) {
  using detail::format;
  if (p.flags & ~kPagePoolFlagsAll)
    return invalid(format("flags: unknown bits 0x%x", p.flags & ~kPagePoolFlagsAll));
  if (p.order > kMaxOrder)
    return invalid(format("order: %u exceeds the largest page order %u", p.order, kMaxOrder));
  if (p.pool_size == 0) return invalid("pool_size: must be at least 1");
  if (p.pool_size > kPoolSizeMax)
    return invalid(format("pool_size: %u exceeds the cap of %u", p.pool_size, kPoolSizeMax));
  if (p.nid != kNoNode && (p.nid < 0 || p.nid >= kMaxNodes))
    return invalid(format("nid: %d is neither a node (0..%d) nor kNoNode", p.nid, kMaxNodes - 1));
  if (p.name.empty() || p.name.size() > 31)
    return invalid(format("name: must be 1 to 31 characters, got %zu", p.name.size()));
  if (p.flags & kDmaMap) {
    if (!p.dev) return invalid("dev: kDmaMap needs a DMA device");
    if (p.dma_dir != DmaDirection::kFromDevice && p.dma_dir != DmaDirection::kBidirectional)
      return invalid(format("dma_dir: kDmaMap needs FROM_DEVICE or BIDIRECTIONAL, got %s",
                            to_string(p.dma_dir)));
  }
  if (p.flags & kDmaSyncDev) {
    if (!(p.flags & kDmaMap)) return invalid("flags: kDmaSyncDev needs kDmaMap");
    if (p.max_len == 0) return invalid("max_len: kDmaSyncDev needs max_len > 0");
  }
  if (std::uint64_t{p.offset} + p.max_len > (kPageSize << p.order))
    return invalid(format("offset + max_len: %u + %u exceed the %zu-byte page", p.offset, p.max_len,
                          kPageSize << p.order));
  return std::nullopt;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

PagePool* pool_of_tag(std::uintptr_t tag) {
  return reinterpret_cast<PagePool*>(tag & ~detail::kTagStateMask);
}

}  // namespace

namespace detail {
std::uint64_t assign_thread_id() {
  tls_thread_id = g_next_thread_id.fetch_add(1, std::memory_order_relaxed);
  return tls_thread_id;
}
}  // namespace detail

std::string PagePoolStats::to_json() const {
  return detail::format(
      "{\"alloc_fast\": %lu, \"alloc_slow\": %lu, \"alloc_slow_high_order\": %lu, "
      "\"alloc_empty\": %lu, \"alloc_refill\": %lu, \"alloc_waive\": %lu, "
      "\"recycle_cached\": %lu, \"recycle_cache_full\": %lu, \"recycle_ring\": %lu, "
      "\"recycle_ring_full\": %lu, \"recycle_released_refcnt\": %lu}",
      alloc.fast, alloc.slow, alloc.slow_high_order, alloc.empty, alloc.refill, alloc.waive,
      recycle.cached, recycle.cache_full, recycle.ring, recycle.ring_full, recycle.released_refcnt);
}

// ---- life cycle ----

Result<PagePool*> PagePool::create(const PagePoolParams& params) {
  if (auto error = validate(params)) return *error;
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
  set_owner(detail::current_thread_id());
}

// Trivially destructible members (magic_, id_, name_) stay readable in the
// shell; the atomic store cannot be dropped as a dead store.
PagePool::~PagePool() {
  magic_.store(kFreedMagic, std::memory_order_release);
}

void* PagePool::operator new(std::size_t bytes) {
  {
    std::lock_guard guard(g_shell_lock);
    if (!shells().empty()) {
      void* shell = shells().front();
      shells().pop_front();
      return shell;
    }
  }
  return ::operator new (bytes, std::align_val_t{kCacheLine});
}

void PagePool::operator delete(void* shell) {
  std::lock_guard guard(g_shell_lock);
  shells().push_back(shell);
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
  pool->unmap_all();
  pool->detach_time_ns_ = now_ns();
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
  if (Page* page = refill_from_ring()) return page;
  if (Page* page = alloc_from_allocator()) return page;
  ++alloc_failures_;
  return nullptr;
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

// Maps a bulk of fresh pages and records them with one lock acquisition;
// pages the device refuses go straight back to the allocator. The device
// calls run outside map_lock_, which guards only the record, so the owner
// never waits behind another thread's device work. Returns how many of
// pages[] (compacted to the front) are now the pool's.
std::size_t PagePool::map_pages(Page** pages, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    pages[i]->dma_slot = kNoSlot;
    pages[i]->pp_ref_count.store(1, std::memory_order_relaxed);
  }
  if (!(params_.flags & kDmaMap)) return n;
  std::size_t mapped = 0;
  for (std::size_t i = 0; i < n; ++i) {
    Page* page = pages[i];
    page->dma_addr = params_.dev->map(page_address(page), page_bytes(page), params_.dma_dir, name_);
    if (page->dma_addr == kDmaMappingError) {
      ppool::put_page(page);  // not yet the pool's: back to the allocator
      continue;
    }
    if (sync_on_put_) sync_for_device(page, kSyncFull);
    pages[mapped++] = page;
  }
  std::lock_guard guard(map_lock_);
  for (std::size_t i = 0; i < mapped; ++i) {
    pages[i]->dma_slot = static_cast<std::uint32_t>(mapped_.size());
    mapped_.push_back(pages[i]);
  }
  return mapped;
}

// Whoever removes the page from the record unmaps it: a page is never
// unmapped twice, whether its return races destroy or not.
void PagePool::unmap_page(Page* page) {
  if (!(params_.flags & kDmaMap)) return;
  {
    std::lock_guard guard(map_lock_);
    std::uint32_t slot = page->dma_slot;
    if (slot == kNoSlot) return;
    mapped_[slot] = mapped_.back();
    mapped_[slot]->dma_slot = slot;
    mapped_.pop_back();
    page->dma_slot = kNoSlot;
  }
  params_.dev->unmap(page->dma_addr, page_bytes(page), params_.dma_dir, name_);
}

void PagePool::unmap_all() {
  std::vector<Page*> pages;
  {
    std::lock_guard guard(map_lock_);
    pages.swap(mapped_);
    for (Page* page : pages) page->dma_slot = kNoSlot;
  }
  for (Page* page : pages)
    params_.dev->unmap(page->dma_addr, page_bytes(page), params_.dma_dir, name_);
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

// ---- put and release paths ----

// Every put but the inline fast case: sync for the device, then the cache
// (owner), the ring, or the release path.
void PagePool::put_page_other(Page* page, std::uint32_t dma_sync_size, bool allow_direct) {
  if (PPOOL_UNLIKELY(!recyclable(page))) {
    if (!drop_fragment(page)) return;  // other fragments of the page are still out
    if (!recyclable(page)) return put_page_slow(page);
  }
  if (sync_on_put_) sync_for_device(page, dma_sync_size);
  if (allow_direct && is_owner()) {
    if (PPOOL_LIKELY(cache_.count < kAllocCacheSize)) return recycle_in_cache(page);
    PPOOL_STAT_INC(owner_stats_.cache_full);
  }
  page->pp_tag = tag_recycled();
  if (PPOOL_LIKELY(ring_.produce(page))) return;
  ring_full_.fetch_add(1, std::memory_order_relaxed);
  return_page(page);
}

// A page that cannot be recycled: shared (released), or a misuse (reported).
void PagePool::put_page_slow(Page* page) {
  if (!detail::valid_descriptor(page)) {
    detail::report_misuse(detail::format("put of %p to pool %u '%s': not a page descriptor",
                                         static_cast<void*>(page), id_, name_));
    return;
  }
  std::uintptr_t tag = page->pp_tag;
  if (tag != tag_in_use() || magic_.load(std::memory_order_acquire) != kLiveMagic)
    return report_bad_put(page, tag);
  if (page->refcount.load(std::memory_order_acquire) == 0) {
    detail::report_misuse(detail::format("put of page %p to pool %u '%s': it has no references",
                                         page_address(page), id_, name_));
    return;
  }
  // Shared with other holders: the page leaves the pool and stays with them
  // (the kernel's released_refcnt path).
  released_refcnt_.fetch_add(1, std::memory_order_relaxed);
  return_page(page);
}

void PagePool::report_bad_put(const Page* page, std::uintptr_t tag) const {
  using detail::format;
  void* addr = page_address(page);
  std::string msg;
  if (magic_.load(std::memory_order_acquire) != kLiveMagic) {
    msg = format("put of page %p to pool %u '%s' after the pool was freed", addr, id_, name_);
  } else if (tag == tag_fragments()) {
    msg = format("page %p of pool %u '%s' is out in fragments: put each fragment, not the page",
                 addr, id_, name_);
  } else if (tag == tag_recycled()) {
    msg = format("page %p put twice to pool %u '%s': it is already back in the pool", addr, id_,
                 name_);
  } else if (tag == 0) {
    msg = format("put of page %p to pool %u '%s': %s", addr, id_, name_,
                 page->kind == detail::kHead ? "not a pool page (or already released)"
                                             : "the page is free (put after it was released)");
  } else {
    const PagePool* home = pool_of_tag(tag);
    msg = format("page %p belongs to pool %u '%s', put to pool %u '%s'", addr, home->id_,
                 home->name_, id_, name_);
  }
  detail::report_misuse(msg);
}

// One ring reservation for the whole batch of pages already marked recycled
// (marked when accepted, so a page twice in one batch is caught); what does
// not fit is released afterwards, outside the reservation. After destroy the
// release worker is the ring's consumer and drains it at each retry.
void PagePool::recycle_bulk_in_ring(Page** pages, std::size_t n) {
  std::size_t put = ring_.produce_bulk(pages, n);
  if (put == n) return;
  ring_full_.fetch_add(n - put, std::memory_order_relaxed);
  for (std::size_t i = put; i < n; ++i) return_page(pages[i]);
}

void PagePool::release_page(Page* page) {
  std::uintptr_t tag = page->pp_tag;
  if (tag != tag_in_use()) return report_bad_put(page, tag);
  release_accounted(page);
}

// Unmaps, clears the pool's mark and counts the release. The pool may be
// freed by the release worker as soon as release_ moves, so nothing of the
// pool is touched after it.
void PagePool::release_accounted(Page* page) {
  unmap_page(page);
  page->pp_tag = 0;
  bool destroying = destroying_.load(std::memory_order_acquire);
  release_.fetch_add(1, std::memory_order_release);
  if (destroying) detail::ReleaseWorker::instance().wake();
}

// The kernel's page_pool_return_page: released, then the pool's reference
// dropped, which frees the page unless others still hold it.
void PagePool::return_page(Page* page) {
  release_accounted(page);
  ppool::put_page(page);
}

// ppool::put_page() of a page a pool owns, from code that knows no pools: a
// fragment's put drops a fragment reference; a whole page drops a page
// reference, and the last one sends the page home through the ring (the
// context is unknown, so never directly).
void PagePool::generic_put(Page* page) {
  std::uintptr_t tag = page->pp_tag;
  PagePool* pool = pool_of_tag(tag);
  switch (tag & detail::kTagStateMask) {
    case detail::kTagRecycled:
      detail::report_misuse(
          detail::format("put_page of page %p: it is already back in pool %u '%s' (put twice)",
                         page_address(page), pool->id_, pool->name_));
      return;
    case detail::kTagFragments:
      return pool->put_full_page(page, false);
  }
  if (!detail::put_page_ref(page)) return;
  page->refcount.store(1, std::memory_order_relaxed);  // the pool's own reference again
  pool->put_full_page(page, false);
}

// Rounds over the array: the pages of the first page's pool go to its ring in
// batches of 64, other pools' pages move to the front for the next round. A
// whole page of the round's pool held by nobody else (the common case) costs
// a tag compare, a refcount compare and two stores; the rest is sorted out
// on the careful path.
void put_page_bulk(Page** pages, std::size_t count) {
  constexpr std::uintptr_t kNoFastTag = ~std::uintptr_t{0};  // state 3: matches no page
  while (count) {
    PagePool* pool = nullptr;
    std::uintptr_t fast_tag = kNoFastTag;
    Page* batch[kAllocCacheRefill];
    std::size_t n = 0, deferred = 0;
    auto add = [&](Page* page) {
      page->pp_tag = pool->tag_recycled();
      batch[n++] = page;
      if (n < kAllocCacheRefill) return;
      pool->recycle_bulk_in_ring(batch, n);
      n = 0;
    };
    for (std::size_t i = 0; i < count; ++i) {
      Page* page = pages[i];
      if (PPOOL_LIKELY(page->pp_tag == fast_tag &&
                       page->refcount.load(std::memory_order_acquire) == 1)) {
        add(page);
        continue;
      }
      PagePool* home = detail::valid_descriptor(page) ? pool_of_tag(page->pp_tag) : nullptr;
      if (!home) {
        detail::report_misuse(
            detail::format("put_page_bulk: %p is not a pool page", static_cast<void*>(page)));
        continue;
      }
      if (!pool) {
        pool = home;
        // A pool that syncs on put sends every page down the careful path.
        fast_tag = pool->sync_on_put_ ? kNoFastTag : pool->tag_in_use();
      }
      if (home != pool) {
        pages[deferred++] = page;  // another pool's: the next round
        continue;
      }
      if (!pool->drop_fragment(page)) continue;
      if (!pool->recyclable(page)) {
        pool->put_page_slow(page);
        continue;
      }
      if (pool->sync_on_put_) pool->sync_for_device(page, PagePool::kSyncFull);
      add(page);
    }
    if (n) pool->recycle_bulk_in_ring(batch, n);
    count = deferred;
  }
}

// ---- fragments ----

// False while other fragments of the page are still out; true for a whole
// page, or when this put dropped the last fragment (the page is whole again).
bool PagePool::drop_fragment(Page* page) {
  if (page->pp_tag != tag_fragments()) return true;
  if (unref_page(page, 1) != 0) return false;
  page->pp_tag = tag_in_use();
  return true;
}

Page* PagePool::alloc_frag(std::uint32_t size, std::uint32_t* offset) {
  const std::uint32_t max_size = static_cast<std::uint32_t>(kPageSize << params_.order);
  if (size == 0 || size > max_size) return nullptr;
  size = static_cast<std::uint32_t>((size + kCacheLine - 1) & ~(kCacheLine - 1));
  size = std::min(size, max_size);
  Page* page = frag_page_;
  if (page && frag_offset_ + size <= max_size) {
    *offset = frag_offset_;
    frag_offset_ += size;
    ++frag_users_;
    return page;
  }
  // The current page is full: drop the pool's remaining bias. If no
  // fragment is still out the page is reused at once, as a cache hit.
  if (page && (page = drain_frag(page))) {
    PPOOL_STAT_INC(owner_stats_.fast);
    PPOOL_STAT_INC(owner_stats_.cached);
  } else if (!(page = alloc_pages())) {
    frag_page_ = nullptr;
    return nullptr;
  }
  frag_page_ = page;
  frag_users_ = 1;
  frag_offset_ = size;
  *offset = 0;
  fragment_page(page, kFragBiasMax);
  return page;
}

// Drops the bias the pool still holds on its fragment page (all but the
// fragments handed out). Returns the page when that was the last reference
// and the page can serve again; otherwise the last fragment's put recycles
// it, or it is released here.
Page* PagePool::drain_frag(Page* page) {
  if (unref_page(page, kFragBiasMax - frag_users_) != 0) return nullptr;
  page->pp_tag = tag_in_use();
  if (PPOOL_LIKELY(page->refcount.load(std::memory_order_acquire) == 1)) {
    if (sync_on_put_) sync_for_device(page, kSyncFull);
    return page;
  }
  released_refcnt_.fetch_add(1, std::memory_order_relaxed);
  return_page(page);
  return nullptr;
}

// At destroy: the partly used page goes like any other once its fragments
// are back.
void PagePool::free_frag() {
  Page* page = frag_page_;
  frag_page_ = nullptr;
  if (!page || unref_page(page, kFragBiasMax - frag_users_) != 0) return;
  page->pp_tag = tag_in_use();
  return_page(page);
}

Page* PagePool::alloc(std::uint32_t* offset, std::uint32_t* size) {
  const std::uint32_t max_size = static_cast<std::uint32_t>(kPageSize << params_.order);
  if (*size * 2 > max_size) {
    *size = max_size;
    *offset = 0;
    return alloc_pages();
  }
  Page* page = alloc_frag(*size, offset);
  // No room for another fragment of this size: give this one the rest.
  if (page && frag_offset_ + *size > max_size) {
    *size = max_size - *offset;
    frag_offset_ = max_size;
  }
  return page;
}

void* PagePool::alloc_va(std::uint32_t* size) {
  std::uint32_t offset = 0;
  Page* page = alloc(&offset, size);
  return page ? static_cast<char*>(page_address(page)) + offset : nullptr;
}

void PagePool::free_va(void* va, bool allow_direct) {
  Page* page = page_of(va);
  if (PPOOL_UNLIKELY(!page)) {
    detail::report_misuse(
        detail::format("free_va of %p to pool %u '%s': not a page address", va, id_, name_));
    return;
  }
  put_page(page, kSyncFull, allow_direct);
}

PagePool* page_pool_of(const Page* page) {
  return pool_of_tag(page->pp_tag);
}

void fragment_page(Page* page, std::int64_t n) {
  page->pp_ref_count.store(n, std::memory_order_relaxed);
  if (page->pp_tag) page->pp_tag = (page->pp_tag & ~detail::kTagStateMask) | detail::kTagFragments;
}

// Reading first saves the atomic RMW for the common last reference.
std::int64_t unref_page(Page* page, std::int64_t n) {
  std::atomic<std::int64_t>& refs = page->pp_ref_count;
  if (refs.load(std::memory_order_acquire) == n) {
    refs.store(1, std::memory_order_relaxed);
    return 0;
  }
  std::int64_t left = refs.fetch_sub(n, std::memory_order_acq_rel) - n;
  if (PPOOL_UNLIKELY(left < 0)) {
    refs.fetch_add(n, std::memory_order_relaxed);
    detail::report_misuse(detail::format("unref_page of page %p by %ld: only %ld references",
                                         page_address(page), static_cast<long>(n),
                                         static_cast<long>(left + n)));
    return 1;
  }
  if (left == 0) refs.store(1, std::memory_order_relaxed);
  return left;
}

// Only a whole page's single holder changes the tag, so the write never
// races with another fragment holder's read.
void ref_page(Page* page) {
  page->pp_ref_count.fetch_add(1, std::memory_order_relaxed);
  if ((page->pp_tag & detail::kTagStateMask) == 0 && page->pp_tag)
    page->pp_tag |= detail::kTagFragments;
}

// ---- accounting ----

std::uint32_t PagePool::inflight() const {
  std::int32_t n = static_cast<std::int32_t>(hold_.load(std::memory_order_acquire) -
                                             release_.load(std::memory_order_acquire));
  return n < 0 ? 0 : static_cast<std::uint32_t>(n);
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
