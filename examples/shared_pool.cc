// shared_pool: a pool on a shared region, handing its pages to another
// process without copying, with a limit on what is out and the watermarks a
// driver waits on (README, "Memory: backings, zeroing, limits").
//
// The parent is the driver: its thread allocates pages, writes a message
// into each and hands it to the child; a reaper thread puts home what the
// child gives back. When the pages out reach the high watermark the driver
// stops and sleeps on the watermark's eventfd until they fall to the low one.
// The child reads each message in place and gives the page back.
//
//   shared_pool [--messages N]
//
// The last line on stdout is one JSON object: messages handed, watermark
// rises, the pool's extra stats and the pages in flight after destroy.
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "ppool/page_pool.h"
#include "ppool/share.h"

namespace {

constexpr char kUsage[] =
    "usage: shared_pool [--messages N]\n"
    "\n"
    "Hands N messages (default 200000) in pages of a shared-region pool to a\n"
    "child process, zero-copy, pausing at the pool's high watermark.\n";

// The child: reads each message in place, gives its page back.
int consume(int sock) {
  auto connected = ppool::ShareConsumer::connect(sock);
  if (!connected) {
    std::fprintf(stderr, "consumer: %s\n", connected.error().message.c_str());
    return 1;
  }
  ppool::ShareConsumer& in = *connected.value();
  ppool::ShareMsg msgs[64];
  std::uint64_t back[64];
  std::uint64_t sum = 0;
  while (!in.producer_gone()) {
    if (!in.wait_data(100)) continue;
    const std::size_t n = in.receive(msgs, 64);
    for (std::size_t i = 0; i < n; ++i) {
      sum += static_cast<unsigned char>(msgs[i].data[0]);
      back[i] = msgs[i].page;
    }
    for (std::size_t given = 0; given < n; in.wait_room(100))
      given += in.give_back(back + given, n - given);
  }
  return sum ? 0 : 1;
}

// Sleeps until the watermark's eventfd fires, then clears it.
void wait_watermark(const ppool::PagePool* pool) {
  pollfd pfd{pool->watermark_fd(), POLLIN, 0};
  std::uint64_t crossings;
  if (::poll(&pfd, 1, 100) == 1) (void)::read(pfd.fd, &crossings, sizeof crossings);
}

// The command line: --help, or --messages N (or --messages=N), N a whole
// decimal number in 1..100000000. Read here, strictly, as an example that
// stands alone must: anything else is refused with a message. nullopt to go
// on, else the exit status (0 after --help, 2 after a bad command line).
std::optional<int> parse_args(int argc, char** argv, std::uint32_t& messages) {
  constexpr unsigned long long kMax = 100000000;
  auto refuse = [](const std::string& why) {
    std::fprintf(stderr, "shared_pool: %s\n(shared_pool --help for the usage)\n", why.c_str());
    return 2;
  };
  const std::string range = "1.." + std::to_string(kMax);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const bool inline_value = arg.starts_with("--messages=");
    if (arg != "--messages" && !inline_value) {
      const char* what = arg.starts_with("-") ? "unknown option" : "unexpected argument";
      return refuse(std::string(what) + " '" + arg + "'");
    }
    if (!inline_value && i + 1 == argc) return refuse("--messages needs a value (" + range + ")");
    const std::string value = inline_value ? arg.substr(arg.find('=') + 1) : argv[++i];
    const bool digits = !value.empty() && value.size() <= 20 &&
                        value.find_first_not_of("0123456789") == std::string::npos;
    const unsigned long long n = digits ? std::strtoull(value.c_str(), nullptr, 10) : 0;
    if (!digits) return refuse("--messages: '" + value + "' is not a number in " + range);
    if (n < 1 || n > kMax) return refuse("--messages: " + value + " is not in " + range);
    messages = static_cast<std::uint32_t>(n);
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t messages = 200000;
  if (auto status = parse_args(argc, argv, messages)) return *status;

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(sv[0]);
    ::_exit(consume(sv[1]));
  }
  ::close(sv[1]);

  // 16 MiB of memfd pages the child maps too; cleared before first use.
  auto region = ppool::PageAllocator::create({.max_bytes = 16 << 20, .shared = true});
  if (!region) {
    std::fprintf(stderr, "%s\n", region.error().message.c_str());
    return 1;
  }
  ppool::PagePoolParams params;
  params.name = "shared rxq0";
  params.allocator = region.value().get();
  params.flags = ppool::kZeroPages;
  params.max_inflight = 2048;  // never more than 8 MiB out of the region
  params.inflight_high = 512;  // stop posting at 512 pages out...
  params.inflight_low = 128;   // ...restart at 128
  ppool::PagePool* pool = ppool::PagePool::create(params).value();
  auto attached = ppool::ShareProducer::attach(pool, sv[0]);
  if (!attached) {
    std::fprintf(stderr, "%s\n", attached.error().message.c_str());
    return 1;
  }
  ppool::ShareProducer& out = *attached.value();

  std::atomic<bool> stop{false};
  std::thread reaper([&] {  // pages given back go home through the pool's ring
    while (!stop.load(std::memory_order_relaxed))
      if (out.wait_returns(10)) out.reap();
  });
  std::uint32_t rises = 0;
  for (std::uint32_t sent = 0; sent < messages;) {
    if (pool->above_high_watermark()) {
      ++rises;
      while (pool->above_high_watermark()) wait_watermark(pool);
      continue;
    }
    ppool::Page* page = pool->alloc_pages();
    if (!page) continue;  // at max_inflight: the reaper brings pages home
    std::snprintf(static_cast<char*>(ppool::page_address(page)), 64, "message %u", sent);
    while (!out.hand(page, 0, 64)) out.wait_room(10);
    ++sent;
  }
  while (out.holding() && !out.peer_gone()) std::this_thread::yield();
  stop.store(true);
  reaper.join();
  ::shutdown(sv[0], SHUT_RDWR);  // the child sees the producer gone and exits
  int status = 0;
  ::waitpid(child, &status, 0);
  out.reclaim_if_gone();
  const ppool::PagePoolExtraStats extra = pool->extra_stats();
  attached.value().reset();
  const std::uint32_t inflight = ppool::PagePool::destroy(pool);
  std::printf(
      "{\"messages\": %u, \"watermark_rises\": %u, \"consumer_exit\": %d, \"extra\": %s, "
      "\"inflight_after_destroy\": %u}\n",
      messages, rises, WIFEXITED(status) ? WEXITSTATUS(status) : -1, extra.to_json().c_str(),
      inflight);
  return inflight == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
