// The page allocator (layer mem): a binary buddy allocator per PageAllocator
// carving 4 MiB chunks of the arena (mem/arena.h) into 2^order pages, the
// chunks' memory made of what the allocator's backing says (mem/backing.h,
// mem/shared_region.h).
//
// Layout of the state a page's descriptor can be in (all writes under the
// owning allocator's mutex; page_of() reads them without a lock):
//   allocated block: head kind kHead (order, refcount, ...), every other page
//                    kind kTail with head = head pfn;
//   free block:      head kind kFree with order, every other page kUnused;
//   released chunk / chunk not owned by any allocator: all pages kUnused.
// So page_of() returns nullptr for any address of a free block, and a stale
// kTail can never point at a head that does not contain it.
//
// The backing costs nothing on the fast paths (alloc, alloc_bulk, free): its
// work is done when a unit of growth is committed, and when the allocator is
// destroyed.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "mem/arena.h"
#include "mem/backing.h"
#include "mem/shared_region.h"
#include "mem/smaps.h"
#include "ppool/page.h"

namespace ppool {

namespace {

using detail::chunk_address;
using detail::g_arena;
using detail::kNoChunk;
using detail::kPagesPerChunk;

constexpr std::uint32_t kNone = UINT32_MAX;  // "no page" in free-list links
constexpr std::uint32_t kNoSlot = UINT32_MAX;
constexpr std::size_t kArenaPages = kArenaBytes >> kPageShift;
constexpr int kMaxNodes = 64;
constexpr std::size_t kBackings = 4;

static_assert(kArenaPages < kNone, "page frame numbers fit in 32 bits with a sentinel");
static_assert(kChunkBytes == kPageSize << kMaxOrder, "a chunk is one top-order block");
static_assert(static_cast<std::size_t>(Backing::kHugetlb1G) + 1 == kBackings,
              "one process-wide allocator slot per backing");

Page& desc(std::uint32_t pfn) {
  return g_arena.descs[pfn];
}
std::uint32_t pfn_of(const Page* page) {
  return static_cast<std::uint32_t>(page - g_arena.descs);
}

// Faults a chunk's pages and descriptors in now, once, on the slow path that
// grows the allocator, so that the pages' first use (a packet arriving in a
// pool page) takes no page fault. Best effort: MADV_POPULATE_WRITE needs
// Linux 5.14; a hugetlb chunk's pages were reserved when it was mapped.
void populate_chunk(std::uint32_t chunk) {
  detail::populate(chunk_address(chunk), kChunkBytes);
  const auto descs = reinterpret_cast<std::uintptr_t>(g_arena.descs + chunk * kPagesPerChunk);
  const std::uintptr_t page_mask = kPageSize - 1;
  const std::uintptr_t first = descs & ~page_mask;
  const std::uintptr_t last = (descs + kPagesPerChunk * sizeof(Page) + page_mask) & ~page_mask;
  detail::populate(reinterpret_cast<void*>(first), last - first);
}

std::atomic<detail::PoolPagePut> g_pool_page_put{nullptr};
std::atomic<PageAllocator*> g_node_allocators[kMaxNodes][kBackings];
std::atomic<unsigned> g_next_id{0};  // names allocators' VMAs and memfds

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

// "ppool-<backing>-<id>": what users see in /proc/PID/maps, and what keeps
// one allocator's VMAs from merging with another's.
std::string vma_name(Backing backing, unsigned id) {
  return detail::format("ppool-%s-%u", backing_name(backing), id);
}

Error invalid(std::string message) {
  return Error{Errc::kInvalidArgument, std::move(message)};
}

// Checks of a private allocator's options (not shared).
std::optional<Error> validate_private(const PageAllocatorOptions& o) {
  const detail::BackingPolicy& policy = detail::policy_of(o.backing);
  if (o.lock) {
    return invalid(
        "options.lock: only a shared region is committed and locked whole; "
        "set options.shared too");
  }
  if (policy.hugetlb() && o.max_bytes < policy.unit_bytes()) {
    return invalid(detail::format(
        "options.max_bytes: %zu bytes is less than one unit of growth of %s (%zu MiB): the "
        "allocator could never grow",
        o.max_bytes, backing_name(o.backing), policy.unit_bytes() >> 20));
  }
  return std::nullopt;
}

// Checks of a shared region's options.
std::optional<Error> validate_shared(const PageAllocatorOptions& o) {
  if (o.backing == Backing::kThp) {
    return invalid(
        "options.shared: a shared region cannot be backed by thp: THP for shared memory "
        "is a system setting (/sys/kernel/mm/transparent_hugepage/shmem_enabled), not "
        "the allocator's; use options.backing k4K or a hugetlb backing");
  }
  if (o.hugetlb_fallback_thp) {
    return invalid(
        "options.hugetlb_fallback_thp: a shared region cannot fall back to THP (its "
        "memfd is hugetlbfs or not for its whole life)");
  }
  if (o.max_bytes == kArenaBytes || o.max_bytes == 0) {
    return invalid(
        "options.max_bytes: a shared region needs a size; max_bytes is it (the "
        "default, the whole arena, is none)");
  }
  return std::nullopt;
}

// Options that contradict each other or the backing; each error names the
// field and what to do instead. Syscall-free: the machine is asked later.
std::optional<Error> validate(const PageAllocatorOptions& o) {
  if (!detail::valid_backing(o.backing)) {
    return invalid(
        detail::format("options.backing: %u is not a Backing", static_cast<unsigned>(o.backing)));
  }
  if (o.hugetlb_fallback_thp && !detail::policy_of(o.backing).hugetlb()) {
    return invalid(
        detail::format("options.hugetlb_fallback_thp: applies to the hugetlb backings only "
                       "(options.backing is %s)",
                       backing_name(o.backing)));
  }
  return o.shared ? validate_shared(o) : validate_private(o);
}

// A unit of growth taken from the arena: `count` chunks from `first`,
// committed as `kind` (the allocator's backing when it was committed).
struct Unit {
  std::uint32_t first;
  std::uint32_t count;
  Backing kind;
};

}  // namespace

// The buddy state of one allocator. Every member function but the
// constructor runs with mu held (or in the destructor, alone).
struct PageAllocator::Impl {
  std::mutex mu;
  std::array<std::uint32_t, kMaxOrder + 1> free_head;
  std::vector<Unit> units;              // taken from the arena (not a region's run)
  std::vector<std::uint32_t> released;  // owned, discarded, not on a free list
  std::size_t committed_bytes = 0;
  std::size_t free_bytes = 0;
  std::size_t released_bytes = 0;
  std::uint64_t alloc_failures = 0;

