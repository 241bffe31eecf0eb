// ppool/page.h - the page allocator (layer mem): the kernel's buddy allocator
// in userspace.
//
// All pages of the process live in one virtual-address arena reserved before
// main (kArenaBytes, halved until the OS agrees; PROT_NONE until a 4 MiB
// chunk is committed).
// A page's descriptor lives apart from its memory, in a descriptor array
// indexed by page frame number (the kernel's vmemmap), so a data page is plain
// page-aligned memory and page_of(addr) is a subtraction and a shift.
//
// Pages of order 0..kMaxOrder (4 KiB..4 MiB) are carved from chunks by a
// buddy allocator per PageAllocator; one allocator per NUMA node and backing
// is kept process-wide, and private ones (a memory limit, a shared region)
// come from PageAllocator::create(). What a chunk's memory is made of (4 KiB
// pages, THP, hugetlbfs, a memfd) is the allocator's Backing, applied when
// the chunk is committed: descriptors and page_of() are the same for all.
//
// Failures (ppool/base.h): create() returns a Result; alloc() and
// alloc_bulk() are the pools' refill path and return nullptr or a short
// count, counted in stats().alloc_failures, as the kernel's alloc_pages().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "ppool/backing.h"
#include "ppool/base.h"

namespace ppool {

class PageAllocator;

inline constexpr unsigned kMaxOrder = 10;  // 4 MiB, one chunk
inline constexpr std::size_t kChunkBytes = kPageSize << kMaxOrder;
inline constexpr std::size_t kArenaBytes = std::size_t{64} << 30;
inline constexpr int kNoNode = -1;

// The page descriptor: 64 bytes, one per 4 KiB page, never inside the page.
// Fields marked (pool) belong to the page pool while it owns the page.
struct alignas(64) Page {
  // References held on the page; the last put_page() frees it.
  std::atomic<std::uint32_t> refcount;
  std::uint8_t order;  // head page: order of the block
  std::uint8_t kind;   // detail::PageKind
  std::int16_t nid;    // the node whose allocator produced the page
  // Index of the head descriptor, for tail pages of a compound page.
  std::uint32_t head;
  union {
    // Free-list links (page frame numbers) while the block is free.
    struct {
      std::uint32_t prev, next;
    } free;
    // While the block is allocated: the application's holder tag (holder in
    // the low half, when it was set in the high half; ppool/holder.h), 0
    // when none. Written and read with relaxed atomics: reports read it
    // from any thread.
    std::uint64_t holder_tag;
  };
  // (pool) The owning pool and the page's state there: pool address | state
  // bit, 0 for a page no pool owns. Written only by the page's holder, and
  // whatever hands the page over (the ring, a queue, the refcount's last
  // put) orders it; the writes are relaxed atomic stores (plain moves) so
  // that a report may read the tag from another thread (detail::store_tag).
  std::uintptr_t pp_tag;
  // (pool) The DMA address of the page while mapped.
  std::uint64_t dma_addr;
  // (pool) Slot in the pool's record of mapped pages, kNoSlot when unmapped.
  std::uint32_t dma_slot;
  // (pool) Fragments the pool has handed out of this page while it holds
  // the page's fragment bias (a put beyond them is caught at once).
  std::atomic<std::uint32_t> pp_frag_handed;
  // (pool) Fragment reference count (the kernel's pp_ref_count).
  std::atomic<std::int64_t> pp_ref_count;
  PageAllocator* allocator;
};
static_assert(sizeof(Page) == 64, "a page descriptor is one cache line");

namespace detail {

enum PageKind : std::uint8_t { kUnused = 0, kFree, kHead, kTail };

// The arena: set once before main, then read-only (page_of() reads it with
// no lock). bytes is 0 when the reservation failed.
struct Arena {
  std::uintptr_t base = 0;  // first data byte
  std::size_t bytes = 0;    // reserved span: kArenaBytes, or less where refused
  Page* descs = nullptr;    // descriptor of page frame 0
};
extern Arena g_arena;

// put_page() of a page a pool owns (pp_tag != 0) calls this instead of
// dropping a reference itself: the pool layer installs it, so that a pool
// page goes home rather than to the allocator, and a fragment's put drops a
// fragment reference.
using PoolPagePut = void (*)(Page* page);
void set_pool_page_put(PoolPagePut fn);

// Drops one page reference; true when it was the last. A put with no
// reference left is reported and changes nothing. Thread context: any thread.
bool put_page_ref(Page* page);

// True when page points at a descriptor slot of the arena, whatever its
// state. One subtraction and two compares: callers use it on put paths.
inline bool is_descriptor_slot(const Page* page) {
  const std::uintptr_t off =
      reinterpret_cast<std::uintptr_t>(page) - reinterpret_cast<std::uintptr_t>(g_arena.descs);
  return off < (g_arena.bytes >> kPageShift) * sizeof(Page) && off % sizeof(Page) == 0;
}

// Sets the page's pp_tag: a relaxed atomic store, one move, which a report
// on another thread may read (the holder report scans the descriptors).
inline void store_tag(Page* page, std::uintptr_t tag) {
  __atomic_store_n(&page->pp_tag, tag, __ATOMIC_RELAXED);
}

// The page's pp_tag, read without a member access: a put path reads the tag
// of a pointer it has not validated yet, and one that is misaligned must
// reach ppool's own report, not trap in a sanitizer's alignment check. One
// load, as page->pp_tag.
inline std::uintptr_t load_tag(const Page* page) {
  std::uintptr_t tag;
  __builtin_memcpy(&tag, reinterpret_cast<const char*>(page) + offsetof(Page, pp_tag), sizeof tag);
  return tag;
}

// True when page is the descriptor of an allocated block's head page. Reports
// nothing: the caller knows what it was doing and says so.
inline bool valid_descriptor(const Page* page) {
  return is_descriptor_slot(page) && page->kind == kHead;
}

}  // namespace detail

// The descriptor of the page containing addr (the head page for any address
// inside a compound page). O(1). Thread context: any thread.
// @return the head page, or nullptr when addr is not in the arena or its
//   page is not allocated (not an error: the answer to the question).
inline Page* page_of(const void* addr) {
  std::uintptr_t off = reinterpret_cast<std::uintptr_t>(addr) - detail::g_arena.base;
  if (PPOOL_UNLIKELY(off >= detail::g_arena.bytes)) return nullptr;
  Page* page = detail::g_arena.descs + (off >> kPageShift);
  if (page->kind == detail::kTail) page = detail::g_arena.descs + page->head;
  return page->kind == detail::kHead ? page : nullptr;
}

// The first byte of a page. Thread context: any thread.
inline void* page_address(const Page* page) {
  return reinterpret_cast<void*>(
      detail::g_arena.base +
      (static_cast<std::uintptr_t>(page - detail::g_arena.descs) << kPageShift));
}

inline std::size_t page_bytes(const Page* page) {
  return kPageSize << page->order;
}

// Takes one more reference. Thread context: any thread holding a reference.
inline void get_page(Page* page) {
  page->refcount.fetch_add(1, std::memory_order_relaxed);
}

// Drops a reference; the last one frees the page to its allocator, or, for a
// page a pool owns, sends it home to the pool (the kernel's
// skb_mark_for_recycle path); for a pool page in fragments it drops one
// fragment's reference. Thread context: any thread. Cannot fail; a put
// with no reference left, or of a pointer that is no page, is a reported
// misuse that changes nothing.
void put_page(Page* page);

// One page reference, dropped with put_page() when the handle dies: for a
// pool page that sends it home. Move-only; may be moved to and destroyed on
// any thread.
class PageRef {
 public:
  PageRef() = default;
  explicit PageRef(Page* page) : page_(page) {}  // adopts one reference
  PageRef(PageRef&& other) noexcept : page_(other.release()) {}
  PageRef& operator=(PageRef&& other) noexcept {
    reset(other.release());
    return *this;
  }
  ~PageRef() { reset(); }

