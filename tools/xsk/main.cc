// ppool-xsk: an AF_XDP forwarder on ppool (see forwarder.h), with a selftest
// that builds its own three-namespace world and drives it with netsniff-ng's
// trafgen (see selftest.h).
//
// The selftest prints a progress line a second and, at the end, one JSON
// object on stdout's last line. It runs in two parts. First the measured
// run: trafgen sends for --seconds, then stops, the forwarder drains what is
// in flight, and both ends' counters are read: what the generator sent
// against what came out (at the sink, and back at the generator), so the
// loss is counted end to end, drops before the forwarder included, and
// split by where it happened. Then the teardown under load: trafgen again,
// and the forwarder is stopped while it still sends, so that frames sit on
// every ring at teardown; it reports where they were and whether they all
// came home.
//
// Signals: SIGINT and SIGTERM stop either mode the same way (queues stopped,
// frames home, pools and UMEM freed, trafgen stopped, namespaces removed)
// and the JSON is printed; a selftest so cut short exits 128 + the signal. A
// repeat within 2 s is ignored, a later one exits at once (signals.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

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

int fail(const std::string& why) {
  return ppool::tools::fail("ppool-xsk", why);
}

using ull = unsigned long long;

// The common part of both modes' JSON, after stop().
void pipeline_json(JsonWriter& json, const xsk::Forwarder& fwd, const xsk::Totals& t) {
  const xsk::Teardown& td = fwd.teardown();
  const xsk::RingCounts& r = fwd.rings_at_teardown();
  const std::uint64_t accounted = t.forwarded + t.dropped;
  json.key("forwarder_received").num(t.received);
  json.key("frames_forwarded").num(t.forwarded);
  json.key("forwarder_lost").num(t.received > accounted ? t.received - accounted : 0);
  json.key("frames_dropped_by_verdict").num(t.dropped - t.not_ours);
  json.key("frames_not_udp").num(t.not_ours);
  json.key("frames_redirected").num(t.redirected);
  json.key("frames_sent_back").num(t.back);
  json.key("frames_no_tx_room").num(t.lost);
  json.key("alloc_mode").str(xsk::to_string(fwd.options().alloc));
  json.key("queues").num(fwd.options().queues);
  json.key("xdp_mode").str(fwd.xdp_mode());
  json.key("inflight_after_teardown").num(td.inflight);
  JsonWriter ledger('{');
  ledger.key("app").num(td.ledger_app).key("kernel").num(td.ledger_kernel);
  json.key("ledger_after_close").raw(ledger.close());
  JsonWriter rings('{');
  rings.key("fill").num(r.fill).key("rx").num(r.rx).key("tx").num(r.tx);
  rings.key("completion").num(r.completion);
  json.key("rings_at_teardown").raw(rings.close());
  json.key("frames_reclaimed_at_teardown").num(td.reclaimed);
  json.key("umem_frames").num(td.umem_frames);
  json.key("umem_frames_committed").num(td.umem_committed);
}

bool clean(const xsk::Forwarder& fwd, const xsk::Totals& t) {
  const bool lost = t.received > t.forwarded + t.dropped;
  // The stack baseline cannot find the frames the kernel holds inside
  // (taken off the fill ring, not yet on the RX ring): its count is
  // reported, not required.
  const bool home = fwd.options().alloc == xsk::AllocMode::kStack || fwd.teardown().inflight == 0;
  return !lost && home;
}

// Waits (at most 2 s) until the stopped generator's frames have all been
// dealt with: the forwarder's counts and both ends' receive counters stay
// the same over three looks 20 ms apart. Not a measurement
// bound: what is still moving after it shows up as loss, which the test
// fails on.
void drain(xsk::Forwarder& fwd, const xsk::Topology& world) {
  std::uint64_t last = ~std::uint64_t{0};
  int still = 0;
  for (int i = 0; i < 100 && still < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::uint64_t now = fwd.totals().received + fwd.totals().forwarded +
                              world.sink_stats().rx_packets + world.generator_stats().rx_packets;
    still = now == last ? still + 1 : 0;
    last = now;
  }
}

