// The pool's record of its DMA mappings. See dma_record.h for the invariant.
#include "pool/dma_record.h"

namespace ppool::detail {
namespace {
constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
}  // namespace

// The device calls run outside the lock, which guards only the record, so
// the owner never waits behind another thread's device work.
// A refusal ends the bulk: the device is out of something (IOMMU space,
// locked memory, table slots), and asking again for each remaining page
// would cost a refused call (a syscall, for io_uring) per page on every
// failing allocation.
std::size_t DmaRecord::map(Page** pages, std::size_t n) {
  std::size_t mapped = 0;
  for (; mapped < n; ++mapped) {
    Page* page = pages[mapped];
    page->dma_slot = kNoSlot;
    page->dma_addr = dev_.map(page_address(page), page_bytes(page), dir_, caller_);
    if (page->dma_addr == kDmaMappingError) {
      map_failures_.fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  std::lock_guard guard(lock_);
  for (std::size_t i = 0; i < mapped; ++i) {
    pages[i]->dma_slot = static_cast<std::uint32_t>(mappings_.size());
    mappings_.push_back({pages[i], pages[i]->dma_addr, page_bytes(pages[i])});
  }
  return mapped;
}

void DmaRecord::unmap(Page* page) {
  Mapping mapping;
  {
    std::lock_guard guard(lock_);
    const std::uint32_t slot = page->dma_slot;
    if (slot == kNoSlot) return;  // destroy unmapped it, and has finished
    mapping = mappings_[slot];
    mappings_[slot] = mappings_.back();
    mappings_[slot].page->dma_slot = slot;
    mappings_.pop_back();
    page->dma_slot = kNoSlot;
  }
  dev_.unmap(mapping.addr, mapping.bytes, dir_, caller_);
}

// The lock is held across the device calls: a holder returning one of these
// pages meanwhile blocks in unmap() until its page's mapping is gone, and
// only then may free the page.
void DmaRecord::unmap_all() {
  std::lock_guard guard(lock_);
  for (const Mapping& m : mappings_) {
    m.page->dma_slot = kNoSlot;
    dev_.unmap(m.addr, m.bytes, dir_, caller_);
  }
  mappings_.clear();
}

}  // namespace ppool::detail
