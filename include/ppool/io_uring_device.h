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
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "ppool/dma.h"

struct io_uring;

namespace ppool {

class IoUringDmaDevice final : public DmaDevice {
 public:
  // Registers a sparse table of `slots` buffers in each ring. Errors name
  // the cause: io_uring refused (old kernel, seccomp), or RLIMIT_MEMLOCK.
  // Thread context: any thread; the rings must outlive the device.
  static Result<std::unique_ptr<IoUringDmaDevice>> create(std::span<io_uring* const> rings,
                                                          unsigned slots);
  ~IoUringDmaDevice() override;  // unregisters the tables

  std::string_view name() const override { return "io_uring"; }
  // One slot, registered in every ring: a syscall per ring. Refused (with a
  // logged reason, rate-limited to 10 a second) when the table is full or
  // the kernel will not pin.
  DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  void sync_for_device(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
  }
  void sync_for_cpu(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {}
  bool needs_sync() const override { return false; }

  unsigned slots() const { return slots_; }
  unsigned slots_in_use() const;

 private:
  IoUringDmaDevice(std::vector<io_uring*> rings, unsigned slots);
  int update(unsigned slot, void* addr, std::size_t len);

  std::vector<io_uring*> rings_;
  unsigned slots_;
  mutable std::mutex lock_;  // the free-slot stack
  std::vector<unsigned> free_;
};

}  // namespace ppool
