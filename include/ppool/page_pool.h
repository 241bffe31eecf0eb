// ppool/page_pool.h - the page pool (layer pool): the kernel's page_pool.
//
// One pool per receive queue. Its owner thread (the queue's poller: the
// kernel's NAPI context) allocates from a 128-entry cache with no lock and no
// atomic RMW; pages come back into that cache when the owner recycles them
// directly, or through a lock-free MPSC ring when any other thread returns
// them. When both are empty the slow path takes pages from the page allocator
// in bulk and DMA-maps them once; they stay mapped while they cycle.
//
// Contexts: "owner only" functions must run on the thread the pool is bound
// to (the creating thread, or the caller of bind_owner()); "any thread"
// functions may run anywhere.
//
// Failures (ppool/base.h): create() returns a Result; the allocation paths
// are hot and return nullptr (or a short count), counted in
// alloc_failures() and the stats named at each, as the kernel's
// page_pool_alloc_pages() does; puts cannot fail, and a bad one is a
// reported misuse.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/ring.h"

// -DPPOOL_DEBUG=1 (CMake: -DPPOOL_DEBUG=ON) also checks on the inline fast
// path what the slow paths always check: that allocations run on the owner.
#ifndef PPOOL_DEBUG
#define PPOOL_DEBUG 0
#endif

namespace ppool {
namespace detail {
class DmaRecord;
class ReleaseWorker;
class PoolIntrospection;  // registry.cc: reads a pool for reports
// Page::pp_tag is the owning pool's address with the page's state in the low
// bits (pools are cache-line aligned): 0 out whole, or:
inline constexpr std::uintptr_t kTagRecycled = 1;   // in the cache or the ring
inline constexpr std::uintptr_t kTagFragments = 2;  // out in fragments (pp_ref_count)
inline constexpr std::uintptr_t kTagStateMask = 3;
}  // namespace detail

// Pool flags (the kernel's PP_FLAG_*).
enum PagePoolFlags : std::uint32_t {
  kDmaMap = 1u << 0,      // the pool maps pages when they enter, unmaps when they leave
  kDmaSyncDev = 1u << 1,  // the pool syncs [offset, +max_len) for the device on recycle
  // Pages are zeroed when they enter the pool from the page allocator (the
  // bulk slow path) and, from a shared region, when they leave it for the
  // allocator: never on alloc or recycle. A page another party can see never
  // carries a previous user's bytes.
  kZeroPages = 1u << 2,
};
inline constexpr std::uint32_t kPagePoolFlagsAll = kDmaMap | kDmaSyncDev | kZeroPages;

inline constexpr unsigned kAllocCacheSize = 128;   // PP_ALLOC_CACHE_SIZE
inline constexpr unsigned kAllocCacheRefill = 64;  // PP_ALLOC_CACHE_REFILL
inline constexpr unsigned kPoolSizeMax = 32768;    // the kernel's ptr_ring cap
inline constexpr int kMaxNodes = 64;

struct PagePoolParams {
  unsigned order = 0;         // 2^order pages per allocation
  unsigned pool_size = 1024;  // ring capacity
  int nid = kNoNode;          // preferred node; kNoNode: the creating CPU's node
  // Needed with kDmaMap. It must outlive the pool's mappings, and may go
  // away once destroy() returns: its name is copied at create for the
  // registry's reports, and no call into it is under way or to come.
  DmaDevice* dev = nullptr;
  DmaDirection dma_dir = DmaDirection::kFromDevice;
  std::uint32_t max_len = 0;  // bytes synced for the device on recycle
  std::uint32_t offset = 0;   // where in the page the device writes
  std::uint32_t flags = 0;    // PagePoolFlags
  std::string name = "pool";  // for reports and introspection, at most 31 characters
  unsigned queue = 0;         // the queue index, for introspection
  // The page allocator to draw from; nullptr: PageAllocator::for_node(nid,
  // backing). A shared region's allocator comes from PageAllocator::create().
  PageAllocator* allocator = nullptr;
  Backing backing = Backing::k4K;  // of the process-wide allocator (allocator == nullptr)
  // At most this many pages in flight (0: no limit): past it an allocation
  // that needs the page allocator gets nullptr and counts alloc_limited, so a
  // stuck consumer cannot eat the machine (io_uring zcrx answers ENOBUFS).
  std::uint32_t max_inflight = 0;
  // Pages out with users (in flight, not home in the cache or the ring):
  // watermark_fd() becomes readable when they rise to inflight_high and again
  // when they fall to inflight_low (0, 0: no watermarks; else low < high).
  std::uint32_t inflight_high = 0;
  std::uint32_t inflight_low = 0;
};

// The kernel's page_pool stats, under exactly its names.
struct PagePoolStats {
  struct {
    std::uint64_t fast, slow, slow_high_order, empty, refill, waive;
  } alloc;
  struct {
    std::uint64_t cached, cache_full, ring, ring_full, released_refcnt;
  } recycle;
  // {"alloc_fast": N, ..., "recycle_released_refcnt": N}
  std::string to_json() const;
};

// What ppool counts beyond the kernel's eleven (whose names stay exactly the
// kernel's): the in-flight limit and the memory in flight.
struct PagePoolExtraStats {
  std::uint64_t alloc_limited;  // allocations refused at max_inflight
  std::uint64_t inflight_mem;   // bytes in flight now (inflight pages x page size)
  std::uint32_t inflight_peak;  // the most pages in flight at once
  std::uint64_t pages_zeroed;   // pages cleared (kZeroPages), on entry and on release
  // {"alloc_limited": N, "inflight_mem": N, "inflight_peak": N, "pages_zeroed": N}
  std::string to_json() const;
};

class PagePool {
 public:
  // Validates params and builds the pool, bound to the calling thread.
  // Thread context: any thread.
  // @return the pool (freed with destroy()), or an Error; nothing was built
  //   then (no half-built pool, no registry entry, no page taken):
  //   - kInvalidArgument: the first bad field in the kernel's order
  //     (page_pool_init), named ("page_pool_create: pool_size: ...");
  //   - the allocator's own code (kUnsupported: its huge pages are short)
  //     when the process-wide allocator for params.nid and params.backing
  //     refuses every allocation (PageAllocator::setup_error());
  //   - kOutOfMemory: inflight_high asked for and no eventfd could be had.
  [[nodiscard]] static Result<PagePool*> create(const PagePoolParams& params);

