// support/netns.h - the network-namespace harness of the programs'
// selftests (ppool-fwd --netns, ppool-xsk --selftest): namespaces that
// vanish with the process, veth pairs between them, and commands run inside
// them.
//
// Unnamed namespaces: unshare(CLONE_NEWNET) makes each, and nothing but this
// process holds it (the fd below, the threads that entered it, the sockets
// and processes made in it). So they vanish with the process, however it
// ends: SIGKILL, a crash, a second signal, an exception. Named ones (`ip
// netns add`, bind-mounted under /run/netns) outlive the process until
// something deletes them, and the deleting (`ip netns del` in a destructor
// or a watchdog process) is one more thing a signal can cut short. A veth
// pair lives in its two namespaces and dies with them; nothing is ever made
// in the caller's namespace. Costs: the namespaces have no name, so `ip -n
// NAME` cannot reach them from outside (nsenter --net=/proc/PID/fd/N can),
// and a command meant for one runs from a thread that enters it (run_in()).
//
// Everything here needs CAP_SYS_ADMIN (unshare, setns) and CAP_NET_ADMIN;
// the veth pairs need iproute2 and the veth driver. Thread context: any
// thread; entering a namespace moves the calling thread alone (and the
// threads and processes it starts afterwards).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ppool/base.h"

namespace ppool::tools {

class Netns {
 public:
  // A new, empty namespace with its loopback up; the calling thread stays
  // where it is.
  // @return the namespace, or kUnsupported (no /proc, no CAP_SYS_ADMIN, no
  //   iproute2): nothing was made, the thread is where it was.
  static Result<std::unique_ptr<Netns>> create();
  ~Netns();  // the namespace goes when its last socket, thread and process do
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  // Moves the calling thread into the namespace.
  // @return success, or kUnsupported (setns refused: no CAP_SYS_ADMIN): the
  //   thread is where it was.
  Result<void> enter() const;
  // What iproute2 takes for the namespace where it takes a name ("... netns
  // PATH"): a path to our fd, which it opens as a file since it has a '/'.
  std::string path() const;

 private:
  explicit Netns(int fd) : fd_(fd) {}
  int fd_;
};

// Remembers the calling thread's namespace and moves the thread back there
// when destroyed (setns to where it was cannot fail): a step taken inside
// another namespace is `NetnsReturn back; if (ns.enter()) ...`. Costs an
// open() and a close(); ok() is false when /proc could not be opened (then
// it moves nothing). Made and destroyed on the same thread.
class NetnsReturn {
 public:
  NetnsReturn();
  ~NetnsReturn();
  NetnsReturn(const NetnsReturn&) = delete;
  NetnsReturn& operator=(const NetnsReturn&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

// Runs `ip args...` in ns to the end, quietly (quiet_command.h: a stop
// signal meanwhile does not cut it short); true when it exits 0. A bool,
// not a Result: it has no message to give (ip's own went to /dev/null), and
// its callers name the step that failed.
bool ip_in(const Netns& ns, const std::vector<std::string>& args);

// Writes value to a file under /proc/sys/net (per namespace) as seen from
// ns: set_sysctl(ns, "ipv6/conf/all/disable_ipv6", "1"). False when it cannot.
bool set_sysctl(const Netns& ns, const std::string& net_path, const std::string& value);

// One end of a veth pair.
struct VethEnd {
  const Netns* ns;
  std::string name;
  std::string address;  // IPv4 with its prefix ("10.77.0.1/24"); "" for none
  std::string mac;      // "" for the kernel's random one
  unsigned queues = 0;  // RX and TX queues; 0 for the driver's default (1)
};

// The pair a <-> b, each end in its namespace, addressed and up.
// @return success, or kUnsupported naming the step that failed (no
//   iproute2, no veth driver, no CAP_NET_ADMIN): what was made stays, and
//   goes with the namespaces.
Result<void> veth_pair(const VethEnd& a, const VethEnd& b);

}  // namespace ppool::tools
