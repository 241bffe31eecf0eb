// support/clock.h - the clocks of the programs' runs: sleeping that a stop
// signal cuts short, a run measured second by second with its steady state
// apart, and what the process spent (CPU time, page faults) over it.
// Thread context: a MeasuredRun is the main thread's; the rest is any
// thread's.
#pragma once

#include <chrono>
#include <cstdint>

namespace ppool::tools {

using Clock = std::chrono::steady_clock;

// Sleeps until t or a stop signal (signals.h), whichever is first; false on
// a signal. It looks every 20 ms: the handler only sets a flag, and the
// signal may be delivered to another thread, so no sleep here is cut by it.
bool sleep_until(Clock::time_point t);
double seconds_since(Clock::time_point t);

// Minor page faults of the whole process so far.
long minor_faults();
// CPU time of the whole process (every thread, user and kernel), in seconds.
double cpu_seconds();

// A run of `seconds` seconds, one tick a second, until its end or a stop
// signal. The steady state is what follows the first second (pools warm up
// in it); a run shorter than two seconds has none and is measured whole:
//
//   MeasuredRun run(seconds);
//   while (run.next()) {
//     if (run.steady_starts()) { ...counts at the span's start... }
//     std::fprintf(stderr, "[%us] %.0f pps\n", run.second(), run.rate(received));
//   }
//   ... run.span_seconds(), run.elapsed() ...
class MeasuredRun {
 public:
  explicit MeasuredRun(unsigned seconds);

  // Sleeps to the next tick; false at the end or on a stop signal.
  bool next();
  unsigned second() const { return second_; }
  // This tick starts the measured span (the first, of a run of two seconds
  // or more).
  bool steady_starts() const { return second_ == 1 && seconds_ >= 2; }
  // Per second since the previous tick, for a count that only grows; the
  // count is remembered for the next tick.
  double rate(std::uint64_t count);

  double span_seconds() const { return seconds_since(span_start_); }
  double elapsed() const { return seconds_since(start_); }

 private:
  unsigned seconds_;
  unsigned second_ = 0;
  Clock::time_point start_, span_start_, last_tick_, tick_;
  std::uint64_t last_count_ = 0;
};

}  // namespace ppool::tools
