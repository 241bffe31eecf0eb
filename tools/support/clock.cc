#include "support/clock.h"

#include <sys/resource.h>

#include <algorithm>
#include <thread>

#include "support/signals.h"

namespace ppool::tools {

bool sleep_until(Clock::time_point t) {
  while (!stopping()) {
    const auto now = Clock::now();
    if (now >= t) return true;
    std::this_thread::sleep_for(std::min<Clock::duration>(t - now, std::chrono::milliseconds(20)));
  }
  return false;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

MeasuredRun::MeasuredRun(unsigned seconds)
    : seconds_(seconds), start_(Clock::now()), span_start_(start_), last_tick_(start_) {}

bool MeasuredRun::next() {
  if (second_ >= seconds_ || !sleep_until(start_ + std::chrono::seconds(second_ + 1))) return false;
  ++second_;
  last_tick_ = second_ == 1 ? start_ : tick_;
  tick_ = Clock::now();
  if (steady_starts()) span_start_ = tick_;
  return true;
}

double MeasuredRun::rate(std::uint64_t count) {
  const double per_second = static_cast<double>(count - last_count_) /
                            std::chrono::duration<double>(tick_ - last_tick_).count();
  last_count_ = count;
  return per_second;
}

}  // namespace ppool::tools