  // Stops direct recycling, drains the cache and the ring, unmaps every page
  // still mapped, waits for other threads' device calls under way for this
  // pool (a sync, a returning page's unmap), so the device may go away once it
  // returns, and frees the pool once no page is in flight; until then a
  // process-wide release worker retries and reports a stalled shutdown every
  // stall report interval (the registry still lists it, with the device's name
  // as copied at create). Pages returned later are freed to the allocator. A
  // second destroy of the same pool, pending or freed, is a misuse: reported
  // ("destroy of pool N 'x': already destroyed"), and it returns 0 without
  // touching anything. Thread context: owner only.
  // @return the pages still in flight (0: the pool is already freed).
  //   Cannot fail: a stalled shutdown is reported, not returned.
  static std::uint32_t destroy(PagePool* pool);

  // A page of 2^order pages with refcount 1, DMA-mapped and synced for the
  // device if the flags say so. Hot path: no Error is built. Thread context:
  // owner only.
  // @return the page, or nullptr (the pool keeps working when memory comes
  //   back), counted in alloc_failures(), when:
  //   - the ring is empty and the page allocator is out of memory;
  //   - max_inflight pages are out (also extra_stats().alloc_limited);
  //   - the device refused the refill's first mapping (also map_failures());
  //   and nullptr, reported as a misuse and not counted, when called from
  //   another thread or after destroy (seen whenever it reaches the slow
  //   path, and on every call with PPOOL_DEBUG).
  [[nodiscard]] Page* alloc_pages();
  // Up to n pages into out[] (the kernel's page_pool_alloc_netmems bulk,
  // DPDK's rte_mempool_get_bulk), each as alloc_pages() would give it: runs
  // copied out of the cache, the empty cache refilled from the ring in one
  // bulk consume, else from the page allocator in one bulk, mapped at once.
  // Thread context: owner only (checked on every call).
  // @return how many pages are in out[0, result): fewer than n when a refill
  //   fails as alloc_pages()'s does (counted once in alloc_failures(), with
  //   the same stats); 0, reported as a misuse and not counted, from another
  //   thread or after destroy.
  [[nodiscard]] std::size_t alloc_pages_bulk(Page** out, std::size_t n);

