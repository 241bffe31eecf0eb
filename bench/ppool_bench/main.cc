// ppool-bench: ppool against DPDK's rte_mempool, the general allocators
// (glibc, jemalloc, mimalloc, tcmalloc) and mmap, the same workloads in one
// process on one machine (issue 4; the targets are DESIGN.md section 6).
//
//   ppool-bench [--quick] [--json FILE] [--plot FILE.png|FILE.svg]
//               [--only IMPL,...] [--workloads WORKLOAD,...]
//
// Each measurement is calibrated to run about 0.2 s (--quick: 0.02 s) and
// reported as the median of 3 runs (--quick: 1), in ns per op: elapsed / ops,
// where an op is one buffer allocated and returned.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../../tools/common/args.h"
#include "impl.h"
#include "report.h"

namespace ppool_bench {
namespace {

constexpr const char* kImpls[] = {"ppool",    "dpdk_mempool", "glibc", "jemalloc",
                                  "mimalloc", "tcmalloc",     "mmap",  "baseline"};

struct Options {
  bool quick = false;
  std::string json, plot;
  std::vector<std::string> only;    // impls; empty: all
  std::vector<Workload> workloads;  // empty: all
};

std::string usage() {
  std::string text =
      "usage: ppool-bench [--quick] [--json FILE] [--plot FILE.png|FILE.svg]\n"
      "                   [--only IMPL,...] [--workloads WORKLOAD,...]\n"
      "  impls:";
  for (const char* impl : kImpls) text += std::string(" ") + impl;
  text += "\n  workloads:";
  for (int w = 0; w < kWorkloadCount; ++w)
    text += std::string(" ") + to_string(static_cast<Workload>(w));
  return text + "\n";
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> names;
  std::istringstream in(list);
  for (std::string name; std::getline(in, name, ',');)
    if (!name.empty()) names.push_back(name);
  return names;
}

bool known_impl(const std::string& name) {
  return std::any_of(std::begin(kImpls), std::end(kImpls),
                     [&](const char* impl) { return name == impl; });
}

// nullopt to go on, else the exit status (0 after --help, 2 after anything
// it does not understand, named on stderr).
std::optional<int> parse(int argc, char** argv, Options& opt) {
  const std::string text = usage();
  ppool::tools::Args args(argc, argv, "ppool-bench", text.c_str());
  std::string list;
  while (args.next()) {
    list.clear();
    if (args.flag("--quick")) {
      opt.quick = true;
    } else if (args.text("--json", opt.json) || args.text("--plot", opt.plot)) {
    } else if (args.text("--only", list)) {
      if (list.empty()) continue;  // the missing value was reported
      opt.only = split(list);
      if (opt.only.empty()) args.error("--only: no implementation named in '" + list + "'");
      for (const std::string& name : opt.only)
        if (!known_impl(name))
          args.error("--only: unknown implementation '" + name + "' (see --help)");
    } else if (args.text("--workloads", list)) {
      if (list.empty()) continue;
      for (const std::string& name : split(list)) {
        const std::optional<Workload> w = parse_workload(name);
        if (!w)
          args.error("--workloads: unknown workload '" + name + "' (see --help)");
        else
          opt.workloads.push_back(*w);
      }
      if (opt.workloads.empty()) args.error("--workloads: no workload named in '" + list + "'");
    } else {
      args.unknown();
    }
  }
  return args.exit_status();
}

bool selected(const Options& opt, const std::string& impl) {
  return opt.only.empty() || std::find(opt.only.begin(), opt.only.end(), impl) != opt.only.end();
}

bool selected(const Options& opt, Workload w) {
  return opt.workloads.empty() ||
         std::find(opt.workloads.begin(), opt.workloads.end(), w) != opt.workloads.end();
}

// The impls asked for and found, in kImpls order (DPDK's EAL starts here).
std::vector<std::unique_ptr<Impl>> find_impls(const Options& opt) {
  std::vector<std::unique_ptr<Impl>> impls;
  for (const std::string name : kImpls) {
    if (!selected(opt, name)) continue;
    std::unique_ptr<Impl> impl = name == "ppool"          ? make_ppool()
                                 : name == "dpdk_mempool" ? make_dpdk_mempool()
                                 : name == "mmap"         ? make_mmap()
                                 : name == "baseline"     ? make_baseline()
                                                          : make_malloc(name);
    if (impl) impls.push_back(std::move(impl));
  }
  return impls;
}

std::uint64_t round_up(double ops) {
  const auto n = static_cast<std::uint64_t>(ops) + kOpsQuantum - 1;
  return std::max(kOpsQuantum, n - n % kOpsQuantum);
}

// ns per op: the median of the runs, after a calibration that doubles the
// op count until a run lasts a tenth of the target (and warms up the caches
// and the pools), then scales it to the target.
double measure(Impl& impl, Workload w, const Options& opt) {
  const double target_ns = opt.quick ? 2e7 : 2e8;
  const int runs = opt.quick ? 1 : 3;
  std::uint64_t ops = 4 * kOpsQuantum;
  double ns;
  while ((ns = impl.run(w, ops)) < target_ns / 10) ops *= 2;
  ops = round_up(static_cast<double>(ops) * target_ns / ns);
  std::vector<double> per_op;
  for (int r = 0; r < runs; ++r) per_op.push_back(impl.run(w, ops) / static_cast<double>(ops));
  std::sort(per_op.begin(), per_op.end());
  return per_op[per_op.size() / 2];
}

int count_steps(const std::vector<std::unique_ptr<Impl>>& impls, const Options& opt) {
  int steps = 0;
  for (int w = 0; w < kWorkloadCount; ++w)
    for (const auto& impl : impls)
      steps += selected(opt, static_cast<Workload>(w)) && impl->runs(static_cast<Workload>(w));
  return steps;
}

}  // namespace
}  // namespace ppool_bench

int main(int argc, char** argv) {
  using namespace ppool_bench;
  Options opt;
  if (auto status = parse(argc, argv, opt)) return *status;
  if (!opt.plot.empty() && !can_plot(opt.plot)) return 2;  // before, not after, the run
  if (selected(opt, "jemalloc")) make_room_for_jemalloc(argv);

  // Every single-thread workload, and cross_core's producer, on cpu 0.
  pin(0);
  std::vector<std::unique_ptr<Impl>> impls = find_impls(opt);
  std::vector<Row> rows;
  bool clean = true;
  {
    Progress progress(count_steps(impls, opt));
    for (int i = 0; i < kWorkloadCount; ++i) {
      const auto w = static_cast<Workload>(i);
      if (!selected(opt, w)) continue;
      for (const auto& impl : impls) {
        if (!impl->runs(w)) continue;
        progress.step(w, impl->name());
        if (!impl->open(w)) continue;
        const double ns = measure(*impl, w, opt);
        clean &= impl->close();
        rows.push_back({w, impl->name(), ns});
      }
    }
  }
  print_table(rows, opt.quick ? "ns/op = elapsed / ops, 1 run of ~0.02 s (--quick)"
                              : "ns/op = elapsed / ops, median of 3 runs of ~0.2 s");
  std::fflush(stdout);
  bool written = true;
  if (!opt.json.empty()) written &= write_json(rows, opt.json);
  if (!opt.plot.empty()) written &= plot(rows, opt.plot);
  impls.clear();  // DPDK's mempools and EAL go here
  return clean && written ? 0 : 1;
}
