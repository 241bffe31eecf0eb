// support/quiet_command.h - runs a helper command (iproute2's `ip`)
// the way a selftest's setup and cleanup need it: quietly, to the end,
// whatever stop signal comes meanwhile. Header-only, like signals.h.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

namespace ppool::tools {

// Runs argv[0] (looked up in PATH) with argv, stdout and stderr to
// /dev/null, and waits for it; true when it exits 0. The child starts in
// the calling thread's network namespace (a spawned child starts in its
// parent thread's namespaces).
// The child runs with SIGINT and SIGTERM blocked: a Ctrl-C or timeout(1)
// sends its signal to the whole process group, children included, and an
// `ip netns del` or `ip link add` killed halfway leaves a namespace behind
// or fails the setup; so the command completes, and the program, which got
// the signal too (signals.h), stops right after it. (A process group of its
// own would not do: the child joins it after the fork, and a signal sent in
// between stays pending and kills it.) Cost: a command that hangs cannot be
// interrupted from the terminal; SIGKILL still ends it.
// Thread context: any thread; a stop signal meanwhile does not cut the wait.
inline bool run_quiet(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  std::vector<char*> argv;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &stop_signals);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int ret = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (ret != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;  // EINTR: a stop signal; the child still runs
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace ppool::tools
