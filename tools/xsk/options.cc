#include "options.h"

#include "support/args.h"

namespace xsk {
namespace {

// The layout is help2man's (man/): see tools/fwd/options.cc.
constexpr const char* kUsage =
    "Usage: ppool-xsk [OPTION]... --in IFACE --out IFACE [--next-hop MAC]\n"
    "  or:  ppool-xsk [OPTION]... --selftest\n"
    "\n"
    "An AF_XDP forwarder on ppool: each queue has a thread, an AF_XDP socket on the\n"
    "receiving interface and one on the sending interface (sharing one UMEM), and a\n"
    "page pool whose pages are the UMEM's frames. An XDP program redirects every\n"
    "frame to its queue's socket. Needs root (CAP_NET_ADMIN, CAP_BPF; no bpffs) and,\n"
    "for the selftest, iproute2 and trafgen (Debian package netsniff-ng).\n"
    "\n"
    "The JSON summary is stdout's last line. SIGINT or SIGTERM stops either mode and\n"
    "cleans up (namespaces included); a repeat 2 s or more later exits at once.\n"
    "\n"
    "Options:\n"
    "  --in IFACE              forward what arrives on IFACE until SIGINT or SIGTERM\n"
    "  --out IFACE             the interface forwarded frames leave by\n"
    "  --next-hop MAC          the destination MAC written into forwarded frames\n"
    "  --selftest              three network namespaces and two veth pairs:\n"
    "                          netsniff-ng's trafgen sends UDP into the forwarder, a\n"
    "                          sink counts what arrives; runs --seconds and removes\n"
    "                          everything it made\n"
    "  --seconds 1..86400      the selftest's length (default 3)\n"
    "  --packet-size 64..1400  the selftest's frames in bytes, from the Ethernet\n"
    "                          header to the end (default 64)\n"
    "  --gen-cpus 1..16        the selftest's trafgen processes (default: one a\n"
    "                          queue, at most one a CPU)\n"
    "  --queues 1..16          queues (default 2)\n"
    "  --alloc pool|stack      frames from page pools (default), or the same pipeline\n"
    "                          on a free-frame stack (the style of libxdp's\n"
    "                          examples), for comparison\n"
    "  --verdict mix|tx|drop|redirect|back\n"
    "                          mix (default): by the first UDP payload byte, as\n"
    "                          ppool-fwd: 1 in 16 dropped, 1 in 4 redirected to the\n"
    "                          next queue, 1 in 16 sent back out of the receiving\n"
    "                          interface, the rest forwarded out of --out; or one\n"
    "                          verdict for every frame\n"
    "  --lock-umem             commit and lock the whole UMEM up front (default:\n"
    "                          committed as the working set grows, and the JSON says\n"
    "                          how much)\n"
    "  --telemetry PATH|dpdk[:PREFIX]|off\n"
    "                          the telemetry socket ppool-stat reads (default:\n"
    "                          $PPOOL_TELEMETRY, else ppool-xsk-PID.sock in\n"
    "                          /run/ppool as root, $XDG_RUNTIME_DIR/ppool or\n"
    "                          /tmp/ppool-UID, made 0700; --alloc pool only);\n"
    "                          dpdk[:PREFIX]: DPDK's socket for file prefix PREFIX\n"
    "                          (default rte), where dpdk-telemetry.py -f PREFIX finds\n"
    "                          it\n"
    "  -h, --help              this text\n"
    "\n"
    "Exit status:\n"
    "  0      clean\n"
    "  1      a failure (setup, frames lost, frames not home)\n"
    "  2      a bad command line\n"
    "  77     a missing capability or tool (the selftest cannot run here)\n"
    "  128+N  a selftest cut short by signal N (130, 143)\n";

bool valid_mac(const std::string& text) {
  if (text.size() != 17) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (i % 3 == 2 ? c != ':' : !hex) return false;
  }
  return true;
}

}  // namespace

const char* to_string(AllocMode mode) {
  return mode == AllocMode::kPool ? "pool" : "stack";
}

const char* to_string(VerdictMode mode) {
  switch (mode) {
    case VerdictMode::kTx:
      return "tx";
    case VerdictMode::kDrop:
      return "drop";
    case VerdictMode::kRedirect:
      return "redirect";
    case VerdictMode::kBack:
      return "back";
    default:
      return "mix";
  }
}

std::optional<int> parse_options(int argc, char** argv, Options& o) {
  ppool::tools::Args args(argc, argv, "ppool-xsk", kUsage);
  const char* selftest_only = nullptr;
  const char* forward_only = nullptr;
  std::string alloc, verdict;
  while (args.next()) {
    if (args.number("--queues", 1, 16, o.queues)) {
    } else if (args.choice("--alloc", {"pool", "stack"}, alloc)) {
      o.alloc = alloc == "stack" ? AllocMode::kStack : AllocMode::kPool;
    } else if (args.choice("--verdict", {"mix", "tx", "drop", "redirect", "back"}, verdict)) {
      o.verdict = verdict == "tx"         ? VerdictMode::kTx
                  : verdict == "drop"     ? VerdictMode::kDrop
                  : verdict == "redirect" ? VerdictMode::kRedirect
                  : verdict == "back"     ? VerdictMode::kBack
                                          : VerdictMode::kMix;
    } else if (args.flag("--lock-umem")) {
      o.lock_umem = true;
    } else if (args.flag("--selftest")) {
      o.selftest = true;
    } else if (args.number("--seconds", 1, 86400, o.seconds)) {
      selftest_only = "--seconds";
    } else if (args.number("--packet-size", 64, 1400, o.packet_size)) {
      selftest_only = "--packet-size";
    } else if (args.number("--gen-cpus", 1, 16, o.gen_cpus)) {
      selftest_only = "--gen-cpus";
    } else if (args.text("--in", o.in_dev)) {
      forward_only = "--in";
    } else if (args.text("--out", o.out_dev)) {
      forward_only = "--out";
    } else if (args.text("--telemetry", o.telemetry)) {
    } else if (args.text("--next-hop", o.next_hop)) {
      forward_only = "--next-hop";
      if (!o.next_hop.empty() && !valid_mac(o.next_hop))
        args.error("--next-hop: '" + o.next_hop + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
    } else {
      args.unknown();
    }
  }
  if (auto status = args.exit_status()) return status;
  if (o.selftest && forward_only)
    return args.error(std::string(forward_only) +
                      " and --selftest exclude each other (the selftest makes its own interfaces)");
  if (!o.selftest && selftest_only)
    return args.error(std::string(selftest_only) + " needs --selftest");
  if (!o.selftest && (o.in_dev.empty() || o.out_dev.empty()))
    return args.error("one of --selftest or --in IFACE --out IFACE is needed");
  for (const std::string* dev : {&o.in_dev, &o.out_dev})
    if (dev->size() >= 16) return args.error("interface name '" + *dev + "' is too long");
  return std::nullopt;
}

}  // namespace xsk
