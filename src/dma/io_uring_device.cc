// The io_uring fixed-buffer DMA device.
#include "ppool/io_uring_device.h"

#include <liburing.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>

namespace ppool {
namespace {

// The longest run one update call registers or clears: a pool's refill
// (kAllocCacheRefill). Bounds the arrays below and the ones on the stack.
constexpr std::size_t kMaxRun = 64;
// Registrations carry no tag (nobody waits for a buffer's release): zeros.
constexpr __u64 kNoTags[kMaxRun] = {};
// A null base and zero length: the update that empties a slot.
constexpr iovec kCleared[kMaxRun] = {};

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
    : rings_(std::move(rings)), slots_(slots), slot_(slots) {
  free_.reserve(slots);
  // Slot 0 on top: fresh slots come out ascending, a first refill one run.
  for (unsigned s = slots; s-- > 0;) free_.push_back(s);
}

IoUringDmaDevice::~IoUringDmaDevice() {
  for (io_uring* ring : rings_) io_uring_unregister_buffers(ring);
  g_table_full.flush();
  g_map_refused.flush();
}

int IoUringDmaDevice::update(io_uring* ring, unsigned first, const iovec* iov, std::size_t n) {
  register_calls_.fetch_add(1, std::memory_order_relaxed);
  return io_uring_register_buffers_update_tag(ring, first, iov, kNoTags, static_cast<unsigned>(n));
}

// IORING_REGISTER_BUFFERS_UPDATE registers entries in order and stops at the
// first it cannot pin: it returns how many it registered, or an error when
// that is none. Once a ring stops short, the rings before it give back the
// tail it does not hold and the rings after it are asked only for the head,
// so a slot is either registered everywhere or empty everywhere.
std::size_t IoUringDmaDevice::register_run(unsigned first, const iovec* iov, std::size_t n,
                                           int* err) {
  std::size_t held = n;  // entries every ring so far holds
  for (std::size_t r = 0; r < rings_.size() && held; ++r) {
    const int ret = update(rings_[r], first, iov, held);
    if (ret == static_cast<int>(held)) continue;
    if (ret < 0) *err = ret;
    const std::size_t took = ret < 0 ? 0 : static_cast<std::size_t>(ret);
    for (std::size_t before = 0; before < r; ++before)
      update(rings_[before], first + static_cast<unsigned>(took), kCleared, held - took);
    held = took;
  }
  return held;
}

DmaAddr IoUringDmaDevice::map(void* addr, std::size_t len, DmaDirection dir,
                              std::string_view caller) {
  DmaAddr slot;
  return map_bulk(&addr, &len, &slot, 1, dir, caller) == 1 ? slot : kDmaMappingError;
}

std::size_t IoUringDmaDevice::map_bulk(void* const* addrs, const std::size_t* lens, DmaAddr* out,
                                       std::size_t n, DmaDirection, std::string_view caller) {
  std::size_t granted;
  {
    std::lock_guard guard(lock_);
    granted = std::min(n, free_.size());
    for (std::size_t i = 0; i < granted; ++i) {
      out[i] = free_.back();
      free_.pop_back();
      slot_[out[i]].state |= kBusy;  // an unmap of it now is refused
    }
  }
  std::size_t mapped = 0;
  int err = 0;
  while (mapped < granted) {
    const unsigned first = static_cast<unsigned>(out[mapped]);
    std::size_t run = 1;
    while (run < kMaxRun && mapped + run < granted && out[mapped + run] == first + run) ++run;
    iovec iov[kMaxRun];
    for (std::size_t i = 0; i < run; ++i) iov[i] = {addrs[mapped + i], lens[mapped + i]};
    const std::size_t done = register_run(first, iov, run, &err);
    mapped += done;
    if (done == run) continue;
    // The page the update stopped at, alone: its refusal gives the reason
    // and ends the bulk; if it registers (the whole call was refused for a
    // reason of its own), the bulk goes on.
    if (register_run(first + static_cast<unsigned>(done), &iov[done], 1, &err) != 1) break;
    ++mapped;
  }
  if (mapped < granted) {
    if (g_map_refused.allow(LogLevel::kWarning)) {
      const std::string why = err ? describe_errno(-err) : "refused by the kernel";
      log(LogLevel::kWarning,
          detail::format("io_uring device: map of %p for %.*s: %s", addrs[mapped],
                         static_cast<int>(caller.size()), caller.data(), why.c_str()));
    }
  } else if (granted < n && g_table_full.allow(LogLevel::kWarning)) {
    log(LogLevel::kWarning,
        detail::format("io_uring device: all %u slots in use (map for %.*s)", slots(),
                       static_cast<int>(caller.size()), caller.data()));
  }
  // Published once the kernel holds the pages: one more uncontended lock a
  // bulk, next to a syscall per ring.
  std::lock_guard guard(lock_);
  for (std::size_t i = 0; i < mapped; ++i) slot_[out[i]] = {addrs[i], lens[i], kMapped | kEver};
  // Those not mapped go back in the order they came out, so the stack is as
  // it was.
  for (std::size_t i = granted; i-- > mapped;) {
    slot_[out[i]].state &= static_cast<std::uint8_t>(~kBusy);
    free_.push_back(static_cast<unsigned>(out[i]));
  }
  return mapped;
}

void IoUringDmaDevice::unmap(DmaAddr addr, std::size_t len, DmaDirection dir,
                             std::string_view caller) {
  unmap_bulk(&addr, &len, 1, dir, caller);
}

std::string IoUringDmaDevice::unmap_refusal(DmaAddr addr, std::size_t len) const {
  if (addr == kDmaMappingError) return "kDmaMappingError is a refused map's answer, not a slot";
  if (addr >= slots_) return detail::format("the device has %u slots", slots_);
  const Slot& slot = slot_[addr];
  if (slot.state & kBusy)
    return "the slot is being mapped or unmapped (by another call, or named twice in this one)";
  if (!(slot.state & kEver)) return "the slot was never mapped";
  if (!(slot.state & kMapped)) return "double unmap: the slot is unmapped already";
  if (len != slot.len)
    return detail::format("the slot is mapped with len %zu (page %p)", slot.len, slot.addr);
  return {};
}

// Each entry is checked against the slot's state and claimed (kBusy) under
// the lock, so that a second unmap of it, here or on another thread, is
// refused: a byte test and a compare a page, under the lock the free stack
// takes anyway, and one more acquisition a chunk to claim before clearing.
// Refusals are formatted under the lock but reported after it, once the
// state is exact again: a slow log hook holds up no other DMA call, and one
// that inspects the device sees it consistent.
void IoUringDmaDevice::unmap_bulk(const DmaAddr* addrs, const std::size_t* lens, std::size_t n,
                                  DmaDirection, std::string_view caller) {
  for (std::size_t start = 0; start < n; start += kMaxRun) {
    const std::size_t chunk = std::min(n - start, kMaxRun);
    unsigned slots[kMaxRun];
    std::size_t count = 0;
    std::vector<std::string> refused;  // allocates only on a misuse
    {
      std::lock_guard guard(lock_);
      for (std::size_t i = start; i < start + chunk; ++i) {
        std::string why = unmap_refusal(addrs[i], lens[i]);
        if (why.empty()) {
          slot_[addrs[i]].state |= kBusy;
          slots[count++] = static_cast<unsigned>(addrs[i]);
          continue;
        }
        refused.push_back(detail::format(
            "io_uring device: unmap of DMA address 0x%llx, len %zu (%.*s) refused: %s",
            static_cast<unsigned long long>(addrs[i]), lens[i], static_cast<int>(caller.size()),
            caller.data(), why.c_str()));
      }
    }
    // A pool unmaps in its record's order, not the slots': sorted, the
    // slots of one refill are one run again.
    std::sort(slots, slots + count);
    for (std::size_t i = 0; i < count;) {
      std::size_t run = 1;
      while (i + run < count && slots[i + run] == slots[i] + run) ++run;
      for (io_uring* ring : rings_) update(ring, slots[i], kCleared, run);
      i += run;
    }
    {
      // Highest first: the stack hands them out again ascending.
      std::lock_guard guard(lock_);
      for (std::size_t i = count; i-- > 0;) {
        slot_[slots[i]] = {nullptr, 0, kEver};
        free_.push_back(slots[i]);
      }
    }
    for (const std::string& message : refused) detail::report_misuse(message);
  }
}

unsigned IoUringDmaDevice::slots_in_use() const {
  std::lock_guard guard(lock_);
  return slots() - static_cast<unsigned>(free_.size());
}

}  // namespace ppool
