// tools/stat/report.cc - see report.h.
#include "stat/report.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

#include "stat/printable.h"

namespace ppool::tools {
namespace {

// The info fields ppool-stat's JSON carries per pool, in its order.
constexpr std::string_view kPoolFields[] = {
    "id", "name", "queue", "nid", "order", "inflight", "inflight_mem", "detach_time", "dma_device",
};

std::uint64_t number_of(const JsonValue& object, std::string_view key) {
  const JsonValue* v = object.get(key);
  return v && v->u64() ? *v->u64() : 0;
}

// One pool's reply to a per-pool command: its value, nothing when the pool
// went away meanwhile (the endpoint refused its id), or false on a lost
// connection (*error says why).
bool pool_command(TelemetryClient& client, const std::string& command,
                  std::optional<JsonValue>& value, std::string* error) {
  Reply r = client.command(command);
  if (r.status == Reply::Status::kLost) {
    *error = r.message;
    return false;
  }
  if (r.status == Reply::Status::kOk) value = std::move(r.value);
  return true;
}

// A pool's snapshot: nothing when it went away, false when the process did.
bool gather_pool(TelemetryClient& client, std::uint32_t id, std::optional<PoolSnapshot>& pool,
                 std::string* error) {
  std::optional<JsonValue> info, stats;
  if (!pool_command(client, command_for("/ppool/info", id), info, error)) return false;
  if (info && !pool_command(client, command_for("/ppool/stats", id), stats, error)) return false;
  if (!info || !stats) return true;
  pool = PoolSnapshot{id, std::move(*info), std::move(*stats)};
  return true;
}

double seconds_between(const ProcessSnapshot& a, const ProcessSnapshot& b) {
  return std::chrono::duration<double>(b.when - a.when).count();
}

const PoolSnapshot* find(const ProcessSnapshot& p, std::uint32_t id) {
  for (const PoolSnapshot& pool : p.pools)
    if (pool.id == id) return &pool;
  return nullptr;
}

// The text every row puts in place of the counters when the process was
// built with -DPPOOL_STATS=OFF.
constexpr const char* kCompiledOut = "statistics compiled out";

void print_header(const ProcessSnapshot& p) {
  std::printf("pid %lld  %s  %s  %zu pool%s\n", static_cast<long long>(p.pid),
              printable(p.path).c_str(), printable(p.version).c_str(), p.pools.size(),
              p.pools.size() == 1 ? "" : "s");
}

// "12.5%" of part in whole, "-" when there was nothing.
std::string percent(double part, double whole) {
  if (whole <= 0) return "-";
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * part / whole);
  return text;
}

// The recycle paths of ppool-stat --watch: where each returned page went.
// recycle_cache_full is left out: such a page goes on to the ring (counted
// again there) or, the ring being full, to ring_full.
constexpr std::string_view kRecyclePaths[] = {"recycle_cached", "recycle_ring", "recycle_ring_full",
                                              "recycle_released_refcnt"};

void print_rate_row(const PoolSnapshot& now, const PoolSnapshot* then, double seconds) {
  if (now.stats_compiled_out()) {
    std::printf("%5u  %-20s %-75s %9llu%s\n", now.id, printable(now.name()).c_str(), kCompiledOut,
                static_cast<unsigned long long>(now.field("inflight")), then ? "" : "  (new)");
    return;
  }
  auto delta = [&](std::string_view c) -> double {
    const std::uint64_t before = then ? then->counter(c) : 0;
    const std::uint64_t after = now.counter(c);
    return after >= before ? static_cast<double>(after - before) : 0.0;
  };
  double recycles = 0;
  for (std::string_view path : kRecyclePaths) recycles += delta(path);
  std::printf("%5u  %-20s %12.0f %10.0f %12.0f %8s %8s %10s %9s %9llu%s\n", now.id,
              printable(now.name()).c_str(), delta("alloc_fast") / seconds,
              delta("alloc_slow") / seconds, recycles / seconds,
              percent(delta("recycle_cached"), recycles).c_str(),
              percent(delta("recycle_ring"), recycles).c_str(),
              percent(delta("recycle_ring_full"), recycles).c_str(),
              percent(delta("recycle_released_refcnt"), recycles).c_str(),
              static_cast<unsigned long long>(now.field("inflight")), then ? "" : "  (new)");
}

}  // namespace

std::uint64_t PoolSnapshot::field(std::string_view name) const {
  return number_of(info, name);
}
std::uint64_t PoolSnapshot::counter(std::string_view name) const {
  return number_of(stats, name);
}
std::string PoolSnapshot::name() const {
  const JsonValue* v = info.get("name");
  return v ? v->text : std::string();
}
bool PoolSnapshot::stats_compiled_out() const {
  const JsonValue* v = stats.get("stats");
  return v && v->is(JsonValue::Kind::kString) && v->text == "compiled out";
}

