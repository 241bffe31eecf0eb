// The page allocator (layer mem): one process-wide arena of 4 MiB chunks and a
// binary buddy allocator per PageAllocator carving them into 2^order pages.
//
// Layout of the state a page's descriptor can be in (all writes under the
// owning allocator's mutex; page_of() reads them without a lock):
//   allocated block: head kind kHead (order, refcount, ...), every other page
//                    kind kTail with head = head pfn;
//   free block:      head kind kFree with order, every other page kUnused;
//   released chunk / chunk not owned by any allocator: all pages kUnused.
// So page_of() returns nullptr for any address of a free block, and a stale
// kTail can never point at a head that does not contain it.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

#include "ppool/page.h"

namespace ppool {

namespace detail {
Arena g_arena;
}  // namespace detail

namespace {

using detail::g_arena;

constexpr std::uint32_t kNone = UINT32_MAX;  // "no page" in free-list links
constexpr std::uint32_t kNoSlot = UINT32_MAX;
constexpr std::size_t kArenaPages = kArenaBytes >> kPageShift;
constexpr std::uint32_t kPagesPerChunk = 1u << kMaxOrder;
constexpr int kMaxNodes = 64;
constexpr int kMpolPreferred = 1;  // <numaif.h> MPOL_PREFERRED, without libnuma

static_assert(kArenaPages < kNone, "page frame numbers fit in 32 bits with a sentinel");
static_assert(kChunkBytes == kPageSize << kMaxOrder, "a chunk is one top-order block");

Page& desc(std::uint32_t pfn) {
  return g_arena.descs[pfn];
}
std::uint32_t pfn_of(const Page* page) {
  return static_cast<std::uint32_t>(page - g_arena.descs);
}
void* chunk_address(std::uint32_t chunk) {
  return reinterpret_cast<void*>(g_arena.base + std::size_t{chunk} * kChunkBytes);
}

// Gives a chunk's physical pages back to the OS; the range stays mapped RW
// and reads zero when touched again. Costs a syscall and a TLB shootdown.
void discard(std::uint32_t chunk) {
  ::madvise(chunk_address(chunk), kChunkBytes, MADV_DONTNEED);
}

// Best effort: prefer the node's memory for the chunk. Fails harmlessly on a
// machine without that node (or without NUMA support in the kernel).
void bind_to_node(std::uint32_t chunk, int nid) {
  if (nid < 0 || nid >= kMaxNodes) return;
  unsigned long mask[2] = {1ul << nid, 0};
  ::syscall(SYS_mbind, chunk_address(chunk), kChunkBytes, kMpolPreferred, mask, sizeof(mask) * 8,
            0u);
}

// Faults a chunk's pages and descriptors in now, once, on the slow path that
// grows the allocator, so that the pages' first use (a packet arriving in a
// pool page) takes no page fault. Best effort: MADV_POPULATE_WRITE needs
// Linux 5.14.
void populate(std::uint32_t chunk) {
#ifndef MADV_POPULATE_WRITE
  constexpr int MADV_POPULATE_WRITE = 23;
#endif
  ::madvise(chunk_address(chunk), kChunkBytes, MADV_POPULATE_WRITE);
  const auto descs = reinterpret_cast<std::uintptr_t>(g_arena.descs + chunk * kPagesPerChunk);
  const std::uintptr_t page_mask = kPageSize - 1;
  const std::uintptr_t first = descs & ~page_mask;
  const std::uintptr_t last = (descs + kPagesPerChunk * sizeof(Page) + page_mask) & ~page_mask;
  ::madvise(reinterpret_cast<void*>(first), last - first, MADV_POPULATE_WRITE);
}

// The arena: reserves the address space and the descriptor array once, then
// hands out chunks from a bump index or from the chunks destroyed allocators
// gave back. Chunk traffic is rare (4 MiB at a time), so a mutex is enough.
class ChunkArena {
 public:
  // Reserves on first call. Never destroyed: allocators with static storage
  // duration may give chunks back after main returns.
  static ChunkArena& get() {
    static ChunkArena* arena = new ChunkArena;
    return *arena;
  }

  // A chunk committed RW, or kNone when the arena is exhausted or missing.
  std::uint32_t take() {
    std::lock_guard lock(mu_);
    if (!returned_.empty()) {
      std::uint32_t chunk = returned_.back();
      returned_.pop_back();
      return chunk;
    }
    if (next_ == g_arena.bytes / kChunkBytes) return kNone;
    // First commit of this range: one mprotect per 4 MiB, never per page.
    if (::mprotect(chunk_address(next_), kChunkBytes, PROT_READ | PROT_WRITE) != 0) {
      log(LogLevel::kError,
          detail::format("mprotect of a 4 MiB chunk failed: %s", std::strerror(errno)));
      return kNone;
    }
    return next_++;
  }