  // Gives a page back. With refcount 1 it is synced for the device
  // (min(dma_sync_size, max_len) bytes, kDmaSyncDev only) and recycled: into
  // the cache when the caller is the owner (whatever allow_direct says: the
  // kernel's page_pool_napi_local upgrade), else into the ring, else (ring
  // full) released to the allocator. With refcount > 1 it is released
  // (unmapped, no longer counted in flight) and stays with its other
  // holders. A page out in fragments drops one fragment reference, and the
  // last one recycles it. A page that is not this pool's, or is already
  // back, is reported. Thread context: any thread (allow_direct, the
  // kernel's promise of the pool's context, is checked, not trusted: from
  // another thread the page goes through the ring). Cannot fail: a full ring
  // releases the page (stats().recycle.ring_full), and a bad put is a
  // reported misuse that leaves the page as it was.
  void put_page(Page* page, std::uint32_t dma_sync_size, bool allow_direct);
  // put_page() syncing the whole max_len (the kernel passes -1 too: the
  // size is clamped to max_len). Thread context: any thread.
  void put_full_page(Page* page, bool allow_direct) { put_page(page, kSyncFull, allow_direct); }
  // put_full_page() into the cache. Thread context: owner only.
  void recycle_direct(Page* page) { put_page(page, kSyncFull, true); }

  // Unmaps the page and stops counting it in flight: it becomes a normal page
  // that the caller still holds, freed by its last put_page(). Thread context:
  // any thread. Cannot fail.
  void release_page(Page* page);

  // ---- fragments (the kernel documentation's "conserve memory" mode) ----

  // A fragment of size bytes (rounded up to a cache line) of the pool's
  // current page, at *offset; a fresh page when the current one is full.
  // The page is recycled once every fragment is put, never before. Thread
  // context: owner only.
  // @return the fragment's page, or nullptr: when size is 0 or exceeds the
  //   page (not counted: the caller's bug), or when a fresh page is needed
  //   and alloc_pages() returns nullptr (counted as there).
  [[nodiscard]] Page* alloc_frag(std::uint32_t size, std::uint32_t* offset);
  // A whole page when *size * 2 exceeds the page, else a fragment; the last
  // fragment that fits is extended to the page's end (*size grows) so the
  // page's memory is accounted to its users. Thread context: owner only.
  // @return the page, or nullptr as alloc_pages() or alloc_frag() returns it.
  [[nodiscard]] Page* alloc(std::uint32_t* offset, std::uint32_t* size);
  // alloc() returning the fragment's address; free_va() puts it back.
  // Thread context: owner only / any thread (allow_direct: owner only).
  // @return the address, or nullptr as alloc() returns it.
  [[nodiscard]] void* alloc_va(std::uint32_t* size);
  void free_va(void* va, bool allow_direct);

  [[nodiscard]] DmaAddr get_dma_addr(const Page* page) const { return page->dma_addr; }
  [[nodiscard]] DmaDirection get_dma_dir() const { return params_.dma_dir; }
  // Hands [offset + params.offset, +len) of the page back to the CPU.
  // Nothing once the pool's destroy has begun (the page is unmapped, and the
  // device may be gone). Thread context: any thread holding the page (from
  // another thread than the owner it is announced to destroy, as a remote
  // put's sync is: two stores to the thread's own line).
  void dma_sync_for_cpu(Page* page, std::uint32_t offset, std::uint32_t len);

  // Makes the calling thread the owner. The previous owner must have stopped
  // using the pool (a hand-over, not a share). Thread context: the new owner.
  void bind_owner();
  // The queue moved to another node: pages of the old node are released as
  // they come back through the ring (alloc_waive). Thread context: owner only.
  void nid_changed(int nid);

  // The counters. Thread context: any thread. The owner's counters are read
  // as they stand (detail::owner_add): from another thread slightly stale,
  // never torn; exact once the owner stopped (after a join, say).
  [[nodiscard]] PagePoolStats stats() const;
  // Pages taken from the page allocator and not given back (the kernel's
  // hold - release): in the cache, in the ring, or out with users. Thread
  // context: any thread.
  [[nodiscard]] std::uint32_t inflight() const;
  // alloc_limited, inflight_mem, inflight_peak, pages_zeroed. Thread
  // context: as stats().
  [[nodiscard]] PagePoolExtraStats extra_stats() const;
  // Allocations that returned nullptr (alloc_limited ones included). Thread
  // context: as stats().
  [[nodiscard]] std::uint64_t alloc_failures() const {
    return detail::load_counter(alloc_failures_);
  }

  // ---- backpressure (params.inflight_high / inflight_low) ----

