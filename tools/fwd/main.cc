// ppool-fwd: a multi-queue io_uring packet forwarder on ppool (see
// forwarder.h), with a built-in traffic generator and sink (--selftest).
//
// The selftest prints a progress line every second and, at the end, one JSON
// object on stdout's last line; it exits non-zero when a pool did not end
// with every page home.
//
// Signals: SIGINT and SIGTERM stop either mode the same way (the forwarder
// drains, the pools are destroyed) and the JSON is printed. A forwarder
// stopped so exits 0, as it has no other way to end; a selftest cut short
// exits 128 + the signal (130, 143), its JSON marked "interrupted". A
// repeat within 2 s is ignored, a later one exits at once (signals.h).
// --netns's namespaces and veth pair vanish with the process, whatever
// ends it (selftest.h).
#include <arpa/inet.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "forwarder.h"
#include "selftest.h"
#include "support/clock.h"
#include "support/json.h"
#include "support/report.h"
#include "support/signals.h"
#include "support/telemetry.h"

namespace {

using ppool::tools::Clock;
using ppool::tools::JsonWriter;

sockaddr_in address(const char* ip, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip, &addr.sin_addr);
  return addr;
}

int fail(const std::string& why) {
  return ppool::tools::fail("ppool-fwd", why);
}

// The traffic: a progress line a second until --seconds or a signal. The
// steady state is what follows the first second (the pools warm up in it);
// a run shorter than two seconds has none and is measured whole.
struct Run {
  std::uint64_t packets = 0;  // the sink's, over the measured span
  double seconds = 0;         // the measured span, on the clock
  long faults = 0;            // minor page faults in it
  double elapsed = 0;         // the whole run
};

Run run_traffic(fwd::Forwarder& fwd, fwd::TrafficGenerator& gen, const fwd::Options& o) {
  ppool::tools::MeasuredRun clock(o.seconds);
  std::uint64_t span_packets = 0;
  long span_faults = ppool::tools::minor_faults();
  while (clock.next()) {
    const std::uint64_t received = gen.received();
    if (clock.steady_starts()) {
      span_packets = received;
      span_faults = ppool::tools::minor_faults();
    }
    const double pps = clock.rate(received);
    std::fprintf(stderr, "[%us] %s: %.0f pps, %.2f Gbit/s, recycle %.3f%%, %llu pages in flight\n",
                 clock.second(), fwd::to_string(o.alloc), pps, pps * o.packet_size * 8 / 1e9,
                 fwd.recycle_ratio() * 100, static_cast<unsigned long long>(fwd.pages_in_flight()));
  }
  Run run;
  run.packets = gen.received() - span_packets;
  run.seconds = clock.span_seconds();
  run.faults = ppool::tools::minor_faults() - span_faults;
  run.elapsed = clock.elapsed();
  return run;
}

