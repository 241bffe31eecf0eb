// ppool-bench: ppool against DPDK's rte_mempool, the general allocators
// (glibc, jemalloc, mimalloc, tcmalloc) and mmap, the same workloads in one
// process on one machine (the targets are BENCHMARKS.md's).
//
//   ppool-bench [--quick] [--repeat N] [--json FILE] [--plot FILE.png|FILE.svg]
//               [--only IMPL,...] [--workloads WORKLOAD,...] [--touch-gib N]
//   ppool-bench --curves FILE.png|FILE.svg [--quick] [--repeat N] [--json FILE] [--only IMPL,...]
//
// --curves runs the curves of curves.h instead of the workloads (ppool,
// dpdk_mempool and stack unless --only says otherwise) and draws them.
//
// Each measurement is calibrated to run about 0.2 s (--quick: 0.02 s), in ns
// per op: elapsed / ops, where an op is one buffer allocated and returned.
// By default each (workload, impl) is reported as the median of 3 runs back
// to back (--quick: 1), the impls one after the other. --repeat N instead
// runs N rounds, each measuring every (workload, impl) once (open, one run,
// close) with the impls in an order that rotates from round to round, and
// reports the median over the rounds, their spread and each impl's ratio to
// DPDK: on these noisy VMs a slow patch of the machine then lands on every
// impl alike rather than on one (../common/rounds.h). The op count is
// calibrated in the first round and kept, so every round times the same work.
//
// ppool alone also runs the workloads of its memory backings (4 KiB pages,
// THP, hugetlb 2 MiB): the slow path on each (slow_path_*), pages from an
// allocator that commits fresh chunks (fresh_*), and a dependent chase over
// one random line per page of --touch-gib GiB of pool pages (touch_*; default
// 4, --quick 0.25), each reported against its 4 KiB row. The rows of one
// such family run side by side in each round, their order rotating; the
// hugetlb rows reserve their pages as root and give them back, or are
// skipped with a message.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "../common/rounds.h"
#include "impl.h"
#include "report.h"
#include "support/args.h"

