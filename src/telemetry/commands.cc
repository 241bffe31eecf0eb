// The telemetry commands (ppool/telemetry.h): DPDK telemetry's shape, one
// JSON object per reply keyed by the command ({"/ppool/list": [1, 2]}), an
// {"error": ...} naming what was wrong. Every command reads the registry's
// snapshots (ppool/registry.h), so it may run on any thread while the pools'
// owners run.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ppool/registry.h"
#include "ppool/telemetry.h"
#include "telemetry/json.h"
#include "telemetry/telemetry_internal.h"

// The build may pass the project's version; a build that does not still
// says which library answers.
#ifndef PPOOL_VERSION_STRING
#define PPOOL_VERSION_STRING "dev"
#endif

namespace ppool {
namespace detail {

std::string process_info_json() {
  JsonBuilder o('{');
  o.key("pid").num(static_cast<std::int64_t>(getpid()));
  o.key("version").str("ppool " PPOOL_VERSION_STRING);
  o.key("max_output_len").num(kMaxOutputLen);
  o.key("stats").str(kStatsState);
  return o.close();
}

namespace {

// A command's value for a pool id (ignored by the commands that take none);
// nullopt when there is no such pool.
using Handler = std::optional<std::string> (*)(std::uint32_t id);

struct Command {
  std::string_view name;
  bool takes_id;
  Handler handler;
};

std::optional<std::string> list_commands(std::uint32_t);

std::optional<std::string> process_info(std::uint32_t) {
  return process_info_json();
}

std::optional<std::string> pool_list(std::uint32_t) {
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

std::optional<std::string> pool_holder_report(std::uint32_t id) {
  return holders_json(id);
}

std::optional<std::string> prometheus(std::uint32_t) {
  return json_quote(prometheus_text());
}

constexpr Command kCommands[] = {
    {"/", false, list_commands},
    {"/info", false, process_info},
    {"/ppool/list", false, pool_list},
    {"/ppool/info", true, pool_info},
    {"/ppool/stats", true, pool_stats},
    {"/ppool/holders", true, pool_holder_report},
    {"/ppool/prometheus", false, prometheus},
};

std::optional<std::string> list_commands(std::uint32_t) {
  JsonBuilder a('[');
  for (const Command& c : kCommands) a.str(c.name);
  return a.close();
}

// {"error": message}
std::string error_reply(std::string_view message) {
  JsonBuilder o('{');
  o.key("error").str(message);
  return o.close();
}

// What the client sent, for an error message: at most 64 bytes of it (the
// rest could be anything, of any length).
std::string shown(std::string_view text) {
  constexpr std::size_t kShown = 64;
  if (text.size() <= kShown) return std::string(text);
  std::string cut(text.substr(0, kShown));
  cut += "...";
  return cut;
}

// A pool id: decimal digits only, within 32 bits.
std::optional<std::uint32_t> parse_id(std::string_view text) {
  std::uint32_t id = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, id);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return id;
}

std::string run(const Command& c, std::optional<std::string_view> param) {
  if (!c.takes_id && param)
    return error_reply(cat({c.name, " takes no parameter (got '", shown(*param), "')"}));
  if (c.takes_id && !param) return error_reply(cat({c.name, " needs a pool id: ", c.name, ",ID"}));
  std::uint32_t id = 0;
  if (c.takes_id) {
    const std::optional<std::uint32_t> parsed = parse_id(*param);
    if (!parsed) return error_reply(cat({c.name, ": '", shown(*param), "' is not a pool id"}));
    id = *parsed;
  }
  std::optional<std::string> value = c.handler(id);
  if (!value) return error_reply(cat({c.name, ": no pool with id ", std::to_string(id)}));
  JsonBuilder o('{');
  o.key(c.name).raw(*value);
  return o.close();
}

std::string dispatch(std::string_view command) {
  const std::size_t comma = command.find(',');
  const std::string_view name = command.substr(0, comma);
  std::optional<std::string_view> param;
  if (comma != std::string_view::npos) param = command.substr(comma + 1);
  const auto* c = std::find_if(std::begin(kCommands), std::end(kCommands),
                               [name](const Command& k) { return k.name == name; });
  if (c == std::end(kCommands))
    return error_reply(cat({"unknown command '", shown(command), "' (/ lists the commands)"}));
  return run(*c, param);
}

}  // namespace
}  // namespace detail

std::string telemetry_command(std::string_view command) {
  std::string reply = detail::dispatch(command);
  if (reply.size() > detail::kMaxOutputLen)
    return detail::error_reply(
        detail::cat({detail::shown(command), ": the reply's ", std::to_string(reply.size()),
                     " bytes exceed max_output_len ", std::to_string(detail::kMaxOutputLen)}));
  return reply;
}

}  // namespace ppool
