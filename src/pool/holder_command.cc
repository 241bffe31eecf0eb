// /ppool/holders (ppool/telemetry.h; registered by telemetry_commands.cc),
// throttled. A holder scan reads every descriptor of every allocator
// (PageAllocator::visit_allocated), a chunk at a time under the allocator's
// lock: harmless once (4 ms for 256 MiB committed, mostly pauses), but a
// client asking in a loop would keep the allocators' locks busy for the
// pools' owners and a core busy besides. So the endpoint scans at most once
// per interval for all pools together (a request that comes sooner waits
// for its turn), and a pool scanned less than an interval ago gets that
// result again, with its age, without a scan.
#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pool/telemetry_commands.h"
#include "ppool/registry.h"
#include "telemetry/json.h"

namespace ppool::detail {
namespace {

using Clock = std::chrono::steady_clock;

// A scan's share of the time: the next one starts no sooner than this many
// times the last one's length after it ended, so a scan of a large
// allocator (64 GiB: tens of milliseconds) in a loop holds its locks at most
// a tenth of the time.
constexpr int kIdleFactor = 9;
// Pools whose last result is kept.
constexpr std::size_t kCached = 16;

struct Cached {
  std::uint32_t id;
  Clock::time_point at;  // when its scan ended
  HolderReport report;
};

struct Throttle {
  std::mutex mu;  // held through a wait and a scan: one scan at a time
  Clock::duration interval = std::chrono::milliseconds(100);
  Clock::time_point next_scan{};  // the earliest start of the next scan
  std::vector<Cached> cache;      // oldest first
};

Throttle& throttle() {
  static Throttle* t = new Throttle;  // never destroyed: the server may run until exit
  return *t;
}

std::string report_json(const HolderReport& report, Clock::duration age) {
  JsonBuilder holders('[');
  for (const HolderGroup& g : report.groups) {
    JsonBuilder h('{');
    h.key("holder").num(g.holder);
    h.key("name").str(g.name);
    h.key("pages").num(g.pages);
    h.key("oldest_age_ms").num(g.oldest_age_ms);
    holders.raw(h.close());
  }
  JsonBuilder o('{');
  o.key("pool_id").num(report.pool_id);
  o.key("pages").num(report.pages);
  o.key("age_ms").num(static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(age).count()));
  o.key("holders").raw(holders.close());
  return o.close();
}

}  // namespace

std::optional<std::string> holders_json(std::uint32_t id) {
  Throttle& t = throttle();
  std::lock_guard lock(t.mu);
  auto cached =
      std::find_if(t.cache.begin(), t.cache.end(), [id](const Cached& c) { return c.id == id; });
  if (cached != t.cache.end() && Clock::now() - cached->at < t.interval)
    return report_json(cached->report, Clock::now() - cached->at);
  if (cached != t.cache.end()) t.cache.erase(cached);
  std::this_thread::sleep_until(t.next_scan);
  const Clock::time_point start = Clock::now();
  std::optional<HolderReport> report = pool_holders(id);
  const Clock::time_point end = Clock::now();
  t.next_scan = end + std::max(t.interval, kIdleFactor * (end - start));
  if (!report) return std::nullopt;
  if (t.cache.size() == kCached) t.cache.erase(t.cache.begin());
  t.cache.push_back({id, end, *report});
  return report_json(*report, Clock::duration::zero());
}

void set_holder_scan_interval(std::chrono::milliseconds interval) {
  Throttle& t = throttle();
  std::lock_guard lock(t.mu);
  t.interval = interval;
  t.next_scan = {};
  t.cache.clear();
}

}  // namespace ppool::detail
