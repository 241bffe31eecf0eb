// DebugDmaDevice: the kernel's DMA API debugging (CONFIG_DMA_API_DEBUG,
// kernel/dma/debug.c) for ppool's devices.
//
// The checker keeps its own record of every live mapping, keyed by DMA address,
// and judges each call against it. The record is the truth: when a call is
// wrong, the inner device sees either nothing (a call that could fault a real
// IOMMU: unmap of an unknown address, sync outside a mapping) or the recorded
// values (unmap with the wrong length or direction still releases the mapping
// that exists, so one mistake is reported once, not again at close()).
//
// Findings are formatted under the mutex but logged after it is dropped, so a
// slow log hook never serialises other threads' DMA calls behind it.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ppool/dma.h"

namespace ppool {
namespace {

// How many unmapped addresses are remembered to tell a double unmap from an
// address that was never mapped. Bounded so that a long run costs no more
// memory than a short one; older addresses then read as "unknown", which is
// still reported.
constexpr std::size_t kRecentUnmaps = 4096;

using Findings = std::vector<std::string>;

unsigned long long hex(DmaAddr addr) {
  return static_cast<unsigned long long>(addr);
}

// True when [addr, addr + len) does not fit the DMA address space.
bool wraps(DmaAddr addr, std::uint64_t len) {
  return len > ~DmaAddr{0} - addr;
}

// Every finding is counted; at most 10 a second per device are logged (a
// driver bug repeats on every packet), the rest as a count with the next one
// that is, or at close().
void report(std::atomic<std::uint64_t>& errors, LogRateLimit& limit, const Findings& findings) {
  for (const std::string& finding : findings) {
    errors.fetch_add(1, std::memory_order_relaxed);
    if (limit.allow(LogLevel::kError)) log(LogLevel::kError, "dma-debug: " + finding);
  }
}

}  // namespace

struct DebugDmaDevice::State {
  struct Mapping {
    std::size_t len;
    DmaDirection dir;
    std::string caller;
    void* cpu;
    DmaAddr end(DmaAddr start) const { return start + len; }
  };
  struct Unmapped {
    DmaAddr addr;
    std::string caller;
  };
  using Live = std::map<DmaAddr, Mapping>;

  mutable std::mutex mu;
  Live live;  // non-overlapping, each of len >= 1: record() keeps it so
  std::vector<Unmapped> recent = std::vector<Unmapped>(kRecentUnmaps);
  std::unordered_map<DmaAddr, std::uint64_t> recent_seq;  // addr -> its newest unmap
  std::uint64_t unmaps = 0;                               // free-running index into recent
  std::atomic<std::uint64_t> errors{0};
  LogRateLimit log_limit{"dma-debug"};

  // The live mapping that shares a byte with [addr, addr + len), if any.
  // Neighbours suffice because live mappings never overlap one another.
  Live::iterator overlapping(DmaAddr addr, std::size_t len) {
    auto it = live.lower_bound(addr);
    if (it != live.end() && it->first - addr < len) return it;
    if (it != live.begin()) {
      auto prev = std::prev(it);
      if (prev->second.end(prev->first) > addr) return prev;
    }
    return live.end();
  }

  // The live mapping holding the byte at addr, if any.
  Live::iterator containing(DmaAddr addr) {
    auto it = live.upper_bound(addr);
    if (it == live.begin()) return live.end();
    auto prev = std::prev(it);
    return addr < prev->second.end(prev->first) ? prev : live.end();
  }

  void remember_unmap(DmaAddr addr, std::string_view caller) {
    std::uint64_t seq = unmaps++;
    Unmapped& slot = recent[seq % kRecentUnmaps];
    if (seq >= kRecentUnmaps) {
      // Forget the evicted address unless a newer unmap of it is still held.
      auto old = recent_seq.find(slot.addr);
      if (old != recent_seq.end() && old->second == seq - kRecentUnmaps) recent_seq.erase(old);
    }
    slot.addr = addr;
    slot.caller.assign(caller);
    recent_seq[addr] = seq;
  }

