// Benchmarks only: repetitions as interleaved rounds, and what to report of
// them (ppool-bench and bench_redirect).
//
// These VMs are noisy, cross-core most of all: one run can be 3x off, and a
// slow patch of the machine lasts seconds. N runs of each contender back to
// back let such a patch land on one contender and decide the ratio; N rounds
// that run each contender once, in an order that rotates from round to round,
// spread it over all of them, and the median over the rounds drops it. The
// spread (min and max against the median) says how far to trust a ratio of
// medians: two contenders whose spreads overlap the gap between them are not
// told apart by this run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace ppool::bench {

// Which of `count` contenders runs i-th in round `round`: round r starts at
// contender r % count, so that over count rounds each runs in each position
// once (first after a pause, last before one, after each neighbour).
inline std::size_t rotated(std::size_t i, int round, std::size_t count) {
  return (i + static_cast<std::size_t>(round)) % count;
}

// What the rounds of one contender came to, in the unit they were given in.
struct Spread {
  double median = 0, min = 0, max = 0;
  int rounds = 0;
};

// values: one per round, at least one. The median of an even count is the
// mean of the two middle values.
inline Spread spread_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size(), mid = n / 2;
  return {n % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2, values.front(), values.back(),
          static_cast<int>(n)};
}

// "-1.2%/+30.5%": min and max as a change from the median, for the tables.
inline std::string spread_text(const Spread& s) {
  char text[48];
  std::snprintf(text, sizeof text, "-%.1f%%/+%.1f%%", 100 * (1 - s.min / s.median),
                100 * (s.max / s.median - 1));
  return text;
}

// "0.44x": num / den, or "-" when either side did not run (is 0).
inline std::string ratio_text(double num, double den) {
  if (num <= 0 || den <= 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2fx", num / den);
  return text;
}

}  // namespace ppool::bench
