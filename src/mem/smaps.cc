// Reading /proc/self/smaps: one pass, one VMA at a time.
#include "mem/smaps.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ppool::detail {
namespace {

// One VMA of smaps: its span and the huge bytes it reported so far.
struct Vma {
  std::uintptr_t begin = 0, end = 0;
  std::size_t huge_bytes = 0;
};

// Bytes of [vma.begin, vma.end) inside the sorted, disjoint ranges.
std::size_t overlap(const Vma& vma, const std::vector<AddressRange>& ranges) {
  std::size_t bytes = 0;
  for (const AddressRange& r : ranges) {
    if (r.begin >= vma.end) break;
    const std::uintptr_t lo = std::max(r.begin, vma.begin), hi = std::min(r.end, vma.end);
    if (lo < hi) bytes += hi - lo;
  }
  return bytes;
}

// Sorts and merges touching ranges, so each VMA is tested against few.
void normalise(std::vector<AddressRange>& ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const AddressRange& a, const AddressRange& b) { return a.begin < b.begin; });
  std::size_t out = 0;
  for (const AddressRange& r : ranges) {
    if (out != 0 && r.begin <= ranges[out - 1].end) {
      ranges[out - 1].end = std::max(ranges[out - 1].end, r.end);
    } else {
      ranges[out++] = r;
    }
  }
  ranges.resize(out);
}

// The huge-page fields of a VMA's smaps block, in kB.
bool is_huge_field(const char* line) {
  return std::strncmp(line, "AnonHugePages:", 14) == 0 ||
         std::strncmp(line, "Shared_Hugetlb:", 15) == 0 ||
         std::strncmp(line, "Private_Hugetlb:", 16) == 0;
}

std::size_t field_kib(const char* line) {
  const char* value = std::strchr(line, ':');
  return value ? std::strtoull(value + 1, nullptr, 10) : 0;
}

// A VMA header ("start-end perms offset dev inode [name]") opens a block;
// field lines ("Name:   value kB") have a colon in their first word.
bool parse_header(const char* line, Vma& vma) {
  std::uintptr_t begin = 0, end = 0;
  if (std::sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &begin, &end) != 2) return false;
  const char* space = std::strchr(line, ' ');
  const char* colon = std::strchr(line, ':');
  if (colon && space && colon < space) return false;
  vma = Vma{begin, end, 0};
  return true;
}

}  // namespace

std::size_t huge_bytes_in(std::vector<AddressRange> ranges) {
  normalise(ranges);
  if (ranges.empty()) return 0;
  std::FILE* file = std::fopen("/proc/self/smaps", "re");
  if (!file) return 0;
  std::size_t total = 0;
  Vma vma;
  auto close_vma = [&] {
    if (vma.huge_bytes != 0) total += std::min(vma.huge_bytes, overlap(vma, ranges));
  };
  char* line = nullptr;
  std::size_t capacity = 0;
  while (::getline(&line, &capacity, file) > 0) {
    Vma next;
    if (parse_header(line, next)) {
      close_vma();
      vma = next;
    } else if (is_huge_field(line)) {
      vma.huge_bytes += field_kib(line) << 10;
    }
  }
  close_vma();
  std::free(line);
  std::fclose(file);
  return total;
}

}  // namespace ppool::detail