  const unsigned id = g_next_id.fetch_add(1, std::memory_order_relaxed);
  // The backing in effect: the one asked for, or THP after a hugetlb
  // shortage with the fallback allowed (changed once, under mu).
  const detail::BackingPolicy* policy = &detail::policy_of(Backing::k4K);
  std::atomic<Backing> backing{Backing::k4K};  // policy->kind, for readers without mu
  // Hugetlb and shared memory is never discarded: whole free chunks stay on
  // the free lists whatever retain_bytes says (a hugetlb allocator's THP
  // fallback chunks too: one rule per allocator, decided at construction).
  bool retain_all = false;
  std::optional<detail::RegionMapping> region;
  std::uint32_t region_grown = 0;    // chunks of the region's run on the buddy lists
  std::optional<Error> setup_error;  // set by the constructor only

  explicit Impl(const PageAllocatorOptions& options) {
    free_head.fill(kNone);
    setup_error = setup(options);
    backing.store(policy->kind, std::memory_order_relaxed);
  }

  std::optional<Error> setup(const PageAllocatorOptions& options) {
    if (auto error = validate(options)) return error;
    policy = &detail::policy_of(options.backing);
    retain_all = options.shared || policy->hugetlb();
    if (options.shared) return open_region(options);
    if (policy->hugetlb()) return check_reserve(options);
    return std::nullopt;
  }

  std::optional<Error> open_region(const PageAllocatorOptions& options) {
    auto mapping = detail::create_shared_region(*policy, options.max_bytes, options.lock,
                                                vma_name(policy->kind, id).c_str());
    if (!mapping) return mapping.error();
    region = std::move(mapping).value();
    return std::nullopt;
  }