  // Chunks whose descriptors are all kUnused and whose memory was discarded.
  void give(const std::vector<std::uint32_t>& chunks) {
    std::lock_guard lock(mu_);
    returned_.insert(returned_.end(), chunks.begin(), chunks.end());
  }

 private:
  ChunkArena() { reserve(); }

  // PROT_NONE + MAP_NORESERVE costs address space only; the descriptor array
  // is touched (64 bytes per page) only for chunks in use, and untouched
  // descriptors read zero = kUnused.
  static void reserve() {
    // The largest span the process may reserve, halving from kArenaBytes down
    // to 1 GiB: under valgrind or a tight RLIMIT_AS 64 GiB is refused.
    for (std::size_t bytes = kArenaBytes; bytes >= (std::size_t{1} << 30); bytes /= 2)
      if (reserve(bytes)) return;
    log(LogLevel::kError,
        detail::format("cannot reserve a page arena of even 1 GiB: %s", std::strerror(errno)));
  }

  static bool reserve(std::size_t bytes) {
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    const std::size_t span = bytes + kChunkBytes;
    void* data = ::mmap(nullptr, span, PROT_NONE, flags, -1, 0);
    if (data == MAP_FAILED) return false;
    const std::size_t desc_bytes = (bytes >> kPageShift) * sizeof(Page);
    void* descs = ::mmap(nullptr, desc_bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (descs == MAP_FAILED) {
      ::munmap(data, span);
      return false;
    }
    // Chunk alignment keeps buddies inside one chunk; trim the slack.
    const auto start = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t base = (start + kChunkBytes - 1) & ~(std::uintptr_t{kChunkBytes} - 1);
    if (base != start) ::munmap(data, base - start);
    if (const std::size_t tail = start + span - (base + bytes); tail != 0) {
      ::munmap(reinterpret_cast<void*>(base + bytes), tail);
    }
    g_arena.base = base;
    g_arena.descs = static_cast<Page*>(descs);
    g_arena.bytes = bytes;  // last: page_of() tests only this
    return true;
  }

  std::mutex mu_;
  std::uint32_t next_ = 0;               // first chunk never handed out
  std::vector<std::uint32_t> returned_;  // chunks of destroyed allocators
};

// Reserve before main, so g_arena is read-only by the time threads exist.
[[maybe_unused]] const bool g_arena_reserved = (ChunkArena::get(), true);

std::atomic<detail::PoolPagePut> g_pool_page_put{nullptr};
std::atomic<PageAllocator*> g_node_allocators[kMaxNodes];

int current_node() {
  unsigned cpu = 0, node = 0;
  if (::syscall(SYS_getcpu, &cpu, &node, nullptr) != 0) return 0;
  return static_cast<int>(node);
}

std::string describe(const Page* page) {
  return detail::format("page %p (pfn %u)", page_address(page), pfn_of(page));
}

// For a report about a pointer that failed valid_descriptor(); the hint says
// the likely cause when it is a descriptor of a block that is not allocated.
std::string describe_bad(const Page* page, const char* hint) {
  if (detail::is_descriptor_slot(page)) {
    return describe(page) + ", which is not an allocated block head" + hint;
  }
  return detail::format("%p, which is not a page descriptor", static_cast<const void*>(page));
}

}  // namespace

// The buddy state of one allocator. Every member function but the
// constructor runs with mu held.
struct PageAllocator::Impl {
  std::mutex mu;
  std::array<std::uint32_t, kMaxOrder + 1> free_head;
  std::vector<std::uint32_t> chunks;    // every chunk this allocator owns
  std::vector<std::uint32_t> released;  // owned, discarded, not on a free list
  std::size_t committed_bytes = 0;
  std::size_t free_bytes = 0;
  std::size_t released_bytes = 0;
  std::uint64_t alloc_failures = 0;

  Impl() { free_head.fill(kNone); }

  void push(std::uint32_t pfn, unsigned order) {
    Page& page = desc(pfn);
    page.kind = detail::kFree;
    page.order = static_cast<std::uint8_t>(order);
    page.free_prev = kNone;
    page.free_next = free_head[order];
    if (free_head[order] != kNone) desc(free_head[order]).free_prev = pfn;
    free_head[order] = pfn;
  }

  void unlink(std::uint32_t pfn, unsigned order) {
    Page& page = desc(pfn);
    if (page.free_prev != kNone) {
      desc(page.free_prev).free_next = page.free_next;
    } else {
      free_head[order] = page.free_next;
    }
    if (page.free_next != kNone) desc(page.free_next).free_prev = page.free_prev;
    page.kind = detail::kUnused;
    page.free_prev = page.free_next = kNone;
  }

