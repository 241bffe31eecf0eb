// The io_uring fixed-buffer DMA device.
#include "ppool/io_uring_device.h"

#include <liburing.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <cstring>

namespace ppool {
namespace {

// A pool refills in bulk and retries on every allocation: a refused map can
// repeat at packet rate, so each message site says so at most 10 times a
// second and counts the rest (the count goes out with the next message, or
// when a device is destroyed).
constinit LogRateLimit g_table_full("io_uring device: map refused, all slots in use");
constinit LogRateLimit g_map_refused("io_uring device: map refused by the kernel");

std::string memlock_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "RLIMIT_MEMLOCK";
  if (limit.rlim_cur == RLIM_INFINITY) return "RLIMIT_MEMLOCK unlimited";
  return detail::format("RLIMIT_MEMLOCK %llu KiB",
                        static_cast<unsigned long long>(limit.rlim_cur / 1024));
}

std::string describe_errno(int err) {
  switch (err) {
    case ENOMEM:
      return "out of locked memory (" + memlock_limit() +
             "): raise it with `ulimit -l`, or run with CAP_IPC_LOCK";
    case EPERM:
    case EACCES:
      return "io_uring registration is not permitted here";
    case ENOSYS:
    case EINVAL:
      return "this kernel's io_uring lacks sparse fixed buffers";
    default:
      return std::strerror(err);
  }
}

}  // namespace

Result<std::unique_ptr<IoUringDmaDevice>> IoUringDmaDevice::create(std::span<io_uring* const> rings,
                                                                   unsigned slots) {
  if (rings.empty() || slots == 0)
    return Error{Errc::kInvalidArgument, "io_uring device: needs at least one ring and one slot"};
  for (std::size_t i = 0; i < rings.size(); ++i) {
    int ret = io_uring_register_buffers_sparse(rings[i], slots);
    if (ret < 0) {
      for (std::size_t j = 0; j < i; ++j) io_uring_unregister_buffers(rings[j]);
      return Error{Errc::kUnsupported,
                   detail::format("io_uring device: registering %u fixed buffers: %s", slots,
                                  describe_errno(-ret).c_str())};
    }
  }
  return std::unique_ptr<IoUringDmaDevice>(
      new IoUringDmaDevice(std::vector<io_uring*>(rings.begin(), rings.end()), slots));
}

IoUringDmaDevice::IoUringDmaDevice(std::vector<io_uring*> rings, unsigned slots)
    : rings_(std::move(rings)), slots_(slots) {
  free_.reserve(slots);
  for (unsigned s = slots; s-- > 0;) free_.push_back(s);  // slot 0 on top
}

IoUringDmaDevice::~IoUringDmaDevice() {
  for (io_uring* ring : rings_) io_uring_unregister_buffers(ring);
  g_table_full.flush();
  g_map_refused.flush();
}

// Registers [addr, +len) at slot in every ring (addr nullptr clears it).
int IoUringDmaDevice::update(unsigned slot, void* addr, std::size_t len) {
  iovec iov{addr, len};
  __u64 tag = 0;
  for (io_uring* ring : rings_) {
    int ret = io_uring_register_buffers_update_tag(ring, slot, &iov, &tag, 1);
    if (ret < 0) return ret;
  }
  return 0;
}

DmaAddr IoUringDmaDevice::map(void* addr, std::size_t len, DmaDirection, std::string_view caller) {
  unsigned slot;
  {
    std::lock_guard guard(lock_);
    if (free_.empty()) {
      if (g_table_full.allow(LogLevel::kWarning))
        log(LogLevel::kWarning,
            detail::format("io_uring device: all %u slots in use (map for %.*s)", slots(),
                           static_cast<int>(caller.size()), caller.data()));
      return kDmaMappingError;
    }
    slot = free_.back();
    free_.pop_back();
  }
  if (int ret = update(slot, addr, len); ret < 0) {
    update(slot, nullptr, 0);
    if (g_map_refused.allow(LogLevel::kWarning))
      log(LogLevel::kWarning, detail::format("io_uring device: map of %p for %.*s: %s", addr,
                                             static_cast<int>(caller.size()), caller.data(),
                                             describe_errno(-ret).c_str()));
    std::lock_guard guard(lock_);
    free_.push_back(slot);
    return kDmaMappingError;
  }
  return slot;
}

void IoUringDmaDevice::unmap(DmaAddr addr, std::size_t, DmaDirection, std::string_view) {
  update(static_cast<unsigned>(addr), nullptr, 0);
  std::lock_guard guard(lock_);
  free_.push_back(static_cast<unsigned>(addr));
}

unsigned IoUringDmaDevice::slots_in_use() const {
  std::lock_guard guard(lock_);
  return slots() - static_cast<unsigned>(free_.size());
}

}  // namespace ppool
