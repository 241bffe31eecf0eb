// ppool-bench workloads: the loops of the kernel's bench_page_pool_simple and
// DPDK's test_mempool_perf, written once as templates over an adapter so
// that every peer runs the very same loop.
//
// An adapter (one per peer, see impl.h) provides, all callable inline so the
// timed loop measures the allocator and not a virtual call:
//   using Buf = ...                        its handle: void* or ppool::Page*
//   Buf alloc()                            one kBufSize buffer
//   void alloc_bulk(Buf* bufs, unsigned n)
//   void recycle_direct(Buf buf)           the owner's cheapest return
//   void put(Buf buf)                      a return that is not direct (ring)
//   void release(Buf buf)                  back to the page allocator
//   void put_bulk(Buf* bufs, unsigned n)   any thread
//   void remote_begin(), remote_end()      a consumer thread starts / stops
//   void* data(Buf buf)                    the buffer's first byte
// and, for the ppool-only workloads on other memory backings (the adapter
// builds their allocator and pages in open(), untimed):
//   double fresh(std::uint64_t ops)        fresh_*: pages from a new allocator
//   double touch(std::uint64_t ops)        touch_*: dependent loads across the pages
// and, for the curves (curves.h; an adapter without them runs no curve):
//   bool runs(const CurvePoint& p) const   whether it has a version of p
//   bool open(const CurvePoint& p)         owner: makes p's pools (pools_of(p): 1 to
//                                          64, each holding what the point keeps
//                                          in flight), pool 0 in use
//   void use_pool(unsigned i)              later alloc_bulk and put_bulk on pool i
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "ppool/ring.h"

namespace ppool_bench {

inline constexpr std::size_t kBufSize = 4096;  // a page, everywhere
inline constexpr unsigned kRemoteBatch = 16;   // the cross-core consumer's put_bulk
inline constexpr std::size_t kHandOffRing = 1024;
// Op counts passed to run() are multiples of this (the largest bulk).
inline constexpr std::uint64_t kOpsQuantum = 64;

// In running and reporting order.
enum class Workload {
  kEmptyLoop,
  kAtomicInc,
  kSpinLock,
  kFastPath,
  kFastPathSync,
  kRingPath,
  // ring_path on a pool that syncs: the remote put's sync (announced, so
  // that destroy can wait for it) before the ring.
  kRingPathSync,
  kSlowPath,
  // slow_path on a kZeroPages pool, and on a THP / hugetlb 2 MiB allocator:
  // the page allocator's steady state (its chunks committed once, before).
  kSlowPathZero,
  kSlowPathThp,
  kSlowPathHugetlb,
  // Pages taken from an allocator that has nothing committed yet: each
  // refill of the pool commits (and populates) fresh chunks.
  kFresh4k,
  kFreshZero,
  kFreshThp,
  kFreshHugetlb,
  kBulk16,
  kBulk64,
  kCrossCore,
  kWs256,
  kWs4096,
  // Long cycles: 4, 16 or 64 Ki pages in flight in a FIFO, as an AF_XDP
  // fill/completion cycle or a deep RX ring keeps them; each step takes a
  // burst of 64 with the bulk alloc and puts the oldest 64 back with the
  // bulk put, so a page comes home N/64 steps after it left.
  kCycle4k,
  kCycle16k,
  kCycle64k,
  // cycle_16k with a third of the bulk puts made on another thread (cpu 1),
  // as TX completions on another core: cycle_remote().
  kCycle16kRemote,
  // A dependent chase over one random line per page of --touch-gib GiB of
  // pool pages: what the TLB costs on each backing.
  kTouch4k,
  kTouchThp,
  kTouchHugetlb,
};
inline constexpr int kWorkloadCount = static_cast<int>(Workload::kTouchHugetlb) + 1;

const char* to_string(Workload w);
std::optional<Workload> parse_workload(std::string_view name);
bool is_baseline(Workload w);
// fast_path_sync and ring_path_sync: ppool's paths on a device that needs
// syncs, compared with its own coherent rows (no peer has a sync step).
bool is_sync_variant(Workload w);
// The workloads of ppool's memory backings: no peer runs them.
bool is_ppool_only(Workload w);
// The 4 KiB row a ppool-only row is compared with (slow_path, fresh_4k or
// touch_4k); nullopt for the other workloads.
std::optional<Workload> baseline_4k(Workload w);
// Workloads measured side by side within each round, in an order that
// rotates from round to round (a backing's rows against the 4 KiB row):
// equal for the workloads of one family, contiguous in the enum.
int family(Workload w);

// Pins the calling thread to cpu % ncpus (both threads on cpu 0 when the
// machine has one).
void pin(int cpu);
// A spin-wait step: a pause, or a yield where one cpu must run both sides.
void relax();

// Keeps the compiler from dropping or merging what produced p (Google
// Benchmark's DoNotOptimize).
inline void keep(const void* p) {
  asm volatile("" : : "g"(p) : "memory");
}

class Stopwatch {
 public:
  void restart() { t0_ = std::chrono::steady_clock::now(); }
  double ns() const {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// Each loop returns the elapsed ns of the timed part only.

template <class A>
double fast_path(A& a, std::uint64_t ops) {
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; ++i) {
    auto buf = a.alloc();
    keep(buf);
    a.recycle_direct(buf);
  }
  return sw.ns();
}

template <class A>
double ring_path(A& a, std::uint64_t ops) {
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; ++i) {
    auto buf = a.alloc();
    keep(buf);
    a.put(buf);
  }
  return sw.ns();
}

template <class A>
double slow_path(A& a, std::uint64_t ops) {
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; ++i) {
    auto buf = a.alloc();
    keep(buf);
    a.release(buf);
  }
  return sw.ns();
}

