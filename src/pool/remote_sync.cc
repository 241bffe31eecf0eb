// Other threads' syncs for the device against destroy. See remote_sync.h.
#include "pool/remote_sync.h"

#include <mutex>
#include <thread>

#include "ppool/base.h"

namespace ppool::detail {
namespace {

// A thread's slot, linked into the list destroy reads while the thread
// lives.
struct alignas(kCacheLine) Slot {
  std::atomic<const void*> pool{nullptr};
  Slot* prev = nullptr;
  Slot* next = nullptr;
};

std::mutex g_slots_lock;
Slot* g_slots = nullptr;

struct ThreadSlot {
  Slot slot;
  ThreadSlot() {
    std::lock_guard guard(g_slots_lock);
    slot.next = g_slots;
    if (g_slots) g_slots->prev = &slot;
    g_slots = &slot;
  }
  ~ThreadSlot() {
    std::lock_guard guard(g_slots_lock);
    (slot.prev ? slot.prev->next : g_slots) = slot.next;
    if (slot.next) slot.next->prev = slot.prev;
  }
};

thread_local ThreadSlot t_slot;  // registered on the thread's first announcement

}  // namespace

// Sequentially consistent, as destroy's mark and reads are: the
// announcement is ordered before the check of the mark (on x86 an xchg on
// the thread's own line; a standalone fence would do, but ThreadSanitizer
// does not model fences).
RemoteSyncScope::RemoteSyncScope(const void* pool) {
  t_slot.slot.pool.store(pool, std::memory_order_seq_cst);
}

// Release: destroy, reading nullptr, sees the sync finished.
RemoteSyncScope::~RemoteSyncScope() {
  t_slot.slot.pool.store(nullptr, std::memory_order_release);
}

void wait_for_remote_syncs(const void* pool) {
  std::lock_guard guard(g_slots_lock);
  for (Slot* slot = g_slots; slot; slot = slot->next)
    while (slot->pool.load(std::memory_order_seq_cst) == pool) std::this_thread::yield();
}

}  // namespace ppool::detail