  // An eventfd (non-blocking) that becomes readable when the pages out with
  // users rise to inflight_high and again when they fall to inflight_low: poll
  // it, read it (which clears it), then ask above_high_watermark(). -1 without
  // watermarks (the pool has none; not an error). The rise is noticed at the
  // owner's next slow path (a refill: within a cache's worth of pages); the
  // fall at the put that makes it, on any thread. While above the high mark
  // the owner's puts take the out-of-line path, which watches the low mark;
  // another thread's put judges the owner's cache as the owner last left a
  // slow path (pages it allocated since count as home), exact when the owner
  // stopped allocating at the rise, as a driver does. The inline fast paths
  // never look. Thread context: any thread.
  [[nodiscard]] int watermark_fd() const { return wm_fd_; }
  [[nodiscard]] bool above_high_watermark() const {
    return wm_above_.load(std::memory_order_acquire);
  }
  // Maps the DMA device refused. A refusal ends that bulk refill (the
  // pages mapped before it serve; the rest go back to the allocator), and
  // when it was the bulk's first page the allocation fails (alloc_failures).
  // Thread context: any thread.
  [[nodiscard]] std::uint64_t map_failures() const;

  [[nodiscard]] const PagePoolParams& params() const { return params_; }
  [[nodiscard]] std::uint32_t id() const { return id_; }
  [[nodiscard]] const char* name() const { return name_; }
  [[nodiscard]] int nid() const { return nid_; }

 private:
  explicit PagePool(const PagePoolParams& params, PageAllocator& allocator);
  ~PagePool();
  // Pool objects live in their own storage (pool_storage.h): a freed pool's
  // address reads as a dead pool and is not given to the next pools, so a
  // put through a stale pool pointer is reported, not accepted by another.
  static void* operator new(std::size_t bytes);
  static void operator delete(void* pool);

  // pp_tag values: the pool's address with the state in bit 0.
  std::uintptr_t tag_in_use() const { return reinterpret_cast<std::uintptr_t>(this); }
  std::uintptr_t tag_recycled() const { return tag_in_use() | detail::kTagRecycled; }
  std::uintptr_t tag_fragments() const { return tag_in_use() | detail::kTagFragments; }
  bool is_owner() const;
  bool alive() const;
  static void check_layout();
  void set_owner(std::uint64_t thread_id);
  std::string label() const;

  PPOOL_NOINLINE Page* alloc_pages_slow();
  bool alloc_allowed();
  PPOOL_COLD void report_bad_alloc() const;
  bool refill_cache();
  bool refill_from_ring();
  bool alloc_from_allocator();
  std::uint32_t allocator_room();
  std::uint32_t pages_out(std::uint32_t at_home) const;
  void watch_high_mark();
  void watch_low_mark_owner();
  void watch_low_mark_remote(std::uint32_t returning);
  bool cross_watermark(bool above);
  void zero_pages(Page* const* pages, std::size_t n);
  std::size_t map_pages(Page** pages, std::size_t n);
  void unmap_page(Page* page);
  inline void sync_for_device_owner(Page* page, std::uint32_t dma_sync_size);  // pool_internal.h
  void sync_for_device_remote(Page* page, std::uint32_t dma_sync_size);
  void recycle_in_cache(Page* page);
  PPOOL_NOINLINE void put_page_other(Page* page, std::uint32_t dma_sync_size);
  void put_page_owner(Page* page, std::uint32_t dma_sync_size);
  void recycle_in_ring(Page* page);
  bool accept_put(Page* page);
  void put_page_slow(Page* page);
  std::size_t recycle_run_in_cache(Page* const* pages, std::size_t n);
  void recycle_bulk_in_ring(Page** pages, std::size_t n);
  void release_accounted(Page* page);
  void return_page(Page* page);
  bool recyclable(const Page* page) const;
  void report_bad_put(const Page* page, std::uintptr_t tag) const;
  void drain();
  bool try_finish_release();
  bool drop_fragment(Page* page);
  bool fragment_put_twice(const Page* page) const;
  Page* drain_frag(Page* page);
  void free_frag();
  static void generic_put(Page* page);

  friend void put_page_bulk(Page** pages, std::size_t count);
  friend class detail::ReleaseWorker;
  friend class detail::PoolIntrospection;

  // The layout follows the cores that touch each line (the kernel's struct
  // page_pool does the same): a put from another thread reads the first
  // line and writes the remote lines, never a line the owner keeps dirty.
  // page_pool.cc static_asserts the boundaries.

