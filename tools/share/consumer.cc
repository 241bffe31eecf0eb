// The consumer process of ppool-share's selftest (ppool-share --consumer-fd
// N ..., exec'd by the selftest: it inherits nothing but its descriptors).
//
// share:        maps the region, checks each message in place, gives the
//               pages back in bulk.
// socket, pipe: read()s in big chunks into one buffer and checks each
//               message there.
// All three check the same header and trailer (wire.h) and, with --touch
// (the touched pass), read and check every payload byte as well; then they
// send a Report on the control socket after the end marker.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <vector>

#include "ppool/share.h"
#include "wire.h"

namespace share_tool {
namespace {

bool send_report(int fd, const Report& report) {
  ssize_t n;
  do {
    n = ::write(fd, &report, sizeof report);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof report);
}

// Marks in [page, page + page_bytes) outside [data, data + len).
std::uint64_t stale_marks(const std::byte* page, std::size_t page_bytes, const std::byte* data,
                          std::uint32_t len) {
  auto count = [](const std::byte* from, const std::byte* to) {
    return static_cast<std::uint64_t>(std::count(from, to, std::byte{kMark}));
  };
  return count(page, data) + count(data + len, page + page_bytes);
}

int consume_share(const ConsumerOptions& o) {
  auto connected = ppool::ShareConsumer::connect(o.control_fd, 10000);
  if (!connected) {
    std::fprintf(stderr, "ppool-share consumer: %s\n", connected.error().message.c_str());
    return 3;
  }
  ppool::ShareConsumer& c = *connected.value();
  Report report{};
  std::uint64_t expected = 0;
  bool done = false, reported = false;
  ppool::ShareMsg msgs[64];
  std::uint64_t back[64];
  while (!done) {
    const std::size_t n = c.receive(msgs, 64);
    if (!n) {
      if (!c.wait_data(10) && c.producer_gone()) {
        std::fprintf(stderr, "ppool-share consumer: the producer went away\n");
        return 3;
      }
      continue;
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const ppool::ShareMsg& m = msgs[i];
      std::uint64_t seq = 0;
      if (m.len != o.bytes || !check(m.data, m.len, &seq) || (seq != expected && seq != kEndSeq))
        ++report.bad;
      if (o.touch && m.len == o.bytes && !check_payload(m.data, m.len, seq)) ++report.payload_bad;
      if (o.page_bytes)
        report.stale_bytes += stale_marks(c.region_base() + m.page, o.page_bytes, m.data, m.len);
      if (seq == kEndSeq) {
        done = true;
      } else {
        ++report.messages;
        expected = seq + 1;
      }
      if (o.hold && seq != kEndSeq && seq >= o.hold)
        ++report.held;  // kept: the producer kills us while we hold it
      else
        back[k++] = m.page;
    }
    for (std::size_t given = 0; given < k;) {
      given += c.give_back(back + given, k - given);
      if (given < k && !c.wait_room(10) && c.producer_gone()) return 3;
    }
    if (o.hold && report.held >= o.hold && !reported) {
      if (!send_report(o.control_fd, report)) return 3;
      reported = true;
    }
  }
  if (o.hold) {  // never reached in the selftest: it kills us first
    while (!c.producer_gone()) pause();
    return 0;
  }
  return send_report(o.control_fd, report) ? 0 : 3;
}

// socket and pipe: big reads into one buffer; messages may straddle reads.
int consume_stream(const ConsumerOptions& o) {
  const std::size_t capacity = std::max<std::size_t>(256 * 1024, 4 * std::size_t{o.bytes});
  std::vector<std::byte> buf(capacity);
  std::size_t have = 0;
  Report report{};
  std::uint64_t expected = 0;
  bool done = false;
  while (!done) {
    const ssize_t got = ::read(o.data_fd, buf.data() + have, capacity - have);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      std::fprintf(stderr, "ppool-share consumer: the %s ended before the end marker\n",
                   transport_name(o.transport));
      return 3;
    }
    have += static_cast<std::size_t>(got);
    std::size_t at = 0;
    for (; have - at >= o.bytes && !done; at += o.bytes) {
      std::uint64_t seq = 0;
      if (!check(buf.data() + at, o.bytes, &seq) || (seq != expected && seq != kEndSeq))
        ++report.bad;
      if (o.touch && !check_payload(buf.data() + at, o.bytes, seq)) ++report.payload_bad;
      if (seq == kEndSeq) {
        done = true;
      } else {
        ++report.messages;
        expected = seq + 1;
      }
    }
    std::copy(buf.begin() + static_cast<std::ptrdiff_t>(at),
              buf.begin() + static_cast<std::ptrdiff_t>(have), buf.begin());
    have -= at;
  }
  return send_report(o.control_fd, report) ? 0 : 3;
}

}  // namespace

int consumer_main(const ConsumerOptions& options) {
  return options.transport == Transport::kShare ? consume_share(options) : consume_stream(options);
}

}  // namespace share_tool