  Page* get() const { return page_; }
  void* data() const { return page_address(page_); }
  explicit operator bool() const { return page_ != nullptr; }
  // Gives the reference back to the caller.
  Page* release() {
    Page* page = page_;
    page_ = nullptr;
    return page;
  }
  void reset(Page* page = nullptr) {
    if (page_) put_page(page_);
    page_ = page;
  }

 private:
  Page* page_ = nullptr;
};

struct PageAllocatorOptions {
  int nid = kNoNode;                                 // node to bind chunks to (best effort)
  std::size_t max_bytes = kArenaBytes;               // committed memory limit; a region's size
  std::size_t retain_bytes = std::size_t{64} << 20;  // free memory kept before giving back
  Backing backing = Backing::k4K;
  // Hugetlb backings: when the reserved pool cannot supply a chunk, commit it
  // as THP instead and log that once (backing() then says kThp).
  bool hugetlb_fallback_thp = false;
  // The pages live in one memfd region of max_bytes (rounded up to a whole
  // number of chunks and of the backing's pages), created and mapped when the
  // allocator is: another process or the kernel (an AF_XDP UMEM, an io_uring
  // registered buffer, a GPU registration) maps the very same pages once. Its
  // size is fixed; nothing is given back to the OS while it lives. k4K or a
  // hugetlb backing (MFD_HUGETLB).
  bool shared = false;
  // shared: commit and mlock the whole region at creation (a UMEM is pinned
  // whole); an RLIMIT_MEMLOCK refusal fails creation, naming the limit.
  bool lock = false;
};

struct PageAllocatorStats {
  std::size_t committed_bytes;   // chunks in use by this allocator, backed or not
  std::size_t free_bytes;        // committed and free
  std::size_t released_bytes;    // given back to the OS (MADV_DONTNEED), reusable
  std::uint64_t alloc_failures;  // allocations refused (limit or arena exhausted)
};

// A shared allocator's memory: one memfd mapped at base inside the arena. A
// page's offset in it is the page's stable name for whoever else maps the
// region (another process, the kernel). Immutable while the allocator lives.
struct SharedRegion {
  int fd = -1;                 // the memfd: pass it on (SCM_RIGHTS) to share the pages
  void* base = nullptr;        // where this process maps it
  std::size_t bytes = 0;       // its size, fixed at creation
  std::size_t page_bytes = 0;  // the backing's page size: another mapping's alignment
  bool locked = false;         // committed and mlocked at creation

