// tools/share/harness.h - the producer side of ppool-share's selftest: the
// consumer process, and one measurement or check per function.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "ppool/base.h"
#include "wire.h"

namespace share_tool {

// Starts the consumer: fork, then exec of this very program with the hidden
// --consumer-fd command line; every descriptor but options' two is closed on
// exec.
// @return its pid, or the failed readlink's or fork's errno as an Error
//   (support/errno_error.h: kOutOfMemory at a process limit); no process
//   was started.
ppool::Result<pid_t> spawn_consumer(const ConsumerOptions& options);
// Waits for the consumer to exit; its exit status, or 128 + the signal.
int reap_consumer(pid_t pid);
// Reads the consumer's Report from fd, waiting up to timeout_ms and calling
// idle() every millisecond meanwhile (the share producer reaps there). False
// on a timeout or a hang-up.
bool read_report(int fd, Report* report, int timeout_ms, const std::function<void()>& idle = {});

struct Measurement {
  bool ok = false;
  std::string error;       // why not ok
  std::uint64_t sent = 0;  // messages, the end marker not counted
  double seconds = 0;      // first message to the consumer's report
  Report report{};
  double pps() const { return seconds > 0 ? static_cast<double>(report.messages) / seconds : 0; }
  double gbytes_per_s(std::uint32_t bytes) const { return pps() * bytes / 1e9; }
};

// One transport at one message size for `seconds`; touch: the touched pass
// (wire.h), every payload byte written by the producer and checked by the
// consumer.
Measurement measure_share(std::uint32_t bytes, double seconds, std::uint32_t ring_entries,
                          bool touch);
Measurement measure_stream(Transport transport, std::uint32_t bytes, double seconds, bool touch);

// Why a finished run's consumer report is wrong ("" when it is right): bad
// messages, bad payloads, or not every message sent.
std::string report_error(const Report& report, std::uint64_t sent);

// The stale-bytes check: a first pool fills every page of a shared region
// with kMark and gives them back to the allocator; a second pool (with or
// without kZeroPages) hands fresh pages to a consumer, which counts marks
// outside each message. A check, not setup: like a Measurement or a
// KillResult it reports what it found, and why it could not when ok is
// false (a setup step's Error message among the reasons).
struct StaleResult {
  bool ok = false;
  std::string error;        // why not ok
  std::uint64_t stale = 0;  // the marks the consumer saw
};
StaleResult stale_check(bool zero_pages);

struct KillResult {
  bool ok = false;
  std::string error;
  std::uint64_t holding = 0;          // pages the consumer held when it was killed
  std::uint64_t reclaimed = 0;        // pages reclaim() took back
  std::uint32_t inflight_before = 0;  // the pool's, before the consumer attached
  std::uint32_t inflight_after = 0;   // PagePool::destroy()'s: pages still out
  std::uint64_t returned = 0;         // pages it gave back before
};
// Hands pages to a consumer that keeps some, SIGKILLs it, reclaims.
KillResult kill_check();

}  // namespace share_tool
