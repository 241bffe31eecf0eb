// support/report.h - how the programs end a run: the failure line, the
// exit status after a stop signal, and the JSON of each pool they destroyed
// (written with the one JSON writer, json.h, so a pool's name is quoted
// whatever it holds). Thread context: any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ppool::tools {

// "program: why" on stderr; returns 1, the exit status of a failed setup.
int fail(const char* program, const std::string& why);

// After the run: 128 + the stop signal's number when one came (130 for
// SIGINT, 143 for SIGTERM), else 0.
int stop_status();

// One destroyed pool: {"name": NAME, "stats": STATS, "queue": QUEUE,
// "inflight": N}, with stats_json and queue_json already JSON (the library's
// PagePoolStats::to_json(), a queue's own counts); no "queue" member when
// queue_json is empty.
std::string pool_json(std::string_view name, std::string_view stats_json, std::uint32_t inflight,
                      std::string_view queue_json = {});

// Prints json as stdout's last line, flushed: the line scripts read.
void print_json_line(const std::string& json);

}  // namespace ppool::tools
