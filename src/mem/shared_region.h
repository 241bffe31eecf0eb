// Shared regions (layer mem, internal): an allocator's pages in one memfd,
// mapped over an aligned run of arena chunks, so that another process or the
// kernel can map the very same pages.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mem/backing.h"
#include "ppool/page.h"

namespace ppool::detail {

// A region and the arena chunks it occupies (first_chunk .. + chunks).
struct RegionMapping {
  SharedRegion region;
  std::uint32_t first_chunk = 0;
  std::uint32_t chunks = 0;
};

// Creates the memfd (named `name` in /proc/PID/maps), sizes it to `bytes`
// rounded up to whole chunks and backing pages, and maps it MAP_SHARED over
// an aligned run of arena chunks; with `lock`, commits and mlocks it whole.
// Errors name the cause and the fix; nothing is left behind on failure.
// Costs the region's size in page faults when locked, a few syscalls
// otherwise. Thread context: any thread.
Result<RegionMapping> create_shared_region(const BackingPolicy& policy, std::size_t bytes,
                                           bool lock, const char* name);

// Closes the memfd and, unless keep_mapping (pages of it are still in use),
// maps anonymous memory over the run and gives its chunks back to the arena.
// Descriptors of the run must be kUnused. Thread context: the destroying one.
void destroy_shared_region(const RegionMapping& mapping, bool keep_mapping);

}  // namespace ppool::detail
