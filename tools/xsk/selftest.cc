#include "selftest.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

extern char** environ;

namespace xsk {

using ppool::Errc;
using ppool::Error;
using ppool::Result;

namespace {

// Where program is, in $PATH or the sbin directories a user's PATH may
// lack; "" when nowhere.
std::string find_program(const char* program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
  dirs += ":/usr/sbin:/sbin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string file = dirs.substr(start, end - start) + "/" + program;
    if (end > start && access(file.c_str(), X_OK) == 0) return file;
    start = end + 1;
  }
  return "";
}

// The number after "key": in text, from pos.
std::uint64_t json_number(const std::string& text, std::size_t pos, const char* key) {
  std::size_t at = text.find(std::string("\"") + key + "\":", pos);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + std::strlen(key) + 3, nullptr, 10);
}

}  // namespace

std::string mac_text(const unsigned char mac[6]) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                mac[4], mac[5]);
  return text;
}

std::string Topology::missing() {
  if (geteuid() != 0) return "needs root (network namespaces, XDP, AF_XDP)";
  // No bpffs: nothing here pins or loads a BPF object through it. The XDP
  // program is loaded with bpf_prog_load() and attached by ifindex
  // (ppool/xsk_redirect.h), and the sockets ask libxdp not to load its own
  // (XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD), which is the part of libxdp
  // (its dispatcher) that wants /sys/fs/bpf. So a fresh machine, bpffs
  // unmounted, runs the selftest as it is; tests/xsk/selftest.sh checks it.
  if (find_program("ip").empty()) return "needs iproute2 (ip)";
  if (find_program("trafgen").empty()) return "needs trafgen (Debian package netsniff-ng)";
  if (auto ns = ppool::tools::Netns::create(); !ns) return ns.error().message;
  return "";
}

Result<std::unique_ptr<Topology>> Topology::create(unsigned queues) {
  using ppool::tools::Netns;
  using ppool::tools::VethEnd;
  std::unique_ptr<Topology> t(new Topology);
  t->conf_path_ = "/tmp/ppool-xsk-" + std::to_string(getpid()) + ".trafgen";
  for (auto* ns : {&t->gen_ns_, &t->fwd_ns_, &t->sink_ns_}) {
    Result<std::unique_ptr<Netns>> made = Netns::create();
    if (!made) return made.error();
    *ns = std::move(made).value();
  }
  // f1 and s0: one queue more, for the UMEM's registration socket.
  Result<void> veth = ppool::tools::veth_pair(
      VethEnd{t->gen_ns_.get(), "g0", "10.78.0.2/24", mac_text(kGenMac), queues},
      VethEnd{t->fwd_ns_.get(), "f0", "10.78.0.1/24", mac_text(kFwdInMac), queues});
  if (veth)
    veth = ppool::tools::veth_pair(
        VethEnd{t->fwd_ns_.get(), "f1", "10.78.1.1/24", mac_text(kFwdOutMac), queues + 1},
        VethEnd{t->sink_ns_.get(), "s0", "10.78.1.2/24", mac_text(kSinkMac), queues + 1});
  if (!veth) return veth.error();
  // No IPv6 chatter (router and neighbour solicitations) in the counts.
  for (auto* ns : {&t->gen_ns_, &t->fwd_ns_, &t->sink_ns_})
    ppool::tools::set_sysctl(**ns, "ipv6/conf/all/disable_ipv6", "1");
  return t;
}

Topology::~Topology() {
  stop_traffic();
  leave_forwarder();
  unlink(conf_path_.c_str());
  // The namespaces, and the veth pairs in them, go with their fds.
}

Result<void> Topology::enter_forwarder() {
  home_ = std::make_unique<ppool::tools::NetnsReturn>();
  Result<void> entered = home_->ok()
                             ? fwd_ns_->enter()
                             : Error{Errc::kUnsupported, "cannot open /proc/thread-self/ns/net"};
  if (!entered) home_.reset();
  return entered;
}

void Topology::leave_forwarder() {
  home_.reset();  // moves the thread back
}

