// The C API's counters and limits: the kernel's eleven stats, ppool's extra
// counters, the in-flight count, failures, the watermark fd.
#include "capi/capi.h"

using namespace ppool::capi;

namespace ppool::capi {
// The C struct of the kernel's eleven, flat under their names (the
// registry's snapshots use it too: registry.cc).
void to_c(const PagePoolStats& s, ppool_pool_stats* out) {
  out->alloc_fast = s.alloc.fast;
  out->alloc_slow = s.alloc.slow;
  out->alloc_slow_high_order = s.alloc.slow_high_order;
  out->alloc_empty = s.alloc.empty;
  out->alloc_refill = s.alloc.refill;
  out->alloc_waive = s.alloc.waive;
  out->recycle_cached = s.recycle.cached;
  out->recycle_cache_full = s.recycle.cache_full;
  out->recycle_ring = s.recycle.ring;
  out->recycle_ring_full = s.recycle.ring_full;
  out->recycle_released_refcnt = s.recycle.released_refcnt;
}

void to_c(const PagePoolExtraStats& e, ppool_pool_extra_stats* out) {
  out->alloc_limited = e.alloc_limited;
  out->inflight_mem = e.inflight_mem;
  out->inflight_peak = e.inflight_peak;
  out->pages_zeroed = e.pages_zeroed;
}
}  // namespace ppool::capi

extern "C" bool ppool_stats_enabled(void) {
  return PPOOL_STATS;
}

extern "C" void ppool_pool_get_stats(const ppool_pool* pool, ppool_pool_stats* stats) {
  to_c(cxx(pool)->stats(), stats);
}

extern "C" void ppool_pool_get_extra_stats(const ppool_pool* pool, ppool_pool_extra_stats* extra) {
  to_c(cxx(pool)->extra_stats(), extra);
}

extern "C" uint32_t ppool_pool_inflight(const ppool_pool* pool) {
  return cxx(pool)->inflight();
}

extern "C" uint64_t ppool_pool_alloc_failures(const ppool_pool* pool) {
  return cxx(pool)->alloc_failures();
}

extern "C" uint64_t ppool_pool_map_failures(const ppool_pool* pool) {
  return cxx(pool)->map_failures();
}

extern "C" int ppool_pool_watermark_fd(const ppool_pool* pool) {
  return cxx(pool)->watermark_fd();
}

extern "C" bool ppool_pool_above_high_watermark(const ppool_pool* pool) {
  return cxx(pool)->above_high_watermark();
}

extern "C" void ppool_set_stall_report_interval(double seconds) {
  ppool::set_stall_report_interval(seconds);
}

extern "C" size_t ppool_pools_pending_release(void) {
  return ppool::pools_pending_release();
}