  // ---- read-mostly: every put reads it, from any thread; written only by
  // create, bind_owner and destroy ----
  // The owner while the pool needs no sync on put, else no thread: the one
  // compare the inline put needs to take the fast case.
  alignas(kCacheLine) std::atomic<std::uint64_t> direct_owner_{0};
  std::atomic<std::uint64_t> owner_{0};
  std::atomic<std::uint32_t> magic_;
  static constexpr std::uint32_t kSyncFull = ~std::uint32_t{0};
  std::uint32_t max_len_;
  bool sync_on_put_;  // kDmaSyncDev and the device needs syncs
  // Above the high watermark: remote puts check the low mark before they
  // produce (written at the crossings only).
  std::atomic<bool> wm_above_{false};
  DmaDirection dma_dir_;
  bool sync_for_cpu_;         // kDmaMap and the device needs syncs (asked once, at create)
  std::uint32_t dma_offset_;  // params.offset: where syncs start
  DmaDevice* dev_;
  std::string_view dev_caller_;  // name_, as the device's reports name the pool

  // ---- the owner's lines: the fast path's counters, then the alloc cache ----
  struct OwnerStats {
    std::uint64_t fast = 0, slow = 0, slow_high_order = 0, empty = 0, refill = 0, waive = 0;
    std::uint64_t cached = 0, cache_full = 0;
  };
  alignas(kCacheLine) OwnerStats owner_stats_;
  struct alignas(kCacheLine) AllocCache {
    std::uint32_t count = 0;
    Page* pages[kAllocCacheSize];
  } cache_;
  std::atomic<std::uint32_t> hold_{0};  // written by the owner only (no RMW)
  int nid_;
  PageAllocator* allocator_;
  std::uint64_t alloc_failures_ = 0;
  std::uint64_t alloc_limited_ = 0;
  std::uint64_t pages_zeroed_ = 0;  // on entry (the owner's); releases count apart
  std::uint32_t inflight_peak_ = 0;
  // The owner's puts take the out-of-line path, which watches the low mark
  // (set with direct_owner_ cleared while above the high mark).
  bool wm_owner_watch_ = false;
  // The page being cut into fragments and the next free offset in it (the
  // fragments handed out of it are counted in the page: pp_frag_handed).
  Page* frag_page_ = nullptr;
  std::uint32_t frag_offset_ = 0;

  // ---- written by other threads: the ring (its own lines for the
  // producers, the consumer and its read-only part), then the counters of
  // remote puts and releases ----
  MpscRing<Page*> ring_;
  alignas(kCacheLine) std::atomic<std::uint32_t> release_{0};
  std::atomic<std::uint64_t> ring_full_{0};
  std::atomic<std::uint64_t> released_refcnt_{0};
  std::atomic<bool> destroying_{false};
  // The owner's cache count at its last look, for a remote put's estimate
  // of the pages out (the cache itself is the owner's alone).
  std::atomic<std::uint32_t> wm_cache_seen_{0};
  std::atomic<std::uint64_t> released_zeroed_{0};