Result<void> Topology::start_traffic(const Options& o) {
  // UDP from g0 to s0's address through f0's MAC; the first payload byte
  // counts 0..15 (the verdict, see forwarder.cc), the source port 1024..1279
  // (so the flows spread over the queues).
  const unsigned payload = o.packet_size - 42;
  std::ofstream conf(conf_path_);
  conf << "{\n  eth(da=" << mac_text(kFwdInMac) << ", sa=" << mac_text(kGenMac)
       << ", type=0x0800),\n"
       << "  ipv4(sa=10.78.0.2, da=10.78.1.2, ttl=64),\n"
       << "  udp(sp=dinc(1024, 1279), dp=9000, csum=0),\n"
       << "  dinc(0, 15)";
  if (payload > 1) conf << ",\n  fill(0x55, " << payload - 1 << ")";
  conf << "\n}\n";
  conf.close();
  if (!conf) return Error{Errc::kUnsupported, "cannot write " + conf_path_};
  // trafgen's packet socket picks the TX queue by its CPU (a queue per
  // process), so one process a queue reaches every queue of f0.
  const unsigned online = std::max(1u, std::thread::hardware_concurrency());
  const std::string cpus =
      std::to_string(o.gen_cpus ? o.gen_cpus : std::min(static_cast<unsigned>(o.queues), online));
  const std::string trafgen = find_program("trafgen");
  const char* argv[] = {
      trafgen.c_str(), "--dev",         "g0",   "--conf", conf_path_.c_str(), "--cpus",
      cpus.c_str(),    "--no-sock-mem", nullptr};
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: stopped as a whole
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = conf_path_ + ".log";
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid;
  int ret;
  {
    // Started from this thread inside the generator's namespace: a spawned
    // process starts in its parent thread's namespaces.
    ppool::tools::NetnsReturn back;
    ret = back.ok() && gen_ns_->enter()
              ? posix_spawn(&pid, argv[0], &actions, &attr, const_cast<char* const*>(argv), environ)
              : ENOENT;
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (ret != 0)
    return Error{Errc::kUnsupported, std::string("cannot start trafgen: ") + std::strerror(ret)};
  trafgen_ = pid;
  // Started once g0 has sent something more (trafgen compiles its config
  // first; a second start finds the first one's count).
  const std::uint64_t sent_before = generator_stats().tx_packets;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (generator_stats().tx_packets > sent_before) return {};
    if (!traffic_running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  stop_traffic();
  return Error{Errc::kUnsupported, "trafgen sent nothing: " + text.substr(0, 600)};
}

bool Topology::traffic_running() {
  if (trafgen_ <= 0) return false;
  int status;
  if (waitpid(trafgen_, &status, WNOHANG) == trafgen_) {
    trafgen_ = -1;
    return false;
  }
  return true;
}

void Topology::stop_traffic() {
  if (trafgen_ <= 0) return;
  kill(-trafgen_, SIGINT);
  int status;
  for (int i = 0; i < 300; ++i) {  // 3 s, then SIGKILL
    if (waitpid(trafgen_, &status, WNOHANG) == trafgen_) {
      trafgen_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (trafgen_ > 0) {
    kill(-trafgen_, SIGKILL);
    waitpid(trafgen_, &status, 0);
    trafgen_ = -1;
  }
  unlink((conf_path_ + ".log").c_str());
}

LinkStats Topology::stats(const ppool::tools::Netns& ns, const char* dev) {
  LinkStats s;
  FILE* p = nullptr;
  {
    ppool::tools::NetnsReturn back;  // popen's child starts in this thread's namespace
    if (back.ok() && ns.enter())
      p = popen(("ip -s -j link show dev " + std::string(dev) + " 2>/dev/null").c_str(), "r");
  }
  if (!p) return s;
  std::string text;
  char buf[1024];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  pclose(p);
  std::size_t rx = text.find("\"rx\":{"), tx = text.find("\"tx\":{");
  if (rx == std::string::npos || tx == std::string::npos) return s;
  s.rx_packets = json_number(text, rx, "packets");
  s.rx_dropped = json_number(text, rx, "dropped");
  s.tx_packets = json_number(text, tx, "packets");
  s.tx_dropped = json_number(text, tx, "dropped");
  s.ok = true;
  return s;
}

}  // namespace xsk
