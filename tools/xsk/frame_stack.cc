#include "frame_stack.h"

#include <sys/mman.h>
#include <unistd.h>
#include <xdp/xsk.h>

#include "support/errno_error.h"

namespace xsk {

StackUmem::~StackUmem() {
  if (umem_) xsk_umem__delete(umem_);
  if (area_) munmap(area_, std::size_t{frames_} * frame_size_);
}

ppool::Result<void> StackUmem::create(std::uint32_t frames, std::uint32_t frame_size,
                                      std::uint32_t ring_size, bool lock, xsk_ring_prod* fill,
                                      xsk_ring_cons* comp) {
  const std::size_t bytes = std::size_t{frames} * frame_size;
  const int populate = lock ? MAP_POPULATE | MAP_LOCKED : 0;
  void* area =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | populate, -1, 0);
  if (area == MAP_FAILED) return ppool::tools::errno_error("mmap of the UMEM", errno);
  area_ = static_cast<char*>(area);
  frames_ = frames;
  frame_size_ = frame_size;
  xsk_umem_config config{};
  config.fill_size = ring_size;
  config.comp_size = ring_size;
  config.frame_size = frame_size;
  config.frame_headroom = 0;
  config.flags = 0;
  int ret = xsk_umem__create(&umem_, area, bytes, fill, comp, &config);
  if (ret != 0) {
    umem_ = nullptr;
    return ppool::tools::errno_error("xsk_umem__create", -ret);
  }
  return {};
}

std::uint64_t StackUmem::committed_frames() const {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t bytes = std::size_t{frames_} * frame_size_;
  std::vector<unsigned char> resident((bytes + page - 1) / page);
  if (mincore(area_, bytes, resident.data()) != 0) return 0;
  std::uint64_t pages = 0;
  for (unsigned char r : resident) pages += r & 1;
  return pages * page / frame_size_;
}

}  // namespace xsk