  // The first growth's huge pages must be there now: a pool's first refill
  // is no place to find out. Reads four sysfs counters.
  std::optional<Error> check_reserve(const PageAllocatorOptions& options) {
    const std::size_t needed = policy->unit_bytes() / policy->page_bytes;
    if (detail::hugetlb_pages_available(*policy) >= static_cast<long>(needed)) return std::nullopt;
    const bool fallback = options.hugetlb_fallback_thp;
    std::string why = detail::hugetlb_shortage(*policy, needed, "the first growth", !fallback);
    if (!fallback) return Error{Errc::kUnsupported, std::move(why)};
    fall_back(why);
    return std::nullopt;
  }

  // Commits THP from now on. Called only while the policy is hugetlb, so it
  // logs once per allocator.
  void fall_back(const std::string& why) {
    policy = &detail::policy_of(Backing::kThp);
    backing.store(Backing::kThp, std::memory_order_relaxed);
    log(LogLevel::kWarning,
        detail::format("page allocator %u: %s; committing its chunks as THP instead from now on "
                       "(options.hugetlb_fallback_thp)",
                       id, why.c_str()));
  }

  void push(std::uint32_t pfn, unsigned order) {
    Page& page = desc(pfn);
    page.kind = detail::kFree;
    page.order = static_cast<std::uint8_t>(order);
    page.free.prev = kNone;
    page.free.next = free_head[order];
    if (free_head[order] != kNone) desc(free_head[order]).free.prev = pfn;
    free_head[order] = pfn;
  }

  void unlink(std::uint32_t pfn, unsigned order) {
    Page& page = desc(pfn);
    if (page.free.prev != kNone) {
      desc(page.free.prev).free.next = page.free.next;
    } else {
      free_head[order] = page.free.next;
    }
    if (page.free.next != kNone) desc(page.free.next).free.prev = page.free.prev;
    page.kind = detail::kUnused;
    page.free.prev = page.free.next = kNone;
  }

  // A released chunk first (already committed, no syscall), else the next
  // chunk of the region, else a new unit from the arena within max_bytes.
  bool grow(const PageAllocatorOptions& options) {
    if (!released.empty()) {
      const std::uint32_t chunk = released.back();
      released.pop_back();
      released_bytes -= kChunkBytes;
      add_chunks(chunk, 1);
      return true;
    }
    if (PPOOL_UNLIKELY(setup_error.has_value())) return false;
    return region ? grow_in_region() : grow_from_arena(options);
  }

  // Faults the chunks in and puts them on the top-order free list, the last
  // first, so that a unit is handed out from its low end up.
  void add_chunks(std::uint32_t first, std::uint32_t count) {
    for (std::uint32_t chunk = first + count; chunk-- > first;) {
      populate_chunk(chunk);
      push(chunk * kPagesPerChunk, kMaxOrder);
    }
    free_bytes += std::size_t{count} * kChunkBytes;
  }

  // A region grows through its run in order and never beyond it.
  bool grow_in_region() {
    if (region_grown == region->chunks) return false;
    committed_bytes += kChunkBytes;
    add_chunks(region->first_chunk + region_grown++, 1);
    return true;
  }

  bool grow_from_arena(const PageAllocatorOptions& options) {
    int err = 0;
    std::optional<Unit> unit = commit_unit(options, err);
    if (!unit && err != 0 && !hugetlb_refused(options, err)) unit = commit_unit(options, err);
    if (!unit) return false;
    units.push_back(*unit);
    committed_bytes += std::size_t{unit->count} * kChunkBytes;
    add_chunks(unit->first, unit->count);
    return true;
  }

  // A hugetlb commit refused with errno err: falls back to THP when allowed
  // (false: try again), else says why, rate-limited (true: give up).
  bool hugetlb_refused(const PageAllocatorOptions& options, int err) {
    static LogRateLimit limit("page allocator growth");
    const bool fallback = options.hugetlb_fallback_thp;
    std::string why =
        err == ENOMEM ? detail::hugetlb_shortage(*policy, policy->unit_bytes() / policy->page_bytes,
                                                 "a growth", !fallback)
                      : detail::format("%s: mapping %zu MiB of huge pages failed: %s",
                                       backing_name(policy->kind), policy->unit_bytes() >> 20,
                                       std::strerror(err));
    if (fallback) {
      fall_back(why);
      return false;
    }
    if (limit.allow(LogLevel::kError)) {
      log(LogLevel::kError, detail::format("page allocator %u: %s", id, why.c_str()));
    }
    return true;
  }