  [[nodiscard]] bool contains(const void* addr) const {
    return static_cast<std::size_t>(static_cast<const char*>(addr) -
                                    static_cast<const char*>(base)) < bytes;
  }
  // The offset of a page of the region. Thread context: any thread.
  [[nodiscard]] std::uint64_t offset_of(const Page* page) const {
    return static_cast<std::uint64_t>(static_cast<const char*>(page_address(page)) -
                                      static_cast<const char*>(base));
  }
  // The allocated page (head) at offset, or nullptr when offset is outside
  // the region or names no allocated page. Thread context: any thread.
  [[nodiscard]] Page* page_at(std::uint64_t offset) const {
    return offset < bytes ? page_of(static_cast<const char*>(base) + offset) : nullptr;
  }
};

// A buddy allocator over 4 MiB chunks of the arena. It grows by one unit at
// a time: a chunk, or for 1 GiB pages a 1 GiB-aligned run of 256 chunks
// (max(chunk, backing page)); a shared allocator grows through its region
// in order. Thread context: any thread; one mutex per allocator, held for a
// whole bulk operation.
class PageAllocator {
 public:
  // No public constructor: create() returns an allocator that works or an
  // Error, never one that refuses every allocation. The allocator is neither
  // copied nor moved, so create() returns it on the heap: every page it hands
  // out points back at it (Page::allocator) and the process-wide list of
  // allocators (visit_allocated()) holds its address, so it must stay where
  // it was built. The heap allocation is create()'s only; alloc() and free()
  // make none, and the pools' default allocators (for_node()) are built once.
  //
  // Chunks go back to the arena's free chunk list as plain anonymous memory
  // (hugetlb and shared ranges are remapped first; a shared region's memfd
  // is closed). Chunks with pages still allocated are leaked, and logged.
  // Thread context: any thread, once no other thread uses the allocator.
  ~PageAllocator();
  PageAllocator(const PageAllocator&) = delete;
  PageAllocator& operator=(const PageAllocator&) = delete;

  // A private allocator (a memory limit, a backing, a shared region).
  // Thread context: any thread.
  // @return the allocator, or an Error that names what is wrong and how to
  //   fix it; nothing is left allocated or mapped then (a region made
  //   before the refusal is unmapped and its memfd closed):
  //   - kInvalidArgument: an option out of its domain, named
  //     ("options.max_bytes: a shared region needs a size");
  //   - kUnsupported: huge pages are short ("... reserve them as root: echo 2
  //     > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages ..., or
  //     set options.hugetlb_fallback_thp"), or the kernel cannot create the
  //     region's memfd with that backing;
  //   - kOutOfMemory: a region that cannot be locked (naming RLIMIT_MEMLOCK)
  //     or mapped, or the arena is full.
  [[nodiscard]] static Result<std::unique_ptr<PageAllocator>> create(PageAllocatorOptions options);

