// tools/share/selftest.h - ppool-share --selftest.
#pragma once

#include <cstdint>
#include <vector>

namespace share_tool {

struct SelftestOptions {
  double seconds = 1.0;  // per measurement
  std::vector<std::uint32_t> sizes = {64, 1500, 65536};
  std::uint32_t ring_entries = 1024;
  // The passes (wire.h): untouched (header and trailer only) and touched
  // (every payload byte written and checked); --touch runs the touched only.
  bool untouched = true, touched = true;
};

// Prints a summary, then the JSON line; 0 when every check passed.
int selftest(const SelftestOptions& options);

}  // namespace share_tool
