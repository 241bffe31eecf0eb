// Clearing pages (layer mem, internal): what kZeroPages pools call on their
// slow path, never on the fast path.
#pragma once

#include <cstddef>

namespace ppool::detail {

// Zeroes [addr, addr + bytes): addr page-aligned, bytes a multiple of
// kPageSize. Thread context: any thread holding the pages.
void zero_pages(void* addr, std::size_t bytes);

}  // namespace ppool::detail
