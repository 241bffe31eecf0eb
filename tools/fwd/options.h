// ppool-fwd's command line.
#pragma once

#include <cstdint>
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
  double seconds = 3;          // selftest duration
  unsigned packet_size = 512;  // selftest UDP payload bytes
  std::string dest_ip;         // without --selftest: where TX goes
  std::uint16_t dest_port = 0;
};

// Parses argv; on a bad argument prints why and the usage on stderr and
// returns false.
bool parse_options(int argc, char** argv, Options& options);

const char* to_string(AllocMode mode);

}  // namespace fwd