  // ---- cold ----
  alignas(kCacheLine) std::uint32_t id_;
  char name_[32];
  PagePoolParams params_;
  // The DMA device's name, copied at create: the registry describes a
  // destroyed pool still waiting for pages (the stalled shutdown it exists to
  // diagnose) after its device may have gone away.
  std::string dev_name_;
  // The pool's own record of its mappings (kDmaMap only), so destroy can
  // unmap pages still in flight. Touched on map/unmap only.
  std::unique_ptr<detail::DmaRecord> dma_record_;
  std::int64_t created_ns_;  // CLOCK_REALTIME
  // destroy()'s time: steady (the stall reports' clock), realtime (reports).
  std::atomic<std::int64_t> detach_time_ns_{0};
  std::atomic<std::int64_t> detach_realtime_ns_{0};
  int wm_fd_ = -1;                // the watermark eventfd, or -1
  bool zero_on_release_ = false;  // kZeroPages on a shared region's allocator
};

// Puts many pages, possibly of different pools (the kernel's
// page_pool_put_page_bulk / put_netmem_bulk): one ring reservation per pool
// per batch of up to 64; pages that do not fit are released afterwards. The
// array is reordered (the caller must not use it afterwards).
// Thread context: any thread. Cannot fail; a bad page is a reported misuse,
// as put_page()'s.
void put_page_bulk(Page** pages, std::size_t count);

// The pool that owns a page. Thread context: any thread holding the page.
// @return the pool, or nullptr for a page no pool owns (not an error).
PagePool* page_pool_of(const Page* page);

// Fragment references: the page's pp_ref_count (the kernel's, with its bias
// scheme), not its refcount (get_page()/put_page(), ppool/page.h). A pool
// page starts with one; a driver that splits a page itself sets n with
// pp_ref_count_set() and hands out pieces; each piece's put drops one, and
// the page is recycled when the last is dropped. The kernel calls these
// page_pool_fragment_page (pp_ref_count_set), page_pool_unref_page
// (pp_ref_count_sub) and page_pool_ref_page (pp_ref_count_inc). Thread
// context: any thread holding a reference (pp_ref_count_set: the page's only
// holder).
inline constexpr std::int64_t kFragBiasMax = INT64_MAX >> 1;  // BIAS_MAX
// Sets the count to n (none of them the pool's own fragments). Cannot fail.
void pp_ref_count_set(Page* page, std::int64_t n);
// Drops n references.
// @return the references left (0: the caller dropped the last, and the
//   count is reset to 1 for the page's next life); 1, with nothing dropped,
//   when fewer than n are held: a reported misuse.
std::int64_t pp_ref_count_sub(Page* page, std::int64_t n);
// Takes one more reference; a whole page becomes a page out in fragments.
// Cannot fail.
void pp_ref_count_inc(Page* page);

// Stalled-shutdown reports: every `seconds` while a destroyed pool still has
// pages in flight (default 60). Thread context: any thread.
void set_stall_report_interval(double seconds);
// Destroyed pools still waiting for pages in flight. Thread context: any thread.
std::size_t pools_pending_release();

// ---- the fast paths, inline ----

namespace detail {
// A per-thread id, 0 until the thread first needs one; ids are never reused.
inline thread_local constinit std::uint64_t tls_thread_id = 0;
std::uint64_t assign_thread_id();
inline std::uint64_t current_thread_id() {
  std::uint64_t id = tls_thread_id;
  return PPOOL_LIKELY(id) ? id : assign_thread_id();
}

// The owner's statistics (PagePool::OwnerStats): one unlocked add each
// (owner_add) with PPOOL_STATS, no code at all without it (the counter is
// named, never read or written).
PPOOL_ALWAYS_INLINE void stat_add([[maybe_unused]] std::uint64_t& counter,
                                  [[maybe_unused]] std::uint64_t n) {
#if PPOOL_STATS
  owner_add(counter, n);
#endif
}
PPOOL_ALWAYS_INLINE void stat_inc(std::uint64_t& counter) {
  stat_add(counter, 1);
}
}  // namespace detail

// One compare catches a page of another pool, one put twice and one that is
// no pool's; the refcount check sends shared pages to the release path.
inline bool PagePool::recyclable(const Page* page) const {
  return detail::load_tag(page) == tag_in_use() &&
         page->refcount.load(std::memory_order_acquire) == 1;
}

// A thread that never asked for an id has 0, which no pool's owner_ is.
inline bool PagePool::is_owner() const {
  return detail::tls_thread_id == owner_.load(std::memory_order_relaxed);
}

PPOOL_ALWAYS_INLINE Page* PagePool::alloc_pages() {
  if (PPOOL_DEBUG && !is_owner()) return alloc_pages_slow();  // reports it
  if (PPOOL_LIKELY(cache_.count)) {
    Page* page = cache_.pages[--cache_.count];
    detail::store_tag(page, tag_in_use());
    detail::stat_inc(owner_stats_.fast);
    return page;
  }
  return alloc_pages_slow();
}

// The fast case alone is inline: a page of this pool, held by nobody else,
// put by the owner of a pool that needs no sync, into a cache with room
// (allow_direct or not: on the owner's thread every put is napi-local).
// Everything else (sync, ring, release, misuse) is put_page_other().
PPOOL_ALWAYS_INLINE void PagePool::put_page(Page* page, std::uint32_t dma_sync_size, bool) {
  // The owner compare first: a remote put leaves after it, for the ring.
  if (PPOOL_LIKELY(detail::tls_thread_id == direct_owner_.load(std::memory_order_relaxed) &&
                   recyclable(page) && cache_.count < kAllocCacheSize))
    return recycle_in_cache(page);
  put_page_other(page, dma_sync_size);
}

PPOOL_ALWAYS_INLINE void PagePool::recycle_in_cache(Page* page) {
  detail::store_tag(page, tag_recycled());
  cache_.pages[cache_.count++] = page;
  detail::stat_inc(owner_stats_.cached);
}

}  // namespace ppool
