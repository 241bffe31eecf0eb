// tools/share/selftest.h - ppool-share --selftest.
#pragma once

#include <cstdint>
#include <vector>

namespace share_tool {

struct SelftestOptions {
  double seconds = 1.0;  // per measurement
  std::vector<std::uint32_t> sizes = {64, 1500, 65536};
  std::uint32_t ring_entries = 1024;
};

// Prints a summary, then the JSON line; 0 when every check passed.
int selftest(const SelftestOptions& options);

}  // namespace share_tool
