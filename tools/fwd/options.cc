#include "options.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fwd {
namespace {

constexpr const char* kUsage =
    "usage: ppool-fwd [--queues 1..16] [--port P] [--alloc pool|malloc] [--frags]\n"
    "                 (--dest IP:PORT | --selftest [--seconds S] [--packet-size 64..1400] "
    "[--netns])\n"
    "A multi-queue io_uring UDP forwarder on ppool: each queue receives into pool pages\n"
    "through a provided-buffer ring and sends with zero-copy fixed-buffer sends.\n";

bool fail(const char* what, const char* arg) {
  std::fprintf(stderr, "ppool-fwd: %s '%s'\n%s", what, arg, kUsage);
  return false;
}

// A whole number in [lo, hi] from the next argument.
bool number(int argc, char** argv, int& i, long lo, long hi, long& out) {
  if (i + 1 >= argc) return fail("missing value after", argv[i]);
  char* end = nullptr;
  out = std::strtol(argv[++i], &end, 10);
  if (*end || out < lo || out > hi) return fail("bad value", argv[i]);
  return true;
}

}  // namespace

const char* to_string(AllocMode mode) {
  return mode == AllocMode::kPool ? "pool" : "malloc";
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    long n = 0;
    if (!std::strcmp(arg, "--queues")) {
      if (!number(argc, argv, i, 1, 16, n)) return false;
      o.queues = static_cast<int>(n);
    } else if (!std::strcmp(arg, "--port")) {
      if (!number(argc, argv, i, 1, 65534, n)) return false;
      o.port = static_cast<std::uint16_t>(n);
    } else if (!std::strcmp(arg, "--seconds")) {
      if (!number(argc, argv, i, 1, 3600, n)) return false;
      o.seconds = static_cast<double>(n);
    } else if (!std::strcmp(arg, "--packet-size")) {
      if (!number(argc, argv, i, 64, 1400, n)) return false;
      o.packet_size = static_cast<unsigned>(n);
    } else if (!std::strcmp(arg, "--alloc")) {
      if (i + 1 >= argc) return fail("missing value after", arg);
      const char* mode = argv[++i];
      if (!std::strcmp(mode, "pool"))
        o.alloc = AllocMode::kPool;
      else if (!std::strcmp(mode, "malloc"))
        o.alloc = AllocMode::kMalloc;
      else
        return fail("--alloc takes pool or malloc, not", mode);
    } else if (!std::strcmp(arg, "--dest")) {
      if (i + 1 >= argc) return fail("missing value after", arg);
      std::string dest = argv[++i];
      auto colon = dest.rfind(':');
      char* end = nullptr;
      long port = colon == std::string::npos ? 0 : std::strtol(dest.c_str() + colon + 1, &end, 10);
      in_addr ip{};
      if (!port || *end || port > 65535 ||
          inet_pton(AF_INET, dest.substr(0, colon).c_str(), &ip) != 1)
        return fail("--dest takes IPv4:PORT, not", argv[i]);
      o.dest_ip = dest.substr(0, colon);
      o.dest_port = static_cast<std::uint16_t>(port);
    } else if (!std::strcmp(arg, "--frags")) {
      o.frags = true;
    } else if (!std::strcmp(arg, "--selftest")) {
      o.selftest = true;
    } else if (!std::strcmp(arg, "--netns")) {
      o.netns = true;
    } else if (!std::strcmp(arg, "--help") || !std::strcmp(arg, "-h")) {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      return fail("unknown option", arg);
    }
  }
  if (o.netns && !o.selftest) return fail("--netns needs", "--selftest");
  if (!o.selftest && o.dest_ip.empty())
    return fail("one of these is needed:", "--dest or --selftest");
  return true;
}

}  // namespace fwd
