// ppool-bench implementations: ppool and each peer behind one interface.
//
// The driver sees an Impl; each peer is written as an adapter (the concept
// described in workloads.h) wrapped by ImplOf, so the workload loops are
// instantiated for the adapter's own inline calls.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "curves.h"
#include "workloads.h"

namespace ppool_bench {

class Impl {
 public:
  virtual ~Impl() = default;
  virtual const char* name() const = 0;
  // Whether this impl has a version of w at all.
  virtual bool runs(Workload w) const = 0;
  // Sets up for w on the calling thread (which becomes the owner); false
  // (with a message on stderr) when that failed.
  virtual bool open(Workload w) = 0;
  // Runs ops operations of w (a multiple of kOpsQuantum); the elapsed ns.
  virtual double run(Workload w, std::uint64_t ops) = 0;
  // Tears down what open() built; false (with a message) when not every
  // buffer came back.
  virtual bool close() = 0;
  // What a memory backing's allocator had in huge pages for w (the last
  // round's), -1 where that was not read.
  virtual long long huge_backed_bytes(Workload) const { return -1; }
  // Lines for after the table (a workload skipped and why).
  virtual std::vector<std::string> notes() const { return {}; }
  // The curves (curves.h), as runs(), open() and run() for a workload;
  // close() tears a point down as it does a workload. None by default.
  virtual bool runs_point(const CurvePoint&) const { return false; }
  virtual bool open_point(const CurvePoint&) { return false; }
  virtual double run_point(const CurvePoint&, std::uint64_t) { return -1; }
};

template <class Adapter>
class ImplOf final : public Impl {
 public:
  template <class... Args>
  explicit ImplOf(std::string name, Args&&... args)
      : name_(std::move(name)), adapter_(std::forward<Args>(args)...) {}
  const char* name() const override { return name_.c_str(); }
  bool runs(Workload w) const override { return adapter_.runs(w); }
  bool open(Workload w) override { return adapter_.open(w); }
  double run(Workload w, std::uint64_t ops) override { return run_workload(adapter_, w, ops); }
  bool close() override { return adapter_.close(); }
  long long huge_backed_bytes(Workload w) const override {
    if constexpr (requires { adapter_.huge_backed_bytes(w); }) return adapter_.huge_backed_bytes(w);
    return -1;
  }
  std::vector<std::string> notes() const override {
    if constexpr (requires { adapter_.notes(); }) return adapter_.notes();
    return {};
  }
  bool runs_point(const CurvePoint& p) const override {
    if constexpr (requires { adapter_.runs(p); }) return adapter_.runs(p);
    return false;
  }
  bool open_point(const CurvePoint& p) override {
    if constexpr (requires { adapter_.open(p); }) return adapter_.open(p);
    return false;
  }
  double run_point(const CurvePoint& p, std::uint64_t ops) override {
    if constexpr (requires { adapter_.use_pool(0u); }) return run_curve_point(adapter_, p, ops);
    return -1;
  }

 private:
  std::string name_;
  Adapter adapter_;
};

// The factories print what they found (a "# " line on stdout: verified,
// or skipped and why) and return nullptr for a peer that is not available.
// ppool's settings for the workloads of the memory backings.
struct PpoolOptions {
  double touch_gib = 4;  // touch_*: GiB of pool pages chased across
};

std::unique_ptr<Impl> make_baseline();
std::unique_ptr<Impl> make_ppool(const PpoolOptions& options);
// ppool through the C API only (impl_ppool_c.cc).
std::unique_ptr<Impl> make_ppool_c();
std::unique_ptr<Impl> make_dpdk_mempool();
// glibc, jemalloc, mimalloc or tcmalloc, loaded from its own library.
std::unique_ptr<Impl> make_malloc(std::string_view name);
std::unique_ptr<Impl> make_mmap();
// A bare free-frame stack: the floor under every allocator (one thread).
std::unique_ptr<Impl> make_stack();
// The owner-only workloads the stack runs, and the ladder with it.
bool stack_runs(Workload w);
// A rung of the ladder from the stack to ppool (impl_ladder.cc): stack_loop,
// stack_tag, stack_ref, stack_pf or stack_dense; nullptr for another name.
std::unique_ptr<Impl> make_ladder(std::string_view name);
// Restarts the process (execv, same argv) if that is what jemalloc needs to
// load; call first thing in main.
void make_room_for_jemalloc(char** argv);

// Fatal: a bench that cannot allocate has nothing to say.
[[noreturn]] void die(const char* impl, const char* what);

}  // namespace ppool_bench
