// tools/common/signals.h - how ppool's long-running programs (ppool-fwd,
// ppool-xsk) stop: the first SIGINT or SIGTERM asks the run to stop and
// clean up (namespaces, interfaces, pools); a second one exits at once.
// A signal ignored at start (nohup, a background job of a shell without job
// control) stays ignored. Header-only, like args.h; one program per process.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace ppool::tools {

// The signal that asked us to stop, 0 while none did.
inline std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "g_signal is written by a signal handler");

extern "C" inline void on_stop_signal(int sig) {
  int none = 0;
  if (!g_signal.compare_exchange_strong(none, sig)) _exit(128 + sig);  // the second one
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
