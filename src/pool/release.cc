// The release path, in the order it runs: PagePool::destroy, the drain of
// the pool's own pages, a page's way out of the pool (now, or long after
// destroy), the pool's final free, and the release worker that waits for
// the pages still in flight and reports a stalled shutdown.
//
// The promise (PagePoolParams::dev, PagePool::destroy): after destroy
// returns the device may go away. No page is mapped, no thread is inside the
// device for this pool, and a page returned later is freed without touching
// the device. Where each part is kept:
// 1. The owner makes no more device calls: destroy takes the ownership away
//    first, so every later put is another thread's (the owner's unguarded
//    sync, sync_for_device_owner, is reached by nobody), and allocation,
//    which maps, is refused (alloc_allowed).
// 2. No other thread's sync is under way or to come: destroy marks the pool
//    destroying, then waits for the syncs announced before the mark; one
//    announced after it sees the mark and skips (remote_sync.h; the syncs
//    are sync_for_device_remote and dma_sync_for_cpu, page_pool.cc).
// 3. No page is mapped: destroy unmaps every recorded mapping at once, the
//    pages out with users included, and waits for holders' unmaps under way
//    (DmaRecord::unmap_all, dma_record.h, which states the record's rule:
//    exactly one party unmaps a page).
// 4. A page returned later touches no device: its sync is skipped (2) and
//    its unmap finds its mapping gone (DmaRecord::unmap). It comes back
//    through the ring, which the release worker drains, or, the ring full,
//    goes straight to the allocator (return_page, below).
// 5. A returning page's pointer to its pool stays good: the pool is freed
//    only when nothing is in flight (try_finish_release), and its storage
//    then reads as a dead pool (pool_storage.h), so a put through a stale
//    pointer is reported, not accepted.
// Cost: nothing on the fast paths; a put from another thread pays the
// announcement of (2) only when it syncs.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "mem/zero.h"
#include "pool/dma_record.h"
#include "pool/holder_scan.h"
#include "pool/pool_internal.h"
#include "pool/pool_storage.h"
#include "pool/release.h"
#include "pool/remote_sync.h"

