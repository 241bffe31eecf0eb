// The ladder from the floor to ppool: the bare free-frame stack (impl_stack.cc)
// with the pieces of what ppool knows about a page added one rung at a time,
// so that the difference between two rungs on the same loop is the cost of
// one piece:
//
//   stack_loop   the stack's operations as the checked rungs do them, with
//                  no check: the bulk put a loop over the pages, each one's
//                  frame number found (page_of()'s compare with the span);
//                  nothing read or written but the list. What any per-page
//                  check costs before its first load. Catches nothing.
//   stack_tag    + a 64-byte descriptor per frame (ppool::Page itself, in an
//                  array indexed by frame number apart from the frames, as
//                  ppool's vmemmap): alloc writes "in use" into pp_tag; put
//                  compares pp_tag with this pool's "in use" (a double put is
//                  caught: counted, not pushed) and writes "recycled". The tag
//                  that catches a double put, and what it costs.
//   stack_ref    + the refcount: put also requires the descriptor's refcount
//                  to be 1 (an acquire load), ppool's "held by nobody else".
//                  The checks of ppool's put_page_bulk(), on ppool's line.
//   stack_pf     stack_ref with the bulk put prefetching the descriptor of the
//                  page kPrefetchAhead ahead: what prefetching would win.
//   stack_dense  stack_ref's two checks on one 8-byte word per frame in a
//                  dense array (state and refcount together, one 64-bit
//                  compare): what moving the hot part of the descriptor into
//                  an array of its own would win.
//
// Each rung is the stack's adapter once, parameterised by a check (what alloc
// writes and put reads); all keep the stack's LIFO of frame pointers on one
// thread and find a frame's number from its pointer as ppool's page_of() does
// (subtract the base, compare with the span, shift).
//
// In this file and not in impl_stack.cc: the floor stays the few lines an
// AF_XDP program writes, and the ladder is one concept of its own.
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "impl.h"
#include "ppool/page.h"
#include "report.h"

namespace ppool_bench {
namespace {

// As many frames as the stack has: the largest cycle and a burst.
constexpr std::size_t kLadderFrames = (std::size_t{1} << 16) + 1024;
// The factory's check of a rung runs on a ladder this small.
constexpr std::size_t kProbeFrames = 64;

void* map_zeroed(std::size_t bytes, const char* name) {
  void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) die(name, "mmap failed");
  std::memset(region, 0, bytes);  // touched once, before the first round
  return region;
}

// No knowledge: stack_loop's check accepts every frame of the ladder.
struct NoCheck {
  static constexpr unsigned kPrefetchAhead = 0;
  static constexpr bool kCatchesDoublePut = false;  // nor anything else: no probe

  struct Hot {
    void alloc(std::size_t) const {}
    bool put(std::size_t) const { return true; }
    void prefetch(std::size_t) const {}
  };

  NoCheck(std::size_t, const char*) {}
  Hot hot() const { return {}; }
};

// ppool's descriptor: a ppool::Page per frame, its tag (pp_tag: this pool's
// address, bit 0 set while the frame is back) read and written as ppool does
// (a plain load, relaxed stores), its refcount read with an acquire load
// when kRefcount. kAhead > 0: the bulk put prefetches (for a write) the
// descriptor kAhead pages ahead.
template <bool kRefcount, unsigned kAhead>
class DescriptorCheck {
 public:
  static constexpr unsigned kPrefetchAhead = kAhead;
  static constexpr bool kCatchesDoublePut = true;
  static constexpr bool kChecksRefcount = kRefcount;

  // What the loops use, copied into registers for each operation: a tag
  // store may alias any integer member, so a loop that read them through
  // `this` would reload them at every page (ppool's loops keep their tags in
  // registers too).
  struct Hot {
    ppool::Page* descs;
    std::uintptr_t in_use, recycled;

