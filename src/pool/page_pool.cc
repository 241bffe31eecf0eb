// The page pool's creation, its owner, DMA mapping and syncs, and the
// stats. Allocation is alloc.cc; the puts put.cc; destroy and the release
// path, to the pool's final free, release.cc; the in-flight accounting, its
// limit and watermarks inflight.cc.
#include "ppool/page_pool.h"

#include <sys/eventfd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "pool/dma_record.h"
#include "pool/pool_internal.h"
#include "pool/pool_storage.h"
#include "pool/remote_sync.h"

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
      params.allocator ? *params.allocator : PageAllocator::for_node(params.nid, params.backing);
  if (const Error* error = allocator.setup_error())
    return Error{error->code, "page_pool_create: allocator: " + error->message};
  auto* pool = new PagePool(params, allocator);
  if (params.inflight_high && pool->wm_fd_ < 0) {
    Error error{Errc::kOutOfMemory, detail::format("page_pool_create: inflight_high: eventfd: %s",
                                                   std::strerror(errno))};
    delete pool;
    return error;
  }
  detail::registry_add(pool);
  return pool;
}

PagePool::PagePool(const PagePoolParams& params, PageAllocator& allocator)
    : magic_(kLiveMagic),
      max_len_(params.max_len),
      sync_on_put_((params.flags & kDmaSyncDev) && params.dev->needs_sync()),
      dma_dir_(params.dma_dir),
      sync_for_cpu_((params.flags & kDmaMap) && params.dev->needs_sync()),
      dma_offset_(params.offset),
      dev_(params.dev),
      nid_(params.nid == kNoNode ? allocator.nid() : params.nid),
      allocator_(&allocator),
      ring_(params.pool_size),
      id_(g_next_pool_id.fetch_add(1, std::memory_order_relaxed)),
      params_(params),
      created_ns_(detail::realtime_ns()) {
  check_layout();
  std::snprintf(name_, sizeof name_, "%s", params.name.c_str());
  dev_caller_ = name_;
  if (params.dev) dev_name_ = params.dev->name();
  if (params.flags & kDmaMap)
    dma_record_ = std::make_unique<detail::DmaRecord>(*params.dev, params.dma_dir, name_);
  zero_on_release_ = (params.flags & kZeroPages) && allocator.region();
  if (params.inflight_high) wm_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  set_owner(detail::current_thread_id());
}

// The lines of page_pool.h's layout: a put from another thread reads only
// the read-mostly line and writes only the ring's and the remote counters'
// lines; the owner's lines are written by the owner alone.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"  // GCC and Clang lay out this class plainly
void PagePool::check_layout() {
  constexpr auto line = [](std::size_t offset) { return offset / kCacheLine; };
  static_assert(line(offsetof(PagePool, direct_owner_)) == line(offsetof(PagePool, dev_caller_)),
                "the read-mostly fields share one line");
  static_assert(offsetof(PagePool, dev_caller_) + sizeof(std::string_view) <=
                    offsetof(PagePool, owner_stats_),
                "the owner's counters start a line of their own");
  static_assert(sizeof(OwnerStats) <= kCacheLine, "the fast path's counters fit one line");
  static_assert(line(offsetof(PagePool, frag_offset_)) < line(offsetof(PagePool, ring_)),
                "the ring starts past the owner's lines");
  static_assert(offsetof(PagePool, release_) % kCacheLine == 0 &&
                    line(offsetof(PagePool, destroying_)) == line(offsetof(PagePool, release_)),
                "the remote counters share one line of their own");
  static_assert(line(offsetof(PagePool, destroying_)) < line(offsetof(PagePool, id_)),
                "the cold part starts a line of its own");
}
#pragma GCC diagnostic pop

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
  // Puts that sync, or that watch the low watermark, take the out-of-line path.
  direct_owner_.store(sync_on_put_ || wm_owner_watch_ ? kNoOwner : thread_id,
                      std::memory_order_relaxed);
}

void PagePool::nid_changed(int nid) {
  __atomic_store_n(&nid_, nid, __ATOMIC_RELAXED);  // reports read it from any thread
  if (!params_.allocator) allocator_ = &PageAllocator::for_node(nid, params_.backing);
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
    for (std::size_t i = 0; i < mapped; ++i) sync_for_device_owner(pages[i], kSyncFull);
  return mapped;
}

// Another thread's sync may race with destroy, which unmaps every page: it
// is announced (remote_sync.h) and skipped once destroy has begun; destroy
// waits for the announced ones. Nothing shared is written.
void PagePool::sync_for_device_remote(Page* page, std::uint32_t dma_sync_size) {
  detail::RemoteSyncScope announced(this);
  if (!announced.destroy_begun(destroying_)) sync_for_device_owner(page, dma_sync_size);
}

// As a put's sync: the owner's needs no guard; another thread's is announced
// (remote_sync.h) and skipped once destroy has begun, so that destroy never
// returns while it runs in the device. needs_sync() was asked at create:
// after destroy the device may be gone.
void PagePool::dma_sync_for_cpu(Page* page, std::uint32_t offset, std::uint32_t len) {
  if (!sync_for_cpu_) return;
  if (is_owner())
    return dev_->sync_for_cpu(page->dma_addr, dma_offset_ + offset, len, dma_dir_, dev_caller_);
  detail::RemoteSyncScope announced(this);
  if (!announced.destroy_begun(destroying_))
    dev_->sync_for_cpu(page->dma_addr, dma_offset_ + offset, len, dma_dir_, dev_caller_);
}

// ---- accounting ----

std::uint64_t PagePool::map_failures() const {
  return dma_record_ ? dma_record_->map_failures() : 0;
}

PagePoolStats PagePool::stats() const {
  PagePoolStats s{};
  const OwnerStats& o = owner_stats_;
  using detail::load_counter;
  s.alloc = {load_counter(o.fast),  load_counter(o.slow),   load_counter(o.slow_high_order),
             load_counter(o.empty), load_counter(o.refill), load_counter(o.waive)};
  s.recycle = {load_counter(o.cached), load_counter(o.cache_full), ring_.produced(),
               ring_full_.load(std::memory_order_relaxed),
               released_refcnt_.load(std::memory_order_relaxed)};
  return s;
}

}  // namespace ppool