namespace ppool_bench {
namespace {

constexpr const char* kImpls[] = {"ppool",    "dpdk_mempool", "stack", "glibc",   "jemalloc",
                                  "mimalloc", "tcmalloc",     "mmap",  "baseline"};
// The ladder from the stack to ppool (impl_ladder.cc): each rung adds one of
// ppool's checks. Run only when named in --only: a comparison of costs, not
// a peer.
constexpr const char* kLadder[] = {"stack_loop", "stack_tag", "stack_ref", "stack_pf",
                                   "stack_dense"};
// ppool through its C API (impl_ppool_c.cc): what the call into libppool
// costs against the inline C++ fast path. Run only when named in --only,
// as the ladder: a cost of the binding, not a peer.
constexpr const char* kPpoolC = "ppool_c";

struct Options {
  bool quick = false;
  int repeat = 1;  // rounds; 1: the 3 runs back to back of before --repeat
  std::string json, plot;
  std::string curves;               // --curves: the plot file; the curves instead of the table
  std::vector<std::string> only;    // impls; empty: all
  std::vector<Workload> workloads;  // empty: all
  double touch_gib = 0;             // 0: 4, or 0.25 with --quick
};

std::string usage() {
  std::string text =
      "usage: ppool-bench [--quick] [--repeat 1..1000] [--json FILE] [--plot FILE.png|FILE.svg]\n"
      "                   [--only IMPL,...] [--workloads WORKLOAD,...] [--touch-gib N]\n"
      "       ppool-bench --curves FILE.png|FILE.svg [--quick] [--repeat N] [--json FILE]\n"
      "                   [--only IMPL,...]\n"
      "  --repeat N: N interleaved rounds (impl order rotating), each one run per\n"
      "              (workload, impl); reports the median, the spread and the ratio\n"
      "              to dpdk_mempool (default 1: the median of 3 runs back to back)\n"
      "  --touch-gib N: GiB of pool pages the touch_* workloads chase across, on\n"
      "              each backing (0.01..32; default 4, with --quick 0.25)\n"
      "  --curves FILE.png|FILE.svg: instead of the workloads, ns per page of the cycle\n"
      "              loop as the pages in flight, the pools and the returning threads\n"
      "              grow (ppool, dpdk_mempool, stack unless --only); table on stdout,\n"
      "              rows in --json, three panels in FILE (not with --plot, --workloads)\n"
      "  impls:";
  for (const char* impl : kImpls) text += std::string(" ") + impl;
  text += std::string("\n  the C API (only when named in --only): ") + kPpoolC;
  text += "\n  ladder (only when named in --only):";
  for (const char* impl : kLadder) text += std::string(" ") + impl;
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
  auto is = [&](const char* impl) { return name == impl; };
  return is(kPpoolC) || std::any_of(std::begin(kImpls), std::end(kImpls), is) ||
         std::any_of(std::begin(kLadder), std::end(kLadder), is);
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
    } else if (args.number("--repeat", 1, 1000, opt.repeat)) {
    } else if (args.decimal("--touch-gib", 0.01, 32, opt.touch_gib)) {
    } else if (args.text("--json", opt.json) || args.text("--plot", opt.plot) ||
               args.text("--curves", opt.curves)) {
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
  if (!opt.curves.empty() && (!opt.plot.empty() || !opt.workloads.empty()))
    args.error("--curves runs the curves alone: not with --plot or --workloads");
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
  PpoolOptions ppool;
  ppool.touch_gib = opt.touch_gib > 0 ? opt.touch_gib : opt.quick ? 0.25 : 4;
  for (const std::string name : kImpls) {
    if (!selected(opt, name)) continue;
    std::unique_ptr<Impl> impl = name == "ppool"          ? make_ppool(ppool)
                                 : name == "dpdk_mempool" ? make_dpdk_mempool()
                                 : name == "stack"        ? make_stack()
                                 : name == "mmap"         ? make_mmap()
                                 : name == "baseline"     ? make_baseline()
                                                          : make_malloc(name);
    if (impl) impls.push_back(std::move(impl));
  }
  if (std::find(opt.only.begin(), opt.only.end(), kPpoolC) != opt.only.end())
    impls.push_back(make_ppool_c());
  for (const std::string name : kLadder) {
    if (std::find(opt.only.begin(), opt.only.end(), name) == opt.only.end()) continue;
    if (std::unique_ptr<Impl> impl = make_ladder(name)) impls.push_back(std::move(impl));
  }
  return impls;
}

std::uint64_t round_up(double ops) {
  const auto n = static_cast<std::uint64_t>(ops) + kOpsQuantum - 1;
  return std::max(kOpsQuantum, n - n % kOpsQuantum);
}

// One (workload, impl) across the rounds.
struct Cell {
  Workload workload;
  Impl* impl;
  std::uint64_t ops = 0;          // per run; 0 until the first round calibrates it
  std::vector<double> ns_per_op;  // one per round that opened
};

// ns per op in one round: the median of its runs (3 back to back without
// --repeat, --quick 1; with it, 1: the rounds are the repetitions). The
// first round calibrates: it doubles the op count until a run lasts a tenth
// of the target (which warms up the caches and the pool), then scales it to
// the target. Later rounds reuse the count after a warm-up of a tenth of it
// (a fresh pool's first allocations take the slow path), costing 10% more.
double measure(Cell& cell, const Options& opt) {
  Impl& impl = *cell.impl;
  const Workload w = cell.workload;
  const double target_ns = opt.quick ? 2e7 : 2e8;
  const int runs = opt.quick || opt.repeat > 1 ? 1 : 3;
  if (!cell.ops) {
    std::uint64_t ops = 4 * kOpsQuantum;
    double ns;
    while ((ns = impl.run(w, ops)) < target_ns / 10) ops *= 2;
    cell.ops = round_up(static_cast<double>(ops) * target_ns / ns);
  } else {
    impl.run(w, round_up(static_cast<double>(cell.ops) / 10));
  }
  std::vector<double> per_op;
  for (int r = 0; r < runs; ++r)
    per_op.push_back(impl.run(w, cell.ops) / static_cast<double>(cell.ops));
  return ppool::bench::spread_of(per_op).median;
}

// Every selected workload that an impl runs, workload by workload (the
// table's order): cells of one workload, and of one family, are contiguous.
std::vector<Cell> cells_of(const std::vector<std::unique_ptr<Impl>>& impls, const Options& opt) {
  std::vector<Cell> cells;
  for (int i = 0; i < kWorkloadCount; ++i) {
    const auto w = static_cast<Workload>(i);
    if (!selected(opt, w)) continue;
    for (const auto& impl : impls)
      if (impl->runs(w)) cells.push_back({w, impl.get(), 0, {}});
  }
  return cells;
}

// Runs the rounds; false when an impl did not get every buffer back.
bool run_rounds(std::vector<Cell>& cells, const Options& opt) {
  bool clean = true;
  Progress progress(static_cast<int>(cells.size()) * opt.repeat);
  for (int round = 0; round < opt.repeat; ++round)
    for (std::size_t begin = 0, end; begin < cells.size(); begin = end) {
      // A family: one workload's impls, or a backing's rows with their 4 KiB row.
      const int group = family(cells[begin].workload);
      for (end = begin; end < cells.size() && family(cells[end].workload) == group;) ++end;
      for (std::size_t i = 0; i < end - begin; ++i) {
        Cell& cell = cells[begin + ppool::bench::rotated(i, round, end - begin)];
        progress.step(cell.workload, cell.impl->name());
        if (!cell.impl->open(cell.workload)) continue;
        cell.ns_per_op.push_back(measure(cell, opt));
        clean &= cell.impl->close();
      }
    }
  return clean;
}

std::string how(const Options& opt) {
  const char* run = opt.quick ? "~0.02 s (--quick)" : "~0.2 s";
  if (opt.repeat == 1)
    return opt.quick ? std::string("ns/op = elapsed / ops, 1 run of ") + run
                     : std::string("ns/op = elapsed / ops, median of 3 runs of ") + run;
  return "ns/op = elapsed / ops, median of " + std::to_string(opt.repeat) +
         " interleaved rounds, each 1 run of " + run;
}

}  // namespace
}  // namespace ppool_bench

