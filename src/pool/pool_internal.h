// What the pool's source files share (layer pool, internal): the pool's
// magic, tag decoding, clock and params validation.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>

#include "ppool/page_pool.h"

namespace ppool::detail {

// A live pool's magic; a freed pool's memory reads 0 (pool_storage.h).
inline constexpr std::uint32_t kLiveMagic = 0x70706f6c;  // "ppol"
inline constexpr std::uint64_t kNoOwner = ~std::uint64_t{0};

inline PagePool* pool_of_tag(std::uintptr_t tag) {
  return reinterpret_cast<PagePool*>(tag & ~kTagStateMask);
}

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline std::int64_t realtime_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The bias the pool still holds on its fragment page: all but the fragments
// handed out (frag.cc; destroy drops it, release.cc).
inline std::int64_t remaining_bias(const Page* page) {
  return kFragBiasMax - page->pp_frag_handed.load(std::memory_order_relaxed);
}

// The registry (registry.cc): create() adds a pool once it is built, the
// destructor removes it before anything of it is torn down. A pool never
// added (a failed create) is not found, and removing it does nothing.
void registry_add(PagePool* pool);
void registry_remove(PagePool* pool);

// The first bad field of params, in the kernel's order, or nothing.
[[nodiscard]] std::optional<Error> validate_params(const PagePoolParams& params);

}  // namespace ppool::detail

namespace ppool {

// The owner's sync needs no guard: destroy runs on the owner's thread (and
// takes the ownership away first), so it cannot be unmapping meanwhile. This
// is the napi-local put's sync: nothing shared is written. Inline in the put
// paths: out of line it cost a call and the callee's register saves on every
// synced put (81 -> 73 instructions for the owner's fast path with a sync).
inline void PagePool::sync_for_device_owner(Page* page, std::uint32_t dma_sync_size) {
  dev_->sync_for_device(page->dma_addr, dma_offset_, std::min(dma_sync_size, max_len_), dma_dir_,
                        dev_caller_);
}

}  // namespace ppool
