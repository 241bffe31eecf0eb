#include "report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string_view>

namespace ppool_bench {
namespace {

bool g_line_shown = false;  // a progress line is on the terminal

bool stderr_is_tty() {
  static const bool tty = isatty(STDERR_FILENO);
  return tty;
}

void clear_line() {
  if (g_line_shown) std::fputs("\r\033[K", stderr);
  g_line_shown = false;
}

// impl's median ns/op for w, or 0 when it did not run w.
double median_ns(const std::vector<Row>& rows, Workload w, const char* impl) {
  for (const Row& row : rows)
    if (row.workload == w && row.impl == impl) return row.ns.median;
  return 0;
}

// A backing row's median against its 4 KiB row's (ppool's), 0 when either
// did not run or the row is not a backing's.
double ratio_vs_4k(const std::vector<Row>& rows, const Row& row) {
  const std::optional<Workload> base = baseline_4k(row.workload);
  if (!base || row.impl != "ppool") return 0;
  const double base_ns = median_ns(rows, *base, "ppool");
  return base_ns > 0 ? row.ns.median / base_ns : 0;
}

// "4104 MiB".
std::string huge_text(long long bytes) {
  char text[48];
  std::snprintf(text, sizeof text, "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

// The memory backings' rows against their 4 KiB rows.
void print_backings(const std::vector<Row>& rows) {
  bool header = false;
  for (const Row& row : rows) {
    const std::optional<Workload> base = baseline_4k(row.workload);
    if (!base || row.impl != "ppool") continue;
    if (!header) {
      std::printf(
          "# memory backings (ppool): ns/op against the 4 KiB row (below 1.00x: faster; "
          "speedup = 4 KiB / this), huge_backed_bytes after the pages were taken\n");
      std::printf("%-18s %10s %10s %9s %9s  %s\n", "workload", "ns/op", "vs 4 KiB", "ratio",
                  "speedup", "huge_backed_bytes");
      header = true;
    }
    const double ratio = ratio_vs_4k(rows, row);
    std::string huge = "-";
    if (row.huge_backed_bytes >= 0) {
      huge = std::to_string(row.huge_backed_bytes) + " (" + huge_text(row.huge_backed_bytes) + ")";
      if (row.huge_backed_bytes == 0 && std::string_view(to_string(row.workload)).ends_with("_thp"))
        huge += ": THP did not materialise, the row measures 4 KiB pages";
    }
    std::printf("%-18s %10.2f %10s %9s %9s  %s\n", to_string(row.workload), row.ns.median,
                to_string(*base), ratio > 0 ? ppool::bench::ratio_text(ratio, 1).c_str() : "-",
                ratio > 0 ? ppool::bench::ratio_text(1, ratio).c_str() : "-", huge.c_str());
  }
}

// The impls in the order they first appear: the chart's columns.
std::vector<std::string> impls_of(const std::vector<Row>& rows) {
  std::vector<std::string> impls;
  for (const Row& row : rows) {
    bool seen = false;
    for (const std::string& impl : impls) seen |= impl == row.impl;
    if (!seen) impls.push_back(row.impl);
  }
  return impls;
}

// gnuplot's terminal for the file's extension, nullptr when there is none.
const char* terminal_for(const std::string& path) {
  if (path.ends_with(".png")) return "pngcairo size 1400,700";
  if (path.ends_with(".svg")) return "svg size 1400,700 dynamic";
  return nullptr;
}

bool gnuplot_found() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && access((dir + "/gnuplot").c_str(), X_OK) == 0) return true;
  return false;
}

// Workloads as rows, impls as columns, "-" where an impl did not run.
bool write_plot_data(const std::vector<Row>& rows, const std::vector<std::string>& impls,
                     FILE* out) {
  std::fprintf(out, "workload");
  for (const std::string& impl : impls) std::fprintf(out, " %s", impl.c_str());
  std::fprintf(out, "\n");
  for (int w = 0; w < kWorkloadCount; ++w) {
    std::vector<double> ns(impls.size(), 0);
    bool any = false;
    for (const Row& row : rows)
      for (std::size_t i = 0; i < impls.size(); ++i)
        if (static_cast<int>(row.workload) == w && row.impl == impls[i]) {
          ns[i] = row.ns.median;
          any = true;
        }
    if (!any) continue;
    std::fprintf(out, "%s", to_string(static_cast<Workload>(w)));
    for (double v : ns) v > 0 ? std::fprintf(out, " %.4g", v) : std::fprintf(out, " -");
    std::fprintf(out, "\n");
  }
  return std::fflush(out) == 0;
}

}  // namespace

Progress::Progress(int total) : total_(total) {}

void Progress::step(Workload w, const char* impl) {
  ++at_;
  if (stderr_is_tty()) {
    std::fprintf(stderr, "\r\033[K[%d/%d] %s %s ...", at_, total_, to_string(w), impl);
    g_line_shown = true;
  } else {
    std::fprintf(stderr, "[%d/%d] %s %s\n", at_, total_, to_string(w), impl);
  }
}

void Progress::done() {
  clear_line();
}

void warn(const char* fmt, ...) {
  clear_line();
  va_list args;
  va_start(args, fmt);
  std::vfprintf(stderr, fmt, args);
  va_end(args);
}

void print_table(const std::vector<Row>& rows, const char* how) {
  const bool several_rounds =
      std::any_of(rows.begin(), rows.end(), [](const Row& row) { return row.ns.rounds > 1; });
  std::printf("# %s\n", how);
  std::printf(
      "# ratio = impl ns/op / ppool ns/op for the same workload (0.50x: half of ppool's "
      "time, 2.00x: twice)\n");
  if (several_rounds)
    std::printf(
        "# spread = the fastest and the slowest round against the median; vs dpdk = impl "
        "ns/op / dpdk_mempool ns/op\n");
  std::printf("%-15s %-13s %10s %10s %9s", "workload", "impl", "ns/op", "Mops/s", "ratio");
  if (several_rounds) std::printf(" %15s %9s", "spread", "vs dpdk");
  std::printf("\n");
  for (const Row& row : rows) {
    const double ns = row.ns.median;
    std::printf("%-15s %-13s %10.2f %10.2f %9s", to_string(row.workload), row.impl.c_str(), ns,
                1e3 / ns,
                ppool::bench::ratio_text(ns, median_ns(rows, row.workload, "ppool")).c_str());
    if (several_rounds)
      std::printf(
          " %15s %9s", ppool::bench::spread_text(row.ns).c_str(),
          ppool::bench::ratio_text(ns, median_ns(rows, row.workload, "dpdk_mempool")).c_str());
    std::printf("\n");
  }
  print_backings(rows);
}

bool write_json_array(const std::string& path, std::size_t n,
                      const std::function<void(FILE*, std::size_t)>& object) {
  FILE* out = std::fopen(path.c_str(), "w");
  if (!out) {
    warn("ppool-bench: cannot write %s\n", path.c_str());
    return false;
  }
  std::fprintf(out, "[\n");
  for (std::size_t i = 0; i < n; ++i) {
    std::fprintf(out, "  ");
    object(out, i);
    std::fprintf(out, "%s\n", i + 1 < n ? "," : "");
  }
  std::fprintf(out, "]\n");
  return std::fclose(out) == 0;
}

bool write_json(const std::vector<Row>& rows, const std::string& path) {
  return write_json_array(path, rows.size(), [&](FILE* out, std::size_t i) {
    const Row& row = rows[i];
    const double dpdk = median_ns(rows, row.workload, "dpdk_mempool");
    char ratio[32] = "null";
    if (dpdk > 0) std::snprintf(ratio, sizeof ratio, "%.6g", row.ns.median / dpdk);
    // A memory backing's row: against its 4 KiB row, and its huge pages.
    std::string backing;
    if (baseline_4k(row.workload) && row.impl == "ppool") {
      const double vs_4k = ratio_vs_4k(rows, row);
      char text[96];
      std::snprintf(text, sizeof text, ", \"ratio_vs_4k\": %.6g", vs_4k);
      backing = vs_4k > 0 ? text : ", \"ratio_vs_4k\": null";
      backing += ", \"huge_backed_bytes\": ";
      backing += row.huge_backed_bytes >= 0 ? std::to_string(row.huge_backed_bytes) : "null";
    }
    std::fprintf(out,
                 "{\"workload\": \"%s\", \"impl\": \"%s\", \"ns_per_op\": %.6g, "
                 "\"ops_per_sec\": %.6g, \"median_ns\": %.6g, \"min_ns\": %.6g, "
                 "\"max_ns\": %.6g, \"rounds\": %d, \"ratio_vs_dpdk\": %s%s}",
                 to_string(row.workload), row.impl.c_str(), row.ns.median, 1e9 / row.ns.median,
                 row.ns.median, row.ns.min, row.ns.max, row.ns.rounds, ratio, backing.c_str());
  });
}

bool can_plot(const std::string& path) {
  if (!terminal_for(path)) {
    warn("ppool-bench: --plot %s: the file must end in .png or .svg\n", path.c_str());
    return false;
  }
  if (!gnuplot_found()) {
    warn(
        "ppool-bench: --plot needs gnuplot, not found in PATH (Debian: apt install "
        "gnuplot-nox)\n");
    return false;
  }
  return true;
}

std::string gnuplot_quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

bool gnuplot_draw(const std::string& path, const char* terminal,
                  const std::function<bool(FILE*)>& data,
                  const std::function<void(FILE*, const std::string&)>& script) {
  const char* tmpdir = std::getenv("TMPDIR");
  std::string file = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/ppool-bench-XXXXXX";
  const int fd = mkstemp(file.data());
  FILE* out = fd >= 0 ? fdopen(fd, "w") : nullptr;
  if (!out) {
    warn("ppool-bench: cannot create a temporary file for gnuplot\n");
    return false;
  }
  bool ok = data(out);
  ok &= std::fclose(out) == 0;
  FILE* gp = ok ? popen("gnuplot", "w") : nullptr;
  if (gp) {
    std::fprintf(gp, "set terminal %s noenhanced font ',11'\nset output %s\n", terminal,
                 gnuplot_quoted(path).c_str());
    script(gp, gnuplot_quoted(file));
    ok = pclose(gp) == 0;
  } else {
    ok = false;
  }
  std::remove(file.c_str());
  if (!ok) warn("ppool-bench: gnuplot failed to draw %s\n", path.c_str());
  return ok;
}

bool plot(const std::vector<Row>& rows, const std::string& path) {
  if (!can_plot(path)) return false;
  const std::vector<std::string> impls = impls_of(rows);
  return gnuplot_draw(
      path, terminal_for(path), [&](FILE* out) { return write_plot_data(rows, impls, out); },
      [&](FILE* gp, const std::string& data) {
        std::fprintf(gp,
                     "set title 'ppool-bench: ns per op (4096-byte buffers), log scale, lower is "
                     "better'\n"
                     "set datafile missing '-'\n"
                     "set style data histograms\n"
                     "set style histogram clustered gap 1\n"
                     "set style fill solid 0.9 border -1\n"
                     "set logscale y\n"
                     "set ylabel 'ns/op'\n"
                     "set grid ytics mytics\n"
                     "set xtics rotate by -30\n"
                     "set key outside right top\n"
                     "plot for [i=2:%zu] %s using i:xtic(1) title columnheader(i)\n",
                     impls.size() + 1, data.c_str());
      });
}

}  // namespace ppool_bench
