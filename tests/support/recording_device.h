// A DMA device for tests that check what a pool asks of its device: it maps
// to the identity, keeps the set of live mappings, and records every sync
// (address, offset, length, direction, caller) in order. needs_sync() says
// what the constructor was told, but the syncs are recorded either way: a
// pool that syncs on a device that needs none is caught, which a
// CoherentDmaDevice (whose syncs are final no-ops) could not show.
//
// Every call takes one mutex: any thread may map, sync and unmap while the
// test reads. For tests only: a real backend's sync is not a lock and a push.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "ppool/dma.h"

namespace ppool::test {

class RecordingDmaDevice final : public DmaDevice {
 public:
  struct Sync {
    DmaAddr addr;
    std::size_t offset, len;
    DmaDirection dir;
    std::string caller;
    friend bool operator<(const Sync& a, const Sync& b) {
      return std::tie(a.addr, a.offset, a.len, a.dir, a.caller) <
             std::tie(b.addr, b.offset, b.len, b.dir, b.caller);
    }
    friend bool operator==(const Sync& a, const Sync& b) {
      return std::tie(a.addr, a.offset, a.len, a.dir, a.caller) ==
             std::tie(b.addr, b.offset, b.len, b.dir, b.caller);
    }
  };

  explicit RecordingDmaDevice(bool needs_sync) : needs_sync_(needs_sync) {}

  std::string_view name() const override { return needs_sync_ ? "recording-sync" : "recording"; }
  DmaAddr map(void* addr, std::size_t, DmaDirection, std::string_view) override {
    std::lock_guard guard(lock_);
    const auto dma = reinterpret_cast<DmaAddr>(addr);
    live_.insert(dma);
    return dma;
  }
  void unmap(DmaAddr addr, std::size_t, DmaDirection, std::string_view) override {
    std::lock_guard guard(lock_);
    if (!live_.erase(addr)) ++bad_unmaps_;
  }
  void sync_for_device(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                       std::string_view caller) override {
    std::lock_guard guard(lock_);
    device_syncs_.push_back(Sync{addr, offset, len, dir, std::string(caller)});
  }
  void sync_for_cpu(DmaAddr addr, std::size_t offset, std::size_t len, DmaDirection dir,
                    std::string_view caller) override {
    std::lock_guard guard(lock_);
    cpu_syncs_.push_back(Sync{addr, offset, len, dir, std::string(caller)});
  }
  bool needs_sync() const override { return needs_sync_; }

  // The syncs for the device since the last clear, sorted (so that a test
  // compares them with its expectation whatever the pool's order).
  std::vector<Sync> device_syncs() const {
    std::lock_guard guard(lock_);
    std::vector<Sync> out = device_syncs_;
    std::sort(out.begin(), out.end());
    return out;
  }
  std::size_t cpu_syncs() const {
    std::lock_guard guard(lock_);
    return cpu_syncs_.size();
  }
  // Forgets the syncs recorded so far (the mappings stay).
  void clear_syncs() {
    std::lock_guard guard(lock_);
    device_syncs_.clear();
    cpu_syncs_.clear();
  }
  std::size_t live_mappings() const {
    std::lock_guard guard(lock_);
    return live_.size();
  }
  // Unmaps of an address that was not mapped.
  std::size_t bad_unmaps() const {
    std::lock_guard guard(lock_);
    return bad_unmaps_;
  }

 private:
  const bool needs_sync_;
  mutable std::mutex lock_;
  std::set<DmaAddr> live_;
  std::size_t bad_unmaps_ = 0;
  std::vector<Sync> device_syncs_, cpu_syncs_;
};

}  // namespace ppool::test
