// ppool-fwd: a multi-queue io_uring packet forwarder on ppool (see
// forwarder.h), with a built-in traffic generator and sink (--selftest).
//
// The selftest prints a progress line every second and, at the end, one JSON
// object on stdout's last line; it exits non-zero when a pool did not end
// with every page home.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>

#include "forwarder.h"
#include "selftest.h"

namespace {

using Clock = std::chrono::steady_clock;

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

// Seconds of traffic with a progress line each; returns the packets the
// sink got during the steady state (after the first second) and its faults.
struct Run {
  std::uint64_t steady_packets = 0;
  double steady_seconds = 0;
  long steady_faults = 0;
};

Run run_traffic(fwd::Forwarder& fwd, fwd::TrafficGenerator& gen, const fwd::Options& o) {
  Run run;
  const auto start = Clock::now();
  std::uint64_t last = 0, steady_start_packets = 0;
  long steady_start_faults = 0;
  for (int second = 1; second <= static_cast<int>(o.seconds); ++second) {
    std::this_thread::sleep_until(start + std::chrono::seconds(second));
    std::uint64_t now = gen.received();
    if (second == 1) {
      steady_start_packets = now;
      steady_start_faults = minor_faults();
    }
    double pps = static_cast<double>(now - last);
    std::fprintf(stderr, "[%ds] %s: %.0f pps, %.2f Gbit/s, recycle %.3f%%, %llu pages in flight\n",
                 second, fwd::to_string(o.alloc), pps, pps * o.packet_size * 8 / 1e9,
                 fwd.recycle_ratio() * 100, static_cast<unsigned long long>(fwd.pages_in_flight()));
    last = now;
  }
  run.steady_packets = gen.received() - steady_start_packets;
  run.steady_seconds = o.seconds - 1;
  run.steady_faults = minor_faults() - steady_start_faults;
  return run;
}

int selftest(const fwd::Options& o) {
  std::string error;
  std::unique_ptr<fwd::NetnsPair> netns;
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
  for (std::uint64_t n : fwd->received_per_queue()) spread += " " + std::to_string(n);
  std::fprintf(stderr, "received per queue:%s\n", spread.c_str());
  double ratio = fwd->recycle_ratio();
  fwd->stop();

  std::uint64_t forwarded = gen->received();
  std::uint64_t expected = gen->sent() - gen->dropped_on_purpose();
  std::uint64_t lost = expected > forwarded ? expected - forwarded : 0;
  std::printf(
      "{\"packets_forwarded\": %llu, \"packets_lost\": %llu, \"pps\": %.0f, \"alloc_mode\": "
      "\"%s\", \"recycle_ratio\": %.6f, \"page_faults_steady_state\": %ld, "
      "\"syscalls_per_packet\": %.4f, \"pools\": [%s]}\n",
      static_cast<unsigned long long>(forwarded), static_cast<unsigned long long>(lost),
      run.steady_seconds > 0 ? static_cast<double>(run.steady_packets) / run.steady_seconds : 0,
      fwd::to_string(o.alloc), o.alloc == fwd::AllocMode::kPool ? ratio : 0.0, run.steady_faults,
      forwarded ? static_cast<double>(fwd->syscalls()) / static_cast<double>(forwarded) : 0.0,
      fwd->pools_json().c_str());
  return o.alloc == fwd::AllocMode::kMalloc || fwd->clean() ? 0 : 1;
}

std::atomic<bool> g_interrupted{false};

// Without --selftest: forward from the port to --dest until interrupted.
int forward(const fwd::Options& o) {
  std::string error;
  auto fwd = fwd::Forwarder::create(o, address("0.0.0.0", o.port),
                                    address(o.dest_ip.c_str(), o.dest_port), &error);
  if (!fwd) return fail(error);
  if (!fwd->start(&error)) return fail(error);
  std::signal(SIGINT, [](int) { g_interrupted = true; });
  std::signal(SIGTERM, [](int) { g_interrupted = true; });
  while (!g_interrupted) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::fprintf(stderr, "%llu received, recycle %.3f%%, %llu pages in flight\n",
                 static_cast<unsigned long long>(fwd->received()), fwd->recycle_ratio() * 100,
                 static_cast<unsigned long long>(fwd->pages_in_flight()));
  }
  fwd->stop();
  std::printf("{\"pools\": [%s]}\n", fwd->pools_json().c_str());
  return fwd->clean() || o.alloc == fwd::AllocMode::kMalloc ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  fwd::Options options;
  if (!fwd::parse_options(argc, argv, options)) return 2;
  return options.selftest ? selftest(options) : forward(options);
}