int main(int argc, char** argv) {
  using namespace ppool_bench;
  Options opt;
  if (auto status = parse(argc, argv, opt)) return *status;
  if (!opt.plot.empty() && !can_plot(opt.plot)) return 2;  // before, not after, the run
  if (!opt.curves.empty()) {
    if (!opt.curves.ends_with(".png") && !opt.curves.ends_with(".svg")) {
      warn("ppool-bench: --curves %s: the file must end in .png or .svg\n", opt.curves.c_str());
      return 2;
    }
    if (!can_plot(opt.curves)) return 2;  // gnuplot
    if (opt.only.empty()) opt.only = {"ppool", "dpdk_mempool", "stack"};
  }
  if (selected(opt, "jemalloc")) make_room_for_jemalloc(argv);

  // Every single-thread workload, and cross_core's producer, on cpu 0.
  pin(0);
  std::vector<std::unique_ptr<Impl>> impls = find_impls(opt);
  if (!opt.curves.empty()) return run_curves(impls, {opt.quick, opt.repeat, opt.curves, opt.json});
  std::vector<Cell> cells = cells_of(impls, opt);
  const bool clean = run_rounds(cells, opt);
  std::vector<Row> rows;
  for (const Cell& cell : cells)
    if (!cell.ns_per_op.empty())
      rows.push_back({cell.workload, cell.impl->name(), ppool::bench::spread_of(cell.ns_per_op),
                      cell.impl->huge_backed_bytes(cell.workload)});
  print_table(rows, how(opt).c_str());
  for (const auto& impl : impls)
    for (const std::string& note : impl->notes()) std::printf("# %s\n", note.c_str());
  std::fflush(stdout);
  bool written = true;
  if (!opt.json.empty()) written &= write_json(rows, opt.json);
  if (!opt.plot.empty()) written &= plot(rows, opt.plot);
  impls.clear();  // DPDK's mempools and EAL go here
  return clean && written ? 0 : 1;
}
