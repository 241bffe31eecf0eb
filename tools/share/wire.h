// tools/share/wire.h - what the selftest's producer and consumer processes
// agree on, whatever the transport: the per-message header and trailer, the
// payload pattern of the touched pass, the consumer's report, and the
// consumer's command line.
//
// Fairness: every transport carries the same bytes and does the same work on
// them, in two passes.
//
//   untouched  The producer writes a 16-byte header (sequence number, length,
//              magic) at the start of each message and an 8-byte trailer at
//              its end; the consumer checks both the same way: in place for
//              share, after read() for the socket and the pipe. Nobody touches
//              the payload between them: the kernel copies it twice for the
//              socket and the pipe (that is what they cost), share never does.
//              This measures the transports themselves, but at 64 KiB share's
//              figure counts bytes nobody read.
//   touched    (--touch) As a real application (a parser, a checksum) does:
//              the producer also writes every payload byte (8-byte words of a
//              pattern derived from the sequence number, fill_payload) before
//              it sends or hands the message, and the consumer reads every
//              payload byte and compares it with the pattern
//              (check_payload): in place for share, after read() for the
//              socket and the pipe. A mismatch is counted (Report::
//              payload_bad) and fails the run. Share now pays for moving the
//              data between the cores' caches; the socket and the pipe still
//              pay their two copies on top.
#pragma once

#include <cstddef>
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

// The touched pass's payload: the bytes between header and trailer, as 8-byte
// words (seq * kTrailerMix) ^ i, i counting words from the payload's start;
// a last partial word is the low bytes of its whole word (little-endian
// order, as memcpy lays it out). The same for every transport.
inline constexpr std::size_t kTrailerBytes = sizeof(std::uint64_t);
inline constexpr std::size_t kPayloadAt = sizeof(MsgHeader);
inline std::size_t payload_bytes(std::uint32_t len) {
  return len - kPayloadAt - kTrailerBytes;
}

inline void fill_payload(void* msg, std::uint32_t len, std::uint64_t seq) {
  unsigned char* p = static_cast<unsigned char*>(msg) + kPayloadAt;
  const std::size_t n = payload_bytes(len), words = n / 8, rest = n % 8;
  const std::uint64_t base = seq * kTrailerMix;
  for (std::size_t i = 0; i < words; ++i) {
    const std::uint64_t w = base ^ i;
    std::memcpy(p + 8 * i, &w, 8);
  }
  if (rest) {
    const std::uint64_t w = base ^ words;
    std::memcpy(p + 8 * words, &w, rest);
  }
}

// Reads every payload byte; true when all are seq's pattern.
inline bool check_payload(const void* msg, std::uint32_t len, std::uint64_t seq) {
  const unsigned char* p = static_cast<const unsigned char*>(msg) + kPayloadAt;
  const std::size_t n = payload_bytes(len), words = n / 8, rest = n % 8;
  const std::uint64_t base = seq * kTrailerMix;
  std::uint64_t diff = 0;  // folded, no branch per word
  for (std::size_t i = 0; i < words; ++i) {
    std::uint64_t w;
    std::memcpy(&w, p + 8 * i, 8);
    diff |= w ^ (base ^ i);
  }
  if (rest) {
    const std::uint64_t want_word = base ^ words;
    std::uint64_t got = 0, want = 0;
    std::memcpy(&got, p + 8 * words, rest);
    std::memcpy(&want, &want_word, rest);
    diff |= got ^ want;
  }
  return diff == 0;
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
  std::uint64_t payload_bad;  // --touch: a payload byte not the pattern
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
  bool touch = false;            // check every payload byte (the touched pass)
};

int consumer_main(const ConsumerOptions& options);

}  // namespace share_tool