    void alloc(std::size_t frame) const {
      __atomic_store_n(&descs[frame].pp_tag, in_use, __ATOMIC_RELAXED);
    }
    // True when the frame is this pool's, out (not put twice) and, with
    // kRefcount, held by nobody else; it is then marked recycled.
    bool put(std::size_t frame) const {
      ppool::Page& desc = descs[frame];
      if (__atomic_load_n(&desc.pp_tag, __ATOMIC_RELAXED) != in_use) return false;
      if (kRefcount && desc.refcount.load(std::memory_order_acquire) != 1) return false;
      __atomic_store_n(&desc.pp_tag, recycled, __ATOMIC_RELAXED);
      return true;
    }
    // An address, not an element: a garbage frame number must not be
    // undefined behaviour before put() refuses it (a prefetch never faults).
    void prefetch(std::size_t frame) const {
      __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(descs) +
                                                       frame * sizeof(ppool::Page)),
                         1);
    }
  };

  DescriptorCheck(std::size_t frames, const char* name)
      : frames_(frames),
        descs_(static_cast<ppool::Page*>(map_zeroed(frames * sizeof(ppool::Page), name))) {
    for (std::size_t f = 0; f < frames; ++f) {
      descs_[f].refcount.store(1, std::memory_order_relaxed);  // the pool's own reference
      descs_[f].pp_tag = recycled_;                            // every frame starts free
    }
  }
  ~DescriptorCheck() { munmap(descs_, frames_ * sizeof(ppool::Page)); }
  DescriptorCheck(const DescriptorCheck&) = delete;
  DescriptorCheck& operator=(const DescriptorCheck&) = delete;

  Hot hot() const { return {descs_, in_use_, recycled_}; }
  // The factory's probe: another holder takes (or drops) a reference.
  void share(std::size_t frame, bool shared) {
    descs_[frame].refcount.store(shared ? 2 : 1, std::memory_order_relaxed);
  }

 private:
  std::size_t frames_;
  ppool::Page* descs_;
  std::uintptr_t in_use_ = reinterpret_cast<std::uintptr_t>(this);  // at least 8-aligned
  std::uintptr_t recycled_ = in_use_ | 1;
};

// The hot part of a descriptor alone: one 8-byte word per frame, the pool's
// id and the frame's state in the low half (id << 1, bit 0 set while back),
// the refcount in the high half, so that both of stack_ref's checks are one
// load and one 64-bit compare, and 8 frames share a line where a descriptor
// takes one each. A frame on the free list holds only the pool's reference,
// so alloc writes the whole word without reading it.
class DenseCheck {
 public:
  static constexpr unsigned kPrefetchAhead = 0;
  static constexpr bool kCatchesDoublePut = true;
  static constexpr bool kChecksRefcount = true;

  struct Hot {
    std::uint64_t* words;
    std::uint64_t in_use, recycled;

    void alloc(std::size_t frame) const {
      __atomic_store_n(&words[frame], in_use, __ATOMIC_RELAXED);
    }
    bool put(std::size_t frame) const {
      if (__atomic_load_n(&words[frame], __ATOMIC_ACQUIRE) != in_use) return false;
      __atomic_store_n(&words[frame], recycled, __ATOMIC_RELAXED);
      return true;
    }
    void prefetch(std::size_t) const {}
  };

  DenseCheck(std::size_t frames, const char* name)
      : frames_(frames),
        words_(static_cast<std::uint64_t*>(map_zeroed(frames * sizeof(std::uint64_t), name))) {
    for (std::size_t f = 0; f < frames; ++f) words_[f] = recycled_;
  }
  ~DenseCheck() { munmap(words_, frames_ * sizeof(std::uint64_t)); }
  DenseCheck(const DenseCheck&) = delete;
  DenseCheck& operator=(const DenseCheck&) = delete;

  Hot hot() const { return {words_, in_use_, recycled_}; }
  void share(std::size_t frame, bool shared) {
    const std::uint64_t refs = shared ? 2 : 1;
    words_[frame] = (words_[frame] & 0xffffffffu) | refs << 32;
  }

 private:
  // A pool id per ladder (ppool's pool address would not fit in 31 bits).
  static std::uint64_t next_id() {
    static std::atomic<std::uint32_t> last{0};
    return last.fetch_add(1, std::memory_order_relaxed) + 1;
  }

