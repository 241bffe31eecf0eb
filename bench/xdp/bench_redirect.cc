// The redirect path per frame, side by side in one run: a buffer allocated
// on queue A's thread (core 0), handed over an SPSC-used MPSC ring to queue
// B's thread (core 1), "transmitted", and returned from B in bulks of 16.
//
//   ppool         alloc_pages on A; FrameBulk on B -> home pool's ring
//   malloc        malloc(4096) on A; free() on B
//   dpdk_mempool  rte_mempool_get on A; rte_mempool_put_bulk of 16 on B, both
//                 with a per-lcore cache (built when Debian's dpdk-dev is found)
//
//   bench_redirect [--frames N] [--repeat R]
//
// Runs R rounds (default 5), each running every impl once, in an order that
// rotates from round to round so that a slow patch of these noisy VMs lands
// on every impl alike (../common/rounds.h). Prints each impl's ns per frame
// (the median over the rounds), the spread of the rounds, its ratio to
// ppool, and the ratio of medians ppool / dpdk_mempool where DPDK ran.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "../common/rounds.h"
#include "ppool/ring.h"
#include "ppool/xdp.h"
#include "support/args.h"

#ifdef PPOOL_HAVE_DPDK
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#endif

namespace {

constexpr std::size_t kBuffer = 4096;
constexpr unsigned kBulk = 16;
constexpr std::uint32_t kHeadroom = 192;

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// One implementation of the pipeline: what A does per frame, and what B
// does with a batch of completed frames (and at the end, with a partial one).
struct Impl {
  const char* name;
  std::function<void()> start_a;               // on A, before the loop
  std::function<void*()> alloc;                // on A
  std::function<void()> start_b;               // on B, before the loop
  std::function<void(void**, unsigned)> free;  // on B
  std::function<void()> finish;                // after both
};

// Runs frames through A -> ring -> B; returns ns per frame.
double run_pipeline(Impl& impl, long frames) {
  ppool::MpscRing<void*> ring(1024);
  std::atomic<bool> go{false};
  std::chrono::steady_clock::time_point t0, t1;
  std::thread b([&] {
    pin(1);
    impl.start_b();
    while (!go.load(std::memory_order_acquire)) {
    }
    void* batch[kBulk];
    long done = 0;
    unsigned n = 0;
    while (done < frames) {
      n += static_cast<unsigned>(ring.consume_bulk(batch + n, kBulk - n));
      if (n == kBulk || (n && done + n == frames)) {
        impl.free(batch, n);
        done += n;
        n = 0;
      }
    }
    t1 = std::chrono::steady_clock::now();
  });
  pin(0);
  impl.start_a();
  go.store(true, std::memory_order_release);
  t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < frames; ++i) {
    void* buf = impl.alloc();
    static_cast<volatile char*>(buf)[kHeadroom] = static_cast<char>(i);  // "receive" a byte
    while (!ring.produce(buf)) {
    }
  }
  b.join();
  impl.finish();
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(frames);
}

ppool::IdentityDmaDevice g_identity;

// A pool whose ring holds every page the pipeline can have out.
ppool::PagePool* make_pool(const char* name) {
  ppool::PagePoolParams p;
  p.name = name;
  p.flags = ppool::kDmaMap;
  p.dev = &g_identity;
  p.pool_size = 4096;
  return ppool::PagePool::create(p).value();
}

Impl ppool_impl() {
  static ppool::PagePool* pool = nullptr;
  static ppool::MemInfo mem;
  static std::unique_ptr<ppool::RxQueueInfo> rxq;
  return Impl{"ppool",
              [] {
                pool = make_pool("redirect");
                rxq = std::make_unique<ppool::RxQueueInfo>("benchA", 0);
                mem = rxq->reg_mem_model(ppool::MemType::kPagePool, pool).value();
              },
              []() -> void* {
                ppool::Page* page = pool->alloc_pages();
                char* start = static_cast<char*>(ppool::page_address(page));
                return ppool::build_frame(start, start + kHeadroom, 64, kBuffer, mem);
              },
              [] {},
              [](void** frames, unsigned n) {
                ppool::FrameBulk bulk;
                for (unsigned i = 0; i < n; ++i) bulk.add(static_cast<ppool::Frame*>(frames[i]));
              },
              [] {
                pool->bind_owner();
                rxq.reset();
                ppool::PagePool::destroy(pool);
              }};
}

