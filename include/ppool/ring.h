// ppool/ring.h - a bounded multi-producer single-consumer ring of pointers
// (the kernel's ptr_ring, lock-free).
//
// Public, as ptr_ring is in the kernel and rte_ring in DPDK: every pool
// takes other threads' returns through one, and a program hands pages or
// frames between its threads with the same ring (examples/xdp_redirect.cc:
// frames to a transmit thread).
//
// Producers reserve a run of slots with one CAS on the head, then fill them;
// a slot holding nullptr is empty, so the consumer needs no per-slot sequence
// number: it takes entries until it meets an empty slot (a producer that has
// reserved but not yet written), clears them, and publishes its new tail once
// per batch. Producers compare against a cached tail and reload the real one
// only when the ring looks full, so in steady state a produce touches the
// head's line and the slots' lines, never the consumer's.
//
// Cost: one CAS per produce batch (contended only between producers), no
// atomic RMW for the consumer.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "ppool/base.h"

namespace ppool {

template <class T>
class MpscRing {
  static_assert(std::is_pointer_v<T>, "entries are pointers; nullptr marks an empty slot");

 public:
  // Capacity is rounded up to a power of two (at least 2). Allocates the
  // slots: std::bad_alloc when it cannot, as any container. Thread context:
  // any thread; the ring is then shared by reference.
  explicit MpscRing(std::size_t capacity)
      : mask_(std::bit_ceil(std::max<std::size_t>(capacity, 2)) - 1),
        slots_(new std::atomic<T>[mask_ + 1]) {
    for (std::size_t i = 0; i <= mask_; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  }
  MpscRing(const MpscRing&) = delete;
  MpscRing& operator=(const MpscRing&) = delete;

  std::size_t capacity() const { return mask_ + 1; }

  // Produces up to n entries (all non-null) in order. Thread context: any
  // thread.
  // @return how many were produced, from the front of items (0 when full);
  //   the caller still holds items[return..n).
  std::size_t produce_bulk(T const* items, std::size_t n) {
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    std::size_t take;
    do {
      take = std::min<std::uint64_t>(n, free_slots(head, n));
      if (take == 0) return 0;
    } while (!head_.compare_exchange_weak(head, head + take, std::memory_order_relaxed,
                                          std::memory_order_relaxed));
    // At most two contiguous runs: to the end of the slots, then from the
    // start (the wrap split), no mask per entry.
    const std::size_t first = head & mask_;
    const std::size_t to_end = std::min(take, mask_ + 1 - first);
    for (std::size_t i = 0; i < to_end; ++i)
      slots_[first + i].store(items[i], std::memory_order_release);
    for (std::size_t i = to_end; i < take; ++i)
      slots_[i - to_end].store(items[i], std::memory_order_release);
    return take;
  }

  // One entry: the same protocol without the batch arithmetic (the ring
  // path's common case). Thread context: any thread.
  // @return false when the ring is full: the caller still holds item.
  bool produce(T item) {
    std::uint64_t head = head_.load(std::memory_order_relaxed);
    do {
      if (free_slots(head, 1) == 0) return false;
    } while (!head_.compare_exchange_weak(head, head + 1, std::memory_order_relaxed,
                                          std::memory_order_relaxed));
    slots_[head & mask_].store(item, std::memory_order_release);
    return true;
  }

  // Consumes up to n entries into out[], oldest first. Thread context: the
  // single consumer (one thread at a time).
  // @return how many were written to out (0 when the ring is empty).
  std::size_t consume_bulk(T* out, std::size_t n) {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    std::size_t got = 0;
    for (; got < n; ++got) {
      std::atomic<T>& slot = slots_[(tail + got) & mask_];
      T item = slot.load(std::memory_order_acquire);
      if (!item) break;
      slot.store(nullptr, std::memory_order_relaxed);
      out[got] = item;
    }
    // Release: a producer that sees the new tail also sees the cleared slots.
    if (got) tail_.store(tail + got, std::memory_order_release);
    return got;
  }

  // Entries ever reserved by producers: a free running count of produce.
  std::uint64_t produced() const { return head_.load(std::memory_order_relaxed); }
  // Entries ever consumed. produced() - consumed() is the ring's occupancy,
  // a moment's estimate from any thread. Thread context: any thread.
  std::uint64_t consumed() const { return tail_.load(std::memory_order_acquire); }

  // True when no entry is waiting. Thread context: the consumer.
  bool empty() const {
    return !slots_[tail_.load(std::memory_order_relaxed) & mask_].load(std::memory_order_acquire);
  }

 private:
  std::uint64_t free_slots(std::uint64_t head, std::size_t want) {
    // Acquire/release on the cache too: a producer trusting another's view of
    // the tail must also see the consumer's clearing of those slots.
    std::uint64_t tail = tail_cache_.load(std::memory_order_acquire);
    // Reload when the cached tail cannot satisfy the whole request, not only
    // when the ring looks full: a stale cache must not turn a ring with room
    // into a short (or, for a put, "ring full") produce.
    const std::uint64_t size = mask_ + 1;
    if (head - tail > size - std::min<std::uint64_t>(want, size)) {
      tail = tail_.load(std::memory_order_acquire);
      tail_cache_.store(tail, std::memory_order_release);
    }
    return mask_ + 1 - (head - tail);
  }

  // Producers' line: the head and their cached view of the tail.
  alignas(kCacheLine) std::atomic<std::uint64_t> head_{0};
  std::atomic<std::uint64_t> tail_cache_{0};
  // Consumer's line.
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};
  // Read-only after construction.
  alignas(kCacheLine) const std::size_t mask_;
  const std::unique_ptr<std::atomic<T>[]> slots_;
};

}  // namespace ppool