  std::size_t frames_;
  std::uint64_t* words_;
  std::uint64_t in_use_ = std::uint64_t{1} << 32 | next_id() << 1;  // refcount 1, in use
  std::uint64_t recycled_ = in_use_ | 1;
};

// The stack's adapter with a check on every alloc and put.
template <class Check>
class LadderAdapter {
 public:
  using Buf = void*;

  LadderAdapter(const char* name, std::size_t frames)
      : name_(name),
        frames_(frames),
        span_(frames * kBufSize),
        region_(static_cast<unsigned char*>(map_zeroed(span_, name))),
        free_(std::make_unique<Buf[]>(frames)),
        check_(frames, name) {
    for (std::size_t i = frames; i-- > 0;) free_[count_++] = region_ + i * kBufSize;
  }
  ~LadderAdapter() { munmap(region_, span_); }
  LadderAdapter(const LadderAdapter&) = delete;
  LadderAdapter& operator=(const LadderAdapter&) = delete;

  bool runs(Workload w) const { return stack_runs(w); }
  bool open(Workload) { return true; }
  bool close() {
    bool clean = true;
    if (count_ != frames_) {
      warn("%s: %zu of %zu frames not returned\n", name_, frames_ - count_, frames_);
      clean = false;
    }
    if (refused_) {  // the loops never put twice: a check that refuses them is broken
      warn("%s: %zu puts refused\n", name_, refused_);
      refused_ = 0;
      clean = false;
    }
    return clean;
  }

  // Every operation reads the members it needs into registers first: the
  // check's stores may alias them.
  Buf alloc() {
    if (__builtin_expect(!count_, 0)) die(name_, "out of frames");
    Buf buf = free_[--count_];
    check_.hot().alloc(frame_of(region_, buf));
    return buf;
  }
  void alloc_bulk(Buf* bufs, unsigned n) {
    if (__builtin_expect(count_ < n, 0)) die(name_, "out of frames");
    count_ -= n;
    const Buf* run = free_.get() + count_;
    const auto hot = check_.hot();
    const unsigned char* region = region_;
    for (unsigned i = 0; i < n; ++i) {
      bufs[i] = run[i];
      hot.alloc(frame_of(region, run[i]));
    }
  }
  void recycle_direct(Buf buf) { put(buf); }
  void release(Buf buf) { put(buf); }
  // A frame accepted with no room left is a double put the check missed:
  // fatal (the stack's vector would grow instead). One compare a put, as the
  // vector's capacity check.
  void put(Buf buf) {
    if (__builtin_expect(!accept(check_.hot(), region_, span_, buf), 0)) {
      ++refused_;
      return;
    }
    if (__builtin_expect(count_ == frames_, 0)) die(name_, "more frames put than it has");
    free_[count_++] = buf;
  }
  // A run of frames pushed as each passes, one index for both arrays (as
  // ppool's recycle_run_in_cache()); a refused frame ends the run, and the
  // rest is a bulk of its own. A bulk larger than the frames out must hold
  // frames to refuse: one put at a time, each with its room checked.
  void put_bulk(Buf* bufs, unsigned n) {
    if (__builtin_expect(n > frames_ - count_, 0)) {
      for (unsigned i = 0; i < n; ++i) put(bufs[i]);
      return;
    }
    Buf* top = free_.get() + count_;
    const auto hot = check_.hot();
    const unsigned char* region = region_;
    const std::size_t span = span_;
    unsigned i = 0;
    for (; i < n; ++i) {
      if constexpr (Check::kPrefetchAhead > 0)
        if (i + Check::kPrefetchAhead < n)
          hot.prefetch(frame_of(region, bufs[i + Check::kPrefetchAhead]));
      if (__builtin_expect(!accept(hot, region, span, bufs[i]), 0)) break;
      top[i] = bufs[i];
    }
    count_ += i;
    if (__builtin_expect(i == n, 1)) return;
    ++refused_;
    put_bulk(bufs + i + 1, n - i - 1);
  }