int selftest(const xsk::Options& o) {
  std::string why = xsk::Topology::missing();
  if (!why.empty()) {
    std::fprintf(stderr, "ppool-xsk: skipped: %s\n", why.c_str());
    return 77;
  }
  auto made = xsk::Topology::create(static_cast<unsigned>(o.queues));
  if (!made) return fail(made.error().message);
  std::unique_ptr<xsk::Topology> world = std::move(made).value();
  if (auto entered = world->enter_forwarder(); !entered) return fail(entered.error().message);
  xsk::Ports ports{"f0", "f1", {}, {}, true};
  std::memcpy(ports.out_src, xsk::Topology::kFwdOutMac, 6);
  std::memcpy(ports.out_dst, xsk::Topology::kSinkMac, 6);
  auto made_fwd = xsk::Forwarder::create(o, ports);
  if (!made_fwd) return fail(made_fwd.error().message);
  std::unique_ptr<xsk::Forwarder> fwd = std::move(made_fwd).value();
  if (auto started = fwd->start(); !started) return fail(started.error().message);
  const xsk::LinkStats gen0 = world->generator_stats(), sink0 = world->sink_stats();
  const xsk::SocketDrops drops0 = fwd->socket_drops();
  // The pools' warm-up (pool_backend.cc) is done: the recycle ratio counts
  // the traffic's allocations from here (and, apart, with the warm-up's).
  const xsk::AllocCounts traffic_allocs = fwd->alloc_counts();
  if (!ppool::tools::stopping()) {
    if (auto started = world->start_traffic(o); !started) return fail(started.error().message);
  }

  // The steady state is what follows the first second (the pools warm up in
  // it); a run shorter than two seconds is measured whole (clock.h).
  ppool::tools::MeasuredRun clock(o.seconds);
  std::uint64_t span_received = 0;
  long span_faults = ppool::tools::minor_faults();
  double span_cpu = ppool::tools::cpu_seconds();
  xsk::AllocCounts span_allocs = fwd->alloc_counts();
  while (clock.next()) {
    const std::uint64_t received = fwd->totals().received;
    if (clock.steady_starts()) {
      span_received = received;
      span_faults = ppool::tools::minor_faults();
      span_cpu = ppool::tools::cpu_seconds();
      span_allocs = fwd->alloc_counts();
    }
    const double pps = clock.rate(received);
    std::fprintf(stderr, "[%us] %s: %.0f pps, recycle %.4f%%, %llu frames out\n", clock.second(),
                 xsk::to_string(o.alloc), pps,
                 fwd->alloc_counts().recycle_ratio(traffic_allocs) * 100, ull(fwd->inflight()));
    if (!world->traffic_running()) {
      std::fprintf(stderr, "ppool-xsk: trafgen ended early\n");
      break;
    }
  }
  const long faults = ppool::tools::minor_faults() - span_faults;
  const double cpu = ppool::tools::cpu_seconds() - span_cpu;
  const std::uint64_t received_in_span = fwd->totals().received - span_received;
  const double seconds = clock.span_seconds();
  const double elapsed = clock.elapsed();
  const double recycle = fwd->alloc_counts().recycle_ratio(traffic_allocs);
  const double recycle_with_warmup = fwd->recycle_ratio();
  const double recycle_steady = fwd->alloc_counts().recycle_ratio(span_allocs);

  // End to end: the generator stops, the forwarder (still running) drains
  // what is in flight, then both ends are read. Nothing is on its way any
  // more, so sent - received - dropped on purpose is exactly what was lost.
  world->stop_traffic();
  drain(*fwd, *world);
  const xsk::LinkStats gen1 = world->generator_stats(), sink1 = world->sink_stats();
  const xsk::SocketDrops drops1 = fwd->socket_drops();
  const xsk::Totals e2e = fwd->totals();

  // The teardown under load: traffic again, the forwarder stopped while
  // trafgen still sends, so that frames sit on every ring.
  if (!ppool::tools::stopping() && world->start_traffic(o))
    ppool::tools::sleep_until(Clock::now() + std::chrono::milliseconds(300));
  fwd->stop();
  std::fprintf(stderr, "received per queue:%s\n", fwd->received_per_queue().c_str());
  world->stop_traffic();
  const xsk::Totals t = fwd->totals();
  JsonWriter json('{');
  pipeline_json(json, *fwd, t);
  const std::string pools = fwd->teardown().pools_json;
  const bool ok = clean(*fwd, t);
  fwd.reset();
  world.reset();  // namespaces, veths, trafgen: gone before the summary

  const std::uint64_t sent = gen1.tx_packets - gen0.tx_packets;
  const std::uint64_t sink = sink1.rx_packets - sink0.rx_packets;
  const std::uint64_t back = gen1.rx_packets - gen0.rx_packets;
  const std::uint64_t received = sink + back;
  // Signed: a negative figure would be a miscount, and is shown as one.
  const auto lost = static_cast<long long>(sent) - static_cast<long long>(received) -
                    static_cast<long long>(e2e.dropped);
  const std::uint64_t pipeline_lost =
      e2e.received > e2e.forwarded + e2e.dropped ? e2e.received - e2e.forwarded - e2e.dropped : 0;
  const std::uint64_t socket =
      (drops1.rx_dropped - drops0.rx_dropped) + (drops1.rx_ring_full - drops0.rx_ring_full);
  json.key("frames_sent").num(sent);
  json.key("frames_received").num(received);
  json.key("frames_lost").num(lost);
  json.key("frames_dropped_on_purpose").num(e2e.dropped);
  JsonWriter where('{');
  where.key("forwarder").num(pipeline_lost).key("xsk_socket").num(socket);
  where.key("kernel_other").num(lost - static_cast<long long>(pipeline_lost + socket));
  json.key("frames_lost_where").raw(where.close());
  JsonWriter drops('{');
  drops.key("rx_dropped").num(drops1.rx_dropped - drops0.rx_dropped);
  drops.key("rx_ring_full").num(drops1.rx_ring_full - drops0.rx_ring_full);
  drops.key("fill_ring_empty").num(drops1.fill_ring_empty - drops0.fill_ring_empty);
  drops.key("read").boolean(drops0.ok && drops1.ok);
  json.key("xsk_socket_drops").raw(drops.close());
  json.key("sink_received").num(sink);
  json.key("generator_received").num(back);
  json.key("pps").fixed(seconds > 0 ? static_cast<double>(received_in_span) / seconds : 0.0, 1);
  json.key("recycle_ratio").fixed(recycle, 6);
  json.key("recycle_ratio_steady_state").fixed(recycle_steady, 6);
  json.key("recycle_ratio_with_warmup").fixed(recycle_with_warmup, 6);
  json.key("page_faults_steady_state").num(faults);
  json.key("cpu_ns_per_frame")
      .fixed(received_in_span ? cpu * 1e9 / static_cast<double>(received_in_span) : 0.0, 1);
  json.key("seconds").fixed(elapsed, 3);
  json.key("interrupted").raw(ppool::tools::interrupted_json());
  json.key("pools").raw(pools);
  ppool::tools::print_json_line(json.close());
  if (!ok) return 1;
  return ppool::tools::stop_status();
}

