// The baseline (--alloc stack): the free-frame stack that most AF_XDP
// applications write, in the style of libxdp's and xdp-tutorial's examples.
// One anonymous mapping is the UMEM, cut into fixed frames; each queue keeps
// an array of free frame addresses and a count, pops on refill and pushes on
// completion. No accounting beyond that count, no pages, no pool.
#pragma once

#include <cstdint>
#include <vector>

#include "ppool/base.h"

struct xsk_umem;
struct xsk_ring_prod;
struct xsk_ring_cons;

namespace xsk {

constexpr std::uint64_t kNoFrame = ~std::uint64_t{0};

class FrameStack {
 public:
  // frames [first, first + count) of frame_size bytes, all free.
  void init(std::uint64_t first, std::uint32_t count, std::uint32_t frame_size) {
    frames_.resize(count);
    for (std::uint32_t i = 0; i < count; ++i) frames_[i] = (first + i) * frame_size;
    free_ = count;
  }
  std::uint64_t alloc() { return free_ ? frames_[--free_] : kNoFrame; }
  void free(std::uint64_t addr) { frames_[free_++] = addr; }
  std::uint32_t free_count() const { return free_; }

 private:
  std::vector<std::uint64_t> frames_;
  std::uint32_t free_ = 0;
};

// The UMEM of the baseline: an anonymous mapping (not populated: pages are
// committed when the kernel or we first touch a frame) registered with
// xsk_umem__create, and the fill and completion rings it comes with.
class StackUmem {
 public:
  StackUmem() = default;
  StackUmem(const StackUmem&) = delete;
  StackUmem& operator=(const StackUmem&) = delete;
  ~StackUmem();

  // lock: populate and lock the mapping up front (MAP_POPULATE | MAP_LOCKED).
  // @return success, or the failed mmap's or xsk_umem__create's errno as
  //   an Error (support/errno_error.h: kOutOfMemory when the mapping could
  //   not be made or locked); the destructor frees what was made.
  ppool::Result<void> create(std::uint32_t frames, std::uint32_t frame_size,
                             std::uint32_t ring_size, bool lock, xsk_ring_prod* fill,
                             xsk_ring_cons* comp);
  xsk_umem* umem() const { return umem_; }
  char* area() const { return area_; }
  std::uint32_t frames() const { return frames_; }
  // Frames whose memory the kernel has committed (resident), by mincore().
  std::uint64_t committed_frames() const;

 private:
  xsk_umem* umem_ = nullptr;
  char* area_ = nullptr;
  std::uint32_t frames_ = 0, frame_size_ = 0;
};

}  // namespace xsk