  void remote_begin() {}
  void remote_end() {}
  void* data(Buf buf) { return buf; }

  // The factory's check that the rung catches what it claims to: a frame put
  // twice (singly, and twice in one bulk) is refused and leaves the free list
  // as it was; with a refcount, so is a frame another holder still has. Four
  // more frames stay out meanwhile: a check that misses them all says so
  // here rather than overrunning the list.
  bool catches_misuse() {
    Buf room[4];
    alloc_bulk(room, 4);
    Buf a = alloc(), b = alloc(), c = alloc();
    put(a);
    put(a);
    Buf twice[] = {b, b};
    put_bulk(twice, 2);
    bool caught = refused_ == 2;
    if constexpr (Check::kChecksRefcount) {
      check_.share(frame_of(region_, c), true);
      put(c);
      caught &= refused_ == 3 && count_ == frames_ - 5;
      check_.share(frame_of(region_, c), false);
    }
    put(c);
    caught &= count_ == frames_ - 4;
    refused_ = 0;
    if (caught) put_bulk(room, 4);  // else the probe is thrown away
    return caught;
  }

 private:
  // page_of(): the frame's number from its address.
  static std::size_t frame_of(const unsigned char* region, Buf buf) {
    return (reinterpret_cast<std::uintptr_t>(buf) - reinterpret_cast<std::uintptr_t>(region)) >>
           ppool::kPageShift;
  }
  // A frame of this ladder (page_of()'s compare with the span) that passes
  // the check.
  static bool accept(const typename Check::Hot& hot, const unsigned char* region, std::size_t span,
                     Buf buf) {
    const std::uintptr_t off =
        reinterpret_cast<std::uintptr_t>(buf) - reinterpret_cast<std::uintptr_t>(region);
    return off < span && hot.put(off >> ppool::kPageShift);
  }

  const char* name_;
  std::size_t frames_, span_;
  unsigned char* region_;
  std::unique_ptr<Buf[]> free_;  // the LIFO: a put never grows it (a double put is refused)
  std::size_t count_ = 0;
  std::size_t refused_ = 0;
  Check check_;
};

// The distance of stack_pf's prefetch: far enough to cover a miss at these
// loops' few ns a page, within one burst of 64.
constexpr unsigned kAhead = 8;

template <class Check>
std::unique_ptr<Impl> make_rung(const char* name, const char* what) {
  if constexpr (Check::kCatchesDoublePut) {
    if (!LadderAdapter<Check>(name, kProbeFrames).catches_misuse()) {
      std::printf("# %-12s skipped: its check missed a misuse it should catch\n", name);
      return nullptr;
    }
    std::printf("# %-12s the stack %s; a double put%s caught (verified)\n", name, what,
                Check::kChecksRefcount ? " and a shared frame" : "");
  } else {
    std::printf("# %-12s the stack %s; catches nothing\n", name, what);
  }
  return std::make_unique<ImplOf<LadderAdapter<Check>>>(name, name, kLadderFrames);
}

}  // namespace

std::unique_ptr<Impl> make_ladder(std::string_view name) {
  if (name == "stack_loop")
    return make_rung<NoCheck>("stack_loop",
                              "with the checked rungs' loops and page_of(), no check");
  if (name == "stack_tag")
    return make_rung<DescriptorCheck<false, 0>>("stack_tag",
                                                "+ a 64-byte descriptor's double-put tag");
  if (name == "stack_ref")
    return make_rung<DescriptorCheck<true, 0>>("stack_ref", "+ the descriptor's tag and refcount");
  if (name == "stack_pf")
    return make_rung<DescriptorCheck<true, kAhead>>(
        "stack_pf", ("+ tag and refcount, descriptors prefetched " + std::to_string(kAhead) +
                     " ahead in the bulk put")
                        .c_str());
  if (name == "stack_dense")
    return make_rung<DenseCheck>("stack_dense", "+ tag and refcount in one 8-byte word a frame");
  return nullptr;
}

}  // namespace ppool_bench
