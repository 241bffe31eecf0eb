// The pools' telemetry (layer pool, internal): the /ppool/... commands this
// layer registers with the telemetry endpoint (telemetry/endpoint.h), which
// sits below it and knows no pools, as DPDK's mempool registers its
// handlers with rte_telemetry.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ppool::detail {

// Adds /ppool/list, /ppool/info, /ppool/stats, /ppool/holders and
// /ppool/prometheus to the endpoint's table. Called by every entry point
// that can make the endpoint answer (telemetry_start(), telemetry_command(),
// the first pool's creation), never by a static initializer, which a static
// link would drop. Only the first call registers: every later one is a
// single atomic load. Thread context: any thread.
void register_pool_commands();

// PPOOL_TELEMETRY=PATH: registers the pools' commands and starts the
// endpoint there (telemetry_listen_from_env()). registry_add() calls it at
// every pool's creation; after the first it is a single atomic load.
// Thread context: any thread.
void telemetry_from_env();

// /ppool/holders' value for pool id (holder_command.cc): a scan at most
// once per interval for all pools together (a request sooner waits), a
// pool's result younger than the interval served again with its age_ms;
// nullopt when there is no such pool. Thread context: any thread (one scan
// at a time).
[[nodiscard]] std::optional<std::string> holders_json(std::uint32_t id);
// The interval (100 ms unless set); forgets the kept results and lets the
// next scan start at once. For tests. Thread context: any thread.
void set_holder_scan_interval(std::chrono::milliseconds interval);

}  // namespace ppool::detail
