// The consumer process: started with fork + exec of this program, so that it
// shares nothing with the producer but the descriptors it is given (no pool,
// no arena, no threads), as a real consumer would.
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <vector>

#include "harness.h"
#include "support/errno_error.h"

namespace share_tool {

ppool::Result<pid_t> spawn_consumer(const ConsumerOptions& o) {
  char exe[PATH_MAX];
  const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0)
    return ppool::tools::errno_error("cannot find this program (/proc/self/exe)", errno);
  exe[len] = '\0';
  // Everything the child needs is built before the fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> args = {"ppool-share",
                                   "--consumer-fd",
                                   std::to_string(o.control_fd),
                                   "--transport",
                                   transport_name(o.transport),
                                   "--bytes",
                                   std::to_string(o.bytes)};
  if (o.data_fd >= 0) args.insert(args.end(), {"--data-fd", std::to_string(o.data_fd)});
  if (o.hold) args.insert(args.end(), {"--hold", std::to_string(o.hold)});
  if (o.page_bytes) args.insert(args.end(), {"--page-bytes", std::to_string(o.page_bytes)});
  if (o.touch) args.push_back("--touch");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int keep[2] = {o.control_fd, o.data_fd};

  const pid_t pid = fork();
  if (pid < 0) return ppool::tools::errno_error("fork", errno);
  if (pid == 0) {
    syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC);
    for (int fd : keep)
      if (fd >= 0) fcntl(fd, F_SETFD, 0);
    execv(exe, argv.data());
    _exit(127);
  }
  return pid;
}

int reap_consumer(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

std::string report_error(const Report& r, std::uint64_t sent) {
  if (!r.bad && !r.payload_bad && r.messages == sent) return "";
  return "the consumer saw " + std::to_string(r.bad) + " bad messages, " +
         std::to_string(r.payload_bad) + " with a wrong payload, and " +
         std::to_string(r.messages) + " of " + std::to_string(sent);
}

bool read_report(int fd, Report* report, int timeout_ms, const std::function<void()>& idle) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, idle ? 1 : timeout_ms);
    if (ready < 0 && errno != EINTR) return false;
    if (ready > 0) {
      ssize_t n;
      do {
        n = ::read(fd, report, sizeof *report);
      } while (n < 0 && errno == EINTR);
      return n == static_cast<ssize_t>(sizeof *report);
    }
    if (idle) idle();
  }
  return false;
}

}  // namespace share_tool