  // The process-wide allocator for a node and backing (kNoNode: the node of
  // the calling CPU; a node out of range: node 0). Created on first use,
  // never destroyed. Not for shared regions, which are created with
  // create(). Thread context: any thread.
  // @return the allocator; cannot fail. A backing this machine cannot
  //   supply (hugetlb pages not reserved) gives an allocator that refuses
  //   every allocation, logged when it is made: setup_error() says why, and
  //   PagePool::create refuses a pool on it. A value that is no Backing is
  //   a reported misuse and gets k4K's.
  static PageAllocator& for_node(int nid, Backing backing = Backing::k4K);

  // One block of 2^order pages with refcount 1. Thread context: any thread.
  // @return the block's head page, or nullptr: order > kMaxOrder (not
  //   counted), or max_bytes reached, the arena full or the OS refusing to
  //   commit a chunk, or an allocator that refuses everything
  //   (setup_error()): counted in stats().alloc_failures.
  Page* alloc(unsigned order);
  // Up to n order-0 pages into out[], one lock acquisition. Thread context:
  // any thread.
  // @return how many are in out[0, result): fewer than n when memory runs
  //   out as alloc()'s does.
  std::size_t alloc_bulk(Page** out, std::size_t n);
  // Frees a block whose refcount has dropped to 0 (put_page() calls this).
  // Thread context: any thread. Cannot fail; a page not allocated here (or
  // freed twice) is a reported misuse that changes nothing.
  void free(Page* page);

  int nid() const { return options_.nid; }
  // The backing in effect: the one asked for, or kThp after a fallback.
  // Thread context: any thread.
  [[nodiscard]] Backing backing() const;
  // Why the allocator refuses everything, or nullptr when it works: never
  // set for create()'s allocators, which are refused whole instead; only a
  // process-wide one of for_node() whose backing this machine cannot supply
  // has one (and logged it at creation). Fixed at construction. Thread
  // context: any thread.
  [[nodiscard]] const Error* setup_error() const;
  // The region of a shared allocator, nullptr otherwise. Fixed at
  // construction. Thread context: any thread.
  [[nodiscard]] const SharedRegion* region() const;
  PageAllocatorStats stats() const;
  // Bytes of this allocator's committed memory backed by huge pages right
  // now, as /proc/self/smaps shows them for its chunks: AnonHugePages for
  // THP, the hugetlb pages (all it committed) for hugetlb. Exact where the
  // kernel names VMAs (Linux 5.17+, CONFIG_ANON_VMA_NAME), an estimate for
  // THP elsewhere. Reads smaps: slow, for reports. Thread context: any thread.
  [[nodiscard]] std::size_t huge_backed_bytes() const;

  // An allocated block as visit_allocated() read it, under the allocator's
  // lock: its head and the head's two tags at that moment.
  struct VisitedBlock {
    const Page* head;
    std::uintptr_t pp_tag;     // the owning pool's tag (Page::pp_tag), 0 for none
    std::uint64_t holder_tag;  // the holder tag (Page::holder_tag)
  };
  // Calls visit with every allocated block of every allocator of the
  // process. Each allocator's lock is held only while a bounded chunk of
  // descriptors is read (1024), never while visit runs, so the allocators
  // serve their pools between chunks and visit may call into them; a block
  // may be freed by the time visit sees it (read its tags from the
  // VisitedBlock, not from the page, whose free-list links share the holder
  // tag's word), and what is allocated or freed meanwhile may be missed: a
  // report, not a snapshot. O(pages committed), and a 10 us pause between
  // chunks: for reports. Thread context: any thread.
  static void visit_allocated(const std::function<void(const VisitedBlock&)>& visit);

 private:
  struct Impl;
  // Adopts an Impl built (and maybe refused) by create() or for_node();
  // create() returns the refusal as an Error, for_node() logs it.
  PageAllocator(PageAllocatorOptions options, Impl* impl);

  PageAllocatorOptions options_;
  Impl* impl_;
};

}  // namespace ppool
