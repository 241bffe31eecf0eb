// tools/stat/exposition.h - the Prometheus text of several processes as
// one exposition: each process's text (the endpoint's /ppool/prometheus)
// has every family once, so a plain concatenation repeats each # HELP and
// # TYPE once per process, which Prometheus refuses. Merged here per
// family instead, each sample labelled with its process's pid (two
// processes may each have a pool 1).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ppool::tools {

struct ProcessText {
  std::int64_t pid = 0;
  std::string text;  // the process's Prometheus text exposition
};

// One exposition: the families in the order first seen, each with its
// # HELP and # TYPE once (the first process's), then every process's
// samples of it in the order given, with pid="PID" as their first label.
// Lines that are neither (blank, other comments) are dropped.
[[nodiscard]] std::string merge_exposition(const std::vector<ProcessText>& processes);

// One sample line with label="value" added as its first label:
// "m{a=\"1\"} 5" -> "m{pid=\"7\",a=\"1\"} 5", "m 5" -> "m{pid=\"7\"} 5".
// value is a number here: it needs no escaping.
[[nodiscard]] std::string add_label(std::string_view sample, std::string_view label,
                                    std::string_view value);

}  // namespace ppool::tools