namespace ppool {

using detail::kNoOwner;

// ---- destroy ----

std::uint32_t PagePool::destroy(PagePool* pool) {
  // A second destroy finds the pool dying (pending, its pages still out) or
  // freed (its memory reads as a dead pool, pool_storage.h): the first
  // destroy's work must not be redone on either.
  if (PPOOL_UNLIKELY(!pool->alive() || pool->destroying_.load(std::memory_order_acquire))) {
    detail::report_misuse(
        detail::format("destroy of %s: already destroyed", pool->label().c_str()));
    return 0;
  }
  pool->set_owner(kNoOwner);  // no more direct recycling
  pool->destroying_.store(true, std::memory_order_seq_cst);
  detail::wait_for_remote_syncs(pool);
  pool->free_frag();
  // Every mapping at once, in bulk (io_uring: a call per ring per 64 pages,
  // not per page), the cache's and the ring's pages too: their return to
  // the allocator in drain() then finds nothing left to unmap. It also waits
  // for other threads' unmaps under way, so that no call into the device is
  // left running when destroy returns.
  if (pool->dma_record_) pool->dma_record_->unmap_all();
  pool->drain();
  pool->detach_time_ns_.store(detail::now_ns(), std::memory_order_relaxed);
  pool->detach_realtime_ns_.store(detail::realtime_ns(), std::memory_order_relaxed);
  std::uint32_t inflight = pool->inflight();
  if (inflight == 0)
    delete pool;
  else
    detail::ReleaseWorker::instance().adopt(pool);
  return inflight;
}

// ---- the drain: the fragment page, the cache, the ring ----

// At destroy: the partly used page goes like any other once its fragments
// are back.
void PagePool::free_frag() {
  Page* page = frag_page_;
  frag_page_ = nullptr;
  if (!page || pp_ref_count_sub(page, detail::remaining_bias(page)) != 0) return;
  detail::store_tag(page, tag_in_use());
  return_page(page);
}

// Empties the cache (owner) and the ring (its consumer: the owner, or the
// release worker once the pool is destroyed) back to the allocator.
void PagePool::drain() {
  while (cache_.count) return_page(cache_.pages[--cache_.count]);
  Page* batch[kAllocCacheRefill];
  while (std::size_t n = ring_.consume_bulk(batch, kAllocCacheRefill))
    for (std::size_t i = 0; i < n; ++i) return_page(batch[i]);
}

// ---- a page leaves the pool ----

// The kernel's page_pool_return_page: released, then the pool's reference
// dropped, which frees the page unless others still hold it. A page leaving
// a zeroing pool of a shared region for the allocator is cleared first (not
// one that others still hold: their bytes are theirs): the region's other
// mapper never sees the bytes of the pool's last user in a free page.
void PagePool::return_page(Page* page) {
  if (zero_on_release_ && page->refcount.load(std::memory_order_acquire) == 1) {
    detail::zero_pages(page_address(page), page_bytes(page));
    released_zeroed_.fetch_add(1, std::memory_order_relaxed);
  }
  release_accounted(page);
  ppool::put_page(page);
}

// Unmaps, clears the pool's mark and counts the release. The pool may be
// freed by the release worker as soon as release_ moves, so nothing of the
// pool is touched after it.
void PagePool::release_accounted(Page* page) {
  unmap_page(page);
  detail::store_tag(page, 0);
  bool destroying = destroying_.load(std::memory_order_acquire);
  release_.fetch_add(1, std::memory_order_release);
  if (destroying) detail::ReleaseWorker::instance().wake();
}

void PagePool::unmap_page(Page* page) {
  if (dma_record_) dma_record_->unmap(page);
}

// The holder's own release: the page leaves the pool but stays with the
// caller.
void PagePool::release_page(Page* page) {
  if (PPOOL_UNLIKELY(!alive() || !detail::valid_descriptor(page))) return report_bad_put(page, 0);
  std::uintptr_t tag = page->pp_tag;
  if (tag != tag_in_use()) return report_bad_put(page, tag);
  release_accounted(page);
}

// ---- the final free ----

// Frees the pool when nothing is in flight. Thread context: destroy(), then
// the release worker.
bool PagePool::try_finish_release() {
  if (inflight() != 0) return false;
  delete this;
  return true;
}

PagePool::~PagePool() {
  detail::registry_remove(this);  // first: a report may be reading the pool
  if (wm_fd_ >= 0) ::close(wm_fd_);
  detail::pool_storage_retire(this, id_, name_);
  // Dead from here on, whatever becomes of the memory (pool_storage_free()
  // zeroes it, but a stale pointer's check must not depend on that): after
  // the retire, so a report through a stale pointer finds the tombstone.
  magic_.store(0, std::memory_order_release);
}

// ---- the release worker: destroyed pools with pages in flight ----

namespace detail {
namespace {

// How often a waiting pool is retried when nothing wakes the worker. The
// kernel waits a second; a page returned through the ring after destroy
// waits at most this long.
constexpr auto kRetryInterval = std::chrono::milliseconds(100);

}  // namespace

ReleaseWorker& ReleaseWorker::instance() {
  static ReleaseWorker* worker = new ReleaseWorker;  // never destroyed: see the class comment
  return *worker;
}

void ReleaseWorker::adopt(PagePool* pool) {
  std::lock_guard guard(lock_);
  pending_.push_back({pool, now_ns()});
  if (!started_) {
    started_ = true;
    std::thread([this] { run(); }).detach();
  }
  woken_.store(true, std::memory_order_relaxed);
  cv_.notify_one();
}

// Called from release paths that may run inside retry_all() (which holds
// lock_), so it takes no lock; a wake-up lost to that race costs at most one
// retry interval.
void ReleaseWorker::wake() {
  woken_.store(true, std::memory_order_relaxed);
  cv_.notify_one();
}

std::size_t ReleaseWorker::pending() {
  std::lock_guard guard(lock_);
  return pending_.size();
}

void ReleaseWorker::set_report_interval(double seconds) {
  std::lock_guard guard(lock_);
  report_interval_ns_ = static_cast<std::int64_t>(seconds * 1e9);
}

void ReleaseWorker::run() {
  std::unique_lock guard(lock_);
  for (;;) {
    cv_.wait_for(guard, kRetryInterval, [this] { return woken_.load(std::memory_order_relaxed); });
    woken_.store(false, std::memory_order_relaxed);
    retry_all(now_ns());
  }
}

// The worker is the ring's consumer once a pool is destroyed: it drains what
// came back, frees the pools with nothing in flight, and reports the others.
void ReleaseWorker::retry_all(std::int64_t now) {
  for (std::size_t i = 0; i < pending_.size();) {
    Pending& p = pending_[i];
    p.pool->drain();
    std::uint32_t inflight = p.pool->inflight();
    if (p.pool->try_finish_release()) {
      pending_[i] = pending_.back();
      pending_.pop_back();
      continue;
    }
    if (now - p.last_report_ns >= report_interval_ns_) {
      p.last_report_ns = now;
      const double since = (now - p.pool->detach_time_ns_.load(std::memory_order_relaxed)) / 1e9;
      std::string message =
          format("pool %u '%s' stalled shutdown: %u pages in flight %.0f s after destroy",
                 p.pool->id(), p.pool->name(), inflight, since);
      message += describe_top_holders(holders_of(*p.pool));
      log(LogLevel::kWarning, message);
    }
    ++i;
  }
}

}  // namespace detail

void set_stall_report_interval(double seconds) {
  detail::ReleaseWorker::instance().set_report_interval(seconds);
}

std::size_t pools_pending_release() {
  return detail::ReleaseWorker::instance().pending();
}

}  // namespace ppool
