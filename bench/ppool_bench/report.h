// ppool-bench output: the progress line, the table, the JSON file and the
// gnuplot chart.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "../common/rounds.h"
#include "workloads.h"

namespace ppool_bench {

// One (workload, impl): its ns per op over the rounds (ns.median is what
// the table, the ratios and the chart show).
struct Row {
  Workload workload;
  std::string impl;
  ppool::bench::Spread ns;
  // A memory backing's row: what its allocator had in huge pages (-1: not
  // read, not a backing's row).
  long long huge_backed_bytes = -1;
};

// "[i/total] workload impl ..." on stderr: rewritten in place on a
// terminal, one line per step otherwise.
class Progress {
 public:
  explicit Progress(int total);
  ~Progress() { done(); }
  void step(Workload w, const char* impl);
  void done();  // clears the line

 private:
  int total_;
  int at_ = 0;
};

// A message on stderr that does not land on top of the progress line.
void warn(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// ratio = impl ns/op / ppool ns/op for the same workload. With more than
// one round, also each row's spread and its ratio to dpdk_mempool (on
// ppool's row: ppool / DPDK, the figure the performance targets are
// set for); with one, the table of before --repeat. Then the memory backings'
// rows against their 4 KiB row, with what was in huge pages.
void print_table(const std::vector<Row>& rows, const char* how);
// An array of rows: workload, impl, ns_per_op and ops_per_sec (of the
// median), median_ns, min_ns, max_ns, rounds, and ratio_vs_dpdk (median /
// dpdk_mempool's median for the workload; null where DPDK did not run it);
// a memory backing's row (baseline_4k() names its 4 KiB row) also has
// ratio_vs_4k (median / the 4 KiB row's median; null where that did not
// run) and huge_backed_bytes (null where it was not read).
bool write_json(const std::vector<Row>& rows, const std::string& path);
// Writes a JSON array to path, one object a line: object(out, i) prints the
// i-th object. False (with a message) when the file cannot be written.
// A string in gnuplot's single quotes, where '' is a quote.
std::string gnuplot_quoted(const std::string& s);
// Draws path with gnuplot on terminal: data(out) writes the data file (a
// temporary, removed after), script(gp, quoted data file name) writes the
// commands after the terminal and the output. False (with a message) when
// the data or gnuplot failed.
bool gnuplot_draw(const std::string& path, const char* terminal,
                  const std::function<bool(FILE*)>& data,
                  const std::function<void(FILE*, const std::string&)>& script);
bool write_json_array(const std::string& path, std::size_t n,
                      const std::function<void(FILE*, std::size_t)>& object);
// Whether plot() can draw path: a .png or .svg name and gnuplot in PATH;
// says why not on stderr.
bool can_plot(const std::string& path);
// A grouped bar chart, log scale; the terminal (pngcairo or svg) follows
// the file's extension.
bool plot(const std::vector<Row>& rows, const std::string& path);

}  // namespace ppool_bench
