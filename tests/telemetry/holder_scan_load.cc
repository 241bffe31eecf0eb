// What a holder scan costs the pools it scans: a pool's owner refills from
// and frees to the page allocator in a loop (its ring small, so most of its
// pages go through the allocator's lock) while another thread scans a second
// pool of the same allocator in a loop, through the telemetry command
// (/ppool/holders, as a client in a loop sends it) or pool_holders() (the
// library call, unthrottled). Prints the owner's slow-path refills a second
// and its worst alloc (a refill) and worst put (a free), quiet and while
// scanning. A measurement, not a test: run it on a quiet machine, or under
// SCHED_FIFO on a busy one:
//   chrt -f 5 holder_scan_load [SECONDS_PER_MODE (0.5)] [MIB_COMMITTED (256)]
// Modes: quiet, telemetry (/ppool/holders in a loop), direct (pool_holders
// in a loop).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/registry.h"
#include "ppool/telemetry.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double refills_per_s = 0;
  double worst_alloc_us = 0;
  double worst_put_us = 0;
  double scans_per_s = 0;
};

ppool::PagePool* make(const char* name) {
  ppool::PagePoolParams params;
  params.name = name;
  params.nid = 0;
  params.pool_size = 64;  // a small ring: most returns go to the allocator
  auto created = ppool::PagePool::create(params);
  if (!created) {
    std::fprintf(stderr, "holder_scan_load: %s\n", created.error().message.c_str());
    std::exit(1);
  }
  return created.value();
}

double us(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

// The owner's loop for seconds: 512 pages out, all back; each alloc and put
// timed. Refills are counted by the pool's alloc_slow (0 with the counters
// compiled out: then only the worst figures mean something).
Figures run_owner(ppool::PagePool* pool, double seconds) {
  Figures f;
  const std::uint64_t slow_before = pool->stats().alloc.slow;
  std::vector<ppool::Page*> pages(512);
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end) {
    for (ppool::Page*& page : pages) {
      const Clock::time_point t = Clock::now();
      page = pool->alloc_pages();
      f.worst_alloc_us = std::max(f.worst_alloc_us, us(Clock::now() - t));
    }
    for (ppool::Page* page : pages) {
      if (!page) continue;
      const Clock::time_point t = Clock::now();
      pool->put_full_page(page, /*allow_direct=*/true);
      f.worst_put_us = std::max(f.worst_put_us, us(Clock::now() - t));
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  f.refills_per_s = static_cast<double>(pool->stats().alloc.slow - slow_before) / elapsed;
  return f;
}

Figures run_mode(const char* mode, ppool::PagePool* owner_pool, ppool::PagePool* scanned,
                 double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> scans{0};
  const std::string command = "/ppool/holders," + std::to_string(scanned->id());
  std::thread scanner([&] {
    if (std::string(mode) == "quiet") return;
    const bool direct = std::string(mode) == "direct";
    while (!stop.load(std::memory_order_relaxed)) {
      if (direct) {
        if (!ppool::pool_holders(scanned->id())) std::abort();
      } else if (ppool::telemetry_command(command).find("\"error\"") != std::string::npos) {
        std::abort();
      }
      scans.fetch_add(1, std::memory_order_relaxed);
    }
  });
  Figures f;
  std::thread owner([&] {
    owner_pool->bind_owner();
    f = run_owner(owner_pool, seconds);
  });
  owner.join();
  stop = true;
  scanner.join();
  f.scans_per_s = static_cast<double>(scans.load()) / seconds;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  const std::size_t mib = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 256;
  // Ballast: the allocator's committed memory, every other page allocated
  // (so the scan visits every descriptor, half of them heads).
  ppool::PageAllocator& allocator = ppool::PageAllocator::for_node(0);
  std::vector<ppool::Page*> ballast;
  const std::size_t pages = (mib << 20) / ppool::kPageSize;
  for (std::size_t i = 0; i < pages; ++i) {
    ppool::Page* page = allocator.alloc(0);
    if (!page) break;
    ballast.push_back(page);
  }
  for (std::size_t i = 0; i < ballast.size(); i += 2) ppool::put_page(ballast[i]);
  ppool::PagePool* owner = make("load owner");
  ppool::PagePool* scanned = make("load scanned");
  std::vector<ppool::Page*> held;  // the scanned pool's pages out with a user
  for (int i = 0; i < 100; ++i) held.push_back(scanned->alloc_pages());

  std::printf("%zu MiB committed, %.1f s a mode\n", mib, seconds);
  std::printf("%-10s %12s %16s %14s %10s\n", "mode", "refills/s", "worst alloc us", "worst put us",
              "scans/s");
  for (const char* mode : {"quiet", "telemetry", "direct", "quiet"}) {
    // A rest between modes: run under SCHED_FIFO (chrt, so that the rest of
    // the machine does not decide the worst figures), a mode of at most half
    // a second then a second's rest keeps under the kernel's real-time
    // throttling (95% of each second), which would stall every thread 50 ms.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const Figures f = run_mode(mode, owner, scanned, seconds);
    std::printf("%-10s %12.0f %16.1f %14.1f %10.0f\n", mode, f.refills_per_s, f.worst_alloc_us,
                f.worst_put_us, f.scans_per_s);
    std::fflush(stdout);
  }
  owner->bind_owner();
  scanned->bind_owner();
  for (ppool::Page* page : held) scanned->recycle_direct(page);
  for (std::size_t i = 1; i < ballast.size(); i += 2) ppool::put_page(ballast[i]);
  ppool::PagePool::destroy(owner);
  ppool::PagePool::destroy(scanned);
  return 0;
}
