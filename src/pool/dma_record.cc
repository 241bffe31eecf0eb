// The pool's record of its DMA mappings. See dma_record.h for the invariant.
#include "pool/dma_record.h"

#include <algorithm>
#include <thread>

#include "ppool/page_pool.h"

namespace ppool::detail {
namespace {
constexpr std::uint32_t kNoSlot = ~std::uint32_t{0};
// Entries per device call: a refill's bulk, so a refill is one call. Bounds
// the arrays on the stack (1.5 KiB).
constexpr std::size_t kChunk = kAllocCacheRefill;
}  // namespace

// The device calls run outside the lock, which guards only the record, so
// the owner never waits behind another thread's device work.
// A refusal ends the bulk (map_bulk stops at it, and so does this): the
// device is out of something (IOMMU space, locked memory, table slots), and
// asking again for each remaining page would cost a refused call (a syscall,
// for io_uring) per page on every failing allocation.
std::size_t DmaRecord::map(Page** pages, std::size_t n) {
  std::size_t mapped = 0;
  while (mapped < n) {
    const std::size_t count = std::min(n - mapped, kChunk);
    void* addrs[kChunk];
    std::size_t lens[kChunk];
    DmaAddr out[kChunk];
    for (std::size_t i = 0; i < count; ++i) {
      pages[mapped + i]->dma_slot = kNoSlot;
      addrs[i] = page_address(pages[mapped + i]);
      lens[i] = page_bytes(pages[mapped + i]);
    }
    const std::size_t got = dev_.map_bulk(addrs, lens, out, count, dir_, caller_);
    for (std::size_t i = 0; i < got; ++i) pages[mapped + i]->dma_addr = out[i];
    mapped += got;
    if (got < count) {
      pages[mapped]->dma_addr = kDmaMappingError;
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
    // Under the lock: unmap_all(), which takes it, sees the count.
    unmaps_in_flight_.fetch_add(1, std::memory_order_relaxed);
  }
  dev_.unmap(mapping.addr, mapping.bytes, dir_, caller_);
  // Release: destroy, reading the count down, sees the device call finished.
  // Nothing of the record is touched after it.
  unmaps_in_flight_.fetch_sub(1, std::memory_order_release);
}

// The lock is held across the device calls: a holder returning one of these
// pages meanwhile blocks in unmap() until its page's mapping is gone, and
// only then may free the page. In chunks, so that a device with a per-call
// cost (io_uring: a syscall per ring) pays it once per chunk.
void DmaRecord::unmap_all() {
  {
    std::lock_guard guard(lock_);
    for (std::size_t start = 0; start < mappings_.size(); start += kChunk) {
      const std::size_t count = std::min(mappings_.size() - start, kChunk);
      DmaAddr addrs[kChunk];
      std::size_t lens[kChunk];
      for (std::size_t i = 0; i < count; ++i) {
        const Mapping& m = mappings_[start + i];
        m.page->dma_slot = kNoSlot;
        addrs[i] = m.addr;
        lens[i] = m.bytes;
      }
      dev_.unmap_bulk(addrs, lens, count, dir_, caller_);
    }
    mappings_.clear();
  }
  // Holders that removed their entry before the lock was taken here may
  // still be in the device: destroy must not return (and the device go
  // away) under them. None can start after: every entry is gone.
  while (unmaps_in_flight_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

}  // namespace ppool::detail
