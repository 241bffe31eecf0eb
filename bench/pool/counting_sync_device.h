// Benchmarks only: a DMA device that needs syncs and whose syncs only count.
//
// fast_path_sync measures the pool's sync path (the kDmaSyncDev branch and
// the device call), not a cache flush: the device maps to the identity and
// its sync is a plain load and store (only the pool's owner syncs in these
// benchmarks, so no locked RMW is needed to count).
#pragma once

#include <atomic>
#include <cstdint>

#include "ppool/dma.h"

namespace ppool::bench {

class CountingSyncDevice final : public DmaDevice {
 public:
  std::string_view name() const override { return "counting-sync"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    return reinterpret_cast<DmaAddr>(addr);
  }
  void unmap(DmaAddr, std::size_t, DmaDirection, std::string_view) override {}
  void sync_for_device(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
    count();
  }
  void sync_for_cpu(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
    count();
  }
  bool needs_sync() const override { return true; }
  std::uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }

 private:
  void count() {
    syncs_.store(syncs_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> syncs_{0};
};

}  // namespace ppool::bench
