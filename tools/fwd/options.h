// ppool-fwd's command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fwd {

enum class AllocMode { kPool, kMalloc };

struct Options {
  int queues = 2;
  std::uint16_t port = 9000;  // the forwarder's UDP port (SO_REUSEPORT, one socket a queue)
  AllocMode alloc = AllocMode::kPool;
  bool frags = false;          // two fragments per page instead of a page per packet
  bool selftest = false;       // run the built-in generator and sink
  bool netns = false;          // selftest across two network namespaces and a veth pair
  unsigned seconds = 3;        // selftest duration
  unsigned packet_size = 512;  // selftest UDP payload bytes
  std::string dest_ip;         // without --selftest: where TX goes
  std::uint16_t dest_port = 0;
  std::string telemetry;  // --telemetry: a socket path, "off", or "" (support/telemetry.h)

  // Sizes, not options: the defaults, or what fit_locked_memory() (see
  // forwarder.h) leaves room for.
  unsigned rx_buffers = 512;      // provided receive buffers a queue (a power of two)
  unsigned device_slots = 16384;  // pages the io_uring device may have mapped at once
  unsigned window = 1024;         // selftest: packets the generator keeps in flight at most
};

// Parses argv. nullopt to go on; else the exit status: 0 after --help (the
// usage on stdout), 2 after a bad argument (what was wrong on stderr).
std::optional<int> parse_options(int argc, char** argv, Options& options);

const char* to_string(AllocMode mode);

}  // namespace fwd
