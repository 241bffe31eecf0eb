// XskUmemDevice: a page's "DMA address" is its offset in the UMEM.
#include <mutex>

#include "ppool/xsk.h"

namespace ppool {
namespace {
LogRateLimit g_refusals("xsk_umem device: page outside the UMEM");
}  // namespace

DmaAddr XskUmemDevice::map(void* addr, std::size_t len, DmaDirection, std::string_view caller) {
  const auto* start = static_cast<const char*>(addr);
  const auto* base = static_cast<const char*>(region_.base);
  // The whole of [addr, +len) must be in the region: a UMEM address past its
  // end is one the kernel refuses at the ring, where nobody would see why.
  if (PPOOL_LIKELY(region_.contains(addr) && len <= region_.bytes &&
                   static_cast<std::size_t>(start - base) <= region_.bytes - len)) {
    return static_cast<DmaAddr>(start - base);
  }
  refused_.fetch_add(1, std::memory_order_relaxed);
  std::string message = detail::format(
      "xsk_umem device: pool '%.*s' maps %p (+%zu bytes), which is not in the UMEM "
      "[%p, +%zu): only pages of the UMEM's own allocator have a UMEM address",
      static_cast<int>(caller.size()), caller.data(), addr, len, region_.base, region_.bytes);
  if (g_refusals.allow(LogLevel::kError)) log(LogLevel::kError, message);
  std::lock_guard guard(lock_);
  last_ = std::move(message);
  return kDmaMappingError;
}

void XskUmemDevice::unmap(DmaAddr, std::size_t, DmaDirection, std::string_view) {
  // Nothing to undo: the region stays registered while the UMEM lives.
}

std::string XskUmemDevice::last_refusal() const {
  std::lock_guard guard(lock_);
  return last_;
}

}  // namespace ppool