  // A released chunk first (already committed, no syscall), else a new one
  // from the arena within max_bytes.
  bool grow(const PageAllocatorOptions& options) {
    std::uint32_t chunk;
    if (!released.empty()) {
      chunk = released.back();
      released.pop_back();
      released_bytes -= kChunkBytes;
    } else {
      if (committed_bytes + kChunkBytes > options.max_bytes) return false;
      chunk = ChunkArena::get().take();
      if (chunk == kNone) return false;
      bind_to_node(chunk, options.nid);
      chunks.push_back(chunk);
      committed_bytes += kChunkBytes;
    }
    populate(chunk);
    push(chunk * kPagesPerChunk, kMaxOrder);
    free_bytes += kChunkBytes;
    return true;
  }

  // The pfn of a free block of exactly `order`, split from the smallest
  // larger one if need be, or kNone.
  std::uint32_t take(unsigned order) {
    unsigned found = order;
    while (found <= kMaxOrder && free_head[found] == kNone) ++found;
    if (found > kMaxOrder) return kNone;
    const std::uint32_t pfn = free_head[found];
    unlink(pfn, found);
    while (found > order) {  // keep the lower half, free the upper
      --found;
      push(pfn + (1u << found), found);
    }
    free_bytes -= kPageSize << order;
    return pfn;
  }

  // Takes a block, growing once if needed; counts a refusal.
  std::uint32_t take_or_grow(unsigned order, const PageAllocatorOptions& options) {
    std::uint32_t pfn = take(order);
    if (pfn == kNone && grow(options)) pfn = take(order);
    if (pfn == kNone) ++alloc_failures;
    return pfn;
  }

  // Initialises the descriptors of a new block: 2^order writes, the price of
  // page_of() working on any byte of a compound page.
  static Page* prepare(std::uint32_t pfn, unsigned order, PageAllocator* owner, int nid) {
    Page& head = desc(pfn);
    head.refcount.store(1, std::memory_order_relaxed);
    head.order = static_cast<std::uint8_t>(order);
    head.nid = static_cast<std::int16_t>(nid);
    head.head = pfn;
    head.free_prev = head.free_next = kNone;
    head.pp_tag = 0;
    head.dma_addr = 0;
    head.dma_slot = kNoSlot;
    head.pp_frag_handed.store(0, std::memory_order_relaxed);
    head.pp_ref_count.store(0, std::memory_order_relaxed);
    head.allocator = owner;
    for (std::uint32_t i = 1; i < (1u << order); ++i) {
      Page& tail = desc(pfn + i);
      tail.kind = detail::kTail;
      tail.head = pfn;
    }
    head.kind = detail::kHead;
    return &head;
  }

  // Returns a block and merges it with its free buddies. Returns the chunk to
  // give back to the OS when the merge produced a whole free chunk above
  // retain_bytes (already off the free list), else kNone.
  std::uint32_t release_block(Page* page, const PageAllocatorOptions& options) {
    std::uint32_t pfn = pfn_of(page);
    unsigned order = page->order;
    page->refcount.store(0, std::memory_order_relaxed);
    page->pp_tag = 0;
    page->kind = detail::kUnused;
    for (std::uint32_t i = 1; i < (1u << order); ++i) desc(pfn + i).kind = detail::kUnused;
    free_bytes += kPageSize << order;
    while (order < kMaxOrder) {
      const std::uint32_t buddy = pfn ^ (1u << order);
      const Page& other = desc(buddy);
      if (other.kind != detail::kFree || other.order != order) break;
      unlink(buddy, order);  // leaves it kUnused: an interior page now
      pfn = std::min(pfn, buddy);
      ++order;
    }
    if (order == kMaxOrder && free_bytes > options.retain_bytes) {
      free_bytes -= kChunkBytes;
      return pfn / kPagesPerChunk;  // every descriptor of it is kUnused
    }
    push(pfn, order);
    return kNone;
  }

