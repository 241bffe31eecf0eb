#include "options.h"

#include <arpa/inet.h>

#include "support/args.h"

namespace fwd {
namespace {

// The layout is help2man's (man/): "Usage:" and "  or:" lines become the
// SYNOPSIS, "Options:" and "Exit status:" their sections; an option's text
// starts at one column, with its continuation lines there too, and no line
// breaks after a hyphen (help2man would join the words). The man page is
// built from this text: an option described here is described there.
constexpr const char* kUsage =
    "Usage: ppool-fwd [OPTION]... --dest IPv4:PORT\n"
    "  or:  ppool-fwd [OPTION]... --selftest\n"
    "\n"
    "A multi-queue io_uring UDP forwarder on ppool: each queue receives into pool\n"
    "pages through a provided-buffer ring and sends with zero-copy fixed-buffer\n"
    "sends.\n"
    "\n"
    "The JSON summary is stdout's last line. SIGINT or SIGTERM stops either mode: it\n"
    "cleans up and prints the JSON; a repeat 2 s or more later exits at once.\n"
    "\n"
    "Options:\n"
    "  --dest IPv4:PORT        forward what arrives on --port to IPv4:PORT until\n"
    "                          SIGINT or SIGTERM\n"
    "  --selftest              generate traffic, forward it and count it for\n"
    "                          --seconds, on loopback or, with --netns, across two\n"
    "                          namespaces and a veth pair\n"
    "  --seconds 1..86400      the selftest's length (default 3)\n"
    "  --packet-size 64..1400  the selftest's UDP payload in bytes (default 512)\n"
    "  --netns                 the selftest across two network namespaces (root)\n"
    "  --queues 1..16          queues: a thread, an io_uring, a pool and a socket\n"
    "                          each (default 2)\n"
    "  --port 1..65535         the UDP port every queue receives on (default 9000)\n"
    "  --alloc pool|malloc     receive into page pools (default), or run the same\n"
    "                          pipeline on malloc and plain sends, for comparison\n"
    "  --frags                 two packets per page (fragments) instead of one\n"
    "  --telemetry PATH|dpdk[:PREFIX]|off\n"
    "                          the telemetry socket ppool-stat reads (default:\n"
    "                          $PPOOL_TELEMETRY, else ppool-fwd-PID.sock in\n"
    "                          /run/ppool as root, $XDG_RUNTIME_DIR/ppool or\n"
    "                          /tmp/ppool-UID, made 0700; --alloc pool only);\n"
    "                          dpdk[:PREFIX]: DPDK's socket for file prefix PREFIX\n"
    "                          (default rte), where dpdk-telemetry.py -f PREFIX finds\n"
    "                          it\n"
    "  -h, --help              this text\n"
    "\n"
    "Exit status:\n"
    "  0      clean\n"
    "  1      a failure (locked memory, io_uring, port in use, pages not home)\n"
    "  2      a bad command line\n"
    "  128+N  a selftest cut short by signal N (130, 143)\n";

// IPv4:PORT, the port strictly 1..65535.
bool parse_dest(std::string_view text, Options& o) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return false;
  auto port = ppool::tools::parse_number<std::uint16_t>(text.substr(colon + 1), 1, 65535);
  std::string ip(text.substr(0, colon));
  in_addr addr{};
  if (!port || inet_pton(AF_INET, ip.c_str(), &addr) != 1) return false;
  o.dest_ip = ip;
  o.dest_port = *port;
  return true;
}

}  // namespace

const char* to_string(AllocMode mode) {
  return mode == AllocMode::kPool ? "pool" : "malloc";
}

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  ppool::tools::Args args(argc, argv, "ppool-fwd", kUsage);
  // Options that only one mode reads: given to the other, they are refused,
  // never silently ignored.
  const char* selftest_only = nullptr;
  std::string dest, alloc;
  while (args.next()) {
    if (args.number("--queues", 1, 16, o.queues)) {
    } else if (args.number("--port", 1, 65535, o.port)) {
    } else if (args.choice("--alloc", {"pool", "malloc"}, alloc)) {
      o.alloc = alloc == "malloc" ? AllocMode::kMalloc : AllocMode::kPool;
    } else if (args.text("--dest", dest)) {
      if (!dest.empty() && !parse_dest(dest, o))
        args.error("--dest: '" + dest + "' is not IPv4:PORT with PORT in 1..65535");
    } else if (args.text("--telemetry", o.telemetry)) {
    } else if (args.flag("--frags")) {
      o.frags = true;
    } else if (args.flag("--selftest")) {
      o.selftest = true;
    } else if (args.flag("--netns")) {
      o.netns = true;
      selftest_only = "--netns";
    } else if (args.number("--seconds", 1, 86400, o.seconds)) {
      selftest_only = "--seconds";
    } else if (args.number("--packet-size", 64, 1400, o.packet_size)) {
      selftest_only = "--packet-size";
    } else {
      args.unknown();
    }
  }
  if (auto status = args.exit_status()) return status;
  if (o.selftest && !o.dest_ip.empty())
    return args.error(
        "--dest and --selftest exclude each other (the selftest sends to its own sink)");
  if (!o.selftest && selftest_only)
    return args.error(std::string(selftest_only) + " needs --selftest");
  if (!o.selftest && o.dest_ip.empty()) return args.error("one of --dest or --selftest is needed");
  return std::nullopt;
}

}  // namespace fwd
