// libFuzzer target: the input is a program of page pool operations.
//
// Each input byte string decodes into operations on three pool slots (a pool
// that maps and syncs through a DebugDmaDevice, a compound-page pool that
// maps through it, and a plain pool or one that maps and asks for syncs on a
// coherent device): every alloc path (alloc_pages_bulk included), every put
// path (on this thread or on a helper thread that puts what it is handed,
// one operation at a time so a run is deterministic), put_page_bulk of
// mixed pools, XDP frames (return_frame, FrameBulk), page and fragment
// references, release_page, destroy with pages still held and their later
// return, re-creation. The decoder knows what the harness holds and only
// emits legal operations, so any report is a bug in ppool:
//   - a page or fragment handed out while the harness still holds it,
//   - a pool's inflight() below the pages the harness holds of it, or above
//     what its cache, ring and fragment page could add,
//   - a DMA mapping count that disagrees with inflight(), any DebugDmaDevice
//     finding, any misuse report (the misuse policy is abort),
//   - data written by the harness into a page changed while it held it,
//   - the syncs for the device of the puts of each operation, which must be
//     exactly one per page that went home to a live pool that syncs, at
//     params.offset, of min(dma_sync_size, max_len) bytes (max_len for the
//     full-page, frame and bulk puts), and none for a page that did not go
//     home (released, a fragment still out) or went home to a destroyed
//     pool; a coherent device gets no sync call at all,
//   - the registry: every live pool, and every destroyed one the harness
//     still holds pages of, found by find_pool() and listed by list_pools()
//     (ids ascending) with its name, its state and its inflight; a pool once
//     gone from the registry never comes back,
//   - after the run, when everything was put back and every pool destroyed:
//     a pool still pending release after a bounded wait, a mapping still
//     live, a page not back in the page allocator; leaks via LSan.
// The pools are created on the fuzzer's thread, their owner: the harness
// allocates only there; the helper thread only puts.
#include <algorithm>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/registry.h"
#include "ppool/xdp.h"
#include "support/recording_device.h"

namespace {

using ppool::Page;
using ppool::PagePool;

[[noreturn]] void fail(const char* format, ...) __attribute__((format(printf, 1, 2)));
void fail(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::fputs("fuzz_pool: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
  std::abort();
}

#define FUZZ_CHECK(cond, ...)       \
  do {                              \
    if (!(cond)) fail(__VA_ARGS__); \
  } while (0)

// FUZZ_POOL_TRACE=1 prints each operation (to read a reproducer).
const bool g_trace = std::getenv("FUZZ_POOL_TRACE") != nullptr;
void trace(const char* format, ...) __attribute__((format(printf, 1, 2)));
void trace(const char* format, ...) {
  if (!g_trace) return;
  std::va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  va_end(args);
}

constexpr const char* kOpNames[] = {"create",           "destroy",
                                    "alloc_pages",      "alloc_burst",
                                    "alloc_frag",       "alloc",
                                    "alloc_va",         "put",
                                    "put_bulk",         "put_burst",
                                    "get_page",         "release_page",
                                    "pp_ref_count_inc", "pp_ref_count_set",
                                    "pp_ref_count_sub", "sync_for_cpu",
                                    "recreate",         "frame",
                                    "frame_flush",      "hand_over",
                                    "alloc_bulk"};
constexpr const char* kMethodNames[] = {"recycle_direct",   "put_page", "put_full_page",
                                        "generic put_page", "PageRef",  "free_va"};

// Any ppool report of error level is a finding (DMA debug findings, misuse).
void log_hook(ppool::LogLevel level, std::string_view message) {
  if (level < ppool::LogLevel::kError) return;
  fail("ppool reported: %.*s", static_cast<int>(message.size()), message.data());
}

// Runs one closure at a time on its own thread and waits for it: puts "from
// another thread" that still happen at a fixed point of the program.
class Helper {
 public:
  Helper() : thread_([this] { loop(); }) { thread_.detach(); }
  void run(std::function<void()> job) {
    std::unique_lock lock(mu_);
    job_ = std::move(job);
    pending_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !pending_; });
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return pending_; });
      std::function<void()> job = std::move(job_);
      job();
      job_ = nullptr;
      pending_ = false;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool pending_ = false;
  std::thread thread_;
};

// What outlives a run: the devices, the page allocator, the helper thread.
// Never destroyed (the helper thread runs until exit). The checker's syncs
// reach the recorder behind it; the coherent recorder serves pools that ask
// for syncs on a device that needs none.
struct Env {
  ppool::test::RecordingDmaDevice recorder{true};
  ppool::DebugDmaDevice debug{recorder};
  ppool::test::RecordingDmaDevice coherent{false};
  // create() refuses default options only when the arena is gone: abort then.
  const std::unique_ptr<ppool::PageAllocator> allocator_owner =
      ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& allocator = *allocator_owner;
  Helper helper;
  std::uint64_t serial = 0;  // makes pool names unique (mappings are counted by name)
};

Env& env() {
  static Env* e = [] {
    ppool::set_misuse_policy(ppool::MisusePolicy::kAbort);
    ppool::set_log_hook(&log_hook);
    return new Env;
  }();
  return *e;
}

