// Captures what ppool logs, for tests that check reports.
//
// The log hook is a plain function pointer, so what it captures lives in
// process-wide state: have one LogCapture alive at a time. The capture is
// thread-safe: any thread may log into it while the test reads it.
#pragma once

#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ppool/base.h"

namespace ppool::test {

class LogCapture {
 public:
  struct Entry {
    LogLevel level;
    std::string message;
  };

  // Starts empty and installs the hook; the destructor restores the default.
  // Misuse reports are rate-limited: both restart the limit (a count still
  // pending is logged to the hook in place then), so a test sees its own
  // reports, and only those, whatever floods came before.
  LogCapture() {
    detail::restart_misuse_reports();
    clear();
    set_log_hook(&LogCapture::hook);
  }
  ~LogCapture() {
    detail::restart_misuse_reports();
    set_log_hook(nullptr);
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // The hook itself, for tests of set_log_hook() that install it directly.
  static void hook(LogLevel level, std::string_view message) {
    State& s = state();
    std::lock_guard lock(s.mu);
    s.entries.push_back(Entry{level, std::string(message)});
  }

  // Snapshots of what was logged so far, oldest first.
  std::vector<Entry> entries() const {
    State& s = state();
    std::lock_guard lock(s.mu);
    return s.entries;
  }
  std::vector<std::string> messages() const {
    State& s = state();
    std::lock_guard lock(s.mu);
    std::vector<std::string> out;
    out.reserve(s.entries.size());
    for (const Entry& e : s.entries) out.push_back(e.message);
    return out;
  }
  // The messages so far, forgetting them.
  std::vector<std::string> take() {
    State& s = state();
    std::lock_guard lock(s.mu);
    std::vector<std::string> out;
    out.reserve(s.entries.size());
    for (Entry& e : s.entries) out.push_back(std::move(e.message));
    s.entries.clear();
    return out;
  }
  void clear() {
    State& s = state();
    std::lock_guard lock(s.mu);
    s.entries.clear();
  }
  std::size_t count() const {
    State& s = state();
    std::lock_guard lock(s.mu);
    return s.entries.size();
  }
  // True when some message contains part.
  bool contains(std::string_view part) const { return contains_all({part}); }
  // True when one message contains every one of parts.
  bool contains_all(std::initializer_list<std::string_view> parts) const {
    State& s = state();
    std::lock_guard lock(s.mu);
    for (const Entry& e : s.entries) {
      bool all = true;
      for (std::string_view part : parts) all = all && e.message.find(part) != std::string::npos;
      if (all) return true;
    }
    return false;
  }

 private:
  struct State {
    std::mutex mu;
    std::vector<Entry> entries;
  };
  // Never destroyed, so a thread logging late at exit finds it still there.
  static State& state() {
    static State* s = new State;
    return *s;
  }
};

}  // namespace ppool::test
