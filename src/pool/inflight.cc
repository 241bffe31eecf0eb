// The pool's in-flight accounting and the feedback built on it (the kernel
// documentation's "OOM protection at device level, as having a feedback-loop knows number of
// outstanding pages"): the max_inflight limit, the high/low watermarks and
// their eventfd, and the counters beyond the kernel's eleven. All of it runs
// on slow paths; the inline fast path never looks.
#include <unistd.h>

#include <algorithm>

#include "pool/pool_internal.h"

namespace ppool {

// Pages taken from the allocator and not given back (hold - release, in
// serial-number arithmetic: hold wraps after 2^32 pages).
std::uint32_t PagePool::inflight() const {
  std::int32_t n = static_cast<std::int32_t>(hold_.load(std::memory_order_acquire) -
                                             release_.load(std::memory_order_acquire));
  return n < 0 ? 0 : static_cast<std::uint32_t>(n);
}

// How many pages a refill may take from the allocator under max_inflight:
// a refill's worth when there is no limit. Owner only.
std::uint32_t PagePool::allocator_room() {
  const std::uint32_t limit = params_.max_inflight;
  if (!limit) return kAllocCacheRefill;
  const std::uint32_t out = inflight();
  return out >= limit ? 0 : std::min(limit - out, kAllocCacheRefill);
}

// The pages out with users: in flight, less those at home (the cache and the
// ring). A moment's estimate on another thread than the owner.
std::uint32_t PagePool::pages_out(std::uint32_t cache_count) const {
  const std::uint64_t ring = ring_.produced() - ring_.consumed();
  const std::uint64_t home = ring + cache_count;
  const std::uint32_t out = inflight();
  return home >= out ? 0 : out - static_cast<std::uint32_t>(home);
}

// One crossing, by whichever thread sees it first: the state flips once and
// the eventfd is written once per flip. True for the thread that flipped it.
bool PagePool::cross_watermark(bool above) {
  bool was = !above;
  if (!wm_above_.compare_exchange_strong(was, above, std::memory_order_acq_rel)) return false;
  const std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wm_fd_, &one, sizeof one);  // EAGAIN: already readable
  return true;
}

// At each refill (owner): the rise to the high mark, which also turns the
// owner's puts to the out-of-line path so that they watch the low mark; or,
// after another thread saw the fall, the inline fast put back on.
void PagePool::watch_high_mark() {
  wm_cache_seen_.store(cache_.count, std::memory_order_relaxed);
  if (wm_above_.load(std::memory_order_acquire)) return;
  if (pages_out(cache_.count) >= params_.inflight_high && cross_watermark(true)) {
    wm_owner_watch_ = true;
    direct_owner_.store(detail::kNoOwner, std::memory_order_relaxed);
    return;
  }
  if (wm_owner_watch_) {  // the fall was seen by another thread's put
    wm_owner_watch_ = false;
    set_owner(owner_.load(std::memory_order_relaxed));
  }
}

// An owner's put while it watches: the page is home already.
void PagePool::watch_low_mark_owner() {
  wm_cache_seen_.store(cache_.count, std::memory_order_relaxed);
  if (wm_above_.load(std::memory_order_acquire) && pages_out(cache_.count) > params_.inflight_low)
    return;
  cross_watermark(false);
  wm_owner_watch_ = false;
  set_owner(owner_.load(std::memory_order_relaxed));
}

// Another thread's put of `returning` pages while above the high mark,
// before they are produced (after that the pool may be freed under it): the
// owner's cache as it last published it stands in for the cache.
void PagePool::watch_low_mark_remote(std::uint32_t returning) {
  if (destroying_.load(std::memory_order_relaxed)) return;
  const std::uint32_t out = pages_out(wm_cache_seen_.load(std::memory_order_relaxed));
  if (out - std::min(out, returning) <= params_.inflight_low) cross_watermark(false);
}

PagePoolExtraStats PagePool::extra_stats() const {
  const std::uint64_t zeroed =
      detail::load_counter(pages_zeroed_) + released_zeroed_.load(std::memory_order_relaxed);
  return PagePoolExtraStats{detail::load_counter(alloc_limited_),
                            std::uint64_t{inflight()} * (kPageSize << params_.order),
                            __atomic_load_n(&inflight_peak_, __ATOMIC_RELAXED), zeroed};
}

std::string PagePoolExtraStats::to_json() const {
  return detail::format(
      "{\"alloc_limited\": %lu, \"inflight_mem\": %lu, \"inflight_peak\": %u, "
      "\"pages_zeroed\": %lu}",
      alloc_limited, inflight_mem, inflight_peak, pages_zeroed);
}

}  // namespace ppool
