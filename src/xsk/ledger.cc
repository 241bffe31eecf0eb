// The UMEM's ledger: where each frame is at the kernel boundary, and the
// reclaim that makes teardown lose nothing.
#include "xsk/ledger.h"

#include <algorithm>

namespace ppool {

XskUmem::FrameState XskUmem::state_of(const Page* page) const {
  const std::uint64_t frame = addr_of(page) / kXskFrameSize;
  if (frame >= ledger_->frames) return kHome;
  return static_cast<FrameState>(ledger_->entries[frame].load(std::memory_order_relaxed) &
                                 Ledger::kStateMask);
}

std::size_t XskUmem::reclaim(unsigned slot) {
  // Called once the kernel can no longer touch the socket's rings (its fd
  // is closed, or the registration deleted): every frame it held is ours.
  constexpr std::size_t kBatch = 64;
  Page* batch[kBatch];
  std::size_t count = 0, total = 0;
  for (std::uint32_t frame = 0; frame < ledger_->frames; ++frame) {
    const std::uint16_t entry = ledger_->entries[frame].load(std::memory_order_relaxed);
    const auto state = entry & Ledger::kStateMask;
    if (state != kFill && state != kTx) continue;
    if (slot != ~0u && (entry >> Ledger::kStateBits) != slot) continue;
    ledger_->entries[frame].store(kHome, std::memory_order_relaxed);
    Page* page = region_->page_at(std::uint64_t{frame} * kXskFrameSize);
    if (PPOOL_UNLIKELY(!page)) {
      detail::report_misuse(detail::format(
          "xsk umem: frame %u (UMEM address 0x%llx) was held by the kernel but is not an "
          "allocated page",
          frame, static_cast<unsigned long long>(std::uint64_t{frame} * kXskFrameSize)));
      continue;
    }
    batch[count++] = page;
    ++total;
    if (count == kBatch) {
      put_page_bulk(batch, count);
      count = 0;
    }
  }
  if (count) put_page_bulk(batch, count);
  return total;
}

XskFrameCounts XskUmem::counts() const {
  XskFrameCounts counts;
  counts.frames = frames_;
  for (std::uint32_t frame = 0; frame < ledger_->frames; ++frame) {
    switch (ledger_->entries[frame].load(std::memory_order_relaxed) & Ledger::kStateMask) {
      case kHome:
        ++counts.home;
        break;
      case kApp:
        ++counts.app;
        break;
      case kFill:
        ++counts.fill;
        break;
      case kTx:
        ++counts.tx;
        break;
    }
  }
  counts.committed = allocator_->stats().committed_bytes / kXskFrameSize;
  return counts;
}

std::string XskUmem::to_json() const {
  const XskFrameCounts c = counts();
  return detail::format(
      "{\"umem_frames\": %u, \"umem_frames_committed\": %llu, \"umem_frames_home\": %u, "
      "\"umem_frames_app\": %u, \"umem_frames_fill\": %u, \"umem_frames_tx\": %u, "
      "\"umem_hugetlb\": %s}",
      c.frames, static_cast<unsigned long long>(c.committed), c.home, c.app, c.fill, c.tx,
      hugetlb_ ? "true" : "false");
}

Result<unsigned> XskUmem::attach_queue(XskQueue* queue) {
  std::lock_guard guard(ledger_->lock);
  const XskQueueParams& params = queue->params();
  unsigned free_slot = ~0u;
  for (unsigned i = 0; i < ledger_->slots.size(); ++i) {
    const Ledger::Slot& slot = ledger_->slots[i];
    if (!slot.queue) {
      if (free_slot == ~0u && !slot.kernel_holds) free_slot = i;
      continue;
    }
    if (slot.ifname == params.ifname && slot.queue_id == params.queue_id) {
      return Error{Errc::kInvalidArgument,
                   detail::format("xsk queue %s:%u: this UMEM already has a socket on it (one "
                                  "socket per netdev queue and UMEM)",
                                  params.ifname.c_str(), params.queue_id)};
    }
  }
  if (registration_socket_closed_ && open_queues_.load() == 0) {
    return Error{Errc::kInvalidArgument,
                 detail::format("xsk queue %s:%u: every socket of this UMEM was closed, its "
                                "registration with them: create a new XskUmem",
                                params.ifname.c_str(), params.queue_id)};
  }
  if (free_slot == ~0u) {
    if (ledger_->slots.size() >= Ledger::kMaxSlots)
      return Error{Errc::kOutOfMemory, "xsk queue: too many sockets on one UMEM"};
    free_slot = static_cast<unsigned>(ledger_->slots.size());
    ledger_->slots.emplace_back();
  }
  ledger_->slots[free_slot] = {queue, params.ifname, params.queue_id};
  open_queues_.fetch_add(1);
  return free_slot;
}

void XskUmem::pool_pending(std::uint32_t pool_id) {
  std::lock_guard guard(ledger_->lock);
  ledger_->pending_pools.push_back(pool_id);
}

void XskUmem::detach_queue(unsigned slot, bool registration_socket) {
  std::lock_guard guard(ledger_->lock);
  ledger_->slots[slot] = {};
  if (registration_socket) {
    ledger_->slots[slot].kernel_holds = true;
    registration_socket_closed_ = true;
  }
  open_queues_.fetch_sub(1);
}

}  // namespace ppool
