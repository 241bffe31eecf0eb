// The telemetry endpoint's command table (telemetry/endpoint.h): DPDK
// telemetry's shape, one JSON object per reply keyed by the command
// ({"/ppool/list": [1, 2]}), and a command that fails keyed the same way,
// to null, as DPDK's server answers, with an "error" naming what was wrong
// (command_error()). The
// endpoint's own commands, "/" and "/info", are in the table from its first
// use; the layers above add theirs (the pool layer: /ppool/...).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/endpoint.h"
#include "telemetry/json.h"

// The build may pass the project's version; a build that does not still
// says which library answers.
#ifndef PPOOL_VERSION_STRING
#define PPOOL_VERSION_STRING "dev"
#endif

namespace ppool::detail {

std::string process_info_json() {
  JsonBuilder o('{');
  o.key("pid").num(static_cast<std::int64_t>(getpid()));
  o.key("version").str("ppool " PPOOL_VERSION_STRING);
  o.key("max_output_len").num(kMaxOutputLen);
  o.key("stats").str(kStatsState);
  return o.close();
}

std::string shown(std::string_view text) {
  constexpr std::size_t kShown = 64;
  if (text.size() <= kShown) return std::string(text);
  std::string cut(text.substr(0, kShown));
  cut += "...";
  return cut;
}

namespace {

struct Command {
  std::string name;
  bool takes_param;
  TelemetryHandler handler;
};

Result<std::string> list_commands(std::string_view, std::optional<std::string_view>);

Result<std::string> process_info(std::string_view, std::optional<std::string_view>) {
  return process_info_json();
}

// The commands in registration order. A lookup copies the entry out under
// the lock and runs the handler without it: a handler may take its own
// locks (a holder scan waits its turn) and must not hold up registration.
struct Table {
  std::mutex mu;
  std::vector<Command> commands{{"/", false, list_commands}, {"/info", false, process_info}};
};

Table& table() {
  static Table* t = new Table;  // never destroyed: the server may run until exit
  return *t;
}

Result<std::string> list_commands(std::string_view, std::optional<std::string_view>) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  JsonBuilder a('[');
  for (const Command& c : t.commands) a.str(c.name);
  return a.close();
}

std::optional<Command> find(std::string_view name) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  const auto c = std::find_if(t.commands.begin(), t.commands.end(),
                              [name](const Command& k) { return k.name == name; });
  if (c == t.commands.end()) return std::nullopt;
  return *c;
}

std::string dispatch(std::string_view command) {
  const std::size_t comma = command.find(',');
  const std::string_view name = command.substr(0, comma);
  std::optional<std::string_view> param;
  if (comma != std::string_view::npos) param = command.substr(comma + 1);
  const std::optional<Command> c = find(name);
  if (!c)
    return command_error(command,
                         cat({"unknown command '", shown(command), "' (/ lists the commands)"}));
  if (!c->takes_param && param)
    return command_error(command,
                         cat({c->name, " takes no parameter (got '", shown(*param), "')"}));
  const Result<std::string> value = c->handler(c->name, param);
  if (!value) return command_error(command, value.error().message);
  JsonBuilder o('{');
  o.key(c->name).raw(value.value());
  return o.close();
}

}  // namespace

void telemetry_register(std::string_view name, bool takes_param, TelemetryHandler handler) {
  Table& t = table();
  std::lock_guard lock(t.mu);
  const bool known = std::any_of(t.commands.begin(), t.commands.end(),
                                 [name](const Command& k) { return k.name == name; });
  if (!known) t.commands.push_back({std::string(name), takes_param, handler});
}

std::string command_error(std::string_view command, std::string_view message) {
  const std::string_view name = command.substr(0, command.find(','));
  JsonBuilder o('{');
  if (name != "error") o.key(name).raw("null");  // else the key would be there twice
  o.key("error").str(message);
  return o.close();
}

std::string telemetry_run(std::string_view command) {
  std::string reply = dispatch(command);
  if (reply.size() > kMaxOutputLen)
    return command_error(command,
                         cat({shown(command), ": the reply's ", std::to_string(reply.size()),
                              " bytes exceed max_output_len ", std::to_string(kMaxOutputLen)}));
  return reply;
}

}  // namespace ppool::detail
