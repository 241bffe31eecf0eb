// ppool/dma.h - DMA devices (layer dma): the ops a pool needs to hand pages
// to hardware, and the backends.
//
// A device is an ops table (DPDK's mempool ops, the kernel's dma_map_ops):
// map/unmap are slow-path calls made when a page enters or leaves a pool;
// sync calls sit on the recycle path and are skipped when needs_sync() is
// false. Every call names its caller (the pool's name) so that a backend that
// checks, like DebugDmaDevice, can say whose mistake it found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ppool/base.h"

namespace ppool {

using DmaAddr = std::uint64_t;
inline constexpr DmaAddr kDmaMappingError = ~DmaAddr{0};

enum class DmaDirection : std::uint8_t { kBidirectional, kToDevice, kFromDevice, kNone };
const char* to_string(DmaDirection dir);

// Thread context of every call: any thread; a backend serialises internally
// where it keeps state.
class DmaDevice {
 public:
  virtual ~DmaDevice() = default;
  virtual std::string_view name() const = 0;

  // Maps len bytes at addr for DMA; kDmaMappingError when refused.
  virtual DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) = 0;
  virtual void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) = 0;
  // Hands [addr + offset, +len) to the device / back to the CPU.
  virtual void sync_for_device(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                               std::string_view caller) = 0;
  virtual void sync_for_cpu(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                            std::string_view caller) = 0;
  // False when syncs are no-ops (coherent device): pools then skip them.
  virtual bool needs_sync() const = 0;
};

// No IOMMU, coherent: the DMA address is the virtual address, syncs are
// no-ops. Stateless; one instance may serve every pool.
class IdentityDmaDevice final : public DmaDevice {
 public:
  std::string_view name() const override { return "identity"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    return reinterpret_cast<DmaAddr>(addr);
  }
  void unmap(DmaAddr, std::size_t, DmaDirection, std::string_view) override {}
  void sync_for_device(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {
  }
  void sync_for_cpu(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) override {}
  bool needs_sync() const override { return false; }
};

// Wraps another device and checks every call, as the kernel's DMA API
// debugging (CONFIG_DMA_API_DEBUG) does: unmap of an unknown address, double
// unmap, unmap with another length or direction, sync outside a mapping or in
// a direction the mapping does not allow, and, at close(), every mapping still
// live. Each finding is logged (LogLevel::kError) naming the address and the
// caller, and counted. Costs a mutex and a tree lookup per call.
class DebugDmaDevice final : public DmaDevice {
 public:
  explicit DebugDmaDevice(DmaDevice& inner);
  ~DebugDmaDevice() override;  // calls close() if not yet closed

  std::string_view name() const override { return "debug"; }
  DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) override;
  void sync_for_device(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                       std::string_view caller) override;
  void sync_for_cpu(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                    std::string_view caller) override;
  bool needs_sync() const override { return true; }

  // Reports every mapping still live as an error; returns how many there were.
  std::size_t close();
  std::size_t live_mappings() const;
  // Live mappings made by one caller (a pool's name).
  std::size_t live_mappings(std::string_view caller) const;
  std::uint64_t error_count() const;

 private:
  struct State;
  DmaDevice& inner_;
  std::unique_ptr<State> state_;
};

}  // namespace ppool
