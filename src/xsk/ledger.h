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
  std::mutex lock;  // slots, pending_pools
  std::vector<Slot> slots;
  // Ids of the queues' pools destroyed with frames out: the registry lists
  // them, by this UMEM's device, until the release worker frees them, so
  // the UMEM (and its device) outlives them (see ~XskUmem).
  std::vector<std::uint32_t> pending_pools;
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

Page* XskUmem::take_from_kernel(std::uint64_t addr, FrameState from, FrameState to, unsigned slot) {
  const std::uint64_t frame = addr / kXskFrameSize;
  if (PPOOL_UNLIKELY(frame >= ledger_->frames)) return nullptr;
  std::atomic<std::uint16_t>& entry = ledger_->entries[frame];
  // The whole entry, slot included: a frame that another socket posted is
  // not this socket's to take (its counts would move, and the other's not).
  const auto expected = static_cast<std::uint16_t>(from | slot << Ledger::kStateBits);
  if (PPOOL_UNLIKELY(entry.load(std::memory_order_relaxed) != expected)) return nullptr;
  entry.store(to, std::memory_order_relaxed);  // kApp and kHome carry no slot
  return first_page_ + frame;
}

// kHome is the application's only when a pool handed the page out and it
// was not given back (the pool's in-use tag: no state bit). That reads the
// descriptor, a miss a frame; received frames (kApp) need the ledger alone.
namespace detail {
inline bool allocated_and_out(const Page* page) {
  const std::uintptr_t tag = load_tag(page);
  return tag != 0 && (tag & kTagStateMask) == 0;
}
}  // namespace detail

bool XskUmem::take_for_tx(Page* page, unsigned slot) {
  const std::uint64_t frame = addr_of(page) / kXskFrameSize;
  std::atomic<std::uint16_t>& entry = ledger_->entries[frame];
  const std::uint16_t state = entry.load(std::memory_order_relaxed) & Ledger::kStateMask;
  const bool held = state == kApp || (state == kHome && detail::allocated_and_out(page));
  if (PPOOL_UNLIKELY(!held)) return false;
  entry.store(static_cast<std::uint16_t>(kTx | slot << Ledger::kStateBits),
              std::memory_order_relaxed);
  return true;
}

XskUmem::Held XskUmem::take_for_home(Page* page) {
  const std::uint64_t frame = addr_of(page) / kXskFrameSize;
  std::atomic<std::uint16_t>& entry = ledger_->entries[frame];
  const std::uint16_t state = entry.load(std::memory_order_relaxed) & Ledger::kStateMask;
  if (PPOOL_LIKELY(state == kApp)) {
    entry.store(kHome, std::memory_order_relaxed);
    return Held::kReceived;
  }
  return state == kHome && detail::allocated_and_out(page) ? Held::kAllocated : Held::kNo;
}

}  // namespace ppool