bool read_mac(const std::string& dev, unsigned char mac[6]) {
  std::ifstream in("/sys/class/net/" + dev + "/address");
  std::string text;
  unsigned v[6];
  if (!(in >> text) ||
      std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
    return false;
  for (int i = 0; i < 6; ++i) mac[i] = static_cast<unsigned char>(v[i]);
  return true;
}

// Without --selftest: from --in to --out until a signal.
int forward(const xsk::Options& o) {
  xsk::Ports ports{o.in_dev, o.out_dev, {}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false};
  if (!read_mac(o.out_dev, ports.out_src)) return fail("no interface " + o.out_dev);
  if (!o.next_hop.empty()) {
    unsigned v[6];
    std::sscanf(o.next_hop.c_str(), "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
    for (int i = 0; i < 6; ++i) ports.out_dst[i] = static_cast<unsigned char>(v[i]);
  }
  auto made = xsk::Forwarder::create(o, ports);
  if (!made) return fail(made.error().message);
  std::unique_ptr<xsk::Forwarder> fwd = std::move(made).value();
  if (auto started = fwd->start(); !started) return fail(started.error().message);
  for (auto next = Clock::now() + std::chrono::seconds(1); ppool::tools::sleep_until(next);
       next += std::chrono::seconds(1)) {
    std::fprintf(stderr, "%llu received, %llu forwarded, recycle %.4f%%, %llu frames out\n",
                 ull(fwd->totals().received), ull(fwd->totals().forwarded),
                 fwd->recycle_ratio() * 100, ull(fwd->inflight()));
  }
  fwd->stop();
  const xsk::Totals t = fwd->totals();
  JsonWriter json('{');
  pipeline_json(json, *fwd, t);
  json.key("interrupted").raw(ppool::tools::interrupted_json());
  json.key("pools").raw(fwd->teardown().pools_json);
  ppool::tools::print_json_line(json.close());
  return clean(*fwd, t) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  ppool::tools::install_stop_handlers();  // first: a signal during setup still cleans up
  xsk::Options options;
  if (auto status = xsk::parse_options(argc, argv, options)) return *status;
  if (options.alloc == xsk::AllocMode::kPool) {
    const std::string telemetry = ppool::tools::start_telemetry("xsk", options.telemetry);
    if (!telemetry.empty()) std::fprintf(stderr, "ppool-xsk: telemetry on %s\n", telemetry.c_str());
  }
  return options.selftest ? selftest(options) : forward(options);
}
