// Prometheus' text exposition format 0.0.4 (ppool/telemetry.h's
// prometheus_text()), for a node_exporter textfile collector or a scrape
// proxy: one family per counter or gauge, each with its # HELP and # TYPE
// before its samples, one sample per pool labelled pool, name and queue.
// The counters keep the kernel's names: ppool_<name>_total.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ppool/registry.h"
#include "ppool/telemetry.h"
#include "telemetry/endpoint.h"  // cat
#include "telemetry/json.h"      // utf8_length

namespace ppool {
namespace detail {
namespace {

struct Family {
  std::string_view name;
  std::string_view type;  // counter or gauge
  std::string_view help;
  std::uint64_t (*value)(const PoolInfo&);
  bool (*present)(const PoolInfo&);  // nullptr: every pool has a sample
  bool kernel;                       // one of the kernel's eleven: needs PPOOL_STATS
};

bool detached(const PoolInfo& p) {
  return p.detach_time_s != 0;
}

// The kernel's eleven (PagePoolStats), then ppool's own counters and gauges
// (counted in every build).
constexpr Family kFamilies[] = {
    {"ppool_alloc_fast_total", "counter", "Pages allocated from the pool's cache.",
     [](const PoolInfo& p) { return p.stats.alloc.fast; }, nullptr, true},
    {"ppool_alloc_slow_total", "counter",
     "Slow-path order-0 allocations: a bulk from the page allocator into the cache.",
     [](const PoolInfo& p) { return p.stats.alloc.slow; }, nullptr, true},
    {"ppool_alloc_slow_high_order_total", "counter",
     "Slow-path higher-order allocations from the page allocator.",
     [](const PoolInfo& p) { return p.stats.alloc.slow_high_order; }, nullptr, true},
    {"ppool_alloc_empty_total", "counter",
     "Refills that found the ring empty, forcing a slow-path allocation.",
     [](const PoolInfo& p) { return p.stats.alloc.empty; }, nullptr, true},
    {"ppool_alloc_refill_total", "counter", "Refills of the cache from the ring.",
     [](const PoolInfo& p) { return p.stats.alloc.refill; }, nullptr, true},
    {"ppool_alloc_waive_total", "counter",
     "Pages taken from the ring at refill but released: not of the pool's NUMA node.",
     [](const PoolInfo& p) { return p.stats.alloc.waive; }, nullptr, true},
    {"ppool_recycle_cached_total", "counter", "Pages recycled into the cache.",
     [](const PoolInfo& p) { return p.stats.recycle.cached; }, nullptr, true},
    {"ppool_recycle_cache_full_total", "counter",
     "Direct recycles that found the cache full (the page went to the ring).",
     [](const PoolInfo& p) { return p.stats.recycle.cache_full; }, nullptr, true},
    {"ppool_recycle_ring_total", "counter", "Pages recycled into the ring.",
     [](const PoolInfo& p) { return p.stats.recycle.ring; }, nullptr, true},
    {"ppool_recycle_ring_full_total", "counter",
     "Pages freed to the page allocator because the ring was full.",
     [](const PoolInfo& p) { return p.stats.recycle.ring_full; }, nullptr, true},
    {"ppool_recycle_released_refcnt_total", "counter",
     "Pages released because another reference still held them (refcount above one).",
     [](const PoolInfo& p) { return p.stats.recycle.released_refcnt; }, nullptr, true},
    {"ppool_alloc_limited_total", "counter", "Allocations refused at the pool's max_inflight.",
     [](const PoolInfo& p) { return p.extra.alloc_limited; }, nullptr, false},
    {"ppool_pages_zeroed_total", "counter", "Pages cleared (kZeroPages).",
     [](const PoolInfo& p) { return p.extra.pages_zeroed; }, nullptr, false},
    {"ppool_inflight_pages", "gauge",
     "Pages taken from the page allocator and not given back: with users, in the cache or in the "
     "ring (the kernel's inflight).",
     [](const PoolInfo& p) { return std::uint64_t{p.inflight}; }, nullptr, false},
    {"ppool_inflight_bytes", "gauge", "The inflight pages' bytes (the kernel's inflight-mem).",
     [](const PoolInfo& p) { return p.inflight_mem; }, nullptr, false},
    {"ppool_inflight_peak_pages", "gauge", "The most pages inflight at once.",
     [](const PoolInfo& p) { return std::uint64_t{p.extra.inflight_peak}; }, nullptr, false},
    {"ppool_detach_time_seconds", "gauge",
     "When a destroyed pool still waiting for pages in flight was destroyed (Unix time; "
     "only such pools have a sample).",
     [](const PoolInfo& p) { return static_cast<std::uint64_t>(p.detach_time_s); }, detached,
     false},
};

// A label value: backslash, double quote and newline escaped, as the
// format requires, and each byte that is not UTF-8 as U+FFFD (the format's
// text is UTF-8; a scraper refuses it otherwise).
std::string label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_length(text, i);
    const char c = text[i];
    if (n == 0)
      out += "\xef\xbf\xbd";  // U+FFFD REPLACEMENT CHARACTER
    else if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.append(text.substr(i, n));
    i += n == 0 ? 1 : n;
  }
  return out;
}

// {pool="ID",name="...",queue="N"}
std::string labels(const PoolInfo& p) {
  return cat({"{pool=\"", std::to_string(p.id), "\",name=\"", label_value(p.name), "\",queue=\"",
              std::to_string(p.queue), "\"}"});
}

void append_family(std::string& out, const Family& f, const std::vector<PoolInfo>& pools,
                   const std::vector<std::string>& pool_labels) {
  out += cat({"# HELP ", f.name, " ", f.help, "\n# TYPE ", f.name, " ", f.type, "\n"});
  for (std::size_t i = 0; i < pools.size(); ++i) {
    if (f.present && !f.present(pools[i])) continue;
    out += cat({f.name, pool_labels[i], " ", std::to_string(f.value(pools[i])), "\n"});
  }
}

}  // namespace
}  // namespace detail

std::string prometheus_text() {
  const std::vector<PoolInfo> pools = list_pools();
  std::vector<std::string> pool_labels;
  pool_labels.reserve(pools.size());
  for (const PoolInfo& p : pools) pool_labels.push_back(detail::labels(p));
  // Whether the kernel's eleven are counted, as a gauge: with them compiled
  // out their families are left out rather than shown as zeros.
  std::string out =
      detail::cat({"# HELP ppool_stats_enabled Whether the pools' counters are compiled in "
                   "(PPOOL_STATS): 0 leaves the kernel's eleven out.\n"
                   "# TYPE ppool_stats_enabled gauge\nppool_stats_enabled ",
                   PPOOL_STATS ? "1" : "0", "\n"});
  for (const detail::Family& f : detail::kFamilies)
    if (PPOOL_STATS || !f.kernel) detail::append_family(out, f, pools, pool_labels);
  return out;
}

}  // namespace ppool
