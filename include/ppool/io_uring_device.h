// ppool/io_uring_device.h - a DMA device over io_uring's fixed buffers
// (layer dma; built when liburing is found, library ppool::io_uring).
//
// Mapping a page registers it in a slot of a sparse fixed-buffer table: the
// kernel pins it once, which is the real map cost a pool pays on its slow
// path and never again while the page cycles. The DMA address is the slot
// index, usable as buf_index of a fixed-buffer send or read. A device may
// span several rings (a NIC's queues): a page is registered at the same slot
// in every ring, so a page redirected to another queue is sent from that
// queue's ring with the same index. Unmap clears the slot; sync is a no-op.
//
// The device keeps each slot's state (free, being mapped or unmapped,
// mapped, with the page and length): an unmap that names no slot mapped now
// is refused and reported as a misuse, and changes nothing, so one bad call
// cannot hand a slot out twice or lose one.
//
// A registration is a syscall per ring, and a refill maps 64 pages: the bulk
// ops register a run of contiguous slots with one call per ring, and the
// free-slot stack hands out fresh slots, and slots freed in bulk, ascending,
// so that a pool's refill is usually one run.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ppool/dma.h"

struct io_uring;
struct iovec;

namespace ppool {

class IoUringDmaDevice final : public CoherentDmaDevice {
 public:
  // Registers a sparse table of `slots` buffers in each ring. Thread
  // context: any thread; the rings must outlive the device.
  // @return the device, or an Error; no ring keeps a table then (those
  //   registered before the refusal are unregistered):
  //   - kInvalidArgument: no ring, or 0 slots;
  //   - kUnsupported: io_uring refused, with the kernel's reason (an old
  //     kernel, seccomp, RLIMIT_MEMLOCK, a ring that already has a table).
  [[nodiscard]] static Result<std::unique_ptr<IoUringDmaDevice>> create(
      std::span<io_uring* const> rings, unsigned slots);
  ~IoUringDmaDevice() override;  // unregisters the tables

  std::string_view name() const override { return "io_uring"; }
  // One slot, registered in every ring: a syscall per ring (map_bulk of one
  // page). Thread context: any thread.
  // @return the slot index, or kDmaMappingError when the table is full or
  //   the kernel will not pin (the reason logged, rate-limited to 10 a
  //   second); the slot is free again then.
  DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  // Clears the slot in every ring and frees it. Cannot fail, but an addr that
  // names no slot mapped now (kDmaMappingError, beyond the table, never mapped,
  // unmapped already, being mapped or unmapped by another call) or a len other
  // than the one mapped there is refused: reported as a misuse naming the
  // device, the address, the caller and why (detail::report_misuse), and the
  // slot and the free stack are left as they were. Thread context: any thread.
  void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  // n free slots, registered with one io_uring_register_buffers_update_tag
  // call per ring per run of contiguous slots (at most 64 to a run): a
  // refill of 64 fresh slots costs one syscall per ring, not 64. Stops at the
  // first page refused, as map() refuses it and with its message: the table
  // is full, or the kernel will not pin. When an update stops short, the
  // kernel says how many it registered but not why; the page it stopped at
  // is asked for alone to learn the reason (one more call per ring). Slots of
  // pages not mapped go back to the free stack, cleared in every ring.
  // Thread context: any thread.
  // @return how many were mapped, as DmaDevice::map_bulk().
  [[nodiscard]] std::size_t map_bulk(void* const* addrs, const std::size_t* lens, DmaAddr* out,
                                     std::size_t n, DmaDirection dir,
                                     std::string_view caller) override;
  // Clears the slots with one call per ring per run of contiguous slots and
  // frees them so that a later map_bulk gets them back ascending, as runs.
  // Each entry is checked as unmap() checks it: a bad one (or a slot named
  // a second time) is refused and reported alone, the others are unmapped.
  // Thread context: any thread.
  void unmap_bulk(const DmaAddr* addrs, const std::size_t* lens, std::size_t n, DmaDirection dir,
                  std::string_view caller) override;

  unsigned slots() const { return slots_; }
  // Slots mapped now (and those a map or unmap in progress holds). Thread
  // context: any thread.
  unsigned slots_in_use() const;
  // Slot updates asked of the kernel (io_uring_register calls), every ring
  // counted, ever: what mapping has cost in syscalls (a bulk of 64 contiguous
  // slots on two rings: 2). For tests and benchmarks. Thread context: any
  // thread.
  [[nodiscard]] std::uint64_t register_calls() const {
    return register_calls_.load(std::memory_order_relaxed);
  }

 private:
  IoUringDmaDevice(std::vector<io_uring*> rings, unsigned slots);
  // Sets slots [first, +n) of one ring to iov[0, n); the kernel's answer.
  int update(io_uring* ring, unsigned first, const iovec* iov, std::size_t n);
  // Registers iov[0, n) at slots [first, +n) in every ring; returns how many
  // leading entries every ring now holds, with the rest cleared where a ring
  // took them. *err gets the kernel's error when a call returned one.
  std::size_t register_run(unsigned first, const iovec* iov, std::size_t n, int* err);

  // Why an unmap of addr, len may not proceed, or "" when slot addr is
  // mapped with that len. Called under lock_; formats only when refusing.
  std::string unmap_refusal(DmaAddr addr, std::size_t len) const;

  // One slot's state, the truth an unmap is checked against: 24 bytes a slot.
  struct Slot {
    void* addr = nullptr;  // the page mapped there (kMapped), for reports
    std::size_t len = 0;   // its length (kMapped): an unmap must name it
    std::uint8_t state = 0;
  };
  // Slot::state bits. kBusy: a map or unmap holds the slot between taking it
  // under lock_ and the kernel's answer: it is neither free nor unmappable.
  // kEver tells a double unmap from an unmap of a slot never mapped.
  static constexpr std::uint8_t kMapped = 1, kBusy = 2, kEver = 4;

  std::vector<io_uring*> rings_;
  unsigned slots_;
  std::atomic<std::uint64_t> register_calls_{0};
  mutable std::mutex lock_;  // the free-slot stack and the slots' states
  // Free slots, the next one on top; each is empty in every ring, and its
  // state has neither kMapped nor kBusy.
  std::vector<unsigned> free_;
  std::vector<Slot> slot_;  // indexed by slot
};

}  // namespace ppool
