// ppool-stat: the pools of running processes, read from their telemetry
// endpoints (ppool/telemetry.h): a table, JSON, per-second rates, the
// Prometheus text (printed, or served over HTTP for a Prometheus server to
// scrape), or who holds a pool's pages.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>

#include "stat/client.h"
#include "stat/discover.h"
#include "stat/exposition.h"
#include "stat/http_server.h"
#include "stat/printable.h"
#include "stat/report.h"
#include "support/args.h"
#include "support/signals.h"

namespace {

// The layout is help2man's (man/): see tools/fwd/options.cc.
constexpr const char* kUsage =
    "Usage: ppool-stat [--socket PATH] [--json]\n"
    "  or:  ppool-stat [--socket PATH] --watch [SECONDS] [--count N]\n"
    "  or:  ppool-stat [--socket PATH] --prometheus\n"
    "  or:  ppool-stat [--socket PATH] --holders ID [--json]\n"
    "  or:  ppool-stat [--socket PATH] --listen HOST:PORT\n"
    "\n"
    "Shows the page pools of processes with a telemetry endpoint\n"
    "(PPOOL_TELEMETRY=PATH in their environment, or ppool::telemetry_start()).\n"
    "\n"
    "Options:\n"
    "  --socket PATH       the endpoint to read; without it, every listening one\n"
    "                      whose file name starts with \"ppool\" and ends with \".sock\",\n"
    "                      or is DPDK's .../dpdk/PREFIX/dpdk_telemetry.v2 answering\n"
    "                      with ppool's hello (found in /proc/net/unix: absolute\n"
    "                      paths only)\n"
    "  --json              {\"pid\": N, \"pools\": [...]} instead of the table (an array\n"
    "                      of them without --socket); with --holders, the holder\n"
    "                      report\n"
    "  --watch [SECONDS]   redraw every SECONDS (default 1) with per-second rates:\n"
    "                      allocations fast and slow, each recycle path's share,\n"
    "                      inflight\n"
    "  --count N           stop after N redraws (with --watch)\n"
    "  --prometheus        the Prometheus text exposition format (one process)\n"
    "  --holders ID        who holds pool ID's pages out with users (one process)\n"
    "  --listen HOST:PORT  serve the Prometheus text over HTTP at /metrics (e.g.\n"
    "                      127.0.0.1:9464; port 0 picks a free one) until SIGINT or\n"
    "                      SIGTERM: every process found at each scrape, or the one of\n"
    "                      --socket, merged per family, each sample labelled\n"
    "                      pid=\"PID\"\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status:\n"
    "  0  shown (or served until SIGINT or SIGTERM)\n"
    "  1  a process cannot be read (gone, refused), or --listen cannot bind\n"
    "  2  bad arguments\n";

struct Options {
  std::string socket;
  bool json = false;
  bool prometheus = false;
  std::string listen;  // --listen's HOST:PORT; "" when not serving
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
    } else if (args.text("--listen", o.listen)) {
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
  const int modes = o.prometheus + o.holders.has_value() + o.watch.has_value() + !o.listen.empty();
  if (modes > 1)
    return args.error("--watch, --prometheus, --holders and --listen exclude each other");
  if (o.json && (o.prometheus || o.watch || !o.listen.empty()))
    return args.error(
        "--json goes with the table or --holders, not --watch, --prometheus or --listen");
  if (counted && !o.watch) return args.error("--count needs --watch");
  if (!o.listen.empty()) {
    const std::size_t colon = o.listen.rfind(':');
    if (colon == std::string::npos ||
        !ppool::tools::parse_number<std::uint32_t>(o.listen.substr(colon + 1), 0, 65535))
      return args.error("--listen: '" + o.listen + "' is not HOST:PORT (PORT 0..65535)");
  }
  return std::nullopt;
}

// The message on one line: it may carry a process's text (its error
// replies quote what was sent), escaped as the table's names are.
int fail(const std::string& message) {
  std::fprintf(stderr, "ppool-stat: %s\n", ppool::tools::printable(message).c_str());
  return 1;
}

// A discovered endpoint to read: one that answers with ppool's hello. A
// DPDK application listening under DPDK's name, where PPOOL_TELEMETRY=dpdk
// puts a ppool process too, is not one (it has no /ppool/ commands).
std::optional<ppool::tools::TelemetryClient> connect_found(const std::string& path) {
  auto client = ppool::tools::TelemetryClient::connect(path);
  if (!client || !client.value().version().starts_with("ppool ")) return std::nullopt;
  return std::move(client).value();
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
    if (auto client = connect_found(path)) out.push_back(std::move(*client));
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

// One scrape: the Prometheus text of --socket's process, or of every one
// found now (processes come and go between scrapes; one that cannot be
// read is left out, as a stale socket is). --socket's not answering is a
// 503: the scrape fails, and Prometheus' up goes to 0.
ppool::tools::HttpReply scrape(const Options& o) {
  std::vector<std::string> paths;
  if (o.socket.empty())
    paths = ppool::tools::find_endpoints();
  else
    paths.push_back(o.socket);
  std::vector<ppool::tools::ProcessText> texts;
  for (const std::string& path : paths) {
    auto client = ppool::tools::TelemetryClient::connect(path);
    ppool::tools::Reply r;
    if (client) r = client.value().command("/ppool/prometheus");
    if (client && r.status == ppool::tools::Reply::Status::kOk) {
      texts.push_back({client.value().pid(), r.value.text});
      continue;
    }
    if (!o.socket.empty()) {
      ppool::tools::HttpReply failed;
      failed.status = 503;
      failed.body = ppool::tools::printable(client ? r.message : client.error().message) + "\n";
      return failed;
    }
  }
  ppool::tools::HttpReply reply;
  reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  reply.body = ppool::tools::merge_exposition(texts);
  return reply;
}

int listen(const Options& o) {
  // The stop signals are let in only while the server waits (http_serve).
  ppool::tools::install_stop_handlers();
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::string bound;
  auto fd = ppool::tools::http_listen(o.listen, &bound);
  if (!fd) return fail(fd.error().message);
  std::fprintf(stderr, "ppool-stat: serving http://%s/metrics\n", bound.c_str());
  ppool::tools::http_serve(fd.value(), [&](std::string_view path) {
    if (path == "/metrics") return scrape(o);
    ppool::tools::HttpReply r;
    r.status = 404;
    r.body = "not found: the metrics are at /metrics\n";
    return r;
  });
  close(fd.value());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (auto status = parse(argc, argv, o)) return *status;
  if (!o.listen.empty()) return listen(o);
  std::vector<ppool::tools::TelemetryClient> clients;
  if (auto status = connect_all(o, clients)) return *status;
  if (o.prometheus) return one_command(clients, "/ppool/prometheus", print_text);
  if (o.holders)
    return one_command(clients, ppool::tools::command_for("/ppool/holders", *o.holders),
                       o.json ? nullptr : ppool::tools::print_holders);
  if (o.watch) return watch(clients, o);
  return show(clients, o);
}
