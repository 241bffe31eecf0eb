// ppool-bench curves: ns per page of the cycle loop (workloads.h's cycle:
// pages in flight in a FIFO, bursts of 64 in and out) as one thing grows at
// a time, the others held where cycle_16k has them:
//   inflight  the pages in flight, 256 to 256 Ki (one pool, one thread);
//   pools     the pools one owner cycles its bursts over, round-robin, 1 to
//             64 (16 Ki pages in flight in all);
//   threads   the threads the returns are spread over, 1 to 8 (16 Ki pages
//             in flight; the owner allocates, every put is remote). They
//             all run on cpu 1: on a 2-cpu machine more than one shares it,
//             time-sliced, so that curve is contention on the rings plus
//             scheduling, not parallel speed.
// The loops are templates over the adapter, as the workloads are; the
// adapter's curve hooks are described at the top of workloads.h.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "workloads.h"

namespace ppool_bench {

enum class Axis { kInflight, kPools, kThreads };
inline constexpr int kAxisCount = 3;

struct CurvePoint {
  Axis axis;
  unsigned x;  // pages in flight, pools or returning threads
};

// What the axes hold when they are not the one growing.
inline constexpr std::size_t kCurveInflight = 16384;

const char* to_string(Axis axis);
// Every point of the three curves, axis by axis, x growing.
std::vector<CurvePoint> curve_points();

class Impl;

struct CurveOptions {
  bool quick = false;  // runs of ~0.02 s, not ~0.2 s
  int repeat = 1;      // rounds; 1: the median of 3 runs back to back (--quick: 1 run)
  std::string path;    // the plot: FILE.svg or FILE.png (three panels, one per axis)
  std::string json;    // the rows as JSON, "" for none
};

// Runs every point that each impl runs, in interleaved rounds as the
// workloads; prints the table, writes the JSON and draws the plot. The
// exit status: 0, or 1 when an impl did not get every page back or a file
// was not written.
int run_curves(const std::vector<std::unique_ptr<Impl>>& impls, const CurveOptions& opt);

inline std::size_t inflight_of(const CurvePoint& p) {
  return p.axis == Axis::kInflight ? p.x : kCurveInflight;
}
inline unsigned pools_of(const CurvePoint& p) {
  return p.axis == Axis::kPools ? p.x : 1;
}

// cycle<N> over `pools` pools of one owner: burst slot s of the FIFO is
// always filled from, and put back to, pool s % pools (use_pool before each
// burst, also with one pool, so that the curve's points run the same
// code), so that consecutive bursts go round-robin over the pools and each
// holds inflight / pools pages. inflight and pools: powers of two, pools <=
// inflight / 64.
template <class A>
double cycle_pools(A& a, std::uint64_t ops, std::size_t inflight, unsigned pools) {
  constexpr unsigned kBurst = 64;
  const std::size_t slots = inflight / kBurst;
  std::vector<typename A::Buf> fifo(inflight);
  for (std::size_t s = 0; s < slots; ++s) {
    a.use_pool(static_cast<unsigned>(s & (pools - 1)));
    a.alloc_bulk(fifo.data() + s * kBurst, kBurst);
  }
  typename A::Buf burst[kBurst];
  std::size_t slot = 0;  // the oldest burst
  auto step = [&] {
    a.use_pool(static_cast<unsigned>(slot & (pools - 1)));
    a.alloc_bulk(burst, kBurst);
    keep(burst);
    a.put_bulk(fifo.data() + slot * kBurst, kBurst);
    std::memcpy(fifo.data() + slot * kBurst, burst, sizeof burst);
    slot = (slot + 1) & (slots - 1);
  };
  for (std::size_t s = 0; s < slots; ++s) step();  // the untimed turn, as cycle's
  Stopwatch sw;
  for (std::uint64_t i = 0; i < ops; i += kBurst) step();
  const double ns = sw.ns();
  for (std::size_t s = 0; s < slots; ++s) {
    a.use_pool(static_cast<unsigned>(s & (pools - 1)));
    a.put_bulk(fifo.data() + s * kBurst, kBurst);
  }
  return ns;
}

// One point's loop: the cycle itself along the pages in flight (the very
// loop of the cycle_* rows), cycle_pools along the pools, cycle_remote with
// every put remote along the returning threads. -1 for a point no loop has.
template <class A>
double run_curve_point(A& a, const CurvePoint& p, std::uint64_t ops) {
  switch (p.axis) {
    case Axis::kInflight:
      switch (p.x) {
        case 256:
          return cycle<256>(a, ops);
        case 1024:
          return cycle<1024>(a, ops);
        case 4096:
          return cycle<4096>(a, ops);
        case 16384:
          return cycle<16384>(a, ops);
        case 65536:
          return cycle<65536>(a, ops);
        case 262144:
          return cycle<262144>(a, ops);
        default:
          return -1;
      }
    case Axis::kPools:
      return cycle_pools(a, ops, kCurveInflight, p.x);
    case Axis::kThreads:
      return cycle_remote(a, ops, kCurveInflight, 1, p.x);
  }
  return -1;
}

}  // namespace ppool_bench
