// A single-producer single-consumer ring in memory shared by two processes
// (layer share, internal): the hand ring and the return ring of ppool/share.h.
//
// Each index lives on a cache line of its own (rigtorp's SPSCQueue layout);
// the cached copy of the other side's index and each side's authoritative
// index live in that side's private memory, where the peer cannot touch them:
// the shared copy of our index is only ever written by us, and the peer's
// index is validated on every read (it must lie between what we last saw and
// what we published), so a peer writing garbage into the shared page cannot
// make us read or write outside the ring, only make its own view wrong.
//
// Indices are free-running 32-bit counters (the ring size is a power of two),
// accessed through std::atomic_ref: lock-free and address-free, so the two
// processes' mappings of the same page agree. A side publishes its index
// once per bulk with a sequentially consistent store and then looks at the
// other side's "waiting" flag (its own line, written only around a sleep):
// the pair {store index, load flag} against {store flag, load index} is
// Dekker's, so either the waker sees the flag or the sleeper sees the index.
// A sleeper then futex-waits on the index it is waiting for to move.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ppool/base.h"

namespace ppool::detail {

// The shared part of one ring: four lines.
struct alignas(kCacheLine) ShmRingControl {
  alignas(kCacheLine) std::uint32_t tail;  // written by the ring's producer
  alignas(kCacheLine) std::uint32_t head;  // written by the ring's consumer
  // Raised by the ring's consumer while it sleeps on tail, and by its
  // producer while it sleeps on head (the ring full).
  alignas(kCacheLine) std::uint32_t consumer_waiting;
  alignas(kCacheLine) std::uint32_t producer_waiting;
};
static_assert(sizeof(ShmRingControl) == 4 * kCacheLine, "one line per index and per flag");
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free,
              "the indices are shared between processes: they must be lock-free");
static_assert(std::atomic_ref<std::uint32_t>::required_alignment <= alignof(std::uint32_t));

inline std::uint32_t shm_load(std::uint32_t& word, std::memory_order order) {
  return std::atomic_ref<std::uint32_t>(word).load(order);
}
inline void shm_store(std::uint32_t& word, std::uint32_t value, std::memory_order order) {
  std::atomic_ref<std::uint32_t>(word).store(value, order);
}

// FUTEX_WAIT on a shared word while it still reads `seen`, up to timeout_ms
// (a shared futex: the two processes map the same page).
void shm_futex_wait(std::uint32_t* word, std::uint32_t seen, int timeout_ms);
void shm_futex_wake(std::uint32_t* word);

// Spins (with a pause) up to this many polls before a wait sleeps: about a
// microsecond, less than a futex round trip.
inline constexpr int kShmSpinPolls = 128;
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Publishes a side's index and wakes the other side if it sleeps on it.
inline void shm_publish(std::uint32_t& index, std::uint32_t value, std::uint32_t& peer_waiting) {
  shm_store(index, value, std::memory_order_seq_cst);
  if (PPOOL_UNLIKELY(shm_load(peer_waiting, std::memory_order_seq_cst))) shm_futex_wake(&index);
}

// Waits until `index` no longer reads `seen`: spins, then raises `waiting`
// and sleeps. True when it moved.
bool shm_wait_change(std::uint32_t& index, std::uint32_t seen, std::uint32_t& waiting,
                     int timeout_ms);

// The producing side of a ring of T (trivially copyable entries).
template <class T>
class ShmRingProducer {
 public:
  void init(ShmRingControl* control, T* slots, std::uint32_t entries) {
    control_ = control;
    slots_ = slots;
    entries_ = entries;
    mask_ = entries - 1;
  }

