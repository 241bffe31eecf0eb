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
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "../common/signals.h"
#include "../common/telemetry.h"
#include "forwarder.h"
#include "selftest.h"

namespace {

using ppool::tools::g_signal;
using ppool::tools::install_stop_handlers;
using ppool::tools::interrupted_json;
using ppool::tools::stopping;

using Clock = std::chrono::steady_clock;

// Sleeps until t or a stop signal, whichever is first; false on a signal.
bool sleep_until(Clock::time_point t) {
  while (!stopping()) {
    auto now = Clock::now();
    if (now >= t) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(t - now, std::chrono::milliseconds(20)));
  }
  return false;
}

sockaddr_in address(const char* ip, std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip, &addr.sin_addr);
  return addr;
}

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

int fail(const std::string& why) {
  std::fprintf(stderr, "ppool-fwd: %s\n", why.c_str());
  return 1;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
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
  const auto start = Clock::now();
  const long start_faults = minor_faults();
  auto span_start = start;
  std::uint64_t span_packets = 0, last = 0;
  long span_faults = start_faults;
  auto last_time = start;
  for (unsigned second = 1; second <= o.seconds; ++second) {
    if (!sleep_until(start + std::chrono::seconds(second))) break;
    const auto now = Clock::now();
    const std::uint64_t received = gen.received();
    if (second == 1 && o.seconds >= 2) {
      span_start = now;
      span_packets = received;
      span_faults = minor_faults();
    }
    const double pps = static_cast<double>(received - last) /
                       std::chrono::duration<double>(now - last_time).count();
    std::fprintf(stderr, "[%us] %s: %.0f pps, %.2f Gbit/s, recycle %.3f%%, %llu pages in flight\n",
                 second, fwd::to_string(o.alloc), pps, pps * o.packet_size * 8 / 1e9,
                 fwd.recycle_ratio() * 100, static_cast<unsigned long long>(fwd.pages_in_flight()));
    last = received;
    last_time = now;
  }
  Run run;
  run.packets = gen.received() - span_packets;
  run.seconds = seconds_since(span_start);
  run.faults = minor_faults() - span_faults;
  run.elapsed = seconds_since(start);
  return run;
}

int selftest(const fwd::Options& o) {
  std::string error;
  std::unique_ptr<fwd::NetnsPair> netns;  // destroyed last: after the sockets in it
  const char* gen_ip = "127.0.0.1";
  const char* fwd_ip = "127.0.0.1";
  if (o.netns) {
    netns = fwd::NetnsPair::create(&error);
    if (!netns || !netns->enter_generator_side(&error)) return fail(error);
    gen_ip = fwd::NetnsPair::kGeneratorIp;
    fwd_ip = fwd::NetnsPair::kForwarderIp;
  }
  auto gen = fwd::TrafficGenerator::create(o, gen_ip, &error);
  if (!gen) return fail(error);
  if (netns && !netns->enter_forwarder_side(&error)) return fail(error);
  sockaddr_in listen = address(fwd_ip, o.port);
  auto fwd = fwd::Forwarder::create(o, listen, gen->sink_address(), &error);
  if (!fwd) return fail(error);
  if (!fwd->start(&error)) return fail(error);
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
  std::printf(
      "{\"packets_forwarded\": %llu, \"packets_lost\": %llu, \"pps\": %.1f, \"alloc_mode\": "
      "\"%s\", \"recycle_ratio\": %.6f, \"page_faults_steady_state\": %ld, "
      "\"syscalls_per_packet\": %.4f, \"seconds\": %.3f, \"interrupted\": %s, "
      "\"rx_buffers_per_queue\": %u, \"pools\": [%s]}\n",
      static_cast<unsigned long long>(forwarded), static_cast<unsigned long long>(lost),
      run.seconds > 0 ? static_cast<double>(run.packets) / run.seconds : 0.0,
      fwd::to_string(o.alloc), o.alloc == fwd::AllocMode::kPool ? ratio : 0.0, run.faults,
      forwarded ? static_cast<double>(fwd->syscalls()) / static_cast<double>(forwarded) : 0.0,
      run.elapsed, interrupted_json().c_str(), o.rx_buffers, fwd->pools_json().c_str());
  std::fflush(stdout);
  if (o.alloc == fwd::AllocMode::kPool && !fwd->clean()) return 1;
  return stopping() ? 128 + g_signal.load() : 0;
}

// Without --selftest: forward from the port to --dest until a signal.
int forward(const fwd::Options& o) {
  std::string error;
  auto fwd = fwd::Forwarder::create(o, address("0.0.0.0", o.port),
                                    address(o.dest_ip.c_str(), o.dest_port), &error);
  if (!fwd) return fail(error);
  if (!fwd->start(&error)) return fail(error);
  for (auto next = Clock::now() + std::chrono::seconds(1); sleep_until(next);
       next += std::chrono::seconds(1)) {
    std::fprintf(stderr, "%llu received, recycle %.3f%%, %llu pages in flight\n",
                 static_cast<unsigned long long>(fwd->received()), fwd->recycle_ratio() * 100,
                 static_cast<unsigned long long>(fwd->pages_in_flight()));
  }
  fwd->stop();
  std::printf("{\"packets_received\": %llu, \"interrupted\": %s, \"pools\": [%s]}\n",
              static_cast<unsigned long long>(fwd->received()), interrupted_json().c_str(),
              fwd->pools_json().c_str());
  std::fflush(stdout);
  return fwd->clean() || o.alloc == fwd::AllocMode::kMalloc ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  install_stop_handlers();  // first: a signal during setup still cleans up
  fwd::Options options;
  if (auto status = fwd::parse_options(argc, argv, options)) return *status;
  std::string note, error;
  if (!fwd::fit_locked_memory(options, &note, &error)) return fail(error);
  if (!note.empty()) std::fprintf(stderr, "ppool-fwd: %s\n", note.c_str());
  if (options.alloc == fwd::AllocMode::kPool) {
    const std::string telemetry = ppool::tools::start_telemetry("fwd", options.telemetry);
    if (!telemetry.empty()) std::fprintf(stderr, "ppool-fwd: telemetry on %s\n", telemetry.c_str());
  }
  return options.selftest ? selftest(options) : forward(options);
}