  bool chunk_is_free(std::uint32_t chunk) const {
    const Page& head = desc(chunk * kPagesPerChunk);
    return (head.kind == detail::kFree && head.order == kMaxOrder) ||
           std::find(released.begin(), released.end(), chunk) != released.end();
  }
};

PageAllocator::PageAllocator(PageAllocatorOptions options) : options_(options), impl_(new Impl) {}

PageAllocator::~PageAllocator() {
  // Destruction means no other thread uses this allocator: no lock needed.
  std::vector<std::uint32_t> returned;
  std::size_t leaked = 0;
  for (std::uint32_t chunk : impl_->chunks) {
    if (!impl_->chunk_is_free(chunk)) {
      ++leaked;  // a page is still out there: its memory must stay valid
      continue;
    }
    Page& head = desc(chunk * kPagesPerChunk);
    if (head.kind == detail::kFree) {
      head.kind = detail::kUnused;
      discard(chunk);  // released chunks were discarded already
    }
    returned.push_back(chunk);
  }
  ChunkArena::get().give(returned);
  if (leaked != 0) {
    log(LogLevel::kError,
        detail::format("page allocator %p destroyed with pages still allocated; "
                       "leaking %zu chunk(s) (%zu MiB)",
                       static_cast<void*>(this), leaked, (leaked * kChunkBytes) >> 20));
  }
  delete impl_;
}

PageAllocator& PageAllocator::for_node(int nid) {
  if (nid == kNoNode) nid = current_node();
  if (nid < 0 || nid >= kMaxNodes) nid = 0;
  std::atomic<PageAllocator*>& slot = g_node_allocators[nid];
  PageAllocator* existing = slot.load(std::memory_order_acquire);
  if (PPOOL_LIKELY(existing != nullptr)) return *existing;
  // First use: racing creators build one each, the loser deletes its own.
  auto* created = new PageAllocator(PageAllocatorOptions{.nid = nid});
  if (slot.compare_exchange_strong(existing, created, std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
    return *created;
  }
  delete created;
  return *existing;
}

Page* PageAllocator::alloc(unsigned order) {
  if (order > kMaxOrder) return nullptr;
  std::lock_guard lock(impl_->mu);
  const std::uint32_t pfn = impl_->take_or_grow(order, options_);
  return pfn == kNone ? nullptr : Impl::prepare(pfn, order, this, options_.nid);
}

std::size_t PageAllocator::alloc_bulk(Page** out, std::size_t n) {
  std::lock_guard lock(impl_->mu);
  std::size_t got = 0;
  for (; got < n; ++got) {
    const std::uint32_t pfn = impl_->take_or_grow(0, options_);
    if (pfn == kNone) break;
    out[got] = Impl::prepare(pfn, 0, this, options_.nid);
  }
  return got;
}

void PageAllocator::free(Page* page) {
  if (PPOOL_UNLIKELY(!detail::valid_descriptor(page))) {
    detail::report_misuse("free of " + describe_bad(page, " (double free?)"));
    return;
  }
  std::uint32_t chunk;
  {
    std::lock_guard lock(impl_->mu);
    // Checked again under the lock: two racing frees of one page serialise
    // here and the second one sees a free block.
    if (PPOOL_UNLIKELY(page->kind != detail::kHead || page->allocator != this)) {
      detail::report_misuse("free of " + describe(page) +
                            (page->kind != detail::kHead
                                 ? ", which is not allocated (double free?)"
                                 : " to an allocator that did not produce it"));
      return;
    }
    chunk = impl_->release_block(page, options_);
  }
  if (chunk == kNone) return;
  // Discarding 4 MiB takes tens of microseconds; do it outside the lock.
  // The chunk is on no list meanwhile, so nobody can hand it out.
  discard(chunk);
  std::lock_guard lock(impl_->mu);
  impl_->released.push_back(chunk);
  impl_->released_bytes += kChunkBytes;
}

PageAllocatorStats PageAllocator::stats() const {
  std::lock_guard lock(impl_->mu);
  return PageAllocatorStats{impl_->committed_bytes, impl_->free_bytes, impl_->released_bytes,
                            impl_->alloc_failures};
}

void put_page(Page* page) {
  if (PPOOL_UNLIKELY(!detail::valid_descriptor(page))) {
    detail::report_misuse("put_page on " + describe_bad(page, " (freed already?)"));
    return;
  }
  // A page a pool owns: the pool layer decides (a fragment's reference, or
  // the page's last reference sending it home).
  if (page->pp_tag != 0) {
    if (auto hook = g_pool_page_put.load(std::memory_order_acquire)) return hook(page);
  }
  if (detail::put_page_ref(page)) page->allocator->free(page);
}

namespace detail {

bool put_page_ref(Page* page) {
  const std::uint32_t old = page->refcount.fetch_sub(1, std::memory_order_acq_rel);
  if (PPOOL_LIKELY(old > 1)) return false;
  if (PPOOL_UNLIKELY(old == 0)) {
    page->refcount.fetch_add(1, std::memory_order_relaxed);  // back to 0
    report_misuse("put_page on " + describe(page) + " with no references");
    return false;
  }
  return true;
}

}  // namespace detail

namespace detail {

void set_pool_page_put(PoolPagePut fn) {
  g_pool_page_put.store(fn, std::memory_order_release);
}

}  // namespace detail
}  // namespace ppool
