// Reading /proc/self/smaps (layer mem, internal): how much of a set of
// address ranges the kernel backs with huge pages right now.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ppool::detail {

struct AddressRange {
  std::uintptr_t begin;
  std::uintptr_t end;  // one past the last byte
};

// Sums, over the VMAs of this process that overlap `ranges`, the huge pages
// smaps reports for each (AnonHugePages + Shared_Hugetlb + Private_Hugetlb),
// each VMA's figure clamped to its overlap with the ranges. Exact when every
// overlapping VMA lies inside the ranges (the allocator names its chunks so
// that they do); approximate otherwise, since smaps does not say where in a
// VMA its huge pages are. Ranges need not be sorted. Costs a read of the
// whole smaps file (the kernel walks every page table): for reports only.
// Thread context: any thread.
std::size_t huge_bytes_in(std::vector<AddressRange> ranges);

}  // namespace ppool::detail
