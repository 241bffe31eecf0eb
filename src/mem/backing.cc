// Backing policies: the table of what each Backing is, and the syscalls that
// make a chunk's memory into it and back.
#include "mem/backing.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace ppool {

namespace {

// The kernel's encodings (<linux/mman.h>, <linux/memfd.h>, <linux/prctl.h>),
// spelled out so that older libc headers build too.
constexpr int kHugeShift = 26;  // MAP_HUGE_SHIFT == MFD_HUGE_SHIFT
constexpr int kMapHuge2M = 21 << kHugeShift;
constexpr int kMapHuge1G = 30 << kHugeShift;
constexpr unsigned kMfdHugetlb = 0x0004;
constexpr int kMadvPopulateWrite = 23;
constexpr int kPrSetVma = 0x53564d41;
constexpr int kPrSetVmaAnonName = 0;
constexpr int kMpolPreferred = 1;  // <numaif.h> MPOL_PREFERRED, without libnuma
constexpr int kMaxNodes = 64;

constexpr std::array<detail::BackingPolicy, 4> kPolicies = {{
    {Backing::k4K, kPageSize, 0, 0, MADV_NOHUGEPAGE, nullptr},
    {Backing::kThp, kPageSize, 0, 0, MADV_HUGEPAGE, nullptr},
    {Backing::kHugetlb2M, std::size_t{2} << 20, MAP_HUGETLB | kMapHuge2M,
     kMfdHugetlb | static_cast<unsigned>(kMapHuge2M), 0,
     "/sys/kernel/mm/hugepages/hugepages-2048kB"},
    {Backing::kHugetlb1G, std::size_t{1} << 30, MAP_HUGETLB | kMapHuge1G,
     kMfdHugetlb | static_cast<unsigned>(kMapHuge1G), 0,
     "/sys/kernel/mm/hugepages/hugepages-1048576kB"},
}};

// A counter file of the hugepages directory, or -1 when it cannot be read.
long read_counter(const char* dir, const char* name) {
  char path[128];
  std::snprintf(path, sizeof path, "%s/%s", dir, name);
  std::FILE* file = std::fopen(path, "re");
  if (!file) return -1;
  long value = -1;
  if (std::fscanf(file, "%ld", &value) != 1) value = -1;
  std::fclose(file);
  return value;
}

// "2 MiB", "1 GiB": a huge page's size as people write it.
std::string size_text(std::size_t bytes) {
  if (bytes >= (std::size_t{1} << 30)) return detail::format("%zu GiB", bytes >> 30);
  return detail::format("%zu MiB", bytes >> 20);
}

}  // namespace

const char* backing_name(Backing backing) {
  switch (backing) {
    case Backing::k4K:
      return "4k";
    case Backing::kThp:
      return "thp";
    case Backing::kHugetlb2M:
      return "hugetlb-2m";
    case Backing::kHugetlb1G:
      return "hugetlb-1g";
  }
  return "invalid";
}

std::size_t backing_page_bytes(Backing backing) {
  return detail::valid_backing(backing) ? detail::policy_of(backing).page_bytes : 0;
}

namespace detail {

bool valid_backing(Backing backing) {
  return static_cast<std::size_t>(backing) < kPolicies.size();
}

const BackingPolicy& policy_of(Backing backing) {
  return kPolicies[static_cast<std::size_t>(backing)];
}

int commit_range(const BackingPolicy& policy, void* addr, std::size_t bytes) {
  if (!policy.hugetlb()) {
    // Best effort: only a kernel without THP refuses either advice, and there
    // 4 KiB is what the chunk gets anyway (huge_backed_bytes() tells).
    ::madvise(addr, bytes, policy.advice);
    return 0;
  }
  // The private hugetlb mapping reserves its pages from the pool now, so a
  // shortage is an ENOMEM here, never a SIGBUS at first touch.
  void* got = ::mmap(addr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | policy.mmap_flags, -1, 0);
  return got == MAP_FAILED ? errno : 0;
}

bool map_anonymous(void* addr, std::size_t bytes) {
  void* got = ::mmap(addr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (got != MAP_FAILED) return true;
  log(LogLevel::kError, format("remapping %zu MiB at %p as anonymous memory failed: %s",
                               bytes >> 20, addr, std::strerror(errno)));
  return false;
}

void discard(void* addr, std::size_t bytes) {
  ::madvise(addr, bytes, MADV_DONTNEED);
}

int populate(void* addr, std::size_t bytes) {
  return ::madvise(addr, bytes, kMadvPopulateWrite) == 0 ? 0 : errno;
}

void bind_to_node(void* addr, std::size_t bytes, int nid) {
  if (nid < 0 || nid >= kMaxNodes) return;
  unsigned long mask[2] = {1ul << nid, 0};
  ::syscall(SYS_mbind, addr, bytes, kMpolPreferred, mask, sizeof(mask) * 8, 0u);
}

bool name_range(void* addr, std::size_t bytes, const char* name) {
  return ::prctl(kPrSetVma, kPrSetVmaAnonName, addr, bytes, name) == 0;
}

long hugetlb_pages_available(const BackingPolicy& policy) {
  const char* dir = policy.hugepages_dir;
  const long free = read_counter(dir, "free_hugepages");
  if (free < 0) return -1;
  const long reserved = std::max(read_counter(dir, "resv_hugepages"), 0l);
  const long overcommit = std::max(read_counter(dir, "nr_overcommit_hugepages"), 0l);
  const long surplus = std::max(read_counter(dir, "surplus_hugepages"), 0l);
  return std::max(free - reserved, 0l) + std::max(overcommit - surplus, 0l);
}

std::string hugetlb_shortage(const BackingPolicy& policy, std::size_t pages_needed,
                             const char* what, bool fallback_hint) {
  const char* name = backing_name(policy.kind);
  const std::string size = size_text(policy.page_bytes);
  const long available = hugetlb_pages_available(policy);
  const char* hint = fallback_hint ? ", or set options.hugetlb_fallback_thp" : "";
  if (available < 0) {
    return format(
        "%s: this kernel offers no %s huge pages (%s is missing): the CPU or the "
        "kernel configuration lacks them%s",
        name, size.c_str(), policy.hugepages_dir, hint);
  }
  const long total = std::max(read_counter(policy.hugepages_dir, "nr_hugepages"), 0l);
  const long wanted = total + static_cast<long>(pages_needed) - available;
  return format(
      "%s: %ld %s huge page(s) can be had (nr_hugepages is %ld), %zu needed for %s: "
      "reserve them as root: echo %ld > %s/nr_hugepages (a count of %s pages)%s",
      name, available, size.c_str(), total, pages_needed, what, wanted, policy.hugepages_dir,
      size.c_str(), hint);
}

}  // namespace detail
}  // namespace ppool
