// The holder report's scan (layer pool, internal): the pages of one pool
// out with users, grouped by holder tag (ppool/holder.h).
#pragma once

#include <cstdint>

#include "ppool/registry.h"

namespace ppool::detail {

// The pp_tag values of a pool's pages out with users.
struct PoolTags {
  std::uintptr_t in_use = 0, fragments = 0;
};

// Scans every allocator's allocated pages (PageAllocator::visit_allocated)
// for pages carrying one of tags; groups them by holder, most pages first.
// pool_id is left 0. Thread context: any thread.
[[nodiscard]] HolderReport scan_holders(const PoolTags& tags);

// The report for a pool the caller keeps alive (the release worker's
// pending pools). Thread context: any thread.
[[nodiscard]] HolderReport holders_of(const PagePool& pool);

// The stalled-shutdown report's tail: "; held by: 12 pages holder 7
// 'socket 3' (oldest 5.1 s), 3 pages untagged", the top three groups; ""
// when nothing was found. Thread context: any thread.
[[nodiscard]] std::string describe_top_holders(const HolderReport& report);

}  // namespace ppool::detail
