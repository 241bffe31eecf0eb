// tools/stat/report.h - what ppool-stat reads from an endpoint and how it
// shows it: a process's pools as a table, as JSON, as per-second rates, and
// a pool's holders.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stat/client.h"
#include "support/json_value.h"

namespace ppool::tools {

struct PoolSnapshot {
  std::uint32_t id = 0;
  JsonValue info;   // /ppool/info's value
  JsonValue stats;  // /ppool/stats's value: the kernel's eleven counters

  // A number of info or a counter of stats; 0 when it is missing.
  [[nodiscard]] std::uint64_t field(std::string_view name) const;
  [[nodiscard]] std::uint64_t counter(std::string_view name) const;
  [[nodiscard]] std::string name() const;
  // The process was built with -DPPOOL_STATS=OFF: stats is {"stats":
  // "compiled out"}, no counters.
  [[nodiscard]] bool stats_compiled_out() const;
};

struct ProcessSnapshot {
  std::string path;
  std::int64_t pid = 0;
  std::string version;
  std::chrono::steady_clock::time_point when;
  std::vector<PoolSnapshot> pools;  // by id
};

// Every pool of the process behind client: /ppool/list, then /ppool/info,ID
// and /ppool/stats,ID of each (a pool destroyed in between is left out).
// nullopt with *error when the process goes away or refuses.
[[nodiscard]] std::optional<ProcessSnapshot> gather(TelemetryClient& client, std::string* error);

// {"pid": N, "pools": [{"id": N, "name": ..., ..., "stats": {...}}]}
[[nodiscard]] std::string process_json(const ProcessSnapshot& p);

// A header line for the process, then a row per pool: id, name, queue,
// inflight, alloc fast/slow, recycle cached/ring ("statistics compiled out"
// in their place when they are). Names, the path and the version are shown
// through printable(): control characters and bytes that are not UTF-8
// escaped.
void print_table(const ProcessSnapshot& p);

// Per-second rates between two snapshots of one process (like diffs of
// `ethtool -S`): allocations fast and slow, each recycle path's share of all
// recycles, and inflight now. A pool in only one of them is shown as new.
// Names escaped as print_table()'s.
void print_rates(const ProcessSnapshot& before, const ProcessSnapshot& after);

// /ppool/holders' value as a table: holder, name, pages, oldest age.
void print_holders(const JsonValue& report);

}  // namespace ppool::tools
