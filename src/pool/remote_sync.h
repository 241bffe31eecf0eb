// Other threads' syncs for the device against destroy (layer pool,
// internal): the userspace stand-in for the RCU read side the kernel keeps
// around a sync, and for synchronize_net() in page_pool_destroy.
//
// A thread that syncs a page for a pool it does not own announces the pool
// in a slot of its own (one per thread, on a line no other thread writes),
// then checks that the pool is not being destroyed; destroy marks the pool
// destroying, then waits until no slot names it. Each side's store and load
// are sequentially consistent, so either the sync sees the mark (and
// skips), or destroy sees the announcement (and waits for it to be
// withdrawn). The owner's own syncs need none of this: destroy runs on the
// owner's thread.
//
// Cost: a put pays two stores on its own line (the first an xchg on x86)
// and writes nothing shared (a thread's first announcement registers its
// slot under a lock). Destroy takes the lock and reads every thread's slot.
#pragma once

#include <atomic>

namespace ppool::detail {

// Announces pool in the calling thread's slot for the object's lifetime;
// destroy_begun() then says whether the pool's destroy had begun. Thread
// context: any thread; not nested.
class RemoteSyncScope {
 public:
  explicit RemoteSyncScope(const void* pool);
  ~RemoteSyncScope();
  RemoteSyncScope(const RemoteSyncScope&) = delete;
  RemoteSyncScope& operator=(const RemoteSyncScope&) = delete;

  // Loads the pool's destroying mark, ordered after the announcement.
  [[nodiscard]] bool destroy_begun(const std::atomic<bool>& destroying) const {
    return destroying.load(std::memory_order_seq_cst);
  }
};

// Waits until no thread announces pool. The caller has already set the
// pool's destroying mark. Thread context: destroy (the pool's owner).
void wait_for_remote_syncs(const void* pool);

}  // namespace ppool::detail
