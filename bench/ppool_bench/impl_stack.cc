// The floor: a bare free-frame stack of page pointers, what an AF_XDP
// program writes for its UMEM when it wants nothing but speed. One thread,
// no checks (no owner, no refcount, no double-free tag, no statistics): a
// pop to allocate, a push to free. Its pages are one mmap'd region, touched
// once before the first round. It runs the owner-only workloads; the ring,
// cross-core and page-allocator ones need what it deliberately lacks.
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
  ~StackAdapter() { munmap(region_, kStackPages * kBufSize); }
  StackAdapter(const StackAdapter&) = delete;
  StackAdapter& operator=(const StackAdapter&) = delete;

  bool runs(Workload w) const { return stack_runs(w); }
  bool open(Workload) { return true; }
  bool close() {
    if (free_.size() == kStackPages) return true;
    warn("stack: %zu of %zu frames not returned\n", kStackPages - free_.size(), kStackPages);
    return false;
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
  unsigned char* region_ = nullptr;
  std::vector<Buf> free_;  // reserved once: a push never allocates
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