std::optional<ProcessSnapshot> gather(TelemetryClient& client, std::string* error) {
  ProcessSnapshot p{
      client.path(), client.pid(), client.version(), std::chrono::steady_clock::now(), {}};
  Reply list = client.command("/ppool/list");
  if (list.status != Reply::Status::kOk || !list.value.is(JsonValue::Kind::kArray)) {
    *error = list.status == Reply::Status::kOk ? client.path() + ": /ppool/list is no list"
                                               : list.message;
    return std::nullopt;
  }
  for (const JsonValue& item : list.value.items) {
    const std::optional<std::uint64_t> id = item.u64();
    if (!id || *id > UINT32_MAX) continue;
    std::optional<PoolSnapshot> pool;
    if (!gather_pool(client, static_cast<std::uint32_t>(*id), pool, error)) return std::nullopt;
    if (pool) p.pools.push_back(std::move(*pool));
  }
  return p;
}

std::string process_json(const ProcessSnapshot& p) {
  JsonWriter pools('[');
  for (const PoolSnapshot& pool : p.pools) {
    JsonWriter o('{');
    for (std::string_view field : kPoolFields)
      if (const JsonValue* v = pool.info.get(field)) o.key(field).raw(v->dump());
    // "stats": "compiled out" as the endpoint says it, not an object.
    o.key("stats").raw(pool.stats_compiled_out() ? pool.stats.get("stats")->dump()
                                                 : pool.stats.dump());
    pools.raw(o.close());
  }
  JsonWriter o('{');
  o.key("pid").num(p.pid);
  o.key("pools").raw(pools.close());
  return o.close();
}

void print_table(const ProcessSnapshot& p) {
  print_header(p);
  std::printf("%5s  %-20s %5s %9s %14s %12s %14s %12s\n", "id", "name", "queue", "inflight",
              "alloc_fast", "alloc_slow", "recycle_cached", "recycle_ring");
  for (const PoolSnapshot& pool : p.pools) {
    if (pool.stats_compiled_out()) {
      std::printf("%5u  %-20s %5llu %9llu %s\n", pool.id, printable(pool.name()).c_str(),
                  static_cast<unsigned long long>(pool.field("queue")),
                  static_cast<unsigned long long>(pool.field("inflight")), kCompiledOut);
      continue;
    }
    std::printf("%5u  %-20s %5llu %9llu %14llu %12llu %14llu %12llu\n", pool.id,
                printable(pool.name()).c_str(),
                static_cast<unsigned long long>(pool.field("queue")),
                static_cast<unsigned long long>(pool.field("inflight")),
                static_cast<unsigned long long>(pool.counter("alloc_fast")),
                static_cast<unsigned long long>(pool.counter("alloc_slow")),
                static_cast<unsigned long long>(pool.counter("recycle_cached")),
                static_cast<unsigned long long>(pool.counter("recycle_ring")));
  }
}

void print_rates(const ProcessSnapshot& before, const ProcessSnapshot& after) {
  print_header(after);
  const double seconds = std::max(seconds_between(before, after), 1e-3);
  std::printf("%5s  %-20s %12s %10s %12s %8s %8s %10s %9s %9s\n", "id", "name", "alloc_fast/s",
              "slow/s", "recycles/s", "cached", "ring", "ring_full", "released", "inflight");
  for (const PoolSnapshot& pool : after.pools) print_rate_row(pool, find(before, pool.id), seconds);
}

void print_holders(const JsonValue& report) {
  std::printf("pool %llu: %llu pages out with users",
              static_cast<unsigned long long>(number_of(report, "pool_id")),
              static_cast<unsigned long long>(number_of(report, "pages")));
  // The endpoint scans at most once per interval and serves a pool's last
  // result until then: say how old this one is.
  if (const std::uint64_t age = number_of(report, "age_ms"))
    std::printf(" (as of %llu ms ago)", static_cast<unsigned long long>(age));
  std::printf("\n");
  std::printf("%10s  %-24s %10s %12s\n", "holder", "name", "pages", "oldest age");
  const JsonValue* holders = report.get("holders");
  if (!holders) return;
  for (const JsonValue& h : holders->items) {
    const JsonValue* name = h.get("name");
    const std::uint64_t holder = number_of(h, "holder");
    const std::string shown = holder == 0 ? "(untagged)" : name ? printable(name->text) : "";
    std::printf("%10llu  %-24s %10llu %10.1f s\n", static_cast<unsigned long long>(holder),
                shown.c_str(), static_cast<unsigned long long>(number_of(h, "pages")),
                static_cast<double>(number_of(h, "oldest_age_ms")) / 1000.0);
  }
}

}  // namespace ppool::tools