template <unsigned N, class A>
double bulk(A& a, std::uint64_t ops) {
  typename A::Buf bufs[N];
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; i += N) {
    a.alloc_bulk(bufs, N);
    keep(bufs);
    a.put_bulk(bufs, N);
  }
  return sw.ns();
}

// An RX ring's worth of buffers in use: each slot in turn is written (the
// "packet"), returned and refilled.
template <unsigned W, class A>
double working_set(A& a, std::uint64_t ops) {
  static_assert((W & (W - 1)) == 0);
  std::vector<typename A::Buf> slots(W);
  for (auto& slot : slots) slot = a.alloc();
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; ++i) {
    auto& slot = slots[i & (W - 1)];
    std::memset(a.data(slot), static_cast<int>(i), 64);
    a.recycle_direct(slot);
    slot = a.alloc();
  }
  const double ns = sw.ns();
  for (auto slot : slots) a.recycle_direct(slot);
  return ns;
}

// N buffers in flight in a FIFO: each step allocates a burst of 64 (the
// bulk alloc) at the tail and puts the oldest 64 back (the bulk put). The
// FIFO is filled before the clock starts and drained after it stops; ops
// counts buffers (one alloc and one put each). One turn of the FIFO (N/64
// steps) runs untimed after the fill: the first alloc after it finds the
// cache empty and goes to the page allocator (ppool: 10 ms at 256 Ki in
// flight), the fill's cost, not the cycle's, and a short run would be all
// that.
template <unsigned N, class A>
double cycle(A& a, std::uint64_t ops) {
  static_assert((N & (N - 1)) == 0 && N >= 64);
  constexpr unsigned kBurst = 64;
  std::vector<typename A::Buf> fifo(N);  // a ring of N: the oldest burst is overwritten
  for (unsigned i = 0; i < N; i += kBurst) a.alloc_bulk(fifo.data() + i, kBurst);
  typename A::Buf burst[kBurst];
  std::size_t head = 0;  // the oldest burst
  auto step = [&] {
    a.alloc_bulk(burst, kBurst);
    keep(burst);
    a.put_bulk(fifo.data() + head, kBurst);
    std::memcpy(fifo.data() + head, burst, sizeof burst);
    head = (head + kBurst) & (N - 1);
  };
  for (unsigned i = 0; i < N; i += kBurst) step();
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; i += kBurst) step();
  const double ns = sw.ns();
  for (unsigned i = 0; i < N; i += kBurst) a.put_bulk(fifo.data() + i, kBurst);
  return ns;
}