  // Room as the consumer last published it; refreshes the cached head when
  // the cached one shows less than `want`. 0 and broken() when the
  // consumer's head is impossible.
  std::uint32_t room(std::uint32_t want) {
    std::uint32_t room = entries_ - (tail_ - head_cache_);
    if (room >= want || broken_) return broken_ ? 0 : room;
    const std::uint32_t head = shm_load(control_->head, std::memory_order_acquire);
    // The consumer can only move forward, and never past what we published.
    if (PPOOL_UNLIKELY(head - head_cache_ > tail_ - head_cache_)) {
      broken_ = true;
      return 0;
    }
    head_cache_ = head;
    return entries_ - (tail_ - head_cache_);
  }

  // Copies n entries in (the caller checked room()) and publishes them.
  void push(const T* items, std::uint32_t n) {
    const std::uint32_t at = tail_ & mask_;
    const std::uint32_t first = std::min(n, entries_ - at);
    std::memcpy(slots_ + at, items, first * sizeof(T));
    std::memcpy(slots_, items + first, (n - first) * sizeof(T));
    tail_ += n;
    shm_publish(control_->tail, tail_, control_->consumer_waiting);
  }

  // Entries published and not yet taken, as the consumer last said.
  std::uint32_t pending() {
    room(entries_);
    return tail_ - head_cache_;
  }

  // Sleeps until the consumer takes something (the ring full), up to
  // timeout_ms. True when there is room.
  bool wait_room(int timeout_ms) {
    if (room(1)) return true;
    if (broken_) return false;
    shm_wait_change(control_->head, head_cache_, control_->producer_waiting, timeout_ms);
    return room(1) > 0;
  }

  bool broken() const { return broken_; }

 private:
  ShmRingControl* control_ = nullptr;
  T* slots_ = nullptr;
  std::uint32_t entries_ = 0, mask_ = 0;
  std::uint32_t tail_ = 0;        // ours, authoritative
  std::uint32_t head_cache_ = 0;  // the consumer's, as last seen
  bool broken_ = false;
};

// The consuming side of a ring of T.
template <class T>
class ShmRingConsumer {
 public:
  void init(ShmRingControl* control, const T* slots, std::uint32_t entries) {
    control_ = control;
    slots_ = slots;
    entries_ = entries;
    mask_ = entries - 1;
  }

  // Entries available, refreshing the cached tail when it shows none. 0 and
  // broken() when the producer's tail is impossible.
  std::uint32_t available() {
    std::uint32_t avail = tail_cache_ - head_;
    if (avail || broken_) return broken_ ? 0 : avail;
    const std::uint32_t tail = shm_load(control_->tail, std::memory_order_acquire);
    // Never more than a ring's worth ahead of us, never behind.
    if (PPOOL_UNLIKELY(tail - head_ > entries_)) {
      broken_ = true;
      return 0;
    }
    tail_cache_ = tail;
    return tail_cache_ - head_;
  }

  // Copies up to max entries out and publishes the new head; returns how many.
  std::uint32_t pop(T* out, std::uint32_t max) {
    const std::uint32_t n = std::min(available(), max);
    if (!n) return 0;
    const std::uint32_t at = head_ & mask_;
    const std::uint32_t first = std::min(n, entries_ - at);
    std::memcpy(out, slots_ + at, first * sizeof(T));
    std::memcpy(out + first, slots_, (n - first) * sizeof(T));
    head_ += n;
    shm_publish(control_->head, head_, control_->producer_waiting);
    return n;
  }

  // Sleeps until the producer publishes something, up to timeout_ms.
  bool wait_data(int timeout_ms) {
    if (available()) return true;
    if (broken_) return false;
    shm_wait_change(control_->tail, tail_cache_, control_->consumer_waiting, timeout_ms);
    return available() > 0;
  }

  bool broken() const { return broken_; }

 private:
  ShmRingControl* control_ = nullptr;
  const T* slots_ = nullptr;
  std::uint32_t entries_ = 0, mask_ = 0;
  std::uint32_t head_ = 0;        // ours, authoritative
  std::uint32_t tail_cache_ = 0;  // the producer's, as last seen
  bool broken_ = false;
};

}  // namespace ppool::detail
