#include "support/report.h"

#include <cstdio>

#include "support/json.h"
#include "support/signals.h"

namespace ppool::tools {

int fail(const char* program, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program, why.c_str());
  return 1;
}

int stop_status() {
  const int sig = g_signal.load();
  return sig ? 128 + sig : 0;
}

std::string pool_json(std::string_view name, std::string_view stats_json, std::uint32_t inflight,
                      std::string_view queue_json) {
  JsonWriter o('{');
  o.key("name").str(name);
  o.key("stats").raw(stats_json);
  if (!queue_json.empty()) o.key("queue").raw(queue_json);
  o.key("inflight").num(inflight);
  return o.close();
}

void print_json_line(const std::string& json) {
  std::printf("%s\n", json.c_str());
  std::fflush(stdout);
}

}  // namespace ppool::tools