// cycle<N> with returns made on other threads, as TX completions on another
// core: every remote_every-th burst (1: every one, 3: a third) is handed,
// whole, through a returning thread's hand-off ring (kHandOffRing pages) to
// one of `threads` returning threads, all pinned to cpu 1, which put_bulk it
// (remote_begin and remote_end around, as cross_core's consumer). The owner
// gives a burst to the next thread with room and waits only when every
// hand-off is full, and at the end: the time runs from the first alloc to
// the last remote put. The untimed turn after the fill, as cycle's, ends
// when its remote puts are done. Threads sharing cpu 1 yield when their
// ring is empty, so that a sibling with work gets the cpu. inflight: a
// power of two, >= 64.
template <class A>
double cycle_remote(A& a, std::uint64_t ops, std::size_t inflight, unsigned remote_every,
                    unsigned threads) {
  using Buf = typename A::Buf;
  constexpr unsigned kBurst = 64;
  struct Returner {
    ppool::MpscRing<Buf> ring{kHandOffRing};
    alignas(ppool::kCacheLine) std::atomic<std::uint64_t> put{0};  // pages put, by its thread
  };
  std::vector<std::unique_ptr<Returner>> returners;
  for (unsigned t = 0; t < threads; ++t) returners.push_back(std::make_unique<Returner>());
  std::atomic<bool> last{false};
  std::vector<std::thread> running;
  for (unsigned t = 0; t < threads; ++t)
    running.emplace_back([&, t] {
      pin(1);
      a.remote_begin();
      Returner& r = *returners[t];
      Buf batch[kBurst];
      unsigned n = 0;
      for (;;) {
        // Read before the ring: all the owner produced before it said so is
        // then in the ring, and a short consume means it is empty.
        const bool owner_done = last.load(std::memory_order_acquire);
        n += static_cast<unsigned>(r.ring.consume_bulk(batch + n, kBurst - n));
        if (n == kBurst || (owner_done && n)) {
          a.put_bulk(batch, n);
          r.put.store(r.put.load(std::memory_order_relaxed) + n, std::memory_order_release);
          n = 0;
        } else if (owner_done) {
          break;
        } else if (threads > 1) {
          std::this_thread::yield();
        } else {
          relax();
        }
      }
      a.remote_end();
    });
  std::uint64_t handed = 0;  // pages given to the returning threads
  auto wait_for_returns = [&] {
    for (;;) {
      std::uint64_t put = 0;
      for (const auto& r : returners) put += r->put.load(std::memory_order_acquire);
      if (put == handed) return;
      relax();
    }
  };
  std::vector<Buf> fifo(inflight);
  for (std::size_t i = 0; i < inflight; i += kBurst) a.alloc_bulk(fifo.data() + i, kBurst);
  Buf burst[kBurst];
  std::size_t head = 0;
  std::uint64_t step = 0;
  unsigned next = 0;  // the returning thread the next remote burst goes to first
  auto one_step = [&] {
    a.alloc_bulk(burst, kBurst);
    keep(burst);
    Buf* oldest = fifo.data() + head;
    if (remote_every && step++ % remote_every == remote_every - 1) {
      // A burst begun on a ring finishes there (its thread puts whole
      // bursts); a full ring sends it on to the next, all full: wait.
      for (std::size_t sent = 0, full = 0; sent < kBurst;) {
        sent += returners[next]->ring.produce_bulk(oldest + sent, kBurst - sent);
        if (sent == kBurst) break;
        if (sent == 0) {
          next = (next + 1) % threads;
          if (++full % threads == 0) relax();
        } else {
          relax();
        }
      }
      next = (next + 1) % threads;
      handed += kBurst;
    } else {
      a.put_bulk(oldest, kBurst);
    }
    std::memcpy(oldest, burst, sizeof burst);
    head = (head + kBurst) & (inflight - 1);
  };
  for (std::size_t i = 0; i < inflight; i += kBurst) one_step();
  wait_for_returns();
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; i += kBurst) one_step();
  wait_for_returns();
  const double ns = sw.ns();
  last.store(true, std::memory_order_release);
  for (std::thread& t : running) t.join();
  for (std::size_t i = 0; i < inflight; i += kBurst) a.put_bulk(fifo.data() + i, kBurst);
  return ns;
}

