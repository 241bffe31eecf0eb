// The UMEM's ledger (internal to ppool_xsk): one entry per frame saying
// where it is at the kernel boundary, the UMEM's own fill and completion
// rings, and the table of open sockets.
#pragma once

#include <xdp/xsk.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ppool/xsk.h"

namespace ppool {

struct XskUmem::Ledger {
  // Entry: state in bits 0-1, the socket slot holding a kernel-held frame
  // above. Relaxed atomics: a frame has one holder at a time, and whatever
  // hands it over (a ring of the kernel's or the pool's) orders the writes;
  // the atomics only let a report read the ledger while the rings run.
  static constexpr unsigned kStateBits = 2;
  static constexpr std::uint16_t kStateMask = 3;
  static constexpr unsigned kMaxSlots = 1u << (16 - kStateBits);

  explicit Ledger(std::uint32_t frames)
      : entries(new std::atomic<std::uint16_t>[frames]), frames(frames) {
    for (std::uint32_t i = 0; i < frames; ++i) entries[i].store(0, std::memory_order_relaxed);
  }

  std::unique_ptr<std::atomic<std::uint16_t>[]> entries;
  std::uint32_t frames;
  // The UMEM's own rings, used by its first (registration) socket: libxdp
  // keeps pointers to them, so they live here, never moving.
  xsk_ring_prod fill{};
  xsk_ring_cons comp{};

  // Open sockets by slot (a closed one's slot is reused).
  struct Slot {
    XskQueue* queue = nullptr;
    std::string ifname;
    std::uint32_t queue_id = 0;
    // The registration socket's slot after its queue closed: the kernel
    // holds its frames until the UMEM is deleted, so the slot (the name its
    // ledger entries carry) is not given to another socket.
    bool kernel_holds = false;
  };
  std::mutex lock;  // slots
  std::vector<Slot> slots;
};

// Inline: the RX, TX and completion paths call these once a frame.
void XskUmem::set_state(Page* const* pages, std::size_t n, FrameState state, unsigned slot) {
  const auto entry = static_cast<std::uint16_t>(
      state | ((state == kFill || state == kTx) ? slot << Ledger::kStateBits : 0));
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t frame = addr_of(pages[i]) / kXskFrameSize;
    ledger_->entries[frame].store(entry, std::memory_order_relaxed);
  }
}

Page* XskUmem::take_from_kernel(std::uint64_t addr, FrameState from, FrameState to) {
  const std::uint64_t frame = addr / kXskFrameSize;
  if (PPOOL_UNLIKELY(frame >= ledger_->frames)) return nullptr;
  std::atomic<std::uint16_t>& entry = ledger_->entries[frame];
  if (PPOOL_UNLIKELY((entry.load(std::memory_order_relaxed) & Ledger::kStateMask) != from))
    return nullptr;
  entry.store(to, std::memory_order_relaxed);  // kApp and kHome carry no slot
  return first_page_ + frame;
}

}  // namespace ppool
