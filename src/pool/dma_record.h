// The pool's record of its DMA mappings (layer pool, internal).
//
// The kernel keeps a page's DMA address in the page and trusts the page's
// holder to unmap it. A pool that can be destroyed while pages are in flight
// needs more: destroy unmaps the pages still out (so the device may go away),
// and their holders return them later. This record makes "exactly one party
// unmaps a page, with the address and length it was mapped with, before the
// page can be freed" hold by construction:
// - an entry keeps the address and length the device returned; every unmap
//   uses those, never the page descriptor (whose order and DMA address change
//   once the page is freed and merged or re-allocated);
// - whoever removes an entry (under the lock) unmaps it; nobody else can;
// - a holder removes its page's entry and unmaps it before it frees the page;
// - destroy unmaps every remaining entry while holding the lock, so a holder
//   that finds its page's entry gone has waited for that unmap to finish;
// - destroy returns only once no holder is inside the device's unmap (a
//   holder that removed its entry counts itself in flight under the lock,
//   and destroy waits for the count to drop to 0), so the device may go away
//   then.
//
// Cost: one lock and one device call (map_bulk) per bulk map, one lock and
// two atomic RMWs (the in-flight count) per unmap, all cold (the slow path
// and the release path). Only destroy holds the lock across device calls,
// and then only holders of in-flight pages wait; the owner is the one
// destroying. A holder's own unmap runs outside the lock, so the owner's
// refill never waits behind another thread's device work; destroy waits
// for it instead (a yield loop: one device call at most per holder).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "ppool/dma.h"
#include "ppool/page.h"

namespace ppool::detail {

class DmaRecord {
 public:
  // caller names the pool in the device's reports; it must outlive the record.
  DmaRecord(DmaDevice& dev, DmaDirection dir, std::string_view caller)
      : dev_(dev), dir_(dir), caller_(caller) {}
  DmaRecord(const DmaRecord&) = delete;
  DmaRecord& operator=(const DmaRecord&) = delete;

  // Maps pages[0, n) in order until the device refuses one, with one
  // map_bulk call per 64 pages (a refill: one call), and records the
  // mappings with one lock acquisition. Returns how many were mapped, m:
  // pages[0, m) now have dma_addr and dma_slot set; pages[m, n) are not
  // mapped (pages[m] was refused and counted) and the caller frees them.
  // Thread context: the pool's owner.
  [[nodiscard]] std::size_t map(Page** pages, std::size_t n);
  // Unmaps the page if its mapping is still recorded; returns at once
  // otherwise (destroy unmapped it). Thread context: the page's holder.
  void unmap(Page* page);
  // Unmaps every recorded page, with one unmap_bulk call per 64 pages, then
  // waits for holders' unmaps under way. Returns with no call into the
  // device running or to come. Thread context: destroy.
  void unmap_all();

  // Maps the device refused, ever. Thread context: any thread.
  [[nodiscard]] std::uint64_t map_failures() const {
    return map_failures_.load(std::memory_order_relaxed);
  }

 private:
  struct Mapping {
    Page* page;
    DmaAddr addr;
    std::size_t bytes;
  };

  DmaDevice& dev_;
  const DmaDirection dir_;
  const std::string_view caller_;
  std::atomic<std::uint64_t> map_failures_{0};
  std::mutex lock_;
  std::vector<Mapping> mappings_;  // Page::dma_slot indexes it
  // Holders between removing their entry (under lock_) and the end of
  // their device unmap (after it).
  std::atomic<std::uint32_t> unmaps_in_flight_{0};
};

}  // namespace ppool::detail