// The same without frames: B puts the pages themselves (put_page_bulk), as a
// driver that keeps its own buffer metadata would.
Impl ppool_pages_impl() {
  static ppool::PagePool* pool = nullptr;
  return Impl{"ppool_pages",
              [] { pool = make_pool("redirect-pages"); },
              []() -> void* { return ppool::page_address(pool->alloc_pages()); },
              [] {},
              [](void** bufs, unsigned n) {
                ppool::Page* pages[kBulk];
                for (unsigned i = 0; i < n; ++i) pages[i] = ppool::page_of(bufs[i]);
                ppool::put_page_bulk(pages, n);
              },
              [] {
                pool->bind_owner();
                ppool::PagePool::destroy(pool);
              }};
}

Impl malloc_impl() {
  return Impl{"malloc",
              [] {},
              []() -> void* { return std::malloc(kBuffer); },
              [] {},
              [](void** bufs, unsigned n) {
                for (unsigned i = 0; i < n; ++i) std::free(bufs[i]);
              },
              [] {}};
}

#ifdef PPOOL_HAVE_DPDK
bool dpdk_init() {
  static int ok = [] {
    const char* argv[] = {"bench_redirect",    "--no-huge", "--no-pci", "--no-shconf",
                          "--log-level=error", "-m",        "256"};
    return rte_eal_init(static_cast<int>(std::size(argv)), const_cast<char**>(argv)) >= 0;
  }();
  return ok;
}

Impl dpdk_impl() {
  static rte_mempool* mp = nullptr;
  return Impl{"dpdk_mempool",
              [] {
                if (rte_lcore_id() == LCORE_ID_ANY) rte_thread_register();
                if (!mp)
                  mp = rte_mempool_create("redirect", 8191, kBuffer, 256, 0, nullptr, nullptr,
                                          nullptr, nullptr, SOCKET_ID_ANY, 0);
              },
              []() -> void* {
                void* obj = nullptr;
                while (rte_mempool_get(mp, &obj) != 0) {
                }
                return obj;
              },
              [] { rte_thread_register(); },
              [](void** objs, unsigned n) { rte_mempool_put_bulk(mp, objs, n); },
              [] {}};
}
#endif

}  // namespace

int main(int argc, char** argv) {
  long frames = 2000000;
  int repeat = 5;
  ppool::tools::Args args(argc, argv, "bench_redirect",
                          "usage: bench_redirect [--frames 1..1000000000] [--repeat 1..1000]\n"
                          "The redirect pipeline per frame (default 2000000 frames, median of\n"
                          "5 interleaved rounds): ppool, ppool pages, malloc and, where built,\n"
                          "DPDK; with the spread of the rounds and ppool / DPDK.\n");
  while (args.next()) {
    if (!args.number("--frames", 1, 1000000000, frames) &&
        !args.number("--repeat", 1, 1000, repeat))
      args.unknown();
  }
  if (auto status = args.exit_status()) return *status;
  std::vector<Impl> impls = {ppool_impl(), ppool_pages_impl(), malloc_impl()};
#ifdef PPOOL_HAVE_DPDK
  if (dpdk_init())
    impls.push_back(dpdk_impl());
  else
    std::fprintf(stderr, "bench_redirect: DPDK's EAL did not start; dpdk_mempool skipped\n");
#else
  std::fprintf(stderr, "bench_redirect: built without DPDK (dpdk-dev not found); skipped\n");
#endif
  std::vector<std::vector<double>> ns(impls.size());
  for (int round = 0; round < repeat; ++round)
    for (std::size_t i = 0; i < impls.size(); ++i) {
      const std::size_t at = ppool::bench::rotated(i, round, impls.size());
      ns[at].push_back(run_pipeline(impls[at], frames));
    }
  std::printf("%-14s %10s %10s %8s %15s\n", "impl", "ns/frame", "Mframes/s", "vs ppool", "spread");
  const double base = ppool::bench::spread_of(ns[0]).median;  // ppool's
  double dpdk = 0;
  for (std::size_t i = 0; i < impls.size(); ++i) {
    const ppool::bench::Spread s = ppool::bench::spread_of(ns[i]);
    if (std::strcmp(impls[i].name, "dpdk_mempool") == 0) dpdk = s.median;
    std::printf("%-14s %10.1f %10.2f %8s %15s\n", impls[i].name, s.median, 1e3 / s.median,
                ppool::bench::ratio_text(s.median, base).c_str(),
                ppool::bench::spread_text(s).c_str());
  }
  std::printf(
      "# median of %d interleaved round%s of %ld frames; spread: the fastest and the\n"
      "# slowest round against the median\n",
      repeat, repeat > 1 ? "s" : "", frames);
  if (dpdk > 0)
    std::printf("# ppool / dpdk_mempool: %s (ratio of medians)\n",
                ppool::bench::ratio_text(base, dpdk).c_str());
  return 0;
}
