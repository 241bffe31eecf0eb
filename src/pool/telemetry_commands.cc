// The pools' telemetry commands (ppool/telemetry.h), registered with the
// endpoint below (telemetry/endpoint.h): /ppool/list, /ppool/info,ID,
// /ppool/stats,ID, /ppool/holders,ID and /ppool/prometheus. Every command
// reads the registry's snapshots (ppool/registry.h), so it may run on any
// thread while the pools' owners run. The public entry points that can make
// the endpoint answer register the commands first; a program that never
// calls them gets them from its first pool's creation (PPOOL_TELEMETRY).
#include "pool/telemetry_commands.h"

#include <charconv>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "ppool/registry.h"
#include "ppool/telemetry.h"
#include "telemetry/endpoint.h"
#include "telemetry/json.h"

namespace ppool {
namespace detail {
namespace {

using Param = std::optional<std::string_view>;

Error command_error(std::string message) {
  return {Errc::kInvalidArgument, std::move(message)};
}

// NAME,ID: the pool id after the comma (decimal digits only, within 32
// bits), or the error the client gets.
Result<std::uint32_t> pool_id(std::string_view command, Param param) {
  if (!param) return command_error(cat({command, " needs a pool id: ", command, ",ID"}));
  std::uint32_t id = 0;
  const char* end = param->data() + param->size();
  const auto [ptr, ec] = std::from_chars(param->data(), end, id);
  if (param->empty() || ec != std::errc() || ptr != end)
    return command_error(cat({command, ": '", shown(*param), "' is not a pool id"}));
  return id;
}

// A command on one pool, NAME,ID: Value's JSON for the pool, nullopt when
// there is no such pool.
template <std::optional<std::string> (*Value)(std::uint32_t id)>
Result<std::string> on_pool(std::string_view command, Param param) {
  const Result<std::uint32_t> id = pool_id(command, param);
  if (!id) return id.error();
  std::optional<std::string> value = Value(id.value());
  if (!value)
    return command_error(cat({command, ": no pool with id ", std::to_string(id.value())}));
  return std::move(*value);
}

Result<std::string> pool_list(std::string_view, Param) {
  JsonBuilder a('[');
  for (const PoolInfo& pool : list_pools()) a.num(pool.id);
  return a.close();
}

// The kernel's netlink page-pool-get fields, and ppool's own.
std::optional<std::string> pool_info(std::uint32_t id) {
  const std::optional<PoolInfo> pool = find_pool(id);
  if (!pool) return std::nullopt;
  JsonBuilder o('{');
  o.key("id").num(pool->id);
  o.key("name").str(pool->name);
  o.key("queue").num(pool->queue);
  o.key("nid").num(pool->nid);
  o.key("order").num(pool->order);
  o.key("dma_device").str(pool->dma_device);
  o.key("created_ns").num(pool->created_ns);
  o.key("detach_time").num(pool->detach_time_s);
  o.key("inflight").num(pool->inflight);
  o.key("inflight_mem").num(pool->inflight_mem);
  o.key("stats").str(kStatsState);
  return o.close();
}

// The kernel's eleven; with the counters compiled out {"stats": "compiled
// out"} instead of eleven numbers of which eight would read 0 whatever the
// pool does (the kernel's page-pool-stats-get is refused likewise without
// CONFIG_PAGE_POOL_STATS).
std::optional<std::string> pool_stats(std::uint32_t id) {
  const std::optional<PoolInfo> pool = find_pool(id);
  if (!pool) return std::nullopt;
  if constexpr (!PPOOL_STATS) {
    JsonBuilder o('{');
    o.key("stats").str(kStatsState);
    return o.close();
  }
  return pool->stats.to_json();
}

Result<std::string> prometheus(std::string_view, Param) {
  return json_quote(prometheus_text());
}

}  // namespace

void register_pool_commands() {
  static std::once_flag once;
  std::call_once(once, [] {
    telemetry_register("/ppool/list", false, pool_list);
    telemetry_register("/ppool/info", true, on_pool<pool_info>);
    telemetry_register("/ppool/stats", true, on_pool<pool_stats>);
    telemetry_register("/ppool/holders", true, on_pool<holders_json>);
    telemetry_register("/ppool/prometheus", false, prometheus);
  });
}

// Each part runs once (its own once flag): after the first pool, a create
// pays two loads here.
void telemetry_from_env() {
  register_pool_commands();
  telemetry_listen_from_env();
}

}  // namespace detail

// ppool/telemetry.h: the endpoint below, with the pools' commands in it.

Result<void> telemetry_start(const std::string& path) {
  detail::register_pool_commands();
  return detail::telemetry_listen(path);
}

void telemetry_stop() {
  detail::telemetry_close();
}

std::string telemetry_path() {
  return detail::telemetry_listening_path();
}

std::string telemetry_command(std::string_view command) {
  detail::register_pool_commands();
  return detail::telemetry_run(command);
}

}  // namespace ppool
