// support/signals.h - how ppool's long-running programs (ppool-fwd,
// ppool-xsk) stop: the first SIGINT or SIGTERM asks the run to stop and
// clean up (namespaces, interfaces, pools); a repeat within kGraceNs of it
// is the same request and changes nothing; one after that exits at once
// (the user insists: the cleanup is stuck), saying so on stderr.
// Why the grace: timeout(1) sends its signal to the process and then to the
// whole process group, and a terminal's Ctrl-C goes to every process of the
// pipeline's group, so one stop often arrives twice within microseconds;
// exiting on that second copy skipped the cleanup and the JSON. Two seconds
// is far beyond any such double delivery and short enough for a person who
// means it to press again.
// A signal ignored at start (nohup, a background job of a shell without job
// control) stays ignored. Header-only, like args.h; one program per process.
#pragma once

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace ppool::tools {

// The signal that asked us to stop, 0 while none did.
inline std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "g_signal is written by a signal handler");

// When the first stop signal came (CLOCK_MONOTONIC, ns), 0 while none did.
inline std::atomic<std::int64_t> g_first_signal_ns{0};
static_assert(std::atomic<std::int64_t>::is_always_lock_free, "written by a signal handler");
inline constexpr std::int64_t kGraceNs = 2'000'000'000;

extern "C" inline void on_stop_signal(int sig) {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe (POSIX)
  const std::int64_t now = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec + 1;  // never 0
  // The time first, then the signal: a repeat racing the first one on
  // another thread always finds the time set once it finds g_signal set.
  std::int64_t unset = 0;
  g_first_signal_ns.compare_exchange_strong(unset, now);
  int none = 0;
  if (g_signal.compare_exchange_strong(none, sig)) return;  // the first: stop and clean up
  if (now - g_first_signal_ns.load() < kGraceNs) return;    // the same stop, sent twice
  static constexpr char kMessage[] = "second signal: exiting without cleaning up\n";
  ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  (void)ignored;
  _exit(128 + sig);
}

// Call first thing: a signal during setup still cleans up.
inline void install_stop_handlers() {
  for (int sig : {SIGINT, SIGTERM}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocking call returns EINTR
    sigaction(sig, &sa, nullptr);
  }
}

inline bool stopping() {
  return g_signal.load(std::memory_order_relaxed) != 0;
}

// "SIGTERM", or null when no signal stopped the run (for the JSON).
inline std::string interrupted_json() {
  switch (g_signal.load()) {
    case 0:
      return "null";
    case SIGINT:
      return "\"SIGINT\"";
    case SIGTERM:
      return "\"SIGTERM\"";
    default:
      return "\"signal " + std::to_string(g_signal.load()) + "\"";
  }
}

}  // namespace ppool::tools