int selftest(const fwd::Options& o) {
  ppool::tools::NetnsReturn home;         // the thread's namespace when the run ends
  std::unique_ptr<fwd::NetnsPair> netns;  // destroyed last: after the sockets in it
  const char* gen_ip = "127.0.0.1";
  const char* fwd_ip = "127.0.0.1";
  if (o.netns) {
    auto pair = fwd::NetnsPair::create();
    if (!pair) return fail(pair.error().message);
    netns = std::move(pair).value();
    if (auto entered = netns->generator->enter(); !entered) return fail(entered.error().message);
    gen_ip = fwd::NetnsPair::kGeneratorIp;
    fwd_ip = fwd::NetnsPair::kForwarderIp;
  }
  auto made_gen = fwd::TrafficGenerator::create(o, gen_ip);
  if (!made_gen) return fail(made_gen.error().message);
  std::unique_ptr<fwd::TrafficGenerator> gen = std::move(made_gen).value();
  if (netns) {
    if (auto entered = netns->forwarder->enter(); !entered) return fail(entered.error().message);
  }
  sockaddr_in listen = address(fwd_ip, o.port);
  auto made_fwd = fwd::Forwarder::create(o, listen, gen->sink_address());
  if (!made_fwd) return fail(made_fwd.error().message);
  std::unique_ptr<fwd::Forwarder> fwd = std::move(made_fwd).value();
  if (auto started = fwd->start(); !started) return fail(started.error().message);
  gen->start(listen);
  Run run = run_traffic(*fwd, *gen, o);
  gen->stop();
  std::string spread;
  for (std::uint64_t n : fwd->received_per_queue()) {
    spread += ' ';
    spread += std::to_string(n);
  }
  std::fprintf(stderr, "received per queue:%s\n", spread.c_str());
  double ratio = fwd->recycle_ratio();
  fwd->stop();

  std::uint64_t forwarded = gen->received();
  std::uint64_t expected = gen->sent() - gen->dropped_on_purpose();
  std::uint64_t lost = expected > forwarded ? expected - forwarded : 0;
  JsonWriter json('{');
  json.key("packets_forwarded").num(forwarded);
  json.key("packets_lost").num(lost);
  json.key("pps").fixed(run.seconds > 0 ? static_cast<double>(run.packets) / run.seconds : 0.0, 1);
  json.key("alloc_mode").str(fwd::to_string(o.alloc));
  json.key("recycle_ratio").fixed(o.alloc == fwd::AllocMode::kPool ? ratio : 0.0, 6);
  json.key("page_faults_steady_state").num(run.faults);
  json.key("syscalls_per_packet")
      .fixed(
          forwarded ? static_cast<double>(fwd->syscalls()) / static_cast<double>(forwarded) : 0.0,
          4);
  json.key("seconds").fixed(run.elapsed, 3);
  json.key("interrupted").raw(ppool::tools::interrupted_json());
  json.key("rx_buffers_per_queue").num(o.rx_buffers);
  json.key("pools").raw(fwd->pools_json());
  ppool::tools::print_json_line(json.close());
  if (o.alloc == fwd::AllocMode::kPool && !fwd->clean()) return 1;
  return ppool::tools::stop_status();
}

// Without --selftest: forward from the port to --dest until a signal.
int forward(const fwd::Options& o) {
  auto made = fwd::Forwarder::create(o, address("0.0.0.0", o.port),
                                     address(o.dest_ip.c_str(), o.dest_port));
  if (!made) return fail(made.error().message);
  std::unique_ptr<fwd::Forwarder> fwd = std::move(made).value();
  if (auto started = fwd->start(); !started) return fail(started.error().message);
  for (auto next = Clock::now() + std::chrono::seconds(1); ppool::tools::sleep_until(next);
       next += std::chrono::seconds(1)) {
    std::fprintf(stderr, "%llu received, recycle %.3f%%, %llu pages in flight\n",
                 static_cast<unsigned long long>(fwd->received()), fwd->recycle_ratio() * 100,
                 static_cast<unsigned long long>(fwd->pages_in_flight()));
  }
  fwd->stop();
  JsonWriter json('{');
  json.key("packets_received").num(fwd->received());
  json.key("interrupted").raw(ppool::tools::interrupted_json());
  json.key("pools").raw(fwd->pools_json());
  ppool::tools::print_json_line(json.close());
  return fwd->clean() || o.alloc == fwd::AllocMode::kMalloc ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  ppool::tools::install_stop_handlers();  // first: a signal during setup still cleans up
  fwd::Options options;
  if (auto status = fwd::parse_options(argc, argv, options)) return *status;
  ppool::Result<std::string> note = fwd::fit_locked_memory(options);
  if (!note) return fail(note.error().message);
  if (!note.value().empty()) std::fprintf(stderr, "ppool-fwd: %s\n", note.value().c_str());
  if (options.alloc == fwd::AllocMode::kPool) {
    const std::string telemetry = ppool::tools::start_telemetry("fwd", options.telemetry);
    if (!telemetry.empty()) std::fprintf(stderr, "ppool-fwd: telemetry on %s\n", telemetry.c_str());
  }
  return options.selftest ? selftest(options) : forward(options);
}
