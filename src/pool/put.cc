// The page pool's put paths past the inline fast case: sync for the device,
// the cache (owner), the ring, bulk puts of mixed pools, and the generic
// put_page() of pool pages. A page that cannot be recycled leaves through
// the release path (return_page, release.cc).
#include <algorithm>

#include "pool/pool_internal.h"

namespace ppool {

using detail::pool_of_tag;

// Into the ring, else (full) released. After the produce the page may be
// consumed, and after destroy the pool freed: nothing of it is touched.
PPOOL_ALWAYS_INLINE void PagePool::recycle_in_ring(Page* page) {
  detail::store_tag(page, tag_recycled());
  if (PPOOL_LIKELY(ring_.produce(page))) return;
  ring_full_.fetch_add(1, std::memory_order_relaxed);
  return_page(page);
}

// The owner's put that is not the inline one: it syncs, its cache is full,
// or it watches the low watermark.
PPOOL_ALWAYS_INLINE void PagePool::put_page_owner(Page* page, std::uint32_t dma_sync_size) {
  if (sync_on_put_) sync_for_device_owner(page, dma_sync_size);
  if (PPOOL_LIKELY(cache_.count < kAllocCacheSize)) {
    recycle_in_cache(page);
  } else {
    detail::stat_inc(owner_stats_.cache_full);
    recycle_in_ring(page);
  }
  if (PPOOL_UNLIKELY(wm_owner_watch_)) watch_low_mark_owner();
}

// Every put but the inline fast case: sync for the device, then the cache
// (on the owner: napi-local), the ring, or the release path.
void PagePool::put_page_other(Page* page, std::uint32_t dma_sync_size) {
  if (PPOOL_UNLIKELY(!recyclable(page)) && !accept_put(page)) return;
  if (is_owner()) return put_page_owner(page, dma_sync_size);
  if (sync_on_put_) sync_for_device_remote(page, dma_sync_size);
  if (PPOOL_UNLIKELY(wm_above_.load(std::memory_order_relaxed))) watch_low_mark_remote(1);
  recycle_in_ring(page);
}

// The careful path of a put whose page failed the one-compare check, in the
// order that lets each check trust the ones before it: the pool is alive, the
// pointer is a page descriptor, a fragment's put drops its reference. True
// when the page is now whole, this pool's and held by nobody else: recycle
// it. Otherwise the put is done here: a fragment dropped, a shared page
// released, or a misuse reported.
bool PagePool::accept_put(Page* page) {
  if (PPOOL_UNLIKELY(!alive() || !detail::valid_descriptor(page))) {
    report_bad_put(page, 0);
    return false;
  }
  if (!drop_fragment(page)) return false;  // other fragments of the page are still out
  if (recyclable(page)) return true;
  put_page_slow(page);
  return false;
}

// A valid page of a live pool that cannot be recycled: shared (released), or
// a misuse (reported).
void PagePool::put_page_slow(Page* page) {
  std::uintptr_t tag = page->pp_tag;
  if (tag != tag_in_use()) return report_bad_put(page, tag);
  if (page->refcount.load(std::memory_order_acquire) == 0) {
    detail::report_misuse(detail::format("put of page %p to %s: it has no references",
                                         page_address(page), label().c_str()));
    return;
  }
  // Shared with other holders: the page leaves the pool and stays with them
  // (the kernel's released_refcnt path).
  released_refcnt_.fetch_add(1, std::memory_order_relaxed);
  return_page(page);
}

// The owner's run of whole pages of this pool, held by nobody else, copied
// into the cache as each is checked and marked, with the count in a
// register. Returns how many were taken: it stops at the first page that
// needs the careful path, or when the cache is full. It syncs nothing: only
// for a pool that does not sync on put (put_page_bulk's `run`).
std::size_t PagePool::recycle_run_in_cache(Page* const* pages, std::size_t n) {
  const std::uint32_t count = cache_.count;
  const std::size_t room = std::min<std::size_t>(n, kAllocCacheSize - count);
  const std::uintptr_t recycled = tag_recycled();
  Page** slots = cache_.pages + count;
  std::size_t i = 0;
#pragma GCC unroll 4
  for (; i < room; ++i) {
    Page* page = pages[i];
    if (!recyclable(page)) break;
    detail::store_tag(page, recycled);
    slots[i] = page;
  }
  cache_.count = count + static_cast<std::uint32_t>(i);
  detail::stat_add(owner_stats_.cached, i);
  return i;
}

// One ring reservation for the whole batch of pages already marked recycled
// (marked when accepted, so a page twice in one batch is caught); what does
// not fit is released afterwards, outside the reservation. After destroy the
// release worker is the ring's consumer and drains it at each retry.
void PagePool::recycle_bulk_in_ring(Page** pages, std::size_t n) {
  if (PPOOL_UNLIKELY(wm_above_.load(std::memory_order_relaxed)) && !is_owner())
    watch_low_mark_remote(static_cast<std::uint32_t>(n));
  std::size_t put = ring_.produce_bulk(pages, n);
  if (put == n) return;
  ring_full_.fetch_add(n - put, std::memory_order_relaxed);
  for (std::size_t i = put; i < n; ++i) return_page(pages[i]);
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
          detail::format("put_page of page %p: it is already back in %s (put twice)",
                         page_address(page), pool->label().c_str()));
      return;
    case detail::kTagFragments:
      return pool->put_full_page(page, false);
  }
  if (!detail::put_page_ref(page)) return;
  page->refcount.store(1, std::memory_order_relaxed);  // the pool's own reference again
  pool->put_full_page(page, false);
}

