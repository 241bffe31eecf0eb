// The C API's registry (every pool of the process), holder tags and the
// telemetry endpoint.
#include <algorithm>
#include <cstring>
#include <string>

#include "capi/capi.h"
#include "ppool/holder.h"
#include "ppool/registry.h"
#include "ppool/telemetry.h"

using namespace ppool::capi;

namespace {
// Copies text into a fixed C field, truncated, always terminated.
template <std::size_t N>
void copy_name(char (&field)[N], const std::string& text) {
  const std::size_t n = std::min(text.size(), N - 1);
  std::memcpy(field, text.data(), n);
  field[n] = '\0';
}

void to_c(const ppool::PoolInfo& info, ppool_pool_info* out) {
  out->id = info.id;
  copy_name(out->name, info.name);
  out->queue = info.queue;
  out->nid = info.nid;
  out->order = info.order;
  copy_name(out->dma_device, info.dma_device);
  out->created_ns = info.created_ns;
  out->detach_time_s = info.detach_time_s;
  out->inflight = info.inflight;
  out->inflight_mem = info.inflight_mem;
  ppool::capi::to_c(info.stats, &out->stats);
  ppool::capi::to_c(info.extra, &out->extra);
}
}  // namespace

// ---- the registry ----

extern "C" size_t ppool_list_pools(ppool_pool_info* out, size_t max) {
  const std::vector<ppool::PoolInfo> pools = ppool::list_pools();
  for (std::size_t i = 0; i < pools.size() && i < max; ++i) to_c(pools[i], &out[i]);
  return pools.size();
}

extern "C" int ppool_find_pool(uint32_t id, ppool_pool_info* out) {
  const std::optional<ppool::PoolInfo> info = ppool::find_pool(id);
  if (!info) {
    fail(ppool::Errc::kInvalidArgument,
         ("ppool_find_pool: no pool " + std::to_string(id) + " is registered").c_str());
    return -ENOENT;
  }
  to_c(*info, out);
  return 0;
}

// ---- holder tags ----

extern "C" void ppool_set_page_holder(ppool_page* page, uint32_t holder) {
  ppool::set_page_holder(cxx(page), holder);
}

extern "C" uint32_t ppool_page_holder(const ppool_page* page) {
  return ppool::page_holder(cxx(page));
}

extern "C" void ppool_name_holder(uint32_t holder, const char* name) {
  ppool::name_holder(holder, name ? name : "");
}

extern "C" char* ppool_holder_name(uint32_t holder) {
  return c_string(ppool::holder_name(holder));
}

extern "C" long ppool_pool_holders(uint32_t id, ppool_holder_group* out, size_t max,
                                   uint64_t* pages) {
  const std::optional<ppool::HolderReport> report = ppool::pool_holders(id);
  if (!report) {
    fail(ppool::Errc::kInvalidArgument,
         ("ppool_pool_holders: no pool " + std::to_string(id) + " is registered").c_str());
    return -ENOENT;
  }
  for (std::size_t i = 0; i < report->groups.size() && i < max; ++i) {
    out[i].holder = report->groups[i].holder;
    out[i].pages = report->groups[i].pages;
    out[i].oldest_age_ms = report->groups[i].oldest_age_ms;
  }
  if (pages) *pages = report->pages;
  return static_cast<long>(report->groups.size());
}

// ---- the telemetry endpoint ----

extern "C" int ppool_telemetry_start(const char* path) {
  if (!path) return fail(ppool::Errc::kInvalidArgument, "ppool_telemetry_start: path is NULL");
  ppool::Result<void> started = ppool::telemetry_start(path);
  return started ? 0 : fail(started.error());
}

extern "C" void ppool_telemetry_stop(void) {
  ppool::telemetry_stop();
}

extern "C" char* ppool_telemetry_path(void) {
  return c_string(ppool::telemetry_path());
}

extern "C" char* ppool_telemetry_command(const char* command) {
  return c_string(ppool::telemetry_command(command ? command : ""));
}

extern "C" char* ppool_prometheus_text(void) {
  return c_string(ppool::prometheus_text());
}
