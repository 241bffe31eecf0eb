// Clearing pages: glibc's memset, chosen by measurement (bench/mem/bench_zero.cc).
//
// A kZeroPages pool clears the pages of a refill (64 pages, 256 KiB) when
// they enter it from the page allocator, and hands them out soon after, to a
// device or a CPU that writes and reads them. So the clear to pick is the
// cheapest one *with that first use counted*: a clear that bypasses the cache
// (non-temporal stores, CLZERO) saves the reads for ownership but leaves the
// page in DRAM, and its first user pays a miss per line instead.
//
// Per 4 KiB page, a 256 KiB refill, medians of 5 (bench_zero, 2026-11-23, 2
// vCPUs of an AMD EPYC Zen 4 (family 25 model 17, ERMS, FSRM, AVX-512, CLZERO),
// KVM, glibc 2.36; "hot": the pages were in cache, "cold": not in any cache,
// "+use": every line read back after the clear):
//
//   clear       hot   hot+use   cold   cold+use
//   memset       38      80      199      234
//   rep stosb    47      85      195      253
//   AVX2         46      87      194      249     (temporal 32-byte stores)
//   SSE2 NT      91     405      115      284
//   AVX2 NT      72     389       98      253
//   AVX-512 NT   53     411      100      249
//   CLZERO       68     397       93      297
//
// Non-temporal stores and CLZERO win only when nobody reads the page after
// the clear (cold: 93-115 ns against 195-199 ns); once the page is used they
// tie at best when it was cold (249-297 against 234) and lose 5x when it was
// in cache (389-411 against 80). No candidate wins the refill case, so no
// CPUID dispatch: memset (glibc already picks its store width and its
// `rep stosb` threshold for the CPU) costs 38 ns a page from cache and about
// 200 ns a page from DRAM, on the slow path only.
#include "mem/zero.h"

#include <cstring>

namespace ppool::detail {

void zero_pages(void* addr, std::size_t bytes) {
  std::memset(addr, 0, bytes);
}

}  // namespace ppool::detail