  // Takes a unit of growth from the arena and makes it the policy's memory:
  // named, bound to the node, not yet faulted in. nullopt at the limit, with
  // the arena exhausted, or (err set) when the kernel refused the commit.
  std::optional<Unit> commit_unit(const PageAllocatorOptions& options, int& err) {
    err = 0;
    const std::uint32_t count = policy->unit_chunks();
    const std::size_t bytes = std::size_t{count} * kChunkBytes;
    if (committed_bytes + bytes > options.max_bytes) return std::nullopt;
    const std::uint32_t first = detail::ChunkArena::get().take_run(count, count);
    if (first == kNoChunk) return std::nullopt;
    void* addr = chunk_address(first);
    err = detail::commit_range(*policy, addr, bytes);
    if (err != 0) {
      return_to_arena(Unit{first, count, policy->kind});
      return std::nullopt;
    }
    // Refused for hugetlb, whose VMAs never merge anyway; refused before
    // Linux 5.17 or without CONFIG_ANON_VMA_NAME, which leaves THP figures
    // of huge_backed_bytes() approximate.
    detail::name_range(addr, bytes, vma_name(policy->kind, id).c_str());
    detail::bind_to_node(addr, bytes, options.nid);
    return Unit{first, count, policy->kind};
  }

  // Gives a unit's chunks back as the plain anonymous memory the arena hands
  // out: a hugetlb mapping (even a failed one) is replaced, an anonymous
  // one loses its name. A unit the kernel will not remap is leaked.
  static void return_to_arena(const Unit& unit) {
    void* addr = chunk_address(unit.first);
    const std::size_t bytes = std::size_t{unit.count} * kChunkBytes;
    if (detail::policy_of(unit.kind).hugetlb()) {
      if (!detail::map_anonymous(addr, bytes)) return;
    } else {
      detail::name_range(addr, bytes, nullptr);
    }
    detail::ChunkArena::get().give_run(unit.first, unit.count);
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
    __atomic_store_n(&head.holder_tag, 0, __ATOMIC_RELAXED);  // no holder yet
    detail::store_tag(&head, 0);
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
    detail::store_tag(page, 0);
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
    if (order == kMaxOrder && !retain_all && free_bytes > options.retain_bytes) {
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

  bool all_free(std::uint32_t first, std::uint32_t count) const {
    for (std::uint32_t chunk = first; chunk < first + count; ++chunk) {
      if (!chunk_is_free(chunk)) return false;
    }
    return true;
  }

  // Marks a free chunk's descriptors unowned (a released chunk's are
  // already) and, when asked, discards its memory.
  static void forget_chunk(std::uint32_t chunk, bool discard) {
    Page& head = desc(chunk * kPagesPerChunk);
    if (head.kind != detail::kFree) return;
    head.kind = detail::kUnused;
    if (discard) detail::discard(chunk_address(chunk), kChunkBytes);
  }

  // At destruction: gives a unit back when all of it is free; returns the
  // chunks leaked because a page of the unit is still allocated (its memory
  // must stay valid; a huge page cannot be split to keep only part of it).
  std::size_t close_unit(const Unit& unit) {
    if (!all_free(unit.first, unit.count)) return unit.count;
    // Remapping a hugetlb unit frees its pages; anonymous ones are discarded.
    const bool discard = !detail::policy_of(unit.kind).hugetlb();
    for (std::uint32_t c = unit.first; c < unit.first + unit.count; ++c) forget_chunk(c, discard);
    return_to_arena(unit);
    return 0;
  }

  // At destruction: the region's run goes back unless a page of it is still
  // allocated; the memfd is closed either way (the mapping keeps its pages).
  std::size_t close_region() {
    const bool in_use = !all_free(region->first_chunk, region_grown);
    if (!in_use) {
      for (std::uint32_t i = 0; i < region_grown; ++i) forget_chunk(region->first_chunk + i, false);
    }
    detail::destroy_shared_region(*region, in_use);
    return in_use ? region->chunks : 0;
  }

  // The address ranges of what this allocator committed.
  std::vector<detail::AddressRange> committed_ranges() const {
    std::vector<detail::AddressRange> ranges;
    auto add = [&](std::uint32_t first, std::uint32_t count) {
      const auto begin = reinterpret_cast<std::uintptr_t>(chunk_address(first));
      ranges.push_back({begin, begin + std::size_t{count} * kChunkBytes});
    };
    if (region) add(region->first_chunk, region_grown);
    for (const Unit& unit : units) add(unit.first, unit.count);
    return ranges;
  }
};

namespace {

// Every allocator of the process, for reports that look at all allocated
// pages (the holder report): held for a whole visit, so an allocator is not
// destroyed under it. Lock order: this, then an allocator's own.
struct AllocatorList {
  std::mutex mu;
  std::vector<PageAllocator*> all;
};
AllocatorList& allocator_list() {
  static AllocatorList* list = new AllocatorList;  // never destroyed: used until exit
  return *list;
}

}  // namespace

PageAllocator::PageAllocator(PageAllocatorOptions options, Impl* impl)
    : options_(options), impl_(impl) {
  AllocatorList& list = allocator_list();
  std::lock_guard lock(list.mu);
  list.all.push_back(this);
}

// In bounded chunks: the allocator's lock is held while at most
// kVisitChunk descriptors are read (about 4 us; one unchunked scan of 256 MiB
// held it 250 us, and scans in a loop starved the pools' refills and frees
// for hundreds of milliseconds), the heads found are visited with the lock
// dropped, then it is taken again where the scan left off. Between chunks
// blocks may be allocated, freed, merged or split and units added: each
// chunk recomputes the committed ranges and resumes at the first pfn not
// yet read, so a block is visited at most once (one allocated behind the
// cursor meanwhile is missed, one freed ahead of it is not seen: a report,
// not a snapshot). The tags are read under the lock, with the relaxed
// atomic loads their writers pair with (a pool's owner stores pp_tag and
// holder_tag without this lock): visit gets them in the VisitedBlock and
// need not touch the descriptor, whose holder_tag word a free block reuses
// for its plain free-list links. The descriptor itself stays valid (the
// arena's descriptors live for the whole process). The list's lock is held
// throughout: it keeps the allocators alive and costs only their creation
// and destruction.
void PageAllocator::visit_allocated(const std::function<void(const VisitedBlock&)>& visit) {
  constexpr std::uint32_t kVisitChunk = 1024;
  constexpr auto kVisitPause = std::chrono::microseconds(10);  // longer in fact: timer slack
  AllocatorList& list = allocator_list();
  std::lock_guard list_lock(list.mu);
  std::vector<VisitedBlock> heads;
  heads.reserve(kVisitChunk);
  for (PageAllocator* allocator : list.all) {
    Impl& impl = *allocator->impl_;
    std::uint64_t cursor = 0;  // the next pfn to read; only grows
    for (bool more = true; more;) {
      heads.clear();
      {
        std::lock_guard lock(impl.mu);
        std::vector<detail::AddressRange> ranges = impl.committed_ranges();
        std::sort(ranges.begin(), ranges.end(),
                  [](const auto& a, const auto& b) { return a.begin < b.begin; });
        std::uint32_t budget = kVisitChunk;
        more = false;
        for (const detail::AddressRange& range : ranges) {
          const std::uint64_t first = (range.begin - g_arena.base) >> kPageShift;
          const std::uint64_t end = (range.end - g_arena.base) >> kPageShift;
          if (end <= cursor) continue;
          if (budget == 0) {
            more = true;
            break;
          }
          std::uint64_t pfn = std::max(cursor, first);
          for (; pfn < end && budget != 0; --budget) {
            const Page& page = desc(static_cast<std::uint32_t>(pfn));
            if (page.kind == detail::kHead)
              heads.push_back({&page, __atomic_load_n(&page.pp_tag, __ATOMIC_RELAXED),
                               __atomic_load_n(&page.holder_tag, __ATOMIC_RELAXED)});
            // A head or a free block is skipped whole; anything else (a
            // tail left of the cursor's block, an interior page) one by one.
            const bool block = page.kind == detail::kHead || page.kind == detail::kFree;
            pfn += block ? std::uint64_t{1} << page.order : 1;
          }
          cursor = pfn;
          if (pfn < end) {  // the budget ran out inside this range
            more = true;
            break;
          }
        }
      }
      for (const VisitedBlock& block : heads) visit(block);
      // A pause before the next chunk: a pool's thread woken by the unlock
      // needs a few microseconds to run, and a scanner that retakes the lock
      // at once wins it nearly every time (a mutex is not fair), which
      // starved the owner's refills down to a few a second. With the pause
      // it gets the lock; the scan takes longer (about 60 us a chunk: 4 ms
      // for 256 MiB committed, 1 s for 64 GiB), a report's price.
      if (more) std::this_thread::sleep_for(kVisitPause);
    }
  }
}

Result<std::unique_ptr<PageAllocator>> PageAllocator::create(PageAllocatorOptions options) {
  std::unique_ptr<PageAllocator> allocator(new PageAllocator(options, new Impl(options)));
  if (const Error* error = allocator->setup_error()) return Error(*error);
  return Result<std::unique_ptr<PageAllocator>>(std::move(allocator));
}

PageAllocator::~PageAllocator() {
  {
    AllocatorList& list = allocator_list();
    std::lock_guard lock(list.mu);
    std::erase(list.all, this);
  }
  // Destruction means no other thread uses this allocator: no lock needed.
  std::size_t leaked = impl_->region ? impl_->close_region() : 0;
  for (const Unit& unit : impl_->units) leaked += impl_->close_unit(unit);
  if (leaked != 0) {
    log(LogLevel::kError,
        detail::format("page allocator %p destroyed with pages still allocated; "
                       "leaking %zu chunk(s) (%zu MiB)",
                       static_cast<void*>(this), leaked, (leaked * kChunkBytes) >> 20));
  }
  delete impl_;
}

PageAllocator& PageAllocator::for_node(int nid, Backing backing) {
  if (nid == kNoNode) nid = current_node();
  if (nid < 0 || nid >= kMaxNodes) nid = 0;
  if (PPOOL_UNLIKELY(!detail::valid_backing(backing))) {
    detail::report_misuse(
        detail::format("for_node: %u is not a Backing; using k4K", static_cast<unsigned>(backing)));
    backing = Backing::k4K;
  }
  std::atomic<PageAllocator*>& slot = g_node_allocators[nid][static_cast<std::size_t>(backing)];
  PageAllocator* existing = slot.load(std::memory_order_acquire);
  if (PPOOL_LIKELY(existing != nullptr)) return *existing;
  // First use: racing creators build one each, the loser deletes its own.
  // The slot must hold an allocator whatever the machine lacks (the pools'
  // nid_changed() switches to it without a way to fail), so a backing that
  // cannot work here leaves one that refuses every allocation: logged, and
  // setup_error() says why (PagePool::create checks it).
  const PageAllocatorOptions options{.nid = nid, .backing = backing};
  auto* created = new PageAllocator(options, new Impl(options));
  if (const Error* error = created->setup_error()) {
    log(LogLevel::kError, detail::format("page allocator %u refuses every allocation: %s",
                                         created->impl_->id, error->message.c_str()));
  }
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
  detail::discard(chunk_address(chunk), kChunkBytes);
  std::lock_guard lock(impl_->mu);
  impl_->released.push_back(chunk);
  impl_->released_bytes += kChunkBytes;
}

Backing PageAllocator::backing() const {
  return impl_->backing.load(std::memory_order_relaxed);
}

const Error* PageAllocator::setup_error() const {
  return impl_->setup_error ? &*impl_->setup_error : nullptr;
}

const SharedRegion* PageAllocator::region() const {
  return impl_->region ? &impl_->region->region : nullptr;
}

// Exact when naming the chunks' VMAs worked (Linux 5.17+ with
// CONFIG_ANON_VMA_NAME): each then holds this allocator's chunks only.
// Otherwise a VMA may span chunks of other allocators or free arena chunks,
// and its huge pages, clamped to its overlap with ours, are an estimate.
std::size_t PageAllocator::huge_backed_bytes() const {
  std::vector<detail::AddressRange> ranges;
  {
    std::lock_guard lock(impl_->mu);
    ranges = impl_->committed_ranges();
  }
  return detail::huge_bytes_in(std::move(ranges));
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
