// ppool-share: zero-copy hand-off of pool pages to another process
// (ppool/share.h), measured against a Unix socket and a pipe.
//
//   ppool-share --selftest [--touch] [--seconds S] [--sizes 64,1500,65536]
//               [--ring N]
//
// The selftest forks a consumer process per run (fork + exec of this program
// with a hidden --consumer-fd command line, so it inherits nothing but its
// descriptors), streams through a shared pool, sends the same messages over a
// socket and a pipe, in two passes (wire.h): untouched (only each message's
// header and trailer written and checked: the transports' own cost) and
// touched (every payload byte written by the producer and read and checked by
// the consumer, as an application would: what share saves once the data is
// used); --touch runs the touched pass only. Then it kills a consumer while
// it holds pages and checks they all come home, and checks that fresh pages
// carry no stale bytes. Its last line on stdout is one JSON object; it exits
// 1 when a check fails, 2 on a bad command line.
#include <csignal>
#include <string>
#include <string_view>

#include "selftest.h"
#include "support/args.h"
#include "wire.h"

namespace {

// The layout is help2man's (man/): see tools/fwd/options.cc.
constexpr const char* kUsage =
    "Usage: ppool-share --selftest [--touch] [--seconds S] [--sizes LIST] [--ring N]\n"
    "\n"
    "Hands pool pages to another process without copying (a shared region, its memfd\n"
    "passed over a Unix socket, offsets on shared-memory rings) and compares with the\n"
    "same messages over a Unix socket and a pipe, in two passes: untouched (only each\n"
    "message's header and trailer are written and checked: the transports' own cost;\n"
    "JSON \"sizes\") and touched (the producer writes every payload byte, the consumer\n"
    "reads and checks every one; JSON \"sizes_touched\").\n"
    "\n"
    "Options:\n"
    "  --selftest     run the comparison and the checks; the last line is JSON\n"
    "  --touch        the touched pass only (\"sizes\" is then empty); needs --selftest\n"
    "  --seconds S    per measurement, 0.01..60 (default 1)\n"
    "  --sizes LIST   message sizes in bytes, comma-separated, each 64..65536\n"
    "                 (default 64,1500,65536)\n"
    "  --ring N       entries of each shared ring, a power of two in 2..65536\n"
    "                 (default 1024)\n"
    "  -h, --help     this text\n"
    "\n"
    "Exit status:\n"
    "  0  every check passed\n"
    "  1  a check failed\n"
    "  2  a bad command line\n";

// "64,1500,65536" into sizes; false on anything else.
bool parse_sizes(std::string_view text, std::vector<std::uint32_t>& sizes) {
  sizes.clear();
  while (true) {
    const std::size_t comma = text.find(',');
    auto n = ppool::tools::parse_number<std::uint32_t>(text.substr(0, comma), share_tool::kMinBytes,
                                                       share_tool::kMaxBytes);
    if (!n) return false;
    sizes.push_back(*n);
    if (comma == std::string_view::npos) return true;
    text.remove_prefix(comma + 1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  share_tool::SelftestOptions o;
  share_tool::ConsumerOptions c;
  bool selftest = false, touch = false;
  std::string sizes, transport;
  ppool::tools::Args args(argc, argv, "ppool-share", kUsage);
  while (args.next()) {
    if (args.flag("--selftest"))
      selftest = true;
    else if (args.flag("--touch"))
      touch = true;
    else if (args.decimal("--seconds", 0.01, 60, o.seconds)) {
    } else if (args.text("--sizes", sizes)) {
    } else if (args.number("--ring", 2, 65536, o.ring_entries)) {
    }
    // The consumer process's command line (spawn_consumer), not in the usage.
    else if (args.number("--consumer-fd", 0, 1 << 20, c.control_fd)) {
    } else if (args.number("--data-fd", 0, 1 << 20, c.data_fd)) {
    } else if (args.choice("--transport", {"share", "socket", "pipe"}, transport)) {
    } else if (args.number("--bytes", share_tool::kMinBytes, share_tool::kMaxBytes, c.bytes)) {
    } else if (args.number("--hold", 1, 1 << 20, c.hold)) {
    } else if (args.number("--page-bytes", 4096, 1 << 22, c.page_bytes)) {
    } else
      args.unknown();
  }
  if (auto status = args.exit_status()) return *status;
  if (!sizes.empty() && !parse_sizes(sizes, o.sizes))
    return args.error("--sizes: '" + sizes + "' is not a comma-separated list of sizes in " +
                      std::to_string(share_tool::kMinBytes) + ".." +
                      std::to_string(share_tool::kMaxBytes));
  if (o.ring_entries & (o.ring_entries - 1))
    return args.error("--ring: " + std::to_string(o.ring_entries) + " is not a power of two");

  if (c.control_fd >= 0) {
    c.transport = transport == "socket" ? share_tool::Transport::kSocket
                  : transport == "pipe" ? share_tool::Transport::kPipe
                                        : share_tool::Transport::kShare;
    c.touch = touch;
    if (!c.bytes) return args.error("--consumer-fd needs --bytes");
    if (c.transport != share_tool::Transport::kShare && c.data_fd < 0)
      return args.error("--transport " + transport + " needs --data-fd");
    return share_tool::consumer_main(c);
  }
  if (!selftest && touch) return args.error("--touch needs --selftest");
  if (!selftest) return args.error("nothing to do: pass --selftest (see --help)");
  o.untouched = !touch;
  std::signal(SIGPIPE, SIG_IGN);  // a consumer gone mid-write is an error, not a death
  return share_tool::selftest(o);
}