  // Who last unmapped addr, or nullptr when it is not among the recent unmaps.
  const std::string* last_unmapper(DmaAddr addr) const {
    auto it = recent_seq.find(addr);
    return it == recent_seq.end() ? nullptr : &recent[it->second % kRecentUnmaps].caller;
  }

  void record(DmaAddr dma, void* cpu, std::size_t len, DmaDirection dir, std::string_view caller,
              Findings& findings);
  // Validates an unmap and drops the mapping; returns it when there was one.
  std::optional<Mapping> release(DmaAddr addr, std::size_t len, DmaDirection dir,
                                 std::string_view caller, Findings& findings);
  // Validates a sync; true when it may reach the inner device.
  bool check_sync(const char* what, DmaAddr addr, std::size_t offset, std::size_t len,
                  DmaDirection dir, std::string_view caller, Findings& findings);
  // What a bulk unmap may pass on to the inner device: the recorded values
  // of each mapping it released, in the caller's order.
  struct Releases {
    std::vector<DmaAddr> addrs;
    std::vector<std::size_t> lens;
    std::vector<DmaDirection> dirs;
  };
  // record() of dma[0, n) under one lock acquisition, the findings reported
  // after it.
  void record_all(const DmaAddr* dma, void* const* cpu, const std::size_t* lens, std::size_t n,
                  DmaDirection dir, std::string_view caller);
  // release() of addrs[0, n) under one lock acquisition, the findings
  // reported after it; returns the mappings that existed.
  Releases release_all(const DmaAddr* addrs, const std::size_t* lens, std::size_t n,
                       DmaDirection dir, std::string_view caller);
  // check_sync() under the lock, its findings reported after it; true when the
  // sync may reach the inner device.
  bool admit_sync(const char* what, DmaAddr addr, std::size_t offset, std::size_t len,
                  DmaDirection dir, std::string_view caller);
  void describe_unknown(DmaAddr addr, std::string_view caller, Findings& findings);
};

void DebugDmaDevice::State::record(DmaAddr dma, void* cpu, std::size_t len, DmaDirection dir,
                                   std::string_view caller, Findings& findings) {
  const std::string who(caller);
  if (len == 0 || wraps(dma, len)) {
    // Nothing sensible to record: any later unmap of it reads as unknown.
    findings.push_back(detail::format("map of DMA address 0x%llx with invalid len %zu (%s)",
                                      hex(dma), len, who.c_str()));
    return;
  }
  if (auto it = overlapping(dma, len); it != live.end()) {
    // Keep the older mapping as the record; the newer one is the mistake.
    findings.push_back(detail::format(
        "map of DMA address 0x%llx, len %zu (%s) overlaps the live mapping at DMA address "
        "0x%llx, len %zu, mapped by %s",
        hex(dma), len, who.c_str(), hex(it->first), it->second.len, it->second.caller.c_str()));
    return;
  }
  if (dir == DmaDirection::kNone) {
    // Recorded anyway so that its unmap matches; every sync of it will be reported.
    findings.push_back(detail::format("map of DMA address 0x%llx, len %zu with direction NONE (%s)",
                                      hex(dma), len, who.c_str()));
  }
  live.emplace(dma, Mapping{len, dir, who, cpu});
}

void DebugDmaDevice::State::describe_unknown(DmaAddr addr, std::string_view caller,
                                             Findings& findings) {
  const std::string who(caller);
  if (const std::string* by = last_unmapper(addr)) {
    findings.push_back(
        detail::format("double unmap of DMA address 0x%llx (%s), already unmapped by %s", hex(addr),
                       who.c_str(), by->c_str()));
  } else if (auto it = containing(addr); it != live.end()) {
    findings.push_back(detail::format(
        "unmap of unknown DMA address 0x%llx (%s): inside the mapping at DMA address 0x%llx, "
        "len %zu, mapped by %s",
        hex(addr), who.c_str(), hex(it->first), it->second.len, it->second.caller.c_str()));
  } else {
    findings.push_back(
        detail::format("unmap of unknown DMA address 0x%llx (%s)", hex(addr), who.c_str()));
  }
}

std::optional<DebugDmaDevice::State::Mapping> DebugDmaDevice::State::release(
    DmaAddr addr, std::size_t len, DmaDirection dir, std::string_view caller, Findings& findings) {
  auto it = live.find(addr);
  if (it == live.end()) {
    describe_unknown(addr, caller, findings);
    return std::nullopt;
  }
  const std::string who(caller);
  const Mapping& m = it->second;
  if (len != m.len) {
    findings.push_back(detail::format(
        "unmap of DMA address 0x%llx with len %zu (%s), but it was mapped with len %zu by %s",
        hex(addr), len, who.c_str(), m.len, m.caller.c_str()));
  }
  if (dir != m.dir) {
    findings.push_back(detail::format(
        "unmap of DMA address 0x%llx with direction %s (%s), but it was mapped %s by %s", hex(addr),
        to_string(dir), who.c_str(), to_string(m.dir), m.caller.c_str()));
  }
  Mapping released = std::move(it->second);
  live.erase(it);
  remember_unmap(addr, caller);
  return released;
}

bool DebugDmaDevice::State::check_sync(const char* what, DmaAddr addr, std::size_t offset,
                                       std::size_t len, DmaDirection dir, std::string_view caller,
                                       Findings& findings) {
  const std::string who(caller);
  auto it = wraps(addr, offset) ? live.end() : containing(addr + offset);
  if (it == live.end() || len > it->second.end(it->first) - (addr + offset)) {
    std::string msg =
        detail::format("%s outside a mapping: DMA address 0x%llx, offset %zu, len %zu (%s)", what,
                       hex(addr), offset, len, who.c_str());
    if (it != live.end()) {
      msg += detail::format("; the mapping at DMA address 0x%llx has len %zu, mapped by %s",
                            hex(it->first), it->second.len, it->second.caller.c_str());
    } else if (const std::string* by = last_unmapper(addr)) {
      msg += detail::format("; 0x%llx was unmapped by %s", hex(addr), by->c_str());
    }
    findings.push_back(std::move(msg));
    return false;
  }
  const Mapping& m = it->second;
  if (dir == DmaDirection::kNone || (m.dir != DmaDirection::kBidirectional && dir != m.dir)) {
    findings.push_back(detail::format(
        "%s of DMA address 0x%llx, offset %zu, len %zu with direction %s (%s), but the mapping at "
        "0x%llx was mapped %s by %s",
        what, hex(addr), offset, len, to_string(dir), who.c_str(), hex(it->first), to_string(m.dir),
        m.caller.c_str()));
    return false;
  }
  return true;
}

void DebugDmaDevice::State::record_all(const DmaAddr* dma, void* const* cpu,
                                       const std::size_t* lens, std::size_t n, DmaDirection dir,
                                       std::string_view caller) {
  Findings findings;
  {
    std::lock_guard lock(mu);
    for (std::size_t i = 0; i < n; ++i) record(dma[i], cpu[i], lens[i], dir, caller, findings);
  }
  report(errors, log_limit, findings);
}

// The record is dropped before the inner unmap: once the inner device may
// hand an address out again, a new map() of it must find no stale entry.
DebugDmaDevice::State::Releases DebugDmaDevice::State::release_all(const DmaAddr* addrs,
                                                                   const std::size_t* lens,
                                                                   std::size_t n, DmaDirection dir,
                                                                   std::string_view caller) {
  Findings findings;
  Releases out;
  {
    std::lock_guard lock(mu);
    for (std::size_t i = 0; i < n; ++i) {
      if (auto m = release(addrs[i], lens[i], dir, caller, findings)) {
        out.addrs.push_back(addrs[i]);
        out.lens.push_back(m->len);
        out.dirs.push_back(m->dir);
      }
    }
  }
  report(errors, log_limit, findings);
  return out;
}

bool DebugDmaDevice::State::admit_sync(const char* what, DmaAddr addr, std::size_t offset,
                                       std::size_t len, DmaDirection dir, std::string_view caller) {
  Findings findings;
  bool ok;
  {
    std::lock_guard lock(mu);
    ok = check_sync(what, addr, offset, len, dir, caller, findings);
  }
  report(errors, log_limit, findings);
  return ok;
}

DebugDmaDevice::DebugDmaDevice(DmaDevice& inner)
    : inner_(inner), state_(std::make_unique<State>()) {}

// Always closes: close() is idempotent, and a mapping made after an explicit
// close() is as much a leak as one made before it.
DebugDmaDevice::~DebugDmaDevice() {
  close();
}

DmaAddr DebugDmaDevice::map(void* addr, std::size_t len, DmaDirection dir,
                            std::string_view caller) {
  const DmaAddr dma = inner_.map(addr, len, dir, caller);
  // A refusal is the inner device's answer, not the caller's mistake.
  if (dma != kDmaMappingError) state_->record_all(&dma, &addr, &len, 1, dir, caller);
  return dma;
}

std::size_t DebugDmaDevice::map_bulk(void* const* addrs, const std::size_t* lens, DmaAddr* out,
                                     std::size_t n, DmaDirection dir, std::string_view caller) {
  const std::size_t mapped = inner_.map_bulk(addrs, lens, out, n, dir, caller);
  state_->record_all(out, addrs, lens, mapped, dir, caller);
  return mapped;
}

void DebugDmaDevice::unmap(DmaAddr addr, std::size_t len, DmaDirection dir,
                           std::string_view caller) {
  const State::Releases released = state_->release_all(&addr, &len, 1, dir, caller);
  if (!released.addrs.empty())
    inner_.unmap(addr, released.lens.front(), released.dirs.front(), caller);
}

// One inner call per run of mappings recorded with the same direction (all
// of them, unless the caller got a direction wrong): the inner device's bulk
// op takes one direction.
void DebugDmaDevice::unmap_bulk(const DmaAddr* addrs, const std::size_t* lens, std::size_t n,
                                DmaDirection dir, std::string_view caller) {
  const State::Releases released = state_->release_all(addrs, lens, n, dir, caller);
  const std::size_t count = released.addrs.size();
  for (std::size_t i = 0; i < count;) {
    std::size_t run = 1;
    while (i + run < count && released.dirs[i + run] == released.dirs[i]) ++run;
    inner_.unmap_bulk(&released.addrs[i], &released.lens[i], run, released.dirs[i], caller);
    i += run;
  }
}

void DebugDmaDevice::sync_for_device(DmaAddr addr, std::size_t offset, std::size_t len,
                                     DmaDirection dir, std::string_view caller) {
  if (state_->admit_sync("sync_for_device", addr, offset, len, dir, caller))
    inner_.sync_for_device(addr, offset, len, dir, caller);
}

void DebugDmaDevice::sync_for_cpu(DmaAddr addr, std::size_t offset, std::size_t len,
                                  DmaDirection dir, std::string_view caller) {
  if (state_->admit_sync("sync_for_cpu", addr, offset, len, dir, caller))
    inner_.sync_for_cpu(addr, offset, len, dir, caller);
}

std::size_t DebugDmaDevice::close() {
  Findings findings;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& [addr, m] : state_->live) {
      findings.push_back(detail::format(
          "mapping still live at close: DMA address 0x%llx, len %zu, dir %s, mapped by %s "
          "(cpu address %p)",
          hex(addr), m.len, to_string(m.dir), m.caller.c_str(), m.cpu));
    }
    // Dropped once reported: the inner device is not told (its owner may be
    // gone), and a second close() finds nothing to report again.
    state_->live.clear();
  }
  report(state_->errors, state_->log_limit, findings);
  state_->log_limit.flush(LogLevel::kError);
  return findings.size();
}

std::size_t DebugDmaDevice::live_mappings() const {
  std::lock_guard lock(state_->mu);
  return state_->live.size();
}

std::size_t DebugDmaDevice::live_mappings(std::string_view caller) const {
  std::lock_guard lock(state_->mu);
  return static_cast<std::size_t>(
      std::count_if(state_->live.begin(), state_->live.end(),
                    [caller](const auto& entry) { return entry.second.caller == caller; }));
}

std::uint64_t DebugDmaDevice::error_count() const {
  return state_->errors.load(std::memory_order_relaxed);
}

}  // namespace ppool
