// Shared regions: memfd_create, ftruncate, one MAP_SHARED | MAP_FIXED mapping
// over arena chunks, optionally committed and mlocked whole.
#include "mem/shared_region.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "mem/arena.h"

namespace ppool::detail {
namespace {

std::string limit_text(rlim_t value) {
  if (value == RLIM_INFINITY) return "unlimited";
  return format("%llu KiB", static_cast<unsigned long long>(value >> 10));
}

// Why mlock refused, naming the limit and how to raise it.
Error lock_error(std::size_t bytes, int err) {
  rlimit limit{};
  ::getrlimit(RLIMIT_MEMLOCK, &limit);
  return Error{Errc::kOutOfMemory,
               format("options.lock: mlock of the %zu KiB shared region failed (%s): "
                      "RLIMIT_MEMLOCK is %s (hard %s); raise it to at least %zu KiB (`ulimit -l "
                      "%zu`, memlock in limits.conf, LimitMEMLOCK= for a systemd unit) or grant "
                      "CAP_IPC_LOCK",
                      bytes >> 10, std::strerror(err), limit_text(limit.rlim_cur).c_str(),
                      limit_text(limit.rlim_max).c_str(), bytes >> 10, bytes >> 10)};
}

// What create_shared_region() has built so far, undone unless kept.
struct Build {
  RegionMapping mapping;
  bool keep = false;

  ~Build() {
    if (keep) return;
    if (mapping.region.fd >= 0) ::close(mapping.region.fd);
    if (mapping.chunks == 0) return;
    // Mapped or not (a failed MAP_FIXED may have unmapped the run), the run
    // becomes plain memory again; one the kernel refuses to remap is leaked.
    if (map_anonymous(mapping.region.base, mapping.region.bytes)) {
      ChunkArena::get().give_run(mapping.first_chunk, mapping.chunks);
    }
  }
};

Error system_error(const char* call, std::size_t bytes, int err) {
  return Error{
      err == ENOMEM ? Errc::kOutOfMemory : Errc::kUnsupported,
      format("shared region of %zu KiB: %s failed: %s", bytes >> 10, call, std::strerror(err))};
}

// Maps the memfd over the run; a hugetlb shortage shows up here (the shared
// mapping reserves every page of the file).
std::optional<Error> map_region(const BackingPolicy& policy, Build& build) {
  SharedRegion& region = build.mapping.region;
  void* got = ::mmap(region.base, region.bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                     region.fd, 0);
  if (got == MAP_FAILED) {
    const int err = errno;
    if (policy.hugetlb() && err == ENOMEM) {
      return Error{Errc::kUnsupported, hugetlb_shortage(policy, region.bytes / policy.page_bytes,
                                                        "the shared region", false)};
    }
    return system_error("mmap of the memfd", region.bytes, err);
  }
  // 4 KiB means 4 KiB even where shmem THP is enabled system-wide.
  if (!policy.hugetlb()) ::madvise(region.base, region.bytes, policy.advice);
  return std::nullopt;
}

// Commits every page, then pins them: a UMEM or a registered buffer is used
// whole by the kernel, and a missing page there is a fault it cannot take.
std::optional<Error> lock_region(SharedRegion& region) {
  // Before Linux 5.14 (EINVAL) mlock alone faults the pages in.
  if (int err = populate(region.base, region.bytes); err != 0 && err != EINVAL) {
    return system_error("committing (MADV_POPULATE_WRITE)", region.bytes, err);
  }
  // The raw syscall: sanitizers intercept mlock() and make it a no-op, and
  // the pinning is the point here.
  if (::syscall(SYS_mlock, region.base, region.bytes) != 0) {
    return lock_error(region.bytes, errno);
  }
  region.locked = true;
  return std::nullopt;
}

}  // namespace

Result<RegionMapping> create_shared_region(const BackingPolicy& policy, std::size_t bytes,
                                           bool lock, const char* name) {
  const std::size_t unit = policy.unit_bytes();
  bytes = (bytes + unit - 1) / unit * unit;
  if (bytes > g_arena.bytes) {
    return Error{Errc::kInvalidArgument,
                 format("options.max_bytes: a shared region of %zu MiB does not fit in the page "
                        "arena (%zu MiB)",
                        bytes >> 20, g_arena.bytes >> 20)};
  }
  if (policy.hugetlb() && hugetlb_pages_available(policy) < long(bytes / policy.page_bytes)) {
    return Error{Errc::kUnsupported,
                 hugetlb_shortage(policy, bytes / policy.page_bytes, "the shared region", false)};
  }
  Build build;
  const auto chunks = static_cast<std::uint32_t>(bytes / kChunkBytes);
  const std::uint32_t first = ChunkArena::get().take_run(chunks, policy.unit_chunks());
  if (first == kNoChunk) {
    return Error{
        Errc::kOutOfMemory,
        format("shared region of %zu MiB: the page arena has no free run that large", bytes >> 20)};
  }
  build.mapping.first_chunk = first;
  build.mapping.chunks = chunks;
  SharedRegion& region = build.mapping.region;
  region = SharedRegion{-1, chunk_address(first), bytes, policy.page_bytes, false};
  // Sealable, so that a consumer of the region (ppool/share.h) can be given
  // it read-only in fact: seals hold whatever descriptor it makes of the file.
  region.fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | policy.memfd_flags);
  if (region.fd < 0) return system_error("memfd_create", bytes, errno);
  // A memfd is created 0777: reopened through /proc/PID/fd/N it would open
  // read-write for any user who may follow that link. Owner only.
  if (::fchmod(region.fd, 0600) != 0) return system_error("fchmod of the memfd", bytes, errno);
  if (::ftruncate(region.fd, static_cast<off_t>(bytes)) != 0) {
    return system_error("ftruncate of the memfd", bytes, errno);
  }
  if (auto error = map_region(policy, build)) return *error;
  if (lock) {
    if (auto error = lock_region(region)) return *error;
  }
  build.keep = true;
  return build.mapping;
}

void destroy_shared_region(const RegionMapping& mapping, bool keep_mapping) {
  ::close(mapping.region.fd);
  if (keep_mapping) return;
  // Replacing the mapping drops it, and with it the mlock and the last
  // reference to the memfd's pages held here.
  if (!map_anonymous(mapping.region.base, mapping.region.bytes)) return;
  ChunkArena::get().give_run(mapping.first_chunk, mapping.chunks);
}

}  // namespace ppool::detail