// The input, read a byte at a time; zeros once it runs out.
class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  std::size_t size() const { return size_; }
  std::uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint32_t u16() { return byte() | std::uint32_t{byte()} << 8; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

constexpr int kSlots = 3;
constexpr std::size_t kMaxItems = 256;
constexpr std::uint32_t kSyncFull = ~std::uint32_t{0};  // the full-page puts: max_len

// One pool created during the run, alive or destroyed.
struct Instance {
  PagePool* pool;
  int slot;
  std::string name;
  bool dma;
  bool alive;
  std::uint32_t pool_size;  // the ring's capacity
  std::uint32_t offset;
  std::uint32_t max_len;
  ppool::DmaDirection dir;
  bool syncs;     // kDmaSyncDev on a device that needs syncs: puts home sync
  bool coherent;  // maps on the coherent recorder
  std::uint32_t id;
  bool gone;  // no longer in the registry (destroyed and freed)
  // The page the pool cuts fragments from: it holds its own references on
  // it, so no fragment put brings it home.
  Page* frag_page;
  std::size_t page_bytes;
  // Its receive queue's XDP memory model (registered while alive); frames
  // keep the MemInfo after.
  std::unique_ptr<ppool::RxQueueInfo> rxq;
  ppool::MemInfo mem;
};

enum class Kind {
  kWhole,   // a whole pool page; refs = page references the harness holds
  kFrag,    // a fragment; refs = fragment references (pp_ref_count) held
  kNormal,  // released by its pool, a normal page; refs = page references
};

struct Item {
  Kind kind;
  Page* page;
  int inst;                    // index into the run's instances
  std::uint32_t offset, size;  // the region the harness owns (and wrote to)
  int refs;
  bool driver_frag;  // fragment references set by the harness on a whole page
  std::uint64_t token;
};

enum Op : std::uint8_t {
  kCreate,
  kDestroy,
  kAllocPages,
  kAllocBurst,
  kAllocFrag,
  kAlloc,
  kAllocVa,
  kPut,
  kPutBulk,
  kPutBurst,
  kGetPage,
  kReleasePage,
  kPpRefCountInc,
  kPpRefCountSet,
  kPpRefCountSub,
  kSyncForCpu,
  kRecreate,
  kFrame,
  kFrameFlush,
  kHandOver,
  kAllocBulk,
  kOpCount
};

// Put methods (kPut, kPutBurst).
enum Method : std::uint8_t {
  kRecycleDirect,
  kPutPage,
  kPutFullPage,
  kGenericPut,
  kPageRef,
  kFreeVa,
  kMethodCount
};

static_assert(std::size(kOpNames) == kOpCount);
static_assert(std::size(kMethodNames) == kMethodCount);

class Run {
 public:
  explicit Run(Reader& in) : in_(in), e_(env()) {
    misuses_ = ppool::misuse_count();
    for (int& s : slot_) s = -1;
  }

  void execute() {
    for (int slot = 0; slot < kSlots; ++slot) create(slot, 0);
    for (int ops = 0; !in_.done() && ops < 4096; ++ops) {
      step();
      check();
    }
    finish();
  }

 private:
  // ---- the model ----

  PagePool* pool_in(int slot) {
    int i = slot_[slot];
    return i >= 0 ? inst_[i].pool : nullptr;
  }

  std::uint64_t next_token() { return ++token_ * 0x9e3779b97f4a7c15ull; }

  void write_token(Item& item) {
    item.token = next_token();
    std::memcpy(static_cast<char*>(ppool::page_address(item.page)) + item.offset, &item.token,
                sizeof item.token);
  }
  void check_token(const Item& item) {
    std::uint64_t v;
    std::memcpy(&v, static_cast<const char*>(ppool::page_address(item.page)) + item.offset,
                sizeof v);
    FUZZ_CHECK(v == item.token, "page %p (+%u) of pool '%s' changed while the harness held it",
               ppool::page_address(item.page), item.offset, inst_[item.inst].name.c_str());
  }

  // A page the pool just handed out must be one the harness does not hold
  // (a fragment: not overlapping a held fragment of the same page).
  void check_fresh(int inst, Page* page, std::uint32_t offset, std::uint32_t size, bool frag) {
    const Instance& in = inst_[inst];
    FUZZ_CHECK(ppool::page_of(ppool::page_address(page)) == page,
               "pool '%s' handed out %p, not a page head", in.name.c_str(),
               static_cast<void*>(page));
    FUZZ_CHECK(ppool::page_bytes(page) == in.page_bytes, "pool '%s' handed out a %zu-byte page",
               in.name.c_str(), ppool::page_bytes(page));
    FUZZ_CHECK(page->refcount.load() >= 1, "pool '%s' handed out a page with no reference",
               in.name.c_str());
    FUZZ_CHECK(std::uint64_t{offset} + size <= in.page_bytes,
               "pool '%s': region +%u/%u past the page", in.name.c_str(), offset, size);
    // Frames queued in the FrameBulk are still out: the same rules.
    for (const auto* list : {&items_, &bulk_items_})
      for (const Item& item : *list) {
        if (item.page != page) continue;
        const bool overlap = offset < item.offset + item.size && item.offset < offset + size;
        FUZZ_CHECK(frag && item.kind == Kind::kFrag && !item.driver_frag && !overlap,
                   "pool '%s' handed out page %p (+%u/%u) the harness holds (+%u/%u, kind %d)",
                   in.name.c_str(), ppool::page_address(page), offset, size, item.offset, item.size,
                   static_cast<int>(item.kind));
      }
    const std::uintptr_t state = page->pp_tag & ppool::detail::kTagStateMask;
    const std::uintptr_t owner = page->pp_tag & ~ppool::detail::kTagStateMask;
    FUZZ_CHECK(owner == reinterpret_cast<std::uintptr_t>(in.pool),
               "pool '%s' handed out a page tagged for another pool", in.name.c_str());
    FUZZ_CHECK(state == (frag ? ppool::detail::kTagFragments : 0),
               "pool '%s' handed out a page in state %lu", in.name.c_str(),
               static_cast<unsigned long>(state));
  }

  void add(Kind kind, Page* page, int inst, std::uint32_t offset, std::uint32_t size) {
    Item item{kind, page, inst, offset, size, 1, false, 0};
    trace("  got %s page %p +%u/%u of '%s'", kind == Kind::kWhole ? "whole" : "fragment",
          ppool::page_address(page), offset, size, inst_[inst].name.c_str());
    write_token(item);
    items_.push_back(item);
  }

  void remove(std::size_t i) {
    items_[i] = items_.back();
    items_.pop_back();
  }

  // The distinct pool pages the harness holds of an instance: whole pages
  // and fragments, and frames queued in the FrameBulk (still out).
  std::vector<Page*> held_pages(int inst) const {
    std::vector<Page*> pages;
    for (const auto* list : {&items_, &bulk_items_})
      for (const Item& item : *list)
        if (item.inst == inst && item.kind != Kind::kNormal &&
            std::find(pages.begin(), pages.end(), item.page) == pages.end())
          pages.push_back(item.page);
    return pages;
  }

  // ---- the syncs for the device ----

  // The references the harness holds on a page: its items' and those of the
  // frames queued in the FrameBulk.
  int page_refs(const Page* page) const {
    int refs = 0;
    for (const auto* list : {&items_, &bulk_items_})
      for (const Item& item : *list)
        if (item.page == page) refs += item.refs;
    return refs;
  }

  // Called once the model took in a put of `before` (the item as it was):
  // when the put brought the page home (a whole page's last reference, a
  // fragment page's last fragment once the pool dropped its own), a live
  // pool that syncs syncs it once, at params.offset, for min(sync_size,
  // max_len) bytes; a destroyed pool does not (the kernel's dma_sync is off
  // after destroy). `seen` dedupes the pages of one bulk put.
  void expect_home(const Item& before, std::uint32_t sync_size,
                   std::vector<Page*>* seen = nullptr) {
    const Instance& in = inst_[before.inst];
    bool home = false;
    switch (before.kind) {
      case Kind::kWhole:
        home = before.refs == 1;
        break;
      case Kind::kFrag:
        home = page_refs(before.page) == 0 && in.frag_page != before.page;
        break;
      case Kind::kNormal:
        break;
    }
    if (!home) return;
    if (seen) {
      if (std::find(seen->begin(), seen->end(), before.page) != seen->end()) return;
      seen->push_back(before.page);
    }
    if (!in.alive || !in.syncs) return;
    expected_syncs_.push_back({reinterpret_cast<ppool::DmaAddr>(ppool::page_address(before.page)),
                               in.offset, std::min(sync_size, in.max_len), in.dir, in.name});
  }

  std::string describe(const ppool::test::RecordingDmaDevice::Sync& s) const {
    char text[160];
    std::snprintf(text, sizeof text, "%s: %#llx +%zu len %zu %s", s.caller.c_str(),
                  static_cast<unsigned long long>(s.addr), s.offset, s.len,
                  ppool::to_string(s.dir));
    return text;
  }

  // The syncs since the last settle against the ones the puts since then
  // expect; then both are forgotten. Before each allocation (whose own
  // syncs, of fresh and reused pages, are dropped after it) and after each
  // operation.
  void settle_syncs() {
    std::vector<ppool::test::RecordingDmaDevice::Sync> got = e_.recorder.device_syncs();
    std::sort(expected_syncs_.begin(), expected_syncs_.end());
    if (got != expected_syncs_) {
      std::string text;
      for (const auto& s : got) text += "\n  synced   " + describe(s);
      for (const auto& s : expected_syncs_) text += "\n  expected " + describe(s);
      fail("the puts' syncs for the device (%zu) are not one per page home (%zu):%s", got.size(),
           expected_syncs_.size(), text.c_str());
    }
    e_.recorder.clear_syncs();
    expected_syncs_.clear();
    FUZZ_CHECK(e_.coherent.device_syncs().empty() && e_.coherent.cpu_syncs() == 0,
               "a pool synced on a device that needs no syncs (%zu syncs)",
               e_.coherent.device_syncs().size());
  }

  // ---- the registry ----

  // Live pools and destroyed ones the harness holds pages of are found and
  // listed as they are; a destroyed pool may leave once its pages are back,
  // and never comes back.
  void check_registry() {
    const std::vector<ppool::PoolInfo> listed = ppool::list_pools();
    for (std::size_t k = 1; k < listed.size(); ++k)
      FUZZ_CHECK(listed[k - 1].id < listed[k].id, "list_pools: id %u listed after id %u",
                 listed[k].id, listed[k - 1].id);
    for (std::size_t i = 0; i < inst_.size(); ++i) {
      Instance& in = inst_[i];
      const auto entry = std::find_if(listed.begin(), listed.end(),
                                      [&](const ppool::PoolInfo& p) { return p.id == in.id; });
      const bool in_list = entry != listed.end();
      const std::optional<ppool::PoolInfo> found = ppool::find_pool(in.id);
      if (in.gone) {
        FUZZ_CHECK(!in_list && !found, "pool '%s' (id %u) came back to the registry",
                   in.name.c_str(), in.id);
        continue;
      }
      if (!found) {  // freed: only a destroyed pool whose pages are all back
        FUZZ_CHECK(!in.alive, "live pool '%s' (id %u) is not in the registry", in.name.c_str(),
                   in.id);
        FUZZ_CHECK(held_pages(static_cast<int>(i)).empty(),
                   "destroyed pool '%s' (id %u) left the registry with pages out", in.name.c_str(),
                   in.id);
        in.gone = true;
        continue;
      }
      // Listed before it was found, so listed too.
      FUZZ_CHECK(in_list, "pool '%s' (id %u) found but not listed", in.name.c_str(), in.id);
      for (const ppool::PoolInfo* info : {&*found, &*entry}) {
        FUZZ_CHECK(info->name == in.name, "registry: id %u is named '%s', not '%s'", in.id,
                   info->name.c_str(), in.name.c_str());
        FUZZ_CHECK((info->detach_time_s == 0) == in.alive,
                   "registry: pool '%s'%s has detach time %lld", in.name.c_str(),
                   in.alive ? "" : " (destroyed)", static_cast<long long>(info->detach_time_s));
        if (!in.alive) continue;  // the release worker may be releasing its pages now
        FUZZ_CHECK(info->inflight == in.pool->inflight(),
                   "registry: pool '%s' has %u in flight, the pool says %u", in.name.c_str(),
                   info->inflight, in.pool->inflight());
        FUZZ_CHECK(info->stats.to_json() == in.pool->stats().to_json(),
                   "registry: pool '%s' counters %s, the pool's %s", in.name.c_str(),
                   info->stats.to_json().c_str(), in.pool->stats().to_json().c_str());
      }
    }
  }

  // After every operation.
  void check() {
    settle_syncs();
    check_registry();
    FUZZ_CHECK(bulk_.count() == bulk_items_.size(), "FrameBulk holds %u frames, %zu were queued",
               bulk_.count(), bulk_items_.size());
    FUZZ_CHECK(ppool::misuse_count() == misuses_, "a misuse was reported");
    FUZZ_CHECK(e_.debug.error_count() == 0, "the DMA checker found an error");
    std::size_t coherent_inflight = 0;  // destroy unmaps every page: the live pools' only
    for (std::size_t i = 0; i < inst_.size(); ++i) {
      const Instance& in = inst_[i];
      const std::vector<Page*> pages = held_pages(static_cast<int>(i));
      // A destroyed pool is only touched while the harness holds its pages
      // (until then it cannot be freed).
      if (!in.alive && pages.empty()) {
        if (in.dma)
          FUZZ_CHECK(e_.debug.live_mappings(in.name) == 0, "destroyed pool '%s' still has mappings",
                     in.name.c_str());
        continue;
      }
      const std::uint32_t inflight = in.pool->inflight();
      const std::size_t held = pages.size();
      // Beyond what the harness holds: the cache, the ring and the page being
      // cut into fragments while alive; once destroyed, the ring and the
      // batch the release worker took from it and is still releasing.
      const std::size_t extra =
          in.alive ? ppool::kAllocCacheSize + in.pool_size + 1
                   : in.pool_size + std::min<std::size_t>(in.pool_size, ppool::kAllocCacheRefill);
      FUZZ_CHECK(inflight >= held && inflight <= held + extra,
                 "pool '%s'%s: inflight %u, the harness holds %zu pages (at most %zu more)",
                 in.name.c_str(), in.alive ? "" : " (destroyed)", inflight, held, extra);
      if (in.coherent && in.alive) coherent_inflight += inflight;
      if (in.dma) {
        const std::size_t live = e_.debug.live_mappings(in.name);
        FUZZ_CHECK(live == (in.alive ? inflight : 0), "pool '%s'%s: %zu pages mapped, %u in flight",
                   in.name.c_str(), in.alive ? "" : " (destroyed)", live, inflight);
      }
    }
    FUZZ_CHECK(e_.coherent.live_mappings() == coherent_inflight && e_.coherent.bad_unmaps() == 0,
               "the coherent device: %zu pages mapped, %zu in flight, %zu bad unmaps",
               e_.coherent.live_mappings(), coherent_inflight, e_.coherent.bad_unmaps());
  }

  // ---- operations ----

  void create(int slot, std::uint8_t variant) {
    if (slot_[slot] >= 0) return;
    ppool::PagePoolParams p;
    Instance in{};
    in.slot = slot;
    p.allocator = &e_.allocator;
    p.dma_dir =
        variant & 0x80 ? ppool::DmaDirection::kBidirectional : ppool::DmaDirection::kFromDevice;
    static constexpr std::uint32_t kSizes0[] = {4, 16, 64, 1024};
    static constexpr std::uint32_t kSizes1[] = {2, 8, 64};
    static constexpr std::uint32_t kSizes2[] = {1, 8, 128};
    switch (slot) {
      case 0: {  // maps and syncs through the checker
        static constexpr std::uint32_t kOffsets[] = {0, 64, 256};
        p.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
        p.dev = &e_.debug;
        p.offset = kOffsets[variant % 3];
        p.max_len =
            (variant / 3) % 2 ? 1024 : static_cast<std::uint32_t>(ppool::kPageSize) - p.offset;
        p.pool_size = kSizes0[(variant / 6) % 4];
        break;
      }
      case 1:  // compound pages, mapped through the checker
        p.flags = ppool::kDmaMap | (variant & 0x40 ? ppool::kDmaSyncDev : 0u);
        p.dev = &e_.debug;
        p.order = 1 + variant % 3;
        p.max_len = static_cast<std::uint32_t>(ppool::kPageSize << p.order);
        p.pool_size = kSizes1[(variant / 3) % 3];
        break;
      default:  // plain, or mapped on the coherent device (asking for syncs it must not get)
        p.pool_size = kSizes2[variant % 3];
        if (variant & 0x40) {
          p.flags = ppool::kDmaMap | ppool::kDmaSyncDev;
          p.dev = &e_.coherent;
          p.max_len = static_cast<std::uint32_t>(ppool::kPageSize);
        }
        break;
    }
    in.name = "fz" + std::to_string(slot) + "-" + std::to_string(++e_.serial);
    p.name = in.name;
    auto created = PagePool::create(p);
    FUZZ_CHECK(created.ok(), "create '%s': %s", in.name.c_str(),
               created.ok() ? "" : created.error().message.c_str());
    in.pool = created.value();
    in.dma = (p.flags & ppool::kDmaMap) && p.dev == &e_.debug;
    in.coherent = p.dev == &e_.coherent;
    in.syncs = (p.flags & ppool::kDmaSyncDev) && p.dev->needs_sync();
    in.max_len = p.max_len;
    in.dir = p.dma_dir;
    in.id = in.pool->id();
    in.gone = false;
    in.frag_page = nullptr;
    in.alive = true;
    // The ring holds a power of two at least pool_size.
    in.pool_size = static_cast<std::uint32_t>(std::bit_ceil(std::max(p.pool_size, 2u)));
    in.offset = p.offset;
    in.page_bytes = ppool::kPageSize << p.order;
    in.rxq = std::make_unique<ppool::RxQueueInfo>(in.name, slot);
    auto mem = in.rxq->reg_mem_model(ppool::MemType::kPagePool, in.pool);
    FUZZ_CHECK(mem.ok(), "reg_mem_model of '%s': %s", in.name.c_str(),
               mem.ok() ? "" : mem.error().message.c_str());
    in.mem = mem.value();
    slot_[slot] = static_cast<int>(inst_.size());
    inst_.push_back(std::move(in));
  }

  void destroy(int slot) {
    const int i = slot_[slot];
    if (i < 0) return;
    Instance& in = inst_[i];
    const std::size_t held = held_pages(i).size();
    in.rxq.reset();  // the driver unregisters its queue first
    const std::uint32_t inflight = PagePool::destroy(in.pool);
    // The pool's partly cut fragment page is released at destroy, or stays
    // in flight with the harness's fragments.
    FUZZ_CHECK(inflight == held, "destroy of '%s' left %u in flight, the harness holds %zu",
               in.name.c_str(), inflight, held);
    in.alive = false;
    in.frag_page = nullptr;  // free_frag() dropped the pool's references
    slot_[slot] = -1;
  }

  void alloc_pages(int slot) {
    PagePool* pool = pool_in(slot);
    if (!pool || items_.size() >= kMaxItems) return;
    settle_syncs();
    Page* page = pool->alloc_pages();
    e_.recorder.clear_syncs();  // a refill syncs its fresh pages: not a put's
    const int i = slot_[slot];
    FUZZ_CHECK(page, "alloc_pages of '%s' failed", inst_[i].name.c_str());
    check_fresh(i, page, 0, static_cast<std::uint32_t>(inst_[i].page_bytes), false);
    add(Kind::kWhole, page, i, 0, static_cast<std::uint32_t>(inst_[i].page_bytes));
  }

  // alloc_pages_bulk: up to 100 pages at once (a run out of the cache, a
  // bulk from the ring, the allocator's bulk), each checked as alloc_pages'.
  void op_alloc_bulk() {
    const std::uint8_t b = in_.byte(), count = in_.byte();
    const int slot = b % kSlots;
    PagePool* pool = pool_in(slot);
    if (!pool || items_.size() >= kMaxItems) return;
    const int i = slot_[slot];
    const std::size_t n = std::min<std::size_t>(1 + count % 100, kMaxItems - items_.size());
    std::vector<Page*> pages(n);
    settle_syncs();
    const std::size_t got = pool->alloc_pages_bulk(pages.data(), n);
    e_.recorder.clear_syncs();  // a refill syncs its fresh pages: not a put's
    trace("  alloc_pages_bulk of %zu from '%s': %zu", n, inst_[i].name.c_str(), got);
    FUZZ_CHECK(got == n, "alloc_pages_bulk(%zu) of '%s' gave %zu", n, inst_[i].name.c_str(), got);
    const auto bytes = static_cast<std::uint32_t>(inst_[i].page_bytes);
    for (Page* page : pages) {  // added one by one: a page twice in the bulk is caught
      check_fresh(i, page, 0, bytes, false);
      add(Kind::kWhole, page, i, 0, bytes);
    }
  }

  std::uint32_t frag_size(int slot, std::uint8_t b) {
    const std::uint32_t bytes = static_cast<std::uint32_t>(inst_[slot_[slot]].page_bytes);
    switch (b % 8) {
      case 0:
        return 8 + b / 8;  // small: many to a page
      case 1:
        return 64 * (1 + b / 8 % 8);  // cache lines
      case 2:
        return 700;
      case 3:
        return 1500;
      case 4:
        return 2048;
      case 5:
        return bytes / 2 + 1;  // just over half: a whole page from alloc()
      case 6:
        return bytes;
      default:
        return 8 + (b * 97u) % (bytes - 8);
    }
  }

  // alloc() / alloc_va(): a whole page when size * 2 exceeds the page.
  void alloc_region(int slot, std::uint8_t b, bool va) {
    PagePool* pool = pool_in(slot);
    if (!pool || items_.size() >= kMaxItems) return;
    const int i = slot_[slot];
    const std::uint32_t bytes = static_cast<std::uint32_t>(inst_[i].page_bytes);
    const std::uint32_t want = frag_size(slot, b);
    std::uint32_t size = want, offset = 0;
    Page* page;
    settle_syncs();
    if (va) {
      void* addr = pool->alloc_va(&size);
      FUZZ_CHECK(addr, "alloc_va(%u) of '%s' failed", want, inst_[i].name.c_str());
      page = ppool::page_of(addr);
      FUZZ_CHECK(page, "alloc_va of '%s' returned %p, not a page address", inst_[i].name.c_str(),
                 addr);
      offset = static_cast<std::uint32_t>(static_cast<char*>(addr) -
                                          static_cast<char*>(ppool::page_address(page)));
    } else {
      page = pool->alloc(&offset, &size);
      FUZZ_CHECK(page, "alloc(%u) of '%s' failed", want, inst_[i].name.c_str());
    }
    e_.recorder.clear_syncs();  // refills and reused fragment pages sync: not a put's
    const bool whole = want * 2 > bytes;
    if (!whole && offset == 0) inst_[i].frag_page = page;  // a fresh fragment page
    FUZZ_CHECK(size >= want, "alloc(%u) of '%s' gave %u bytes", want, inst_[i].name.c_str(), size);
    FUZZ_CHECK(offset % ppool::kCacheLine == 0, "alloc of '%s': offset %u", inst_[i].name.c_str(),
               offset);
    check_fresh(i, page, offset, size, !whole);
    add(whole ? Kind::kWhole : Kind::kFrag, page, i, offset, size);
  }

  void alloc_frag(int slot, std::uint8_t b) {
    PagePool* pool = pool_in(slot);
    if (!pool || items_.size() >= kMaxItems) return;
    const int i = slot_[slot];
    const std::uint32_t bytes = static_cast<std::uint32_t>(inst_[i].page_bytes);
    std::uint32_t offset = 0;
    if (b == 0xff) {  // refused sizes
      std::uint32_t dummy = 0;
      FUZZ_CHECK(pool->alloc_frag(0, &dummy) == nullptr, "alloc_frag(0) succeeded");
      FUZZ_CHECK(pool->alloc_frag(bytes + 1, &dummy) == nullptr, "alloc_frag(%u) succeeded",
                 bytes + 1);
      return;
    }
    const std::uint32_t size = frag_size(slot, b);
    settle_syncs();
    Page* page = pool->alloc_frag(size, &offset);
    e_.recorder.clear_syncs();
    FUZZ_CHECK(page, "alloc_frag(%u) of '%s' failed", size, inst_[i].name.c_str());
    if (offset == 0) inst_[i].frag_page = page;  // a fresh fragment page
    FUZZ_CHECK(offset % ppool::kCacheLine == 0, "alloc_frag of '%s': offset %u",
               inst_[i].name.c_str(), offset);
    check_fresh(i, page, offset, size, true);
    add(Kind::kFrag, page, i, offset, size);
  }

  // On this thread or the helper's.
  void on(bool helper, const std::function<void()>& fn) {
    if (helper)
      e_.helper.run(fn);
    else
      fn();
  }

  // One put of item i by method m; updates the model.
  void put(std::size_t i, Method m, bool helper, std::uint32_t sync_size, bool allow_direct,
           std::uint8_t delta) {
    Item& item = items_[i];
    check_token(item);
    const Instance& in = inst_[item.inst];
    PagePool* pool = in.pool;
    Page* page = item.page;
    if (item.kind == Kind::kNormal && m != kPageRef) m = kGenericPut;
    if (m == kRecycleDirect && (helper || !in.alive)) m = kPutFullPage;
    trace("  %s%s of %s page %p +%u (refs %d) of '%s'%s", kMethodNames[m],
          helper ? " on the helper" : "",
          item.kind == Kind::kWhole  ? "whole"
          : item.kind == Kind::kFrag ? "fragment"
                                     : "normal",
          ppool::page_address(item.page), item.offset, item.refs, inst_[item.inst].name.c_str(),
          allow_direct ? " allow_direct" : "");
    switch (m) {
      case kRecycleDirect:
        pool->recycle_direct(page);
        break;
      case kPutPage:
        on(helper, [=] { pool->put_page(page, sync_size, allow_direct); });
        break;
      case kPutFullPage:
        on(helper, [=] { pool->put_full_page(page, allow_direct); });
        break;
      case kGenericPut:
        on(helper, [=] { ppool::put_page(page); });
        break;
      case kPageRef:
        on(helper, [=] { ppool::PageRef ref(page); });
        break;
      default: {  // kFreeVa: any address inside the held region
        void* va = static_cast<char*>(ppool::page_address(page)) + item.offset + delta % item.size;
        on(helper, [=] { pool->free_va(va, allow_direct); });
        break;
      }
    }
    const bool generic = m == kGenericPut || m == kPageRef;
    if (item.kind == Kind::kWhole && item.refs > 1 && !generic) {
      // The pool's put of a shared page releases it: the other references
      // are the harness's, on a normal page now.
      item.kind = Kind::kNormal;
      --item.refs;
      return;  // released: not home, no sync
    }
    const Item before = item;
    if (--item.refs == 0) remove(i);
    expect_home(before, m == kPutPage ? sync_size : kSyncFull);
  }

  std::size_t pick(std::uint8_t b) const { return b % items_.size(); }

  void op_put() {
    const std::uint8_t which = in_.byte(), how = in_.byte(), sync = in_.byte();
    if (items_.empty()) return;
    const Method m = static_cast<Method>((how & 0x0f) % kMethodCount);
    const bool helper = how & 0x10, direct = how & 0x20;
    put(pick(which), m, helper, sync_size(sync), direct, sync);
  }

  static std::uint32_t sync_size(std::uint8_t b) {
    switch (b % 4) {
      case 0:
        return 0;
      case 1:
        return b * 16u;
      case 2:
        return ~std::uint32_t{0};
      default:
        return 1u << 20;
    }
  }

  // Up to n of the newest items, one method for all: fills caches and rings.
  void op_put_burst() {
    const std::uint8_t n = in_.byte(), how = in_.byte();
    const Method m = static_cast<Method>((how & 0x0f) % kMethodCount);
    for (int k = 0; k < n && !items_.empty(); ++k)
      put(items_.size() - 1, m, how & 0x10, ~std::uint32_t{0}, how & 0x20,
          static_cast<std::uint8_t>(k));
  }

  // put_page_bulk of pool pages and fragments, mixed pools, alive or not;
  // each item at most once.
  void op_put_bulk() {
    const std::uint8_t count = in_.byte(), start = in_.byte(), flags = in_.byte();
    std::vector<std::size_t> chosen;
    std::vector<bool> taken(items_.size());
    const std::size_t want = 1 + count % 100;
    const std::size_t stride = 1 + (flags >> 1) % 7;
    for (std::size_t k = 0, j = start; k < items_.size() && chosen.size() < want;
         ++k, j += stride) {
      const std::size_t idx = j % items_.size();
      if (taken[idx] || items_[idx].kind == Kind::kNormal) continue;
      taken[idx] = true;
      chosen.push_back(idx);
    }
    if (chosen.empty()) return;
    std::vector<Page*> pages;
    for (std::size_t idx : chosen) {
      check_token(items_[idx]);
      pages.push_back(items_[idx].page);
    }
    trace("  put_page_bulk of %zu%s", pages.size(), flags & 1 ? " on the helper" : "");
    on(flags & 1, [&pages] { ppool::put_page_bulk(pages.data(), pages.size()); });
    // Highest index first, so removals do not move the ones still to update.
    std::sort(chosen.begin(), chosen.end(), std::greater<>());
    std::vector<Item> before;
    for (std::size_t idx : chosen) {
      Item& item = items_[idx];
      before.push_back(item);
      if (item.kind == Kind::kWhole && item.refs > 1) {
        item.kind = Kind::kNormal;
        --item.refs;
      } else if (--item.refs == 0) {
        remove(idx);
      }
    }
    // The kernel's bulk put syncs each page as a put_full_page would.
    std::vector<Page*> seen;
    for (const Item& item : before) expect_home(item, kSyncFull, &seen);
  }

  void op_get_page() {
    const std::uint8_t b = in_.byte();
    if (items_.empty()) return;
    Item& item = items_[pick(b)];
    if (item.kind == Kind::kFrag || item.refs >= 8) return;
    ppool::get_page(item.page);
    ++item.refs;
  }

  void op_release_page() {
    const std::uint8_t b = in_.byte(), flags = in_.byte();
    if (items_.empty()) return;
    Item& item = items_[pick(b)];
    if (item.kind != Kind::kWhole) return;
    PagePool* pool = inst_[item.inst].pool;
    Page* page = item.page;
    on(flags & 1, [=] { pool->release_page(page); });
    FUZZ_CHECK(page->pp_tag == 0, "release_page left page %p tagged", ppool::page_address(page));
    item.kind = Kind::kNormal;
  }

  // pp_ref_count_inc: a whole page held once becomes two fragment references; a
  // fragment gets one more.
  void op_pp_ref_count_inc() {
    const std::uint8_t b = in_.byte();
    if (items_.empty()) return;
    Item& item = items_[pick(b)];
    if (item.refs >= 8) return;
    if (item.kind == Kind::kWhole && item.refs == 1) {
      ppool::pp_ref_count_inc(item.page);
      item.kind = Kind::kFrag;
      item.driver_frag = true;
      item.refs = 2;
    } else if (item.kind == Kind::kFrag) {
      ppool::pp_ref_count_inc(item.page);
      ++item.refs;
    }
  }

  void op_pp_ref_count_set() {
    const std::uint8_t b = in_.byte(), n = in_.byte();
    if (items_.empty()) return;
    Item& item = items_[pick(b)];
    if (item.kind != Kind::kWhole || item.refs != 1) return;
    item.kind = Kind::kFrag;
    item.driver_frag = true;
    item.refs = 1 + n % 8;
    ppool::pp_ref_count_set(item.page, item.refs);
  }

  // Drops k < refs of a driver-managed fragment page's references at once.
  void op_pp_ref_count_sub() {
    const std::uint8_t b = in_.byte(), k = in_.byte();
    if (items_.empty()) return;
    Item& item = items_[pick(b)];
    if (item.kind != Kind::kFrag || !item.driver_frag || item.refs < 2) return;
    const int n = 1 + k % (item.refs - 1);
    const std::int64_t left = ppool::pp_ref_count_sub(item.page, n);
    FUZZ_CHECK(left == item.refs - n, "pp_ref_count_sub(%d) of %d references left %ld", n,
               item.refs, static_cast<long>(left));
    item.refs -= n;
  }

  void op_sync_for_cpu() {
    const std::uint8_t b = in_.byte(), off = in_.byte(), len = in_.byte();
    if (items_.empty()) return;
    const Item& item = items_[pick(b)];
    const Instance& in = inst_[item.inst];
    if (item.kind == Kind::kNormal || !in.alive || !in.dma) return;
    const std::size_t room = in.page_bytes - in.offset;
    const std::uint32_t o = static_cast<std::uint32_t>((off * 64u) % room);
    const std::uint32_t l = static_cast<std::uint32_t>(1 + (len * 17u) % (room - o));
    in.pool->dma_sync_for_cpu(item.page, o, l);
  }

  // A frame built in a held region (its headroom overwrites the harness's
  // token), returned by return_frame, return_frame_rx_napi (on the owner:
  // direct) or queued in the run's FrameBulk (pages held once).
  void op_frame() {
    const std::uint8_t b = in_.byte(), mode = in_.byte(), len = in_.byte();
    if (items_.empty()) return;
    constexpr std::uint32_t kHeadroom = 256;
    const std::size_t i = pick(b);
    Item& item = items_[i];
    const std::uint32_t data_len = 1 + len;
    if (item.size < kHeadroom + data_len) return;
    check_token(item);
    const Instance& in = inst_[item.inst];
    // A released page goes back as a page-type frame (put_page).
    const ppool::MemInfo mem =
        item.kind == Kind::kNormal ? ppool::MemInfo{ppool::MemType::kPageOrder0, 0} : in.mem;
    char* start = static_cast<char*>(ppool::page_address(item.page)) + item.offset;
    ppool::Frame* frame = ppool::build_frame(start, start + kHeadroom, data_len, item.size, mem);
    FUZZ_CHECK(frame, "build_frame in %u bytes failed", item.size);
    int how = mode % 3;
    const bool helper = mode & 0x10;
    if (how == 2 && item.refs == 1 && item.kind != Kind::kNormal) {
      trace("  FrameBulk add of page %p +%u of '%s'", ppool::page_address(item.page), item.offset,
            in.name.c_str());
      if (bulk_.count() == ppool::FrameBulk::kSize) bulk_flushed();  // add() flushes first
      bulk_.add(frame);
      bulk_items_.push_back(item);
      remove(i);
      return;
    }
    if (how == 2) how = 0;
    trace("  %s%s of page %p +%u (refs %d) of '%s'", how ? "return_frame_rx_napi" : "return_frame",
          helper ? " on the helper" : "", ppool::page_address(item.page), item.offset, item.refs,
          in.name.c_str());
    on(helper, [=] {
      if (how)
        ppool::return_frame_rx_napi(frame);
      else
        ppool::return_frame(frame);
    });
    if (item.kind == Kind::kWhole && item.refs > 1) {
      item.kind = Kind::kNormal;  // the pool's put of a shared page releases it
      --item.refs;
    } else {
      const Item before = item;
      const bool last = --item.refs == 0;
      if (last) remove(i);
      expect_home(before, kSyncFull);  // a frame's page goes home as put_full_page
      if (last) return;
    }
    write_token(item);  // the frame overwrote it
  }

  void frame_flush() {
    trace("  FrameBulk flush of %u", bulk_.count());
    bulk_.flush();
    bulk_flushed();
  }

  // The FrameBulk was flushed: its frames went home in one put_page_bulk.
  void bulk_flushed() {
    std::vector<Item> flushed = std::move(bulk_items_);
    bulk_items_.clear();
    std::vector<Page*> seen;
    for (const Item& item : flushed) expect_home(item, kSyncFull, &seen);
  }

  // The pool moves to the helper thread (bind_owner), which allocates from
  // it and recycles into its cache as the owner, then comes back; the model
  // is only touched while this thread waits for the helper.
  void op_hand_over() {
    const std::uint8_t b = in_.byte(), n = in_.byte(), m = in_.byte();
    const int slot = b % kSlots;
    PagePool* pool = pool_in(slot);
    if (!pool) return;
    const int inst = slot_[slot];
    e_.helper.run([&] {
      pool->bind_owner();
      for (int k = 0; k < n % 16; ++k) {
        if (k % 2)
          alloc_frag(slot, static_cast<std::uint8_t>(m + k));
        else
          alloc_pages(slot);
      }
      int recycled = 0;
      for (std::size_t k = items_.size(); k-- > 0 && recycled < m % 16;) {
        if (items_[k].inst != inst || items_[k].kind == Kind::kNormal) continue;
        put(k, kRecycleDirect, false, ~std::uint32_t{0}, true, 0);  // here: the owner's thread
        ++recycled;
      }
    });
    pool->bind_owner();
  }

  void step() {
    const std::uint8_t op = in_.byte() % kOpCount;
    trace("%s (%zu items held)", kOpNames[op], items_.size());
    switch (op) {
      case kCreate: {
        const std::uint8_t slot = in_.byte(), variant = in_.byte();
        create(slot % kSlots, variant);
        break;
      }
      case kDestroy:
        destroy(in_.byte() % kSlots);
        break;
      case kAllocPages:
        alloc_pages(in_.byte() % kSlots);
        break;
      case kAllocBurst: {
        const std::uint8_t slot = in_.byte(), n = in_.byte();
        for (int k = 0; k <= n % 64; ++k) alloc_pages(slot % kSlots);
        break;
      }
      case kAllocFrag: {
        const std::uint8_t slot = in_.byte(), size = in_.byte();
        alloc_frag(slot % kSlots, size);
        break;
      }
      case kAlloc:
      case kAllocVa: {
        const std::uint8_t slot = in_.byte(), size = in_.byte();
        alloc_region(slot % kSlots, size, op == kAllocVa);
        break;
      }
      case kPut:
        op_put();
        break;
      case kPutBulk:
        op_put_bulk();
        break;
      case kPutBurst:
        op_put_burst();
        break;
      case kGetPage:
        op_get_page();
        break;
      case kReleasePage:
        op_release_page();
        break;
      case kPpRefCountInc:
        op_pp_ref_count_inc();
        break;
      case kPpRefCountSet:
        op_pp_ref_count_set();
        break;
      case kPpRefCountSub:
        op_pp_ref_count_sub();
        break;
      case kSyncForCpu:
        op_sync_for_cpu();
        break;
      case kRecreate: {
        const std::uint8_t slot = in_.byte(), variant = in_.byte();
        destroy(slot % kSlots);
        create(slot % kSlots, variant);
        break;
      }
      case kFrame:
        op_frame();
        break;
      case kFrameFlush:
        frame_flush();
        break;
      case kHandOver:
        op_hand_over();
        break;
      default:  // kAllocBulk
        op_alloc_bulk();
        break;
    }
  }

  void nudge_release_worker() {
    ppool::PagePoolParams p;
    p.name = "fz-nudge";
    p.allocator = &e_.allocator;
    auto created = PagePool::create(p);
    FUZZ_CHECK(created.ok(), "create of the nudge pool failed");
    PagePool* pool = created.value();
    Page* page = pool->alloc_pages();
    FUZZ_CHECK(page, "alloc_pages of the nudge pool failed");
    FUZZ_CHECK(PagePool::destroy(pool) == 1, "the nudge pool's page is not in flight");
    pool->release_page(page);
    ppool::put_page(page);
  }

  // Everything back, every pool destroyed, then nothing may remain.
  void finish() {
    frame_flush();
    while (!items_.empty()) put(items_.size() - 1, kGenericPut, false, 0, false, 0);
    for (int slot = 0; slot < kSlots; ++slot) {
      const int i = slot_[slot];
      if (i < 0) continue;
      inst_[i].rxq.reset();
      const std::uint32_t left = PagePool::destroy(inst_[i].pool);
      FUZZ_CHECK(left == 0, "destroy of '%s' with every page back: %u in flight",
                 inst_[i].name.c_str(), left);
      inst_[i].alive = false;
      slot_[slot] = -1;
    }
    check();
    // Pages that came home through a destroyed pool's ring wait for the
    // release worker's next retry (up to 100 ms). Most runs wake it with a
    // pool destroyed with a page out, then released (both wake it), so the
    // fuzzer is not bound by that sleep; runs whose input size is a
    // multiple of 8 leave it to the timed retry.
    if (ppool::pools_pending_release() != 0 && in_.size() % 8 != 0) nudge_release_worker();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ppool::pools_pending_release() != 0) {
      FUZZ_CHECK(std::chrono::steady_clock::now() < deadline,
                 "%zu destroyed pools still pending release 10 s after their pages "
                 "came back",
                 ppool::pools_pending_release());
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    FUZZ_CHECK(e_.debug.live_mappings() == 0, "%zu DMA mappings left after the run",
               e_.debug.live_mappings());
    FUZZ_CHECK(e_.coherent.live_mappings() == 0, "%zu coherent mappings left after the run",
               e_.coherent.live_mappings());
    // Every pool of the run left the registry with its last page.
    check_registry();
    for (const Instance& in : inst_)
      FUZZ_CHECK(in.gone, "pool '%s' (id %u) still in the registry after the run", in.name.c_str(),
                 in.id);
    FUZZ_CHECK(e_.debug.error_count() == 0, "the DMA checker found an error");
    const ppool::PageAllocatorStats s = e_.allocator.stats();
    FUZZ_CHECK(s.free_bytes + s.released_bytes == s.committed_bytes,
               "pages lost: %zu bytes committed, %zu free, %zu released", s.committed_bytes,
               s.free_bytes, s.released_bytes);
    FUZZ_CHECK(ppool::misuse_count() == misuses_, "a misuse was reported");
  }

  Reader& in_;
  Env& e_;
  std::uint64_t misuses_ = 0;
  std::uint64_t token_ = 0;
  int slot_[kSlots];
  std::vector<Instance> inst_;
  std::vector<Item> items_;
  std::vector<ppool::test::RecordingDmaDevice::Sync> expected_syncs_;  // since the last settle
  // Frames queued in bulk_, not yet returned: the harness may not touch them.
  ppool::FrameBulk bulk_;
  std::vector<Item> bulk_items_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  Run(in).execute();
  return 0;
}
