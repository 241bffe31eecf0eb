// ppool/dma.h - DMA devices (layer dma): the ops a pool needs to hand pages
// to hardware, and the backends.
//
// A device is an ops table (DPDK's mempool ops, the kernel's dma_map_ops):
// map/unmap are slow-path calls made when a page enters or leaves a pool,
// one page at a time or a refill's bulk at once (map_bulk/unmap_bulk, so that
// a backend with a per-call cost pays it once per bulk); sync calls sit on
// the recycle path and are skipped when needs_sync() is false (a
// CoherentDmaDevice). Every call names its caller (the pool's name) so that
// a backend that checks, like DebugDmaDevice, can say whose mistake it found.
//
// Failures (ppool/base.h): map is on the pools' refill path and returns
// kDmaMappingError, the kernel's dma_mapping_error() convention, which the
// pool counts (PagePool::map_failures()); a backend logs why, rate-limited.
// Unmaps and syncs cannot fail; a bad one (an unknown address) is a
// reported misuse or a DebugDmaDevice finding.
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

  // Maps len bytes at addr for DMA.
  // @return the device's address, or kDmaMappingError when the device
  //   refuses (out of IOMMU space, locked memory, table slots; the backend
  //   logs why). Nothing is mapped then.
  virtual DmaAddr map(void* addr, std::size_t len, DmaDirection dir, std::string_view caller) = 0;
  virtual void unmap(DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller) = 0;

  // Maps [addrs[i], +lens[i]) for i in [0, n), in order, into out[i], and stops
  // at the first refusal. Pools rely on the stop: a refusal means the device
  // is out of something (IOMMU space, locked memory, table slots) and ends the
  // refill, so a failing allocation costs one refused call, not one per page.
  // A length per entry because one entry may be a compound page (a pool of
  // order > 0); a pool's bulk is at most 64. A backend whose mapping has a
  // per-call cost (a syscall, an IOTLB flush) overrides this to pay it once
  // per bulk; the default is a loop over map(). Thread context: any thread.
  // @return m, the number mapped: out[0, m) are valid, addrs[m] (when m < n)
  //   was refused as map() would refuse it, and addrs[m + 1, n) were never
  //   asked for.
  [[nodiscard]] virtual std::size_t map_bulk(void* const* addrs, const std::size_t* lens,
                                             DmaAddr* out, std::size_t n, DmaDirection dir,
                                             std::string_view caller) {
    std::size_t mapped = 0;
    for (; mapped < n; ++mapped) {
      out[mapped] = map(addrs[mapped], lens[mapped], dir, caller);
      if (out[mapped] == kDmaMappingError) break;
    }
    return mapped;
  }
  // Unmaps addrs[0, n), each with the length it was mapped with, as n calls
  // of unmap() would. Default: a loop over unmap(). Thread context: any thread.
  virtual void unmap_bulk(const DmaAddr* addrs, const std::size_t* lens, std::size_t n,
                          DmaDirection dir, std::string_view caller) {
    for (std::size_t i = 0; i < n; ++i) unmap(addrs[i], lens[i], dir, caller);
  }

  // Hands [addr + offset, +len) to the device / back to the CPU.
  virtual void sync_for_device(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                               std::string_view caller) = 0;
  virtual void sync_for_cpu(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                            std::string_view caller) = 0;
  // False when syncs are no-ops (coherent device): pools then skip them.
  virtual bool needs_sync() const = 0;
};

// A device whose memory is coherent with the CPU's caches (no IOMMU, pinned
// host memory, a ring's registered buffers): syncs are no-ops, and final, so
// that a pool on it never pays a sync call on its recycle path and a backend
// cannot claim coherence and sync anyway. Backends derive from it instead of
// each carrying empty overrides.
class CoherentDmaDevice : public DmaDevice {
 public:
  void sync_for_device(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) final {}
  void sync_for_cpu(DmaAddr, std::size_t, std::size_t, DmaDirection, std::string_view) final {}
  bool needs_sync() const final { return false; }
};

// No IOMMU, coherent: the DMA address is the virtual address. Stateless; one
// instance may serve every pool.
class IdentityDmaDevice final : public CoherentDmaDevice {
 public:
  std::string_view name() const override { return "identity"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    return reinterpret_cast<DmaAddr>(addr);
  }
  void unmap(DmaAddr, std::size_t, DmaDirection, std::string_view) override {}
  // Never refuses. Overridden so that a pool's refill on the identity device
  // costs one virtual call per bulk, not one per page (its slow path's
  // target is 40 ns a page). Thread context: any thread.
  [[nodiscard]] std::size_t map_bulk(void* const* addrs, const std::size_t*, DmaAddr* out,
                                     std::size_t n, DmaDirection, std::string_view) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = reinterpret_cast<DmaAddr>(addrs[i]);
    return n;
  }
  void unmap_bulk(const DmaAddr*, const std::size_t*, std::size_t, DmaDirection,
                  std::string_view) override {}
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
  // Each entry checked as map()/unmap() check it, the mappings recorded or
  // released under one lock acquisition, and the inner device's bulk op
  // called (so a backend's own bulk path runs under the checker too).
  [[nodiscard]] std::size_t map_bulk(void* const* addrs, const std::size_t* lens, DmaAddr* out,
                                     std::size_t n, DmaDirection dir,
                                     std::string_view caller) override;
  void unmap_bulk(const DmaAddr* addrs, const std::size_t* lens, std::size_t n, DmaDirection dir,
                  std::string_view caller) override;
  void sync_for_device(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                       std::string_view caller) override;
  void sync_for_cpu(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                    std::string_view caller) override;
  bool needs_sync() const override { return true; }

  // Reports every mapping still live as an error. @return how many there
  // were (0: clean).
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
