// ppool-xsk's command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace xsk {

enum class AllocMode { kPool, kStack };
// What the forwarder does with a frame: by the first UDP payload byte (mix,
// as ppool-fwd), or the same for every frame.
enum class VerdictMode { kMix, kTx, kDrop, kRedirect, kBack };

struct Options {
  int queues = 2;
  AllocMode alloc = AllocMode::kPool;
  VerdictMode verdict = VerdictMode::kMix;
  bool selftest = false;
  bool lock_umem = false;       // commit (and lock) the whole UMEM up front
  unsigned seconds = 3;         // selftest duration
  unsigned packet_size = 64;    // selftest frame bytes (Ethernet header to the end)
  unsigned gen_cpus = 0;        // selftest: trafgen processes (0: one a queue, at most one a CPU)
  std::string in_dev, out_dev;  // without --selftest: receive on in, forward out of out
  std::string next_hop;         // without --selftest: destination MAC out of out_dev
  std::string telemetry;        // --telemetry: a socket path, "off", or "" (support/telemetry.h)
};

// Parses argv. nullopt to go on; else the exit status: 0 after --help, 2
// after a bad argument.
std::optional<int> parse_options(int argc, char** argv, Options& options);

const char* to_string(AllocMode mode);
const char* to_string(VerdictMode mode);

}  // namespace xsk
