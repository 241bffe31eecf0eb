// Fragments (the kernel documentation's "conserve memory" mode) with the kernel's bias
// scheme: the pool takes kFragBiasMax references on its current fragment
// page, hands out fragments without touching the count, and drops what it
// did not hand out when the page is full. A fragment's put drops one
// reference; the last recycles the page.
#include <algorithm>

#include "pool/pool_internal.h"

namespace ppool {

using detail::format;

// False while other fragments of the page are still out (or the put was one
// too many, reported); true for a whole page, or when this put dropped the
// last fragment (the page is whole again).
bool PagePool::drop_fragment(Page* page) {
  if (page->pp_tag != tag_fragments()) return true;
  if (PPOOL_UNLIKELY(fragment_put_twice(page))) return false;
  if (pp_ref_count_sub(page, 1) != 0) return false;
  detail::store_tag(page, tag_in_use());
  return true;
}

// While the pool holds its bias on the page, the references never fall
// below the bias minus the fragments handed out; a put that would take them
// below was a fragment put twice, and letting it through would leave the
// pool's own drop short, so the page never came home. Checked while the put
// still holds its reference: once dropped, the page may already be in its
// next life, its count of fragments restarted. The acquire load orders the
// puts counted in refs, and so their fragments' hand-overs, before the
// count's load. (Below half the bias the pool has dropped it: the count is
// exact, and pp_ref_count_sub() catches a put too many. A count of 0: a driver
// split the page itself, with its own count.)
bool PagePool::fragment_put_twice(const Page* page) const {
  const std::int64_t refs = page->pp_ref_count.load(std::memory_order_acquire);
  if (refs <= kFragBiasMax / 2) return false;
  const std::uint32_t handed = page->pp_frag_handed.load(std::memory_order_relaxed);
  if (handed == 0 || refs - 1 >= kFragBiasMax - handed) return false;
  detail::report_misuse(
      format("fragment of page %p put to %s more often than the %u fragments handed out of it (a "
             "fragment put twice)",
             page_address(page), label().c_str(), handed));
  return true;
}

Page* PagePool::alloc_frag(std::uint32_t size, std::uint32_t* offset) {
  const std::uint32_t max_size = static_cast<std::uint32_t>(kPageSize << params_.order);
  if (size == 0 || size > max_size) return nullptr;
  if (PPOOL_DEBUG && !alloc_allowed()) return nullptr;  // else checked when a page is needed
  size = static_cast<std::uint32_t>((size + kCacheLine - 1) & ~(kCacheLine - 1));
  size = std::min(size, max_size);
  Page* page = frag_page_;
  if (page && frag_offset_ + size <= max_size) {
    *offset = frag_offset_;
    frag_offset_ += size;
    // The owner alone writes the count; a plain increment, stored before the
    // fragment is handed over.
    page->pp_frag_handed.store(page->pp_frag_handed.load(std::memory_order_relaxed) + 1,
                               std::memory_order_relaxed);
    return page;
  }
  // The current page is full: drop the pool's remaining bias. If no
  // fragment is still out the page is reused at once, as a cache hit.
  if (page && (page = drain_frag(page))) {
    detail::stat_inc(owner_stats_.fast);
    detail::stat_inc(owner_stats_.cached);
  } else if (!(page = alloc_pages())) {
    frag_page_ = nullptr;
    return nullptr;
  }
  frag_page_ = page;
  frag_offset_ = size;
  *offset = 0;
  pp_ref_count_set(page, kFragBiasMax);
  page->pp_frag_handed.store(1, std::memory_order_relaxed);
  return page;
}

// Drops the pool's remaining bias. Returns the page when that was the last
// reference and the page can serve again; otherwise the last fragment's put
// recycles it, or it is released here.
Page* PagePool::drain_frag(Page* page) {
  if (pp_ref_count_sub(page, detail::remaining_bias(page)) != 0) return nullptr;
  detail::store_tag(page, tag_in_use());
  if (PPOOL_LIKELY(page->refcount.load(std::memory_order_acquire) == 1)) {
    if (sync_on_put_) sync_for_device_owner(page, kSyncFull);
    return page;
  }
  released_refcnt_.fetch_add(1, std::memory_order_relaxed);
  return_page(page);
  return nullptr;
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
    detail::report_misuse(format("free_va of %p to %s: not a page address", va, label().c_str()));
    return;
  }
  put_page(page, kSyncFull, allow_direct);
}

PagePool* page_pool_of(const Page* page) {
  return detail::pool_of_tag(page->pp_tag);
}

// A driver splitting the page itself: n references, none counted as the
// pool's own fragments.
void pp_ref_count_set(Page* page, std::int64_t n) {
  page->pp_ref_count.store(n, std::memory_order_relaxed);
  page->pp_frag_handed.store(0, std::memory_order_relaxed);
  if (page->pp_tag)
    detail::store_tag(page, (page->pp_tag & ~detail::kTagStateMask) | detail::kTagFragments);
}

// Reading first saves the atomic RMW for the common last reference.
std::int64_t pp_ref_count_sub(Page* page, std::int64_t n) {
  std::atomic<std::int64_t>& refs = page->pp_ref_count;
  if (refs.load(std::memory_order_acquire) == n) {
    refs.store(1, std::memory_order_relaxed);
    return 0;
  }
  std::int64_t left = refs.fetch_sub(n, std::memory_order_acq_rel) - n;
  if (PPOOL_UNLIKELY(left < 0)) {
    refs.fetch_add(n, std::memory_order_relaxed);
    const PagePool* pool = page_pool_of(page);
    detail::report_misuse(
        format("pp_ref_count_sub of page %p of %s by %ld: only %ld references", page_address(page),
               pool ? format("pool %u '%s'", pool->id(), pool->name()).c_str() : "no pool",
               static_cast<long>(n), static_cast<long>(left + n)));
    return 1;
  }
  if (left == 0) refs.store(1, std::memory_order_relaxed);
  return left;
}

// Only a whole page's single holder changes the tag, so the write never
// races with another fragment holder's read.
void pp_ref_count_inc(Page* page) {
  page->pp_ref_count.fetch_add(1, std::memory_order_relaxed);
  if ((page->pp_tag & detail::kTagStateMask) == 0 && page->pp_tag)
    detail::store_tag(page, page->pp_tag | detail::kTagFragments);
}

}  // namespace ppool
