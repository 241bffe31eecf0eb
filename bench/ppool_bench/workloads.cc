// Workload names, thread placement and the baselines.
#include "workloads.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "impl.h"
#include "report.h"

namespace ppool_bench {
namespace {

constexpr const char* kNames[kWorkloadCount] = {
    "empty_loop",
    "atomic_inc",
    "spin_lock",
    "fast_path",
    "fast_path_sync",
    "ring_path",
    "ring_path_sync",
    "slow_path",
    "slow_path_zero",
    "slow_path_thp",
    "slow_path_hugetlb",
    "fresh_4k",
    "fresh_zero",
    "fresh_thp",
    "fresh_hugetlb",
    "bulk16",
    "bulk64",
    "cross_core",
    "ws256",
    "ws4096",
    "cycle_4k",
    "cycle_16k",
    "cycle_64k",
    "cycle_16k_remote",
    "touch_4k",
    "touch_thp",
    "touch_hugetlb",
};

// The cpus the process may use, read before main: DPDK's EAL later narrows
// the main thread's affinity to its lcore's cpu.
const cpu_set_t g_allowed = [] {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) CPU_SET(0, &set);
  return set;
}();

unsigned cpus() {
  return static_cast<unsigned>(std::max(1, CPU_COUNT(&g_allowed)));
}

// The kernel's bench_page_pool_simple baselines: what a loop, an atomic
// increment and an uncontended lock cost on this machine.
class Baseline final : public Impl {
 public:
  const char* name() const override { return "baseline"; }
  bool runs(Workload w) const override { return is_baseline(w); }
  bool open(Workload) override { return true; }
  double run(Workload w, std::uint64_t ops) override {
    switch (w) {
      case Workload::kEmptyLoop:
        return empty_loop(ops);
      case Workload::kAtomicInc:
        return atomic_inc(ops);
      default:
        return spin_lock(ops);
    }
  }
  bool close() override { return true; }

 private:
  static double empty_loop(std::uint64_t ops) {
    Stopwatch sw;
    for (std::uint64_t i = 0; i < ops; ++i) asm volatile("" ::: "memory");
    return sw.ns();
  }
  double atomic_inc(std::uint64_t ops) {
    Stopwatch sw;
    for (std::uint64_t i = 0; i < ops; ++i) counter_.fetch_add(1, std::memory_order_relaxed);
    return sw.ns();
  }
  // A test-and-set lock, taken and dropped with nobody else wanting it.
  double spin_lock(std::uint64_t ops) {
    Stopwatch sw;
    for (std::uint64_t i = 0; i < ops; ++i) {
      while (lock_.test_and_set(std::memory_order_acquire)) relax();
      lock_.clear(std::memory_order_release);
    }
    return sw.ns();
  }

  std::atomic<std::uint64_t> counter_{0};
  std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
};

}  // namespace

const char* to_string(Workload w) {
  return kNames[static_cast<int>(w)];
}

std::optional<Workload> parse_workload(std::string_view name) {
  for (int i = 0; i < kWorkloadCount; ++i)
    if (name == kNames[i]) return static_cast<Workload>(i);
  return std::nullopt;
}

bool is_baseline(Workload w) {
  return w == Workload::kEmptyLoop || w == Workload::kAtomicInc || w == Workload::kSpinLock;
}

bool is_sync_variant(Workload w) {
  return w == Workload::kFastPathSync || w == Workload::kRingPathSync;
}

bool is_ppool_only(Workload w) {
  return baseline_4k(w) && w != Workload::kSlowPath;
}

std::optional<Workload> baseline_4k(Workload w) {
  switch (w) {
    case Workload::kSlowPath:
    case Workload::kSlowPathZero:
    case Workload::kSlowPathThp:
    case Workload::kSlowPathHugetlb:
      return Workload::kSlowPath;
    case Workload::kFresh4k:
    case Workload::kFreshZero:
    case Workload::kFreshThp:
    case Workload::kFreshHugetlb:
      return Workload::kFresh4k;
    case Workload::kTouch4k:
    case Workload::kTouchThp:
    case Workload::kTouchHugetlb:
      return Workload::kTouch4k;
    default:
      return std::nullopt;
  }
}

int family(Workload w) {
  return static_cast<int>(baseline_4k(w).value_or(w));
}

void pin(int cpu) {
  // The cpu-th allowed cpu, wrapping around.
  unsigned skip = static_cast<unsigned>(cpu) % cpus();
  int target = 0;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &g_allowed) && skip-- == 0) {
      target = c;
      break;
    }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(target, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void relax() {
  if (cpus() == 1) {
    sched_yield();  // the other side needs this cpu to make progress
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

std::unique_ptr<Impl> make_baseline() {
  return std::make_unique<Baseline>();
}

void die(const char* impl, const char* what) {
  warn("ppool-bench: %s: %s\n", impl, what);
  std::exit(1);
}

}  // namespace ppool_bench
