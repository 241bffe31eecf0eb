// Pool parameters: each bad field gets its own message, checked in the
// kernel's order (page_pool_init), and the stats' names for output.
#include <string>

#include "pool/pool_internal.h"

namespace ppool {
namespace detail {
namespace {

Error invalid(std::string message) {
  return Error{Errc::kInvalidArgument, "page_pool_create: " + std::move(message)};
}

}  // namespace

std::optional<Error> validate_params(const PagePoolParams& p) {
  if (p.flags & ~kPagePoolFlagsAll)
    return invalid(format("flags: unknown bits 0x%x", p.flags & ~kPagePoolFlagsAll));
  if (p.order > kMaxOrder)
    return invalid(format("order: %u exceeds the largest page order %u", p.order, kMaxOrder));
  if (p.pool_size == 0) return invalid("pool_size: must be at least 1");
  if (p.pool_size > kPoolSizeMax)
    return invalid(format("pool_size: %u exceeds the cap of %u", p.pool_size, kPoolSizeMax));
  if (p.nid != kNoNode && (p.nid < 0 || p.nid >= kMaxNodes))
    return invalid(format("nid: %d is neither a node (0..%d) nor kNoNode", p.nid, kMaxNodes - 1));
  if (p.name.empty() || p.name.size() > 31)
    return invalid(format("name: must be 1 to 31 characters, got %zu", p.name.size()));
  if (p.flags & kDmaMap) {
    if (!p.dev) return invalid("dev: kDmaMap needs a DMA device");
    if (p.dma_dir != DmaDirection::kFromDevice && p.dma_dir != DmaDirection::kBidirectional)
      return invalid(format("dma_dir: kDmaMap needs FROM_DEVICE or BIDIRECTIONAL, got %s",
                            to_string(p.dma_dir)));
  }
  if (p.flags & kDmaSyncDev) {
    if (!(p.flags & kDmaMap)) return invalid("flags: kDmaSyncDev needs kDmaMap");
    if (p.max_len == 0) return invalid("max_len: kDmaSyncDev needs max_len > 0");
  }
  if (std::uint64_t{p.offset} + p.max_len > (kPageSize << p.order))
    return invalid(format("offset + max_len: %u + %u exceed the %zu-byte page", p.offset, p.max_len,
                          kPageSize << p.order));
  if (p.allocator && p.backing != Backing::k4K)
    return invalid(format("backing: %s is chosen by the allocator passed in (its backing is %s)",
                          backing_name(p.backing), backing_name(p.allocator->backing())));
  if (!p.inflight_high && p.inflight_low) return invalid("inflight_low: set without inflight_high");
  if (p.inflight_high && p.inflight_low >= p.inflight_high)
    return invalid(
        format("inflight_low: %u must be below inflight_high %u", p.inflight_low, p.inflight_high));
  if (p.max_inflight && p.inflight_high > p.max_inflight)
    return invalid(format("inflight_high: %u exceeds max_inflight %u and would never be reached",
                          p.inflight_high, p.max_inflight));
  return std::nullopt;
}

}  // namespace detail

std::string PagePoolStats::to_json() const {
  return detail::format(
      "{\"alloc_fast\": %lu, \"alloc_slow\": %lu, \"alloc_slow_high_order\": %lu, "
      "\"alloc_empty\": %lu, \"alloc_refill\": %lu, \"alloc_waive\": %lu, "
      "\"recycle_cached\": %lu, \"recycle_cache_full\": %lu, \"recycle_ring\": %lu, "
      "\"recycle_ring_full\": %lu, \"recycle_released_refcnt\": %lu}",
      alloc.fast, alloc.slow, alloc.slow_high_order, alloc.empty, alloc.refill, alloc.waive,
      recycle.cached, recycle.cache_full, recycle.ring, recycle.ring_full, recycle.released_refcnt);
}

}  // namespace ppool