// Allocation on cpu 0 (the calling thread, the pool's owner), return on cpu
// 1: the consumer pops the hand-off ring and returns batches of
// kRemoteBatch. The time runs from the first alloc to the last return.
template <class A>
double cross_core(A& a, std::uint64_t ops) {
  ppool::MpscRing<typename A::Buf> ring(kHandOffRing);
  std::atomic<bool> go{false};
  double elapsed = 0;
  Stopwatch sw;
  std::thread consumer([&] {
    pin(1);
    a.remote_begin();
    while (!go.load(std::memory_order_acquire)) relax();
    typename A::Buf batch[kRemoteBatch];
    unsigned n = 0;
    for (std::uint64_t done = 0; done < ops;) {
      n += static_cast<unsigned>(ring.consume_bulk(batch + n, kRemoteBatch - n));
      if (n == kRemoteBatch || (n && done + n == ops)) {
        a.put_bulk(batch, n);
        done += n;
        n = 0;
      } else if (!n) {
        relax();
      }
    }
    elapsed = sw.ns();
    a.remote_end();
  });
  sw.restart();  // not counting the consumer's start
  go.store(true, std::memory_order_release);
  for (std::uint64_t i = 0; i < ops; ++i) {
    auto buf = a.alloc();
    while (!ring.produce(buf)) relax();
  }
  consumer.join();
  return elapsed;
}

// The workloads an allocator adapter runs; baselines are not its business.
template <class A>
double run_workload(A& a, Workload w, std::uint64_t ops) {
  switch (w) {
    case Workload::kFastPath:
    case Workload::kFastPathSync:  // the same loop on a pool that syncs
      return fast_path(a, ops);
    case Workload::kRingPath:
    case Workload::kRingPathSync:
      return ring_path(a, ops);
    case Workload::kSlowPath:
    case Workload::kSlowPathZero:  // the same loop on another pool or allocator
    case Workload::kSlowPathThp:
    case Workload::kSlowPathHugetlb:
      return slow_path(a, ops);
    case Workload::kFresh4k:
    case Workload::kFreshZero:
    case Workload::kFreshThp:
    case Workload::kFreshHugetlb:
      if constexpr (requires { a.fresh(ops); }) return a.fresh(ops);
      return -1;
    case Workload::kTouch4k:
    case Workload::kTouchThp:
    case Workload::kTouchHugetlb:
      if constexpr (requires { a.touch(ops); }) return a.touch(ops);
      return -1;
    case Workload::kBulk16:
      return bulk<16>(a, ops);
    case Workload::kBulk64:
      return bulk<64>(a, ops);
    case Workload::kCrossCore:
      return cross_core(a, ops);
    case Workload::kWs256:
      return working_set<256>(a, ops);
    case Workload::kWs4096:
      return working_set<4096>(a, ops);
    case Workload::kCycle4k:
      return cycle<4096>(a, ops);
    case Workload::kCycle16k:
      return cycle<16384>(a, ops);
    case Workload::kCycle64k:
      return cycle<65536>(a, ops);
    case Workload::kCycle16kRemote:
      return cycle_remote(a, ops, 16384, 3, 1);
    default:
      return -1;
  }
}

}  // namespace ppool_bench
