// ppool/registry.h - every pool of the process, readable from any thread.
//
// The kernel lists its page pools over netlink (`ynl --family netdev --dump
// page-pool-get`: id, ifindex, napi-id, inflight, inflight-mem, detach-time)
// and their counters with page-pool-stats-get; this is the same for a
// process: a registry of live pools and of destroyed pools still waiting for
// pages in flight. Reads take a snapshot under the registry's lock (taken by
// pool creation, the final free and these reads, for as long as
// they describe the pools; never by a fast path) and read each pool's
// counters as they stand: slightly stale, never torn. The telemetry
// endpoint (ppool/telemetry.h) serves these snapshots.
//
// Failures: none. The lookups return std::optional because a missing pool
// is an answer, not a failure: there is nothing an Error could add.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ppool/page_pool.h"

namespace ppool {

struct PoolInfo {
  std::uint32_t id = 0;
  std::string name;
  std::uint32_t queue = 0;  // params.queue
  int nid = kNoNode;
  unsigned order = 0;
  std::string dma_device;          // the DMA device's name, "" without one
  std::int64_t created_ns = 0;     // CLOCK_REALTIME at creation
  std::int64_t detach_time_s = 0;  // CLOCK_REALTIME seconds at destroy(), 0 while live
  std::uint32_t inflight = 0;      // as PagePool::inflight()
  std::uint64_t inflight_mem = 0;  // inflight x page bytes
  PagePoolStats stats{};           // the kernel's eleven
  PagePoolExtraStats extra{};
};

// Every registered pool, live or destroyed-but-pending (detach_time_s
// non-zero), in the order they were created.
// Thread context: any thread.
[[nodiscard]] std::vector<PoolInfo> list_pools();
// One pool by id. Thread context: any thread.
// @return the pool's snapshot, or nullopt when no such pool is registered
//   (never was, or already freed).
[[nodiscard]] std::optional<PoolInfo> find_pool(std::uint32_t id);

// Pages of a pool out with users, grouped by holder tag (ppool/holder.h).
struct HolderGroup {
  std::uint32_t holder = 0;  // 0: pages no one tagged
  std::string name;          // name_holder()'s name, "" when none
  std::uint64_t pages = 0;
  std::uint64_t oldest_age_ms = 0;  // since the oldest page's tag was set (0 untagged)
};
struct HolderReport {
  std::uint32_t pool_id = 0;
  std::uint64_t pages = 0;          // pages out with users found by the scan
  std::vector<HolderGroup> groups;  // most pages first
};
// Scans the page descriptors of every page allocator in the process for the
// pool's pages out with users (not in its cache or ring), without the
// registry's lock. O(pages the allocators committed):
// for reports, not for a fast path. Thread context: any thread.
// @return the report, or nullopt when no such pool is registered.
[[nodiscard]] std::optional<HolderReport> pool_holders(std::uint32_t id);

}  // namespace ppool