// Rounds over the array: the pages of the first page's pool go to its cache
// when the caller is that pool's owner (napi-local) and the cache has room,
// else to its ring in batches of 64; other pools' pages move to the front
// for the next round. A whole page of the round's pool held by nobody else
// (the common case) costs a tag compare, a refcount compare and two stores,
// in runs (recycle_run_in_cache) on the owner; the rest is sorted out on the
// careful path. A pool that syncs on put takes the per-page path for every
// page (its pool found from its tag and checked alive, accept_put when it is
// not whole and unshared), on any thread, and each is synced as
// put_full_page() syncs it.
void put_page_bulk(Page** pages, std::size_t count) {
  constexpr std::uintptr_t kNoFastTag = ~std::uintptr_t{0};  // state 3: matches no page
  while (count) {
    PagePool* pool = nullptr;
    std::uintptr_t fast_tag = kNoFastTag, recycled_tag = 0;
    bool direct = false;  // the round's pool is the caller's own: napi-local
    // Runs straight into the cache: napi-local, and nothing to sync (a pool
    // that syncs on put sends each page through the careful path, which
    // syncs it as the single put does). Decided once per round, so the loop
    // tests one flag, as it did before syncing pools were kept out.
    bool run = false;
    Page* batch[kAllocCacheRefill];
    std::size_t n = 0, deferred = 0;
    auto add = [&](Page* page) {
      if (direct && pool->cache_.count < kAllocCacheSize) return pool->recycle_in_cache(page);
      detail::store_tag(page, recycled_tag);
      batch[n++] = page;
      if (n < kAllocCacheRefill) return;
      pool->recycle_bulk_in_ring(batch, n);
      n = 0;
    };
    for (std::size_t i = 0; i < count; ++i) {
      if (run) {
        i += pool->recycle_run_in_cache(pages + i, count - i);
        if (i == count) break;
      }
      Page* page = pages[i];
      if (PPOOL_LIKELY(detail::load_tag(page) == fast_tag &&
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
        recycled_tag = pool->tag_recycled();
        direct = pool->is_owner();
        // A pool that syncs on put sends every page down the careful path.
        fast_tag = pool->sync_on_put_ ? kNoFastTag : pool->tag_in_use();
        run = direct && fast_tag != kNoFastTag;
      }
      if (home != pool) {
        pages[deferred++] = page;  // another pool's: the next round
        continue;
      }
      // A round's first page (the common case here) that is whole and held
      // by nobody else needs only the pool's liveness from accept_put.
      if (!(pool->recyclable(page) && pool->alive()) && !pool->accept_put(page)) continue;
      if (pool->sync_on_put_) {
        if (direct)
          pool->sync_for_device_owner(page, PagePool::kSyncFull);
        else
          pool->sync_for_device_remote(page, PagePool::kSyncFull);
      }
      add(page);
    }
    if (n) pool->recycle_bulk_in_ring(batch, n);
    if (direct && pool->wm_owner_watch_) pool->watch_low_mark_owner();
    count = deferred;
  }
}

}  // namespace ppool
