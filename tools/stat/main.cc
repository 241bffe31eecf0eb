// ppool-stat: the pools of running processes, read from their telemetry
// endpoints (ppool/telemetry.h): a table, JSON, per-second rates, the
// Prometheus text, or who holds a pool's pages.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "stat/client.h"
#include "stat/discover.h"
#include "stat/printable.h"
#include "stat/report.h"
#include "support/args.h"

namespace {

constexpr const char* kUsage =
    "usage: ppool-stat [--socket PATH] [--json] [--watch [SECONDS] [--count N]]\n"
    "                  [--prometheus] [--holders ID]\n"
    "Shows the page pools of processes with a telemetry endpoint (PPOOL_TELEMETRY=PATH\n"
    "in their environment, or ppool::telemetry_start()).\n"
    "  --socket PATH     the endpoint to read; without it, every listening one whose\n"
    "                    file name starts with \"ppool\" and ends with \".sock\" (found in\n"
    "                    /proc/net/unix: absolute paths only)\n"
    "  --json            {\"pid\": N, \"pools\": [...]} instead of the table (an array of\n"
    "                    them without --socket); with --holders, the holder report\n"
    "  --watch [SECONDS] redraw every SECONDS (default 1) with per-second rates:\n"
    "                    allocations fast and slow, each recycle path's share, inflight\n"
    "  --count N         stop after N redraws (with --watch)\n"
    "  --prometheus      the Prometheus text exposition format (one process)\n"
    "  --holders ID      who holds pool ID's pages out with users (one process)\n"
    "Exit status: 0, 1 when a process cannot be read (gone, refused), 2 on bad arguments.\n";

struct Options {
  std::string socket;
  bool json = false;
  bool prometheus = false;
  std::optional<std::uint32_t> holders;
  std::optional<double> watch;  // seconds between redraws
  std::uint32_t count = 0;      // redraws with --watch; 0: until interrupted
};

// "--watch" takes an optional value, which Args does not: "--watch 2"
// becomes "--watch=2" and a bare "--watch" becomes "--watch=1".
std::vector<char*> normalise_watch(int argc, char** argv, std::vector<std::string>& storage) {
  std::vector<char*> out(argv, argv + argc);
  storage.reserve(static_cast<std::size_t>(argc));
  for (std::size_t i = 1; i < out.size(); ++i) {
    if (std::string_view(out[i]) != "--watch") continue;
    std::string merged = "--watch=1";
    if (i + 1 < out.size() && ppool::tools::parse_decimal(out[i + 1], 0, 1e9)) {
      merged = "--watch=";
      merged += out[i + 1];
      out.erase(out.begin() + static_cast<std::ptrdiff_t>(i) + 1);
    }
    storage.push_back(std::move(merged));
    out[i] = storage.back().data();
  }
  return out;
}

std::optional<int> parse(int argc, char** argv, Options& o) {
  std::vector<std::string> storage;
  std::vector<char*> args_v = normalise_watch(argc, argv, storage);
  ppool::tools::Args args(static_cast<int>(args_v.size()), args_v.data(), "ppool-stat", kUsage);
  bool counted = false;
  while (args.next()) {
    std::uint32_t id = 0;
    double seconds = 0;
    if (args.text("--socket", o.socket)) {
    } else if (args.flag("--json")) {
      o.json = true;
    } else if (args.flag("--prometheus")) {
      o.prometheus = true;
    } else if (args.number("--holders", 0, UINT32_MAX, id)) {
      o.holders = id;
    } else if (args.decimal("--watch", 0.05, 86400, seconds)) {
      o.watch = seconds;
    } else if (args.number("--count", 1, UINT32_MAX, o.count)) {
      counted = true;
    } else {
      args.unknown();
    }
  }
  if (auto status = args.exit_status()) return status;
  const int modes = o.prometheus + o.holders.has_value() + o.watch.has_value();
  if (modes > 1) return args.error("--watch, --prometheus and --holders exclude each other");
  if (o.json && (o.prometheus || o.watch))
    return args.error("--json goes with the table or --holders, not --watch or --prometheus");
  if (counted && !o.watch) return args.error("--count needs --watch");
  return std::nullopt;
}

// The message on one line: it may carry a process's text (its error
// replies quote what was sent), escaped as the table's names are.
int fail(const std::string& message) {
  std::fprintf(stderr, "ppool-stat: %s\n", ppool::tools::printable(message).c_str());
  return 1;
}

// The endpoints to read: --socket's, or every one found that answers.
std::optional<int> connect_all(const Options& o, std::vector<ppool::tools::TelemetryClient>& out) {
  if (!o.socket.empty()) {
    auto client = ppool::tools::TelemetryClient::connect(o.socket);
    if (!client) return fail(client.error().message);
    out.push_back(std::move(client).value());
    return std::nullopt;
  }
  // An endpoint that does not answer (a stale socket file) is skipped.
  for (const std::string& path : ppool::tools::find_endpoints())
    if (auto client = ppool::tools::TelemetryClient::connect(path))
      out.push_back(std::move(client).value());
  if (out.empty())
    return fail(
        "no telemetry endpoint found (start a process with "
        "PPOOL_TELEMETRY=$XDG_RUNTIME_DIR/ppool-NAME.sock, or name one with --socket)");
  return std::nullopt;
}

// Snapshots of every client's process; nullopt once one cannot be read.
std::optional<std::vector<ppool::tools::ProcessSnapshot>> gather_all(
    std::vector<ppool::tools::TelemetryClient>& clients, std::string* error) {
  std::vector<ppool::tools::ProcessSnapshot> out;
  for (ppool::tools::TelemetryClient& c : clients) {
    auto p = ppool::tools::gather(c, error);
    if (!p) return std::nullopt;
    out.push_back(std::move(*p));
  }
  return out;
}

int show(std::vector<ppool::tools::TelemetryClient>& clients, const Options& o) {
  std::string error;
  auto snapshots = gather_all(clients, &error);
  if (!snapshots) return fail(error);
  if (!o.json) {
    for (const auto& p : *snapshots) ppool::tools::print_table(p);
    return 0;
  }
  // One object for --socket's process, an array of them for those found.
  ppool::tools::JsonWriter all('[');
  for (const auto& p : *snapshots) all.raw(ppool::tools::process_json(p));
  const std::string text =
      o.socket.empty() ? all.close() : ppool::tools::process_json(snapshots->front());
  std::printf("%s\n", text.c_str());
  return 0;
}

int watch(std::vector<ppool::tools::TelemetryClient>& clients, const Options& o) {
  const auto interval = std::chrono::duration<double>(*o.watch);
  const bool tty = isatty(STDOUT_FILENO);
  std::string error;
  auto before = gather_all(clients, &error);
  for (std::uint32_t n = 0; before && (o.count == 0 || n < o.count); ++n) {
    std::this_thread::sleep_for(interval);
    auto after = gather_all(clients, &error);
    if (!after) break;
    std::fputs(tty ? "\033[H\033[2J" : "\n", stdout);  // redraw in place on a terminal
    for (std::size_t i = 0; i < after->size(); ++i)
      ppool::tools::print_rates((*before)[i], (*after)[i]);
    std::fflush(stdout);
    before = std::move(after);
  }
  return error.empty() ? 0 : fail(error);
}

// One process's reply to command, printed: raw JSON, or through print.
int one_command(std::vector<ppool::tools::TelemetryClient>& clients, const std::string& command,
                void (*print)(const ppool::tools::JsonValue&)) {
  if (clients.size() != 1)
    return fail(std::to_string(clients.size()) + " endpoints found: name one with --socket");
  ppool::tools::Reply r = clients.front().command(command);
  if (r.status != ppool::tools::Reply::Status::kOk) return fail(r.message);
  if (print)
    print(r.value);
  else
    std::printf("%s\n", r.value.dump().c_str());
  return 0;
}

void print_text(const ppool::tools::JsonValue& v) {
  std::fputs(v.text.c_str(), stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (auto status = parse(argc, argv, o)) return *status;
  std::vector<ppool::tools::TelemetryClient> clients;
  if (auto status = connect_all(o, clients)) return *status;
  if (o.prometheus) return one_command(clients, "/ppool/prometheus", print_text);
  if (o.holders)
    return one_command(clients, ppool::tools::command_for("/ppool/holders", *o.holders),
                       o.json ? nullptr : ppool::tools::print_holders);
  if (o.watch) return watch(clients, o);
  return show(clients, o);
}
