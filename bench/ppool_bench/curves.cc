// ppool-bench --curves: the curves' rounds, their table, JSON and plot.
#include "curves.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../common/rounds.h"
#include "impl.h"
#include "report.h"

namespace ppool_bench {
namespace {

constexpr const char* kAxisNames[kAxisCount] = {"inflight", "pools", "threads"};

// What grows on each axis and what holds still: the table's header, and
// each panel's (shorter) title.
constexpr const char* kAxisText[kAxisCount] = {
    "pages in flight (one pool, one thread)",
    "pools of one owner, bursts round-robin (16 Ki in flight in all)",
    "threads returning every page (16 Ki in flight; all on cpu 1: above 1 they time-slice it)",
};
constexpr const char* kAxisTitles[kAxisCount] = {
    "pages in flight (one pool, one thread)",
    "pools of one owner (16 Ki in flight)",
    "returning threads (16 Ki in flight, all on cpu 1)",
};

// One (point, impl) across the rounds.
struct Cell {
  CurvePoint point;
  Impl* impl;
  std::uint64_t ops = 0;          // per run; 0 until the first round calibrates it
  std::vector<double> ns_per_op;  // one per round that opened
};

std::uint64_t round_up(double ops) {
  const auto n = static_cast<std::uint64_t>(ops) + kOpsQuantum - 1;
  return std::max(kOpsQuantum, n - n % kOpsQuantum);
}

// As the workloads' (main.cc): the first round calibrates the op count to
// the target, doubling it until a run lasts a tenth of it; later rounds
// reuse it, with no warm-up run: each run turns its FIFO once untimed (a
// warm-up run would cost another fill, 0.6 s for ppool at 256 Ki).
double measure(Cell& cell, const CurveOptions& opt) {
  Impl& impl = *cell.impl;
  const double target_ns = opt.quick ? 2e7 : 2e8;
  const int runs = opt.quick || opt.repeat > 1 ? 1 : 3;
  if (!cell.ops) {
    // From a turn of the FIFO: each run also fills, turns and drains it.
    std::uint64_t ops = std::max<std::uint64_t>(4 * kOpsQuantum, inflight_of(cell.point));
    double ns;
    while ((ns = impl.run_point(cell.point, ops)) < target_ns / 10) ops *= 2;
    cell.ops = round_up(static_cast<double>(ops) * target_ns / ns);
  }
  std::vector<double> per_op;
  for (int r = 0; r < runs; ++r)
    per_op.push_back(impl.run_point(cell.point, cell.ops) / static_cast<double>(cell.ops));
  return ppool::bench::spread_of(per_op).median;
}

// "[i/total] curve x impl" on stderr, one line per step.
void progress(int at, int total, const Cell& cell) {
  std::fprintf(stderr, "[%d/%d] curve %s %u %s\n", at, total, to_string(cell.point.axis),
               cell.point.x, cell.impl->name());
}

// The points in order, each point's impls rotating from round to round.
bool run_rounds(std::vector<Cell>& cells, const CurveOptions& opt) {
  bool clean = true;
  int at = 0;
  const int total = static_cast<int>(cells.size()) * opt.repeat;
  for (int round = 0; round < opt.repeat; ++round)
    for (std::size_t begin = 0, end; begin < cells.size(); begin = end) {
      const CurvePoint p = cells[begin].point;
      for (end = begin;
           end < cells.size() && cells[end].point.axis == p.axis && cells[end].point.x == p.x;)
        ++end;
      for (std::size_t i = 0; i < end - begin; ++i) {
        Cell& cell = cells[begin + ppool::bench::rotated(i, round, end - begin)];
        progress(++at, total, cell);
        if (!cell.impl->open_point(cell.point)) continue;
        cell.ns_per_op.push_back(measure(cell, opt));
        clean &= cell.impl->close();
      }
    }
  return clean;
}

struct CurveRow {
  CurvePoint point;
  std::string impl;
  ppool::bench::Spread ns;
};

// impl's median at p, 0 when it did not run p.
double median_at(const std::vector<CurveRow>& rows, const CurvePoint& p, const char* impl) {
  for (const CurveRow& row : rows)
    if (row.point.axis == p.axis && row.point.x == p.x && row.impl == impl) return row.ns.median;
  return 0;
}

void print_table(const std::vector<CurveRow>& rows, const CurveOptions& opt) {
  std::printf(
      "# curves: ns per page (one alloc and one put) of the cycle loop, bursts of 64; "
      "%s\n",
      opt.repeat > 1 ? ("median of " + std::to_string(opt.repeat) +
                        " interleaved rounds, each 1 run of " + (opt.quick ? "~0.02 s" : "~0.2 s"))
                           .c_str()
                     : (opt.quick ? "1 run of ~0.02 s (--quick)" : "median of 3 runs of ~0.2 s"));
  for (int a = 0; a < kAxisCount; ++a) std::printf("# %-9s %s\n", kAxisNames[a], kAxisText[a]);
  std::printf(
      "# the machine's cpus: %ld; threads: the returning threads share cpu 1 (the owner is on "
      "cpu 0), so above 1 the curve is contention on the rings plus scheduling, not parallel "
      "speed\n",
      sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-9s %8s %-13s %10s %15s %9s\n", "curve", "x", "impl", "ns/page", "spread",
              "vs dpdk");
  for (const CurveRow& row : rows)
    std::printf("%-9s %8u %-13s %10.2f %15s %9s\n", to_string(row.point.axis), row.point.x,
                row.impl.c_str(), row.ns.median, ppool::bench::spread_text(row.ns).c_str(),
                ppool::bench::ratio_text(row.ns.median, median_at(rows, row.point, "dpdk_mempool"))
                    .c_str());
}

bool write_json(const std::vector<CurveRow>& rows, const std::string& path) {
  return write_json_array(path, rows.size(), [&](FILE* out, std::size_t i) {
    const CurveRow& row = rows[i];
    const double dpdk = median_at(rows, row.point, "dpdk_mempool");
    char ratio[32] = "null";
    if (dpdk > 0) std::snprintf(ratio, sizeof ratio, "%.6g", row.ns.median / dpdk);
    std::fprintf(out,
                 "{\"curve\": \"%s\", \"x\": %u, \"impl\": \"%s\", \"ns_per_page\": %.6g, "
                 "\"median_ns\": %.6g, \"min_ns\": %.6g, \"max_ns\": %.6g, \"rounds\": %d, "
                 "\"ratio_vs_dpdk\": %s}",
                 to_string(row.point.axis), row.point.x, row.impl.c_str(), row.ns.median,
                 row.ns.median, row.ns.min, row.ns.max, row.ns.rounds, ratio);
  });
}

// "256", "4 Ki", "256 Ki".
std::string x_label(unsigned x) {
  return x >= 1024 && x % 1024 == 0 ? std::to_string(x / 1024) + " Ki" : std::to_string(x);
}

// One block per axis (gnuplot's index), its points as rows, the impls as
// columns ("-" where one did not run).
void write_plot_data(const std::vector<CurveRow>& rows, const std::vector<std::string>& impls,
                     FILE* out) {
  const std::vector<CurvePoint> points = curve_points();
  for (int a = 0; a < kAxisCount; ++a) {
    if (a) std::fprintf(out, "\n\n");
    std::fprintf(out, "x");
    for (const std::string& impl : impls) std::fprintf(out, " %s", impl.c_str());
    std::fprintf(out, "\n");
    for (const CurvePoint& p : points) {
      if (static_cast<int>(p.axis) != a) continue;
      std::fprintf(out, "%u", p.x);
      for (const std::string& impl : impls) {
        const double ns = median_at(rows, p, impl.c_str());
        ns > 0 ? std::fprintf(out, " %.4g", ns) : std::fprintf(out, " -");
      }
      std::fprintf(out, "\n");
    }
  }
}

bool plot(const std::vector<CurveRow>& rows, const std::string& path) {
  std::vector<std::string> impls;
  for (const CurveRow& row : rows)
    if (std::find(impls.begin(), impls.end(), row.impl) == impls.end()) impls.push_back(row.impl);
  const char* terminal =
      path.ends_with(".png") ? "pngcairo size 1800,600" : "svg size 1800,600 dynamic";
  return gnuplot_draw(
      path, terminal,
      [&](FILE* out) {
        write_plot_data(rows, impls, out);
        return true;
      },
      [&](FILE* gp, const std::string& data) {
        std::fprintf(gp,
                     "set datafile missing '-'\n"
                     "set multiplot layout 1,3 title 'ppool-bench curves: ns per page of the "
                     "cycle loop (bursts of 64), lower is better'\n"
                     "set logscale x 2\n"
                     "set yrange [0:*]\n"
                     "set ylabel 'ns/page'\n"
                     "set grid\n"
                     "set key top left\n");
        const std::vector<CurvePoint> points = curve_points();
        for (int a = 0; a < kAxisCount; ++a) {
          std::string tics;
          unsigned lo = 0, hi = 0;
          for (const CurvePoint& p : points)
            if (static_cast<int>(p.axis) == a) {
              tics +=
                  (tics.empty() ? "" : ", ") + ("'" + x_label(p.x) + "' " + std::to_string(p.x));
              lo = lo ? lo : p.x;
              hi = p.x;
            }
          // Room around the first and the last point, so that neither sits on the border.
          std::fprintf(gp,
                       "set title '(%c) %s'\n"
                       "set xlabel '%s'\n"
                       "set xrange [%g:%g]\n"
                       "set xtics (%s)\n"
                       "plot for [i=2:%zu] %s index %d using 1:i with linespoints lw 2 "
                       "title columnheader(i)\n",
                       'a' + a, kAxisTitles[a], kAxisNames[a], lo / 1.3, hi * 1.3, tics.c_str(),
                       impls.size() + 1, data.c_str(), a);
        }
        std::fprintf(gp, "unset multiplot\n");
      });
}

}  // namespace

const char* to_string(Axis axis) {
  return kAxisNames[static_cast<int>(axis)];
}

std::vector<CurvePoint> curve_points() {
  std::vector<CurvePoint> points;
  for (unsigned x = 256; x <= 262144; x *= 4) points.push_back({Axis::kInflight, x});
  for (unsigned x = 1; x <= 64; x *= 2) points.push_back({Axis::kPools, x});
  for (unsigned x = 1; x <= 8; ++x) points.push_back({Axis::kThreads, x});
  return points;
}

int run_curves(const std::vector<std::unique_ptr<Impl>>& impls, const CurveOptions& opt) {
  std::vector<Cell> cells;
  for (const CurvePoint& p : curve_points())
    for (const auto& impl : impls)
      if (impl->runs_point(p)) cells.push_back({p, impl.get(), 0, {}});
  const bool clean = run_rounds(cells, opt);
  std::vector<CurveRow> rows;
  for (const Cell& cell : cells)
    if (!cell.ns_per_op.empty())
      rows.push_back({cell.point, cell.impl->name(), ppool::bench::spread_of(cell.ns_per_op)});
  print_table(rows, opt);
  for (const auto& impl : impls) {
    bool any = false;
    for (const Cell& cell : cells) any |= cell.impl == impl.get();
    if (!any) std::printf("# %s runs no curve\n", impl->name());
  }
  for (const auto& impl : impls)
    for (const std::string& note : impl->notes()) std::printf("# %s\n", note.c_str());
  for (const CurvePoint& p : curve_points())
    for (const auto& impl : impls)
      if (impl->runs_point(p) && !median_at(rows, p, impl->name()))
        std::printf("# %s %u: %s did not open (see stderr)\n", to_string(p.axis), p.x,
                    impl->name());
  std::fflush(stdout);
  bool written = true;
  if (!opt.json.empty()) written &= write_json(rows, opt.json);
  written &= plot(rows, opt.path);
  return clean && written ? 0 : 1;
}

}  // namespace ppool_bench
