// ppool/backing.h - what a page allocator's memory is made of (layer mem).
//
// A backing is declared, never guessed (snmalloc's PAL is the model): an
// allocator commits its chunks the way its backing says, or fails saying why
// and how to fix it. Everything above the allocator sees pages of 4 KiB
// descriptors whatever the backing: the pool's fast path does not change.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ppool {

enum class Backing : std::uint8_t {
  // Anonymous private memory in 4 KiB pages (the default).
  k4K,
  // Anonymous memory advised MADV_HUGEPAGE: the kernel backs each 2 MiB of a
  // chunk with one transparent huge page when it can (THP mode `madvise` or
  // `always`), at commit time. huge_backed_bytes() says how much it did.
  kThp,
  // MAP_HUGETLB pages of 2 MiB / 1 GiB from the pool reserved through
  // /proc/sys/vm/nr_hugepages (or .../hugepages-1048576kB/nr_hugepages).
  kHugetlb2M,
  kHugetlb1G,
};

// "4k", "thp", "hugetlb-2m", "hugetlb-1g". Thread context: any thread.
const char* backing_name(Backing backing);
// The size of the pages the backing's memory comes in (4 KiB for THP: the
// huge pages there are the kernel's choice, not a promise).
std::size_t backing_page_bytes(Backing backing);

}  // namespace ppool
