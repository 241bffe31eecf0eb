#include "support/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/quiet_command.h"

namespace ppool::tools {

namespace {

// An fd for the calling thread's network namespace, or -1.
int this_netns() {
  return open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
}

// `ip link add` options for one end: queues, then the MAC.
std::vector<std::string> link_options(const VethEnd& end) {
  std::vector<std::string> options;
  if (end.queues) {
    const std::string n = std::to_string(end.queues);
    options.insert(options.end(), {"numtxqueues", n, "numrxqueues", n});
  }
  if (!end.mac.empty()) options.insert(options.end(), {"address", end.mac});
  return options;
}

// The end's address, then the end up.
bool bring_up(const VethEnd& end) {
  if (!end.address.empty() && !ip_in(*end.ns, {"addr", "add", end.address, "dev", end.name}))
    return false;
  return ip_in(*end.ns, {"link", "set", end.name, "up"});
}

}  // namespace

Result<std::unique_ptr<Netns>> Netns::create() {
  NetnsReturn back;  // unshare() moves the calling thread; this moves it home
  if (!back.ok())
    return Error{Errc::kUnsupported,
                 std::string("cannot open /proc/thread-self/ns/net: ") + std::strerror(errno)};
  int fd = -1;
  if (unshare(CLONE_NEWNET) != 0 || (fd = this_netns()) < 0)
    return Error{Errc::kUnsupported,
                 std::string("cannot create a network namespace (needs root or CAP_SYS_ADMIN): ") +
                     std::strerror(errno)};
  std::unique_ptr<Netns> ns(new Netns(fd));
  if (!ip_in(*ns, {"link", "set", "lo", "up"}))
    return Error{Errc::kUnsupported,
                 "cannot bring up lo in a new network namespace (is iproute2 installed?)"};
  return ns;
}

Netns::~Netns() {
  close(fd_);
}

Result<void> Netns::enter() const {
  if (setns(fd_, CLONE_NEWNET) == 0) return {};
  return Error{Errc::kUnsupported,
               std::string("cannot enter a network namespace: ") + std::strerror(errno)};
}

std::string Netns::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_);
}

NetnsReturn::NetnsReturn() : fd_(this_netns()) {}

NetnsReturn::~NetnsReturn() {
  if (fd_ < 0) return;
  setns(fd_, CLONE_NEWNET);  // cannot fail: the thread was there
  close(fd_);
}

bool ip_in(const Netns& ns, const std::vector<std::string>& args) {
  NetnsReturn back;
  if (!back.ok() || !ns.enter()) return false;
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_quiet(argv);  // the child starts in this thread's namespace
}

bool set_sysctl(const Netns& ns, const std::string& net_path, const std::string& value) {
  NetnsReturn back;
  if (!back.ok() || !ns.enter()) return false;
  // /proc/sys/net is the namespace of the thread that opens it.
  const int fd = open(("/proc/sys/net/" + net_path).c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  close(fd);
  return ok;
}

Result<void> veth_pair(const VethEnd& a, const VethEnd& b) {
  // Made in a's namespace, the far end sent to b's by its path.
  std::vector<std::string> add{"link", "add", a.name};
  for (std::string& option : link_options(a)) add.push_back(std::move(option));
  add.insert(add.end(), {"type", "veth", "peer", "name", b.name, "netns", b.ns->path()});
  for (std::string& option : link_options(b)) add.push_back(std::move(option));
  const char* step = "ip link add ... type veth peer ...";
  bool ok = ip_in(*a.ns, add);
  if (ok) step = "ip addr add / link set up";
  ok = ok && bring_up(a) && bring_up(b);
  if (ok) return {};
  return Error{Errc::kUnsupported, "cannot set up the veth pair " + a.name + "/" + b.name +
                                       " between the namespaces: " + step +
                                       " failed (is iproute2 installed, the veth driver there?)"};
}

}  // namespace ppool::tools
