// The page pool's allocation past the inline cache pop: the owner check, the
// refill of the empty cache (from the ring, else from the page allocator in
// one bulk, mapped once), and the bulk allocation.
#include <algorithm>

#include "mem/zero.h"
#include "pool/pool_internal.h"

namespace ppool {

Page* PagePool::alloc_pages_slow() {
  if (PPOOL_UNLIKELY(!alloc_allowed())) return nullptr;
  Page* page = nullptr;
  if (PPOOL_LIKELY(refill_cache())) {
    // Counted by the refill (alloc_refill or alloc_slow), not as alloc_fast.
    page = cache_.pages[--cache_.count];
    detail::store_tag(page, tag_in_use());
  } else {
    detail::owner_add(alloc_failures_, 1);
  }
  if (wm_fd_ >= 0) watch_high_mark();
  return page;
}

// The cache is taken in runs: each page is marked in use as it is copied out,
// the descriptor write the single alloc makes too (it is what catches a put
// of a page that is already back). A refill's first page counts as that
// refill's (alloc_refill or alloc_slow), as in alloc_pages(), so the counters
// add up to the pages handed out either way.
std::size_t PagePool::alloc_pages_bulk(Page** out, std::size_t n) {
  if (PPOOL_UNLIKELY(!alloc_allowed())) return 0;
  std::size_t got = 0;
  while (got < n) {
    bool refilled = false;
    if (!cache_.count) {
      if (PPOOL_UNLIKELY(!refill_cache())) {
        detail::owner_add(alloc_failures_, 1);
        break;
      }
      refilled = true;
    }
    const std::uint32_t take =
        static_cast<std::uint32_t>(std::min<std::size_t>(n - got, cache_.count));
    Page** run = cache_.pages + (cache_.count - take);
    const std::uintptr_t tag = tag_in_use();
#pragma GCC unroll 4
    for (std::uint32_t i = 0; i < take; ++i) {
      Page* page = run[i];  // once: the tag store could alias run[] for the compiler
      detail::store_tag(page, tag);
      out[got + i] = page;
    }
    cache_.count -= take;
    got += take;
    detail::stat_add(owner_stats_.fast, take - refilled);
  }
  if (wm_fd_ >= 0) watch_high_mark();
  return got;
}

// Allocation is the owner's alone: two threads taking from the cache at once
// would hand out the same page twice. Checked where it costs nothing (every
// refill and slow path, every bulk; every allocation with PPOOL_DEBUG) with
// one compare: the owner's id is never 0, destroy sets it to kNoOwner, and a
// freed pool's memory reads 0, so only the owner of a live pool matches.
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

// Fills the empty cache: from the ring, else from the page allocator. False
// when neither had a page.
bool PagePool::refill_cache() {
  return refill_from_ring() || alloc_from_allocator();
}

// Takes up to a refill's worth from the ring straight into the cache; a page
// of another node than the pool's is released instead (alloc_waive), so the
// cache converges to local memory after the queue moves.
bool PagePool::refill_from_ring() {
  std::uint32_t n = static_cast<std::uint32_t>(ring_.consume_bulk(cache_.pages, kAllocCacheRefill));
  if (n == 0) {
    detail::stat_inc(owner_stats_.empty);
    return false;
  }
  for (std::uint32_t i = 0; i < n;) {
    Page* page = cache_.pages[i];
    if (PPOOL_LIKELY(page->nid == nid_)) {
      ++i;
      continue;
    }
    detail::stat_inc(owner_stats_.waive);
    cache_.pages[i] = cache_.pages[--n];
    return_page(page);
  }
  cache_.count = n;
  if (!n) return false;
  detail::stat_inc(owner_stats_.refill);
  return true;
}

// A bulk of order-0 pages (or one compound page), zeroed (kZeroPages) and
// mapped once: the cost the cache exists to amortise. max_inflight caps the
// bulk; at the limit the allocation is refused and counted.
bool PagePool::alloc_from_allocator() {
  const std::uint32_t room = allocator_room();
  if (PPOOL_UNLIKELY(!room)) {
    detail::owner_add(alloc_limited_, 1);
    return false;
  }
  Page* batch[kAllocCacheRefill];
  std::size_t n = 0;
  if (params_.order == 0) {
    n = allocator_->alloc_bulk(batch, room);
  } else if ((batch[0] = allocator_->alloc(params_.order))) {
    n = 1;
  }
  if (params_.flags & kZeroPages) zero_pages(batch, n);
  n = map_pages(batch, n);
  for (std::size_t i = 0; i < n; ++i) {
    detail::store_tag(batch[i], tag_recycled());
    cache_.pages[cache_.count++] = batch[i];
  }
  hold_.store(hold_.load(std::memory_order_relaxed) + static_cast<std::uint32_t>(n),
              std::memory_order_release);
  if (!n) return false;
  __atomic_store_n(&inflight_peak_, std::max(inflight_peak_, inflight()), __ATOMIC_RELAXED);
  if (params_.order)
    detail::stat_inc(owner_stats_.slow_high_order);
  else
    detail::stat_inc(owner_stats_.slow);
  return true;
}

// Clears fresh pages before anyone (the device included: the map's sync
// follows) sees them, in runs of adjacent pages: a bulk from the buddy
// allocator is mostly one run.
void PagePool::zero_pages(Page* const* pages, std::size_t n) {
  const std::size_t bytes = kPageSize << params_.order;
  for (std::size_t i = 0; i < n;) {
    char* start = static_cast<char*>(page_address(pages[i]));
    std::size_t run = bytes;
    for (++i; i < n && page_address(pages[i]) == start + run; ++i) run += bytes;
    detail::zero_pages(start, run);
  }
  detail::owner_add(pages_zeroed_, n);
}

}  // namespace ppool
