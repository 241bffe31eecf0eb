// Backing policies (layer mem, internal): what each Backing is, as data, and
// the kernel-facing calls that commit, advise, name and release its memory.
//
// snmalloc's PAL is the model: the allocator asks the policy, never the
// machine, and every capability is declared in the table. All of this runs on
// slow paths only (a chunk committed, released, or its allocator destroyed):
// each call is one or two syscalls on megabytes at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ppool/backing.h"
#include "ppool/page.h"

namespace ppool::detail {

struct BackingPolicy {
  Backing kind;
  std::size_t page_bytes;     // the kernel's page for this memory
  int mmap_flags;             // MAP_HUGETLB | MAP_HUGE_*; 0: anonymous memory, advised instead
  unsigned memfd_flags;       // MFD_HUGETLB | MFD_HUGE_* for a shared region
  int advice;                 // madvise on commit of anonymous memory; 0 for hugetlb
  const char* hugepages_dir;  // /sys/kernel/mm/hugepages/hugepages-<N>kB; nullptr

  [[nodiscard]] bool hugetlb() const { return mmap_flags != 0; }
  // Chunks per unit of growth: max(chunk, page) / chunk (256 for 1 GiB pages).
  [[nodiscard]] std::uint32_t unit_chunks() const {
    return page_bytes > kChunkBytes ? static_cast<std::uint32_t>(page_bytes / kChunkBytes) : 1;
  }
  [[nodiscard]] std::size_t unit_bytes() const { return unit_chunks() * kChunkBytes; }
};

// The policy of a valid Backing. Thread context: any thread.
const BackingPolicy& policy_of(Backing backing);
// False for a value outside the enum (a cast integer).
bool valid_backing(Backing backing);

// Makes [addr, addr + bytes) (whole chunks of the arena, RW anonymous memory)
// into the policy's memory: an advice for anonymous kinds (best effort,
// never fails), a MAP_FIXED hugetlb mapping for the others (reserving its
// huge pages now, faulting nothing). Returns 0 or the errno (ENOMEM: the
// reserved pool is short); on failure the range may be unmapped and must be
// remapped with map_anonymous() before any other use.
int commit_range(const BackingPolicy& policy, void* addr, std::size_t bytes);

// Maps plain private anonymous RW memory over the range (MAP_FIXED), dropping
// whatever was there: how a hugetlb or shared range becomes an ordinary chunk
// again. False (and logged) when the kernel refuses.
bool map_anonymous(void* addr, std::size_t bytes);

// Gives the range's physical pages back (MADV_DONTNEED); it reads zero when
// touched again. Costs a syscall and a TLB shootdown.
void discard(void* addr, std::size_t bytes);

// Faults the range in for writing now (MADV_POPULATE_WRITE, Linux 5.14+),
// so that first use takes no fault. Returns 0 or the errno.
int populate(void* addr, std::size_t bytes);

// Best effort: prefer node nid's memory for the range (MPOL_PREFERRED).
// Harmless where the node or NUMA support is missing.
void bind_to_node(void* addr, std::size_t bytes, int nid);

// Names the anonymous range in /proc/PID/maps and smaps ("[anon:<name>]"),
// nullptr to clear. VMAs of different names never merge, which is what makes
// per-allocator smaps figures exact. False where the kernel cannot (before
// 5.17, without CONFIG_ANON_VMA_NAME, or a hugetlb/file mapping).
bool name_range(void* addr, std::size_t bytes, const char* name);

// Huge pages of the policy's size the kernel can hand out now: free minus
// reserved, plus the overcommit still allowed. -1 when the kernel has no
// pages of that size at all.
long hugetlb_pages_available(const BackingPolicy& policy);

// "hugetlb-2m: 0 of the 2 MiB huge pages ... are free, 2 needed for ...:
// reserve them as root: echo 2 > /sys/.../nr_hugepages ...". `what` says
// what needs the pages; `fallback_hint` adds the THP fallback as a way out.
std::string hugetlb_shortage(const BackingPolicy& policy, std::size_t pages_needed,
                             const char* what, bool fallback_hint);

}  // namespace ppool::detail
