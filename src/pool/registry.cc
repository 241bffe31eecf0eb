// The registry of the process's pools (ppool/registry.h): live pools and
// destroyed ones waiting for pages in flight, read from any thread for
// telemetry. Its lock is taken by create(), by a pool's final free and by
// readers; never by a fast path.
#include "ppool/registry.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include "pool/holder_scan.h"
#include "pool/pool_internal.h"
#include "pool/telemetry_commands.h"

namespace ppool {
namespace detail {

// Reads a pool's state for reports. Each field is immutable after create(),
// an atomic, or an owner counter read as it stands (owner_add). Nothing here
// calls into the DMA device: a pool listed after destroy() may have outlived
// it.
class PoolIntrospection {
 public:
  static PoolInfo describe(const PagePool& pool) {
    PoolInfo info;
    info.id = pool.id_;
    info.name = pool.name_;
    info.queue = pool.params_.queue;
    info.nid = __atomic_load_n(&pool.nid_, __ATOMIC_RELAXED);  // nid_changed() stores it so
    info.order = pool.params_.order;
    info.dma_device = pool.dev_name_;  // the device itself may be gone (after destroy)
    info.created_ns = pool.created_ns_;
    info.detach_time_s = pool.detach_realtime_ns_.load(std::memory_order_relaxed) / 1000000000;
    info.inflight = pool.inflight();
    info.stats = pool.stats();
    info.extra = pool.extra_stats();
    info.inflight_mem = info.extra.inflight_mem;
    return info;
  }
  // The pp_tag a page out with a user of this pool carries: whole, or cut
  // into fragments.
  static PoolTags tags(const PagePool& pool) { return {pool.tag_in_use(), pool.tag_fragments()}; }
};

namespace {

struct Registry {
  std::mutex mu;
  std::vector<PagePool*> pools;  // in creation order: ids ascending
};

Registry& registry() {
  static Registry* r = new Registry;  // never destroyed: pools may outlive static destructors
  return *r;
}

// Calls fn(pool) under the registry's lock for the pool with this id;
// false when there is none.
template <class Fn>
bool with_pool(std::uint32_t id, Fn&& fn) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  auto it = std::find_if(r.pools.begin(), r.pools.end(),
                         [id](const PagePool* pool) { return pool->id() == id; });
  if (it == r.pools.end()) return false;
  fn(**it);
  return true;
}

}  // namespace

void registry_add(PagePool* pool) {
  // PPOOL_TELEMETRY=PATH starts the endpoint, with this layer's commands,
  // at the first pool's creation: a call down into the telemetry layer, so
  // a static link keeps it, and one atomic load after the first.
  telemetry_from_env();
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.pools.push_back(pool);
}

void registry_remove(PagePool* pool) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::erase(r.pools, pool);
}

}  // namespace detail

std::vector<PoolInfo> list_pools() {
  detail::Registry& r = detail::registry();
  std::vector<PoolInfo> infos;
  std::lock_guard lock(r.mu);
  infos.reserve(r.pools.size());
  for (const PagePool* pool : r.pools) infos.push_back(detail::PoolIntrospection::describe(*pool));
  return infos;
}

std::optional<PoolInfo> find_pool(std::uint32_t id) {
  std::optional<PoolInfo> info;
  detail::with_pool(
      id, [&](const PagePool& pool) { info = detail::PoolIntrospection::describe(pool); });
  return info;
}

std::optional<HolderReport> pool_holders(std::uint32_t id) {
  // The tags are read under the lock, the scan runs without it: a pool's
  // address is never given to another pool (pool_storage.h), so a page
  // carrying it is this pool's even if the pool is freed meanwhile.
  detail::PoolTags tags;
  if (!detail::with_pool(
          id, [&](const PagePool& pool) { tags = detail::PoolIntrospection::tags(pool); }))
    return std::nullopt;
  HolderReport report = detail::scan_holders(tags);
  report.pool_id = id;
  return report;
}

namespace detail {

HolderReport holders_of(const PagePool& pool) {
  HolderReport report = scan_holders(PoolIntrospection::tags(pool));
  report.pool_id = pool.id();
  return report;
}

}  // namespace detail
}  // namespace ppool
