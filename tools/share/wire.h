// tools/share/wire.h - what the selftest's producer and consumer processes
// agree on, whatever the transport: the per-message header and trailer, the
// consumer's report, and the consumer's command line.
//
// Fairness: every transport carries the same bytes. The producer writes a
// 16-byte header (sequence number, length, magic) at the start of each
// message and an 8-byte trailer at its end; the consumer checks both the same
// way: in place for share, after read() for the socket and the pipe. Nobody
// touches the payload between them: the kernel copies it twice for the socket
// and the pipe (that is what they cost), share never does.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace share_tool {

inline constexpr std::uint32_t kMagic = 0x4d535050;  // "PPSM"
inline constexpr std::uint64_t kEndSeq = ~std::uint64_t{0};
inline constexpr std::uint64_t kTrailerMix = 0x9e3779b97f4a7c15;
inline constexpr std::uint32_t kMinBytes = 64, kMaxBytes = 65536;
inline constexpr unsigned char kMark = 0xA5;  // the stale-bytes check's pattern

struct MsgHeader {
  std::uint64_t seq;
  std::uint32_t len;
  std::uint32_t magic;
};
static_assert(sizeof(MsgHeader) == 16);

inline void stamp(void* msg, std::uint32_t len, std::uint64_t seq) {
  const MsgHeader h{seq, len, kMagic};
  std::memcpy(msg, &h, sizeof h);
  const std::uint64_t trailer = seq ^ kTrailerMix;
  std::memcpy(static_cast<char*>(msg) + len - sizeof trailer, &trailer, sizeof trailer);
}

// The message's sequence number when its header and trailer agree with each
// other and with len; else false.
inline bool check(const void* msg, std::uint32_t len, std::uint64_t* seq) {
  MsgHeader h;
  std::memcpy(&h, msg, sizeof h);
  std::uint64_t trailer;
  std::memcpy(&trailer, static_cast<const char*>(msg) + len - sizeof trailer, sizeof trailer);
  *seq = h.seq;
  return h.magic == kMagic && h.len == len && trailer == (h.seq ^ kTrailerMix);
}

// What a consumer process sends back on its control socket when it is done
// (or, holding pages, when it holds them all).
struct Report {
  std::uint64_t messages;     // checked and in order, the end marker not counted
  std::uint64_t bad;          // header or trailer wrong, or out of order
  std::uint64_t stale_bytes;  // --stale: marks seen outside the message in its page
  std::uint64_t held;         // --hold: pages it keeps
};

enum class Transport { kShare, kSocket, kPipe };
inline const char* transport_name(Transport t) {
  return t == Transport::kShare ? "share" : t == Transport::kSocket ? "socket" : "pipe";
}

// The consumer process's hidden command line (ppool-share --consumer-fd N ...).
struct ConsumerOptions {
  int control_fd = -1;  // the share socket, or the control socket of socket/pipe
  int data_fd = -1;     // socket/pipe: where the messages come from
  Transport transport = Transport::kShare;
  std::uint32_t bytes = 0;
  std::uint32_t hold = 0;        // keep the pages of messages >= hold, report, wait to die
  std::uint32_t page_bytes = 0;  // nonzero: count stale marks in each whole page
};

int consumer_main(const ConsumerOptions& options);

}  // namespace share_tool
