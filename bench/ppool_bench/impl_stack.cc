// The floor: a bare free-frame stack of page pointers, what an AF_XDP
// program writes for its UMEM when it wants nothing but speed. One thread,
// no checks (no owner, no refcount, no double-free tag, no statistics): a
// pop to allocate, a push to free. Its pages are one mmap'd region, touched
// once before the first round. It runs the owner-only workloads; the ring,
// cross-core and page-allocator ones need what it deliberately lacks. On
// the curves it runs the pages in flight (frames for 256 Ki added to the
// region when first asked for) and the pools (that many stacks, the frames
// shared out), not the returning threads.
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "impl.h"
#include "report.h"

namespace ppool_bench {
namespace {

// Enough for the largest cycle (64 Ki pages in flight) and a burst.
constexpr std::size_t kStackPages = (std::size_t{1} << 16) + 1024;

class StackAdapter {
 public:
  using Buf = void*;

  StackAdapter() {
    const std::size_t bytes = kStackPages * kBufSize;
    void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) die("stack", "mmap of the frame region failed");
    std::memset(region, 0, bytes);  // touched once, as a registered UMEM is
    region_ = static_cast<unsigned char*>(region);
    free_.reserve(kStackPages);
    for (std::size_t i = kStackPages; i-- > 0;) free_.push_back(region_ + i * kBufSize);
  }
  ~StackAdapter() {
    munmap(region_, kStackPages * kBufSize);
    if (more_) munmap(more_, more_pages_ * kBufSize);
  }
  StackAdapter(const StackAdapter&) = delete;
  StackAdapter& operator=(const StackAdapter&) = delete;

  bool runs(Workload w) const { return stack_runs(w); }
  bool open(Workload) { return true; }
  bool close() {
    if (!stacks_.empty()) {  // a pools point's: back into one stack
      free_.swap(stacks_[cur_]);
      free_.clear();
      free_.reserve(kStackPages + more_pages_);
      for (const std::vector<Buf>& stack : stacks_)
        free_.insert(free_.end(), stack.begin(), stack.end());
      stacks_.clear();
    }
    const std::size_t frames = kStackPages + more_pages_;
    if (free_.size() == frames) return true;
    warn("stack: %zu of %zu frames not returned\n", frames - free_.size(), frames);
    return false;
  }

  bool runs(const CurvePoint& p) const { return p.axis != Axis::kThreads; }
  bool open(const CurvePoint& p) {
    const std::size_t need = inflight_of(p) + 1024;  // and a burst, as kStackPages
    if (need > kStackPages + more_pages_ && !add_frames(need - kStackPages - more_pages_))
      return false;
    const unsigned pools = pools_of(p);
    if (pools == 1) return true;
    // Each stack a contiguous share of the frames, with room for two (the
    // last one takes the rest): a frame goes back to the stack it came
    // from, so a push never allocates.
    const std::size_t share = free_.size() / pools;
    stacks_.assign(pools, {});
    for (unsigned i = 0; i < pools; ++i) {
      stacks_[i].reserve(2 * share);
      stacks_[i].assign(free_.begin() + static_cast<std::ptrdiff_t>(i * share),
                        i + 1 < pools ? free_.begin() + static_cast<std::ptrdiff_t>((i + 1) * share)
                                      : free_.end());
    }
    free_.clear();
    free_.swap(stacks_[0]);  // stacks_[cur_] holds an empty vector while free_ is in use
    cur_ = 0;
    return true;
  }
  // Two vector swaps, a dozen moves a burst (well under 0.1 ns a page): the
  // price of keeping the one stack's loop as it was.
  void use_pool(unsigned i) {
    if (stacks_.empty() || i == cur_) return;
    free_.swap(stacks_[cur_]);
    free_.swap(stacks_[i]);
    cur_ = i;
  }

  Buf alloc() {
    if (__builtin_expect(free_.empty(), 0)) die("stack", "out of frames");
    Buf buf = free_.back();
    free_.pop_back();
    return buf;
  }
  void alloc_bulk(Buf* bufs, unsigned n) {
    if (__builtin_expect(free_.size() < n, 0)) die("stack", "out of frames");
    const std::size_t top = free_.size() - n;
    std::memcpy(bufs, free_.data() + top, n * sizeof(Buf));
    free_.resize(top);
  }
  void recycle_direct(Buf buf) { free_.push_back(buf); }
  void put(Buf buf) { free_.push_back(buf); }
  void release(Buf buf) { free_.push_back(buf); }
  void put_bulk(Buf* bufs, unsigned n) { free_.insert(free_.end(), bufs, bufs + n); }
  void remote_begin() {}
  void remote_end() {}
  void* data(Buf buf) { return buf; }

 private:
  // More frames for the curve's deepest point, a region of their own
  // touched as the first was; kept to the end, as the first is.
  bool add_frames(std::size_t pages) {
    if (more_) {
      warn("stack: frames are added once, for the deepest point\n");
      return false;
    }
    const std::size_t bytes = pages * kBufSize;
    void* region = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) {
      warn("stack: mmap of %zu more frames failed\n", pages);
      return false;
    }
    std::memset(region, 0, bytes);
    more_ = static_cast<unsigned char*>(region);
    more_pages_ = pages;
    free_.reserve(kStackPages + pages);
    for (std::size_t i = pages; i-- > 0;) free_.push_back(more_ + i * kBufSize);
    return true;
  }

  unsigned char* region_ = nullptr;
  std::vector<Buf> free_;          // reserved once: a push never allocates
  unsigned char* more_ = nullptr;  // add_frames()'s, once
  std::size_t more_pages_ = 0;
  std::vector<std::vector<Buf>> stacks_;  // a pools point's stacks
  unsigned cur_ = 0;                      // the stack in free_
};

}  // namespace

bool stack_runs(Workload w) {
  switch (w) {
    case Workload::kFastPath:
    case Workload::kBulk16:
    case Workload::kBulk64:
    case Workload::kWs256:
    case Workload::kWs4096:
    case Workload::kCycle4k:
    case Workload::kCycle16k:
    case Workload::kCycle64k:
      return true;
    default:
      return false;
  }
}

std::unique_ptr<Impl> make_stack() {
  std::printf("# %-12s a bare free-frame stack of %zu page pointers, one thread, no checks\n",
              "stack", kStackPages);
  return std::make_unique<ImplOf<StackAdapter>>("stack");
}

}  // namespace ppool_bench
