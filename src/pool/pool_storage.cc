// Pool object storage: slots of a reserved range, never reused while a free
// slot that was used longer ago exists. See pool_storage.h.
#include "pool/pool_storage.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "ppool/base.h"

#if defined(__SANITIZE_ADDRESS__)
#define PPOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PPOOL_ASAN 1
#endif
#endif
#ifdef PPOOL_ASAN
#include <sanitizer/lsan_interface.h>
#endif

namespace ppool::detail {
namespace {

// Under LeakSanitizer the range is a root region that is scanned at exit
// (the pools' own heap allocations hang off it), so it is kept small there.
#ifdef PPOOL_ASAN
constexpr std::size_t kPoolSlots = 1024;
#else
constexpr std::size_t kPoolSlots = 65536;
#endif
constexpr std::size_t kSlotAlign = 4096;

struct Slot {
  enum State : std::uint8_t { kUnused, kLive, kRetired, kFree };
  State state = kUnused;
  std::uint32_t id = 0;
  char name[32] = {};
};

class Storage {
 public:
  static Storage& get() {
    static auto* storage = new Storage;  // never destroyed: pools may outlive main()
    return *storage;
  }

  void* alloc(std::size_t bytes) {
    std::lock_guard guard(lock_);
    if (!base_) reserve(bytes);
    if (bytes > slot_bytes_) throw std::bad_alloc();
    // Round-robin from the cursor, skipping live slots: the slot reused is
    // the one freed longest ago.
    for (std::size_t tries = 0; tries < slots_.size(); ++tries) {
      std::size_t i = next_;
      next_ = (next_ + 1) % slots_.size();
      if (slots_[i].state == Slot::kLive || slots_[i].state == Slot::kRetired) continue;
      slots_[i] = Slot{Slot::kLive, 0, {}};
      return base_ + i * slot_bytes_;
    }
    throw std::bad_alloc();
  }

  void retire(const void* pool, std::uint32_t id, const char* name) {
    std::lock_guard guard(lock_);
    Slot& slot = slots_[index(pool)];
    slot.state = Slot::kRetired;
    slot.id = id;
    std::snprintf(slot.name, sizeof slot.name, "%s", name);
  }

  void free(void* pool) {
    std::lock_guard guard(lock_);
    // Private anonymous memory reads as zeros after MADV_DONTNEED: a stale
    // pointer finds magic 0, never a live pool's state. The kernel refuses it
    // on locked memory (EINVAL under mlockall() or mlock(), as DPDK programs
    // run): then the slot is zeroed by hand, so it reads the same, and its
    // pages stay resident (locked memory stays anyway). Cost: a memset of the
    // slot per destroy, on that path only.
    if (::madvise(pool, slot_bytes_, MADV_DONTNEED) != 0) std::memset(pool, 0, slot_bytes_);
    slots_[index(pool)].state = Slot::kFree;
  }

  std::size_t slots() {
    std::lock_guard guard(lock_);
    return base_ ? slots_.size() : kPoolSlots;
  }

  std::string tombstone(const void* pool) {
    std::lock_guard guard(lock_);
    auto addr = static_cast<const char*>(pool);
    if (!base_ || addr < base_ || addr >= base_ + slots_.size() * slot_bytes_) return {};
    const Slot& slot = slots_[index(pool)];
    if (slot.state != Slot::kFree && slot.state != Slot::kRetired) return {};
    return format("pool %u '%s' (freed)", slot.id, slot.name);
  }

 private:
  // The first pool fixes the slot size; address space only (MAP_NORESERVE).
  void reserve(std::size_t bytes) {
    slot_bytes_ = (bytes + kSlotAlign - 1) & ~(kSlotAlign - 1);
    for (std::size_t n = kPoolSlots; n >= 64; n /= 2) {
      void* p = ::mmap(nullptr, n * slot_bytes_, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) continue;
      base_ = static_cast<char*>(p);
      slots_.resize(n);
#ifdef PPOOL_ASAN
      __lsan_register_root_region(p, n * slot_bytes_);
#endif
      return;
    }
    throw std::bad_alloc();
  }

  std::size_t index(const void* pool) const {
    return static_cast<std::size_t>(static_cast<const char*>(pool) - base_) / slot_bytes_;
  }

  std::mutex lock_;
  char* base_ = nullptr;
  std::size_t slot_bytes_ = 0;
  std::size_t next_ = 0;
  std::vector<Slot> slots_;
};

}  // namespace

void* pool_storage_alloc(std::size_t bytes) {
  return Storage::get().alloc(bytes);
}

void pool_storage_retire(const void* pool, std::uint32_t id, const char* name) {
  Storage::get().retire(pool, id, name);
}

void pool_storage_free(void* pool) {
  Storage::get().free(pool);
}

std::string pool_storage_tombstone(const void* pool) {
  return Storage::get().tombstone(pool);
}

std::size_t pool_storage_slots() {
  return Storage::get().slots();
}

}  // namespace ppool::detail
