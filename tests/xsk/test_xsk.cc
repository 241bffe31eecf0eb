// ppool_xsk: the UMEM as a ppool region, its device, and AF_XDP sockets on
// veth pairs in a private network namespace (copy mode). Tests that need
// what the machine lacks (CAP_NET_ADMIN, AF_XDP, iproute2) skip with the
// reason.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ppool/registry.h"
#include "ppool/xsk.h"
#include "ppool/xsk_redirect.h"

namespace {

using ppool::Page;
using ppool::XskDesc;
using ppool::XskQueue;
using ppool::XskUmem;

constexpr std::uint16_t kEtherType = 0x88b5;  // IEEE local experimental
constexpr char kMagic[] = "ppool-xsk-test";

// ---- log capture ----
std::mutex g_log_lock;
std::vector<std::string> g_log;
void capture(ppool::LogLevel, std::string_view message) {
  std::lock_guard guard(g_log_lock);
  g_log.emplace_back(message);
}
bool logged(std::string_view needle) {
  std::lock_guard guard(g_log_lock);
  for (const auto& m : g_log)
    if (m.find(needle) != std::string::npos) return true;
  return false;
}

// ---- the network namespace and veth pairs ----
std::string g_skip;  // why the socket tests skip ("" when they can run)
bool g_netns_tried = false;

bool run(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

// Moves this (the test) thread into a private network namespace once: every
// socket and veth the tests make lives there and vanishes with the process.
// std::system() forks from this thread, so `ip` sees the same namespace.
void enter_netns() {
  if (g_netns_tried) return;
  g_netns_tried = true;
  setenv("LIBXDP_SKIP_DISPATCHER", "1", 1);
  if (unshare(CLONE_NEWNET) != 0) {
    g_skip =
        std::string("unshare(CLONE_NEWNET) refused (needs CAP_SYS_ADMIN): ") + std::strerror(errno);
    return;
  }
  if (!run("ip link show lo")) {
    g_skip = "iproute2's ip is not available";
    return;
  }
  // No IPv6 autoconfiguration chatter on the test links.
  std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1\n";
  int s = socket(AF_XDP, SOCK_RAW, 0);
  if (s < 0) {
    g_skip = std::string("no AF_XDP sockets here: ") + std::strerror(errno);
    return;
  }
  close(s);
}

struct Veth {
  std::string a, b;  // the XSK binds to a; packets are injected at b
  int a_index = 0, b_index = 0;
  bool ok = false;
  Veth(std::string a_name, std::string b_name) : a(std::move(a_name)), b(std::move(b_name)) {
    ok = run("ip link add " + a + " type veth peer name " + b) && run("ip link set " + a + " up") &&
         run("ip link set " + b + " up");
    a_index = static_cast<int>(if_nametoindex(a.c_str()));
    b_index = static_cast<int>(if_nametoindex(b.c_str()));
    ok = ok && a_index && b_index;
  }
  ~Veth() { run("ip link del " + a); }
};

// The library's redirect program, attached in generic (skb) mode, 4 queues.
struct RedirectProgram {
  ppool::XskRedirect xdp;
  std::string error;

  explicit RedirectProgram(int ifindex) {
    ppool::Result<void> done = xdp.load(4);
    if (done) done = xdp.attach(ifindex, /*generic_only=*/true);
    if (!done) error = done.error().message;
  }
  bool insert(std::uint32_t queue, int xsk_fd) { return xdp.add_socket(queue, xsk_fd).ok(); }
};

// An AF_PACKET socket on one interface, for our EtherType only.
struct PacketSocket {
  int fd = -1, ifindex = 0;
  explicit PacketSocket(int ifindex_) : ifindex(ifindex_) {
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(kEtherType));
    if (fd < 0) return;
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(kEtherType);
    sll.sll_ifindex = ifindex;
    if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      close(fd);
      fd = -1;
    }
  }
  ~PacketSocket() {
    if (fd >= 0) close(fd);
  }
  bool send(std::uint32_t seq) const {
    unsigned char frame[64] = {};
    std::memset(frame, 0xff, 6);                            // broadcast
    const unsigned char src[6] = {0x02, 0, 0, 0, 0, 0x01};  // locally administered
    std::memcpy(frame + 6, src, 6);
    frame[12] = kEtherType >> 8;
    frame[13] = kEtherType & 0xff;
    std::memcpy(frame + 14, kMagic, sizeof kMagic);
    std::memcpy(frame + 14 + sizeof kMagic, &seq, sizeof seq);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex;
    sll.sll_halen = 6;
    std::memset(sll.sll_addr, 0xff, 6);
    return sendto(fd, frame, sizeof frame, 0, reinterpret_cast<sockaddr*>(&sll), sizeof sll) ==
           static_cast<ssize_t>(sizeof frame);
  }
  // Sequence numbers of our frames received within timeout_ms.
  std::vector<std::uint32_t> receive(std::size_t want, int timeout_ms) const {
    std::vector<std::uint32_t> seqs;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (seqs.size() < want && std::chrono::steady_clock::now() < deadline) {
      unsigned char buf[2048];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      std::uint32_t seq;
      if (n >= static_cast<ssize_t>(14 + sizeof kMagic + sizeof seq) &&
          std::memcmp(buf + 14, kMagic, sizeof kMagic) == 0) {
        std::memcpy(&seq, buf + 14 + sizeof kMagic, sizeof seq);
        seqs.push_back(seq);
      }
    }
    return seqs;
  }
};

bool is_ours(const XskDesc& d, std::uint32_t* seq) {
  const auto* p = static_cast<const unsigned char*>(d.data());
  if (d.len < 14 + sizeof kMagic + 4 || std::memcmp(p + 14, kMagic, sizeof kMagic) != 0)
    return false;
  std::memcpy(seq, p + 14 + sizeof kMagic, 4);
  return true;
}

// Receives until `want` of our frames arrived (others recycled), or 2 s.
std::vector<XskDesc> receive_ours(XskQueue& q, std::size_t want) {
  std::vector<XskDesc> ours;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (ours.size() < want && std::chrono::steady_clock::now() < deadline) {
    XskDesc descs[64];
    std::size_t n = q.receive(descs, std::min<std::size_t>(64, want - ours.size()));
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t seq;
      if (is_ours(descs[i], &seq))
        ours.push_back(descs[i]);
      else
        q.recycle(&descs[i], 1);
    }
    if (n == 0) {
      pollfd p{q.fd(), POLLIN, 0};
      poll(&p, 1, 10);
    }
  }
  return ours;
}

std::unique_ptr<XskUmem> make_umem(std::uint32_t frames = 1024) {
  ppool::XskUmemParams params;
  params.frames = frames;
  params.fill_size = 1024;
  params.comp_size = 1024;
  auto umem = XskUmem::create(params);
  if (!umem) {
    ADD_FAILURE() << "XskUmem::create: " << umem.error().message;
    return nullptr;
  }
  return std::move(umem.value());
}

ppool::XskQueueParams queue_params(const std::string& ifname, const char* pool_name) {
  ppool::XskQueueParams p;
  p.ifname = ifname;
  p.queue_id = 0;
  p.rx_size = 512;
  p.tx_size = 512;
  p.mode = ppool::XskBindMode::kCopy;
  p.pool_name = pool_name;
  return p;
}

// PPOOL_REQUIRE_XSK=1 (scripts/test.sh sets it where root, network namespaces
// and trafgen are there): a test that would skip fails instead, so a machine
// that can run AF_XDP never passes CI with these tests skipped.
bool xsk_required() {
  const char* v = std::getenv("PPOOL_REQUIRE_XSK");
  return v && std::strcmp(v, "1") == 0;
}

// GTEST_SKIP(), or a fatal failure under PPOOL_REQUIRE_XSK=1 (what
// GTEST_SKIP and GTEST_FAIL both expand to, with the result type chosen).
#define XSK_SKIP()                                                                       \
  return ::testing::internal::AssertHelper(                                              \
             xsk_required() ? ::testing::TestPartResult::kFatalFailure                   \
                            : ::testing::TestPartResult::kSkip,                          \
             __FILE__, __LINE__,                                                         \
             xsk_required() ? "PPOOL_REQUIRE_XSK=1: this machine should run AF_XDP, but" \
                            : "Skipped") = ::testing::Message()

#define SKIP_UNLESS_NETNS()                    \
  do {                                         \
    enter_netns();                             \
    if (!g_skip.empty()) XSK_SKIP() << g_skip; \
  } while (0)

// The UMEM alone needs an AF_XDP socket (CAP_NET_RAW), not a namespace.
std::string umem_skip_reason() {
  int s = socket(AF_XDP, SOCK_RAW, 0);
  if (s < 0) return std::string("no AF_XDP sockets here: ") + std::strerror(errno);
  close(s);
  return "";
}

TEST(XskUmem, ParamsAreChecked) {
  ppool::XskUmemParams p;
  p.frames = 0;
  auto r = XskUmem::create(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("frames"), std::string::npos) << r.error().message;
  p.frames = 64;
  p.frame_size = 2048;
  r = XskUmem::create(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("frame_size"), std::string::npos) << r.error().message;
  p.frame_size = 4096;
  p.fill_size = 1000;
  r = XskUmem::create(p);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("fill_size"), std::string::npos) << r.error().message;
}

TEST(XskUmem, RegionFramesAndDevice) {
  if (auto why = umem_skip_reason(); !why.empty()) XSK_SKIP() << why;
  ppool::set_log_hook(capture);
  auto umem = make_umem(100);  // rounded up to one 4 MiB chunk
  ASSERT_TRUE(umem);
  EXPECT_EQ(umem->frames(), 1024u);
  EXPECT_GE(umem->fd(), 0);
  EXPECT_TRUE(umem->region().locked);
  if (!umem->hugetlb()) {
    EXPECT_TRUE(logged("using 4 KiB pages")) << "the fallback from hugetlb is said";
  }

  // A UMEM page maps to its region offset.
  Page* page = umem->allocator().alloc(0);
  ASSERT_NE(page, nullptr);
  const ppool::DmaAddr addr =
      umem->device().map(page_address(page), 4096, ppool::DmaDirection::kBidirectional, "test");
  EXPECT_EQ(addr, umem->region().offset_of(page));
  EXPECT_EQ(umem->page_at(addr + 300), page);

  // A page from elsewhere is refused, with a message.
  Page* foreign = ppool::PageAllocator::for_node(ppool::kNoNode).alloc(0);
  ASSERT_NE(foreign, nullptr);
  EXPECT_EQ(umem->device().map(page_address(foreign), 4096, ppool::DmaDirection::kBidirectional,
                               "foreign-pool"),
            ppool::kDmaMappingError);
  EXPECT_EQ(umem->device().refused(), 1u);
  EXPECT_NE(umem->device().last_refusal().find("not in the UMEM"), std::string::npos)
      << umem->device().last_refusal();
  EXPECT_NE(umem->device().last_refusal().find("foreign-pool"), std::string::npos);
  EXPECT_TRUE(logged("not in the UMEM"));

  // A pool on another allocator but the UMEM's device gets no page.
  ppool::PagePoolParams pp;
  pp.dev = &umem->device();
  pp.flags = ppool::kDmaMap;
  pp.name = "not-umem";
  auto pool = ppool::PagePool::create(pp);
  ASSERT_TRUE(pool) << pool.error().message;
  EXPECT_EQ(pool.value()->alloc_pages(), nullptr);
  EXPECT_GT(pool.value()->map_failures(), 0u);
  EXPECT_EQ(ppool::PagePool::destroy(pool.value()), 0u);

  ppool::put_page(foreign);
  ppool::put_page(page);
  auto c = umem->counts();
  EXPECT_EQ(c.frames, 1024u);
  EXPECT_EQ(c.home, 1024u);
  EXPECT_EQ(c.committed, 1024u);
  EXPECT_NE(umem->to_json().find("\"umem_frames\": 1024"), std::string::npos) << umem->to_json();
  ppool::set_log_hook(nullptr);
}

TEST(XskQueue, ReceiveTransmitComplete) {
  SKIP_UNLESS_NETNS();
  Veth veth("xska0", "xskb0");
  ASSERT_TRUE(veth.ok) << "could not make a veth pair";
  RedirectProgram prog(veth.a_index);
  if (!prog.error.empty()) XSK_SKIP() << "cannot attach an XDP program: " << prog.error;
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  auto q = XskQueue::create(*umem, queue_params(veth.a, "xsk-rx"));
  if (!q && q.error().code == ppool::Errc::kUnsupported) XSK_SKIP() << q.error().message;
  ASSERT_TRUE(q) << q.error().message;
  XskQueue& queue = *q.value();
  ASSERT_TRUE(prog.insert(0, queue.fd()));
  EXPECT_FALSE(queue.zero_copy());
  EXPECT_EQ(queue.mem().type, ppool::MemType::kXskBuffPool);

  EXPECT_EQ(queue.refill(256), 256u);
  EXPECT_EQ(queue.in_fill(), 256u);
  EXPECT_EQ(queue.ring_counts().fill, 256u);
  EXPECT_EQ(umem->counts().fill, 256u);
  EXPECT_EQ(queue.pool().inflight(), 256u);

  PacketSocket peer(veth.b_index);
  ASSERT_GE(peer.fd, 0);
  constexpr std::uint32_t kPackets = 16;
  for (std::uint32_t i = 0; i < kPackets; ++i) ASSERT_TRUE(peer.send(i));
  std::vector<XskDesc> got = receive_ours(queue, kPackets);
  ASSERT_EQ(got.size(), kPackets);
  for (const XskDesc& d : got) {
    EXPECT_EQ(d.offset, ppool::kXskPacketHeadroom);
    EXPECT_EQ(d.len, 64u);
    EXPECT_EQ(ppool::page_pool_of(d.page), &queue.pool());
    EXPECT_EQ(umem->state_of(d.page), XskUmem::kApp);
  }
  auto c = umem->counts();
  EXPECT_EQ(c.app, kPackets);
  EXPECT_EQ(c.fill + c.app, 256u) << "every frame the pool gave is in the fill ring or ours";

  // Back out of the same port: the peer sees them.
  EXPECT_EQ(queue.transmit(got.data(), got.size()), kPackets);
  std::vector<std::uint32_t> echoed = peer.receive(kPackets, 2000);
  EXPECT_EQ(echoed.size(), kPackets);
  std::size_t done = 0;
  for (int i = 0; i < 200 && done < kPackets; ++i) {
    done += queue.complete(64);
    if (done < kPackets) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(done, kPackets);
  EXPECT_EQ(queue.in_tx(), 0u);
  EXPECT_EQ(umem->counts().app, 0u);

  // As Frames under the XDP memory model: return_frame sends the page home.
  for (std::uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(peer.send(100 + i));
  got = receive_ours(queue, 4);
  ASSERT_EQ(got.size(), 4u);
  for (const XskDesc& d : got) {
    ppool::Frame* f = queue.to_frame(d);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->mem.type, ppool::MemType::kXskBuffPool);
    XskDesc back = XskQueue::desc_of(f);
    EXPECT_EQ(back.page, d.page);
    EXPECT_EQ(back.offset, d.offset);
    queue.note_returned(&f, 1);
    ppool::return_frame(f);
  }
  EXPECT_EQ(umem->counts().app, 0u);

  // The first socket of a UMEM is its registration: the kernel keeps it
  // bound, and the frames of its fill ring, until the UMEM is deleted. The
  // pool waits for them, and is freed when they come back.
  auto before = umem->counts();
  EXPECT_EQ(before.app + before.tx, 0u);
  EXPECT_EQ(queue.close(), before.fill) << "only the fill ring's frames are still out";
  EXPECT_EQ(queue.ring_counts().fill, 0u) << "a closed queue has no rings";
  q.value().reset();
  umem.reset();
  for (int i = 0; i < 200 && ppool::pools_pending_release() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ppool::pools_pending_release(), 0u) << "the pool reached 0 in flight";
}

TEST(XskQueue, TeardownWithFramesInEveryRing) {
  SKIP_UNLESS_NETNS();
  Veth v0("xska1", "xskb1"), v1("xska2", "xskb2");
  ASSERT_TRUE(v0.ok && v1.ok) << "could not make veth pairs";
  RedirectProgram p0(v0.a_index), p1(v1.a_index);
  if (!p0.error.empty()) XSK_SKIP() << "cannot attach an XDP program: " << p0.error;
  ASSERT_TRUE(p1.error.empty()) << p1.error;
  const std::uint64_t misuses = ppool::misuse_count();
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  // The first socket is the UMEM's registration; the second has rings of
  // its own and is the one whose close reclaims at once.
  auto first = XskQueue::create(*umem, queue_params(v0.a, "xsk-first"));
  if (!first && first.error().code == ppool::Errc::kUnsupported)
    XSK_SKIP() << first.error().message;
  ASSERT_TRUE(first) << first.error().message;
  auto second = XskQueue::create(*umem, queue_params(v1.a, "xsk-second"));
  ASSERT_TRUE(second) << second.error().message;
  ASSERT_TRUE(p0.insert(0, first.value()->fd()));
  ASSERT_TRUE(p1.insert(0, second.value()->fd()));

  PacketSocket peer0(v0.b_index), peer1(v1.b_index);
  for (XskQueue* q : {first.value().get(), second.value().get()}) {
    PacketSocket& peer = q == first.value().get() ? peer0 : peer1;
    ASSERT_EQ(q->refill(300), 300u);
    for (std::uint32_t i = 0; i < 120; ++i) ASSERT_TRUE(peer.send(i));
    // 100 received: 70 transmitted (copy mode sends 32 a kick: the rest
    // stay in the TX ring; the sent ones wait in the completion ring),
    // 30 kept by the application, given back before the end; 20 left in
    // the RX ring; the rest of the 300 in the fill ring.
    std::vector<XskDesc> got = receive_ours(*q, 100);
    ASSERT_EQ(got.size(), 100u);
    EXPECT_EQ(q->transmit(got.data(), 70), 70u);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    q->recycle(got.data() + 70, 30);
    const ppool::XskRingCounts rings = q->ring_counts();
    EXPECT_EQ(rings.rx, 20u);
    EXPECT_EQ(rings.fill, 300u - 120u);
    EXPECT_EQ(rings.tx + rings.completion, 70u);
    EXPECT_GT(rings.tx, 0u) << "copy mode sends a batch a kick";
    EXPECT_GT(rings.completion, 0u);
  }
  auto c = umem->counts();
  EXPECT_EQ(c.app, 0u);
  EXPECT_EQ(c.tx, 140u);
  EXPECT_EQ(c.fill, 600u - 200u) << "fill + RX rings";
  EXPECT_EQ(first.value()->in_fill() + second.value()->in_fill(), c.fill);
  EXPECT_EQ(first.value()->in_tx() + second.value()->in_tx(), c.tx);
  EXPECT_EQ(c.home + c.fill + c.tx + c.app, c.frames);

  // Closing the second socket reclaims everything the kernel held for it.
  ppool::PagePool* second_pool = &second.value()->pool();
  const std::uint32_t second_inflight = second_pool->inflight();
  EXPECT_GE(second_inflight, 300u - 30u);
  EXPECT_EQ(second.value()->close(), 0u) << "no frame of its pool is left anywhere";
  c = umem->counts();
  EXPECT_EQ(c.fill + c.tx, 200u + 70u) << "only the first socket's frames are still the kernel's";

  // The first socket is the UMEM's registration: its frames come back when
  // the UMEM is deleted, and its pool is freed then.
  first.value()->close();
  first.value().reset();
  second.value().reset();
  umem.reset();
  for (int i = 0; i < 200 && ppool::pools_pending_release() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ppool::pools_pending_release(), 0u) << "every pool reached 0 in flight";
  EXPECT_EQ(ppool::misuse_count(), misuses);
}

TEST(XskQueue, SharedUmemForwardsWithoutCopy) {
  SKIP_UNLESS_NETNS();
  Veth v0("xska3", "xskb3"), v1("xska4", "xskb4");
  ASSERT_TRUE(v0.ok && v1.ok) << "could not make veth pairs";
  RedirectProgram p0(v0.a_index), p1(v1.a_index);
  if (!p0.error.empty()) XSK_SKIP() << "cannot attach an XDP program: " << p0.error;
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  auto in = XskQueue::create(*umem, queue_params(v0.a, "xsk-in"));
  if (!in && in.error().code == ppool::Errc::kUnsupported) XSK_SKIP() << in.error().message;
  ASSERT_TRUE(in) << in.error().message;
  auto out = XskQueue::create(*umem, queue_params(v1.a, "xsk-out"));
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_TRUE(p0.insert(0, in.value()->fd()));
  ASSERT_TRUE(p1.insert(0, out.value()->fd()));
  // The same (netdev, queue) twice on one UMEM is refused, by name.
  auto twice = XskQueue::create(*umem, queue_params(v1.a, "xsk-twice"));
  ASSERT_FALSE(twice);
  EXPECT_NE(twice.error().message.find("already has a socket"), std::string::npos);

  PacketSocket peer0(v0.b_index), peer1(v1.b_index);
  ASSERT_EQ(in.value()->refill(64), 64u);
  for (std::uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(peer0.send(i));
  std::vector<XskDesc> got = receive_ours(*in.value(), 8);
  ASSERT_EQ(got.size(), 8u);
  std::vector<std::uint64_t> addrs;
  std::vector<const void*> data;
  for (const XskDesc& d : got) {
    addrs.push_back(umem->addr_of(d.page));
    data.push_back(d.data());
  }
  // Received on one socket, sent from the other: same pages, same UMEM
  // addresses, no copy.
  ASSERT_EQ(out.value()->transmit(got.data(), got.size()), 8u);
  std::vector<std::uint32_t> seqs = peer1.receive(8, 2000);
  EXPECT_EQ(seqs.size(), 8u);
  std::vector<std::uint64_t> completed;
  for (int i = 0; i < 200 && out.value()->in_tx() != 0; ++i) {
    out.value()->complete(64);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(out.value()->in_tx(), 0u);
  EXPECT_EQ(out.value()->stats().completed, 8u);
  // Completed on the other socket, home to the receiving queue's pool: its
  // frames never belonged to "out"'s pool.
  EXPECT_EQ(out.value()->pool().inflight(), 0u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].data(), data[i]);
    EXPECT_EQ(umem->state_of(got[i].page), XskUmem::kHome);
  }
  EXPECT_EQ(in.value()->in_fill(), 64u - 8u);
  auto c = umem->counts();
  EXPECT_EQ(c.app + c.tx, 0u);
  EXPECT_EQ(c.fill, 56u);
  out.value()->close();
  in.value()->close();
}

// A frame of the UMEM in `state`, or nullptr (scans the ledger).
Page* frame_in(const XskUmem& umem, XskUmem::FrameState state) {
  for (std::uint64_t addr = 0; addr < std::uint64_t{umem.frames()} * ppool::kXskFrameSize;
       addr += ppool::kXskFrameSize) {
    Page* page = umem.page_at(addr);
    if (page && umem.state_of(page) == state) return page;
  }
  return nullptr;
}

TEST(XskQueue, TransmitOnlyFramesTheApplicationHolds) {
  SKIP_UNLESS_NETNS();
  Veth veth("xska5", "xskb5");
  ASSERT_TRUE(veth.ok) << "could not make a veth pair";
  RedirectProgram prog(veth.a_index);
  if (!prog.error.empty()) XSK_SKIP() << "cannot attach an XDP program: " << prog.error;
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  auto q = XskQueue::create(*umem, queue_params(veth.a, "xsk-tx-check"));
  if (!q && q.error().code == ppool::Errc::kUnsupported) XSK_SKIP() << q.error().message;
  ASSERT_TRUE(q) << q.error().message;
  XskQueue& queue = *q.value();
  ASSERT_TRUE(prog.insert(0, queue.fd()));
  ASSERT_EQ(queue.refill(32), 32u);
  PacketSocket peer(veth.b_index);
  for (std::uint32_t i = 0; i < 4; ++i) ASSERT_TRUE(peer.send(i));
  std::vector<XskDesc> got = receive_ours(queue, 4);
  ASSERT_EQ(got.size(), 4u);

  // Where everything is before each refusal; a refusal moves none of it.
  struct Snapshot {
    std::uint32_t in_fill, in_tx, ring_fill, ring_tx, home, app, fill, tx;
    bool operator==(const Snapshot&) const = default;
  };
  auto snapshot = [&] {
    const ppool::XskRingCounts r = queue.ring_counts();
    const ppool::XskFrameCounts c = umem->counts();
    return Snapshot{queue.in_fill(), queue.in_tx(), r.fill, r.tx, c.home, c.app, c.fill, c.tx};
  };
  const std::uint64_t misuses = ppool::misuse_count();

  // A frame still in the fill ring: refused, left there.
  Page* in_fill = frame_in(*umem, XskUmem::kFill);
  ASSERT_NE(in_fill, nullptr);
  Snapshot before = snapshot();
  const XskDesc fill_desc{in_fill, ppool::kXskPacketHeadroom, 64};
  EXPECT_EQ(queue.transmit(&fill_desc, 1), 0u) << "a frame in the fill ring is the kernel's";
  EXPECT_EQ(umem->state_of(in_fill), XskUmem::kFill);
  EXPECT_TRUE(snapshot() == before);
  EXPECT_EQ(queue.stats().tx_refused, 1u);
  EXPECT_EQ(ppool::misuse_count(), misuses + 1) << "reported as a misuse";
  EXPECT_EQ(queue.in_fill(), 32u - 4u);
  EXPECT_EQ(queue.ring_counts().tx, 0u);

  // The same received frame twice in one batch: the first goes, the second
  // (now in the TX ring) is refused.
  const XskDesc twice[2] = {got[0], got[0]};
  EXPECT_EQ(queue.transmit(twice, 2), 1u);
  EXPECT_EQ(queue.stats().tx_refused, 2u);
  EXPECT_EQ(queue.in_tx(), 1u);
  EXPECT_EQ(umem->counts().tx, 1u);
  EXPECT_EQ(queue.transmit(&got[0], 1), 0u) << "already in the TX ring";
  EXPECT_EQ(queue.in_tx(), 1u);

  // A frame given back to its pool is home: refused.
  queue.recycle(&got[1], 1);
  before = snapshot();
  EXPECT_EQ(queue.transmit(&got[1], 1), 0u) << "home in the pool";
  EXPECT_TRUE(snapshot() == before);
  EXPECT_EQ(queue.stats().tx_refused, 4u);

  // A frame the application allocated from the queue's pool is its own.
  Page* mine = queue.pool().alloc_pages();
  ASSERT_NE(mine, nullptr);
  const XskDesc mine_desc{mine, 0, 64};
  EXPECT_EQ(queue.transmit(&mine_desc, 1), 1u);
  EXPECT_EQ(queue.in_tx(), 2u);

  std::size_t done = 0;
  for (int i = 0; i < 200 && done < 2; ++i) {
    done += queue.complete(64);
    if (done < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(done, 2u);
  EXPECT_EQ(queue.in_tx(), 0u);
  queue.recycle(got.data() + 2, 2);
  const ppool::XskFrameCounts c = umem->counts();
  EXPECT_EQ(c.app + c.tx, 0u);
  EXPECT_EQ(c.fill, queue.in_fill());
  EXPECT_EQ(c.home + c.fill, c.frames);
  EXPECT_EQ(ppool::misuse_count(), misuses + 4);
  queue.close();
}

TEST(XskQueue, RecycleOnlyFramesTheApplicationHolds) {
  SKIP_UNLESS_NETNS();
  Veth veth("xska8", "xskb8");
  ASSERT_TRUE(veth.ok) << "could not make a veth pair";
  RedirectProgram prog(veth.a_index);
  if (!prog.error.empty()) XSK_SKIP() << "cannot attach an XDP program: " << prog.error;
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  auto q = XskQueue::create(*umem, queue_params(veth.a, "xsk-recycle-check"));
  if (!q && q.error().code == ppool::Errc::kUnsupported) XSK_SKIP() << q.error().message;
  ASSERT_TRUE(q) << q.error().message;
  XskQueue& queue = *q.value();
  ASSERT_TRUE(prog.insert(0, queue.fd()));
  ASSERT_EQ(queue.refill(32), 32u);
  PacketSocket peer(veth.b_index);
  for (std::uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(peer.send(i));
  std::vector<XskDesc> got = receive_ours(queue, 5);
  ASSERT_EQ(got.size(), 5u);
  ppool::set_log_hook(capture);
  ppool::detail::restart_misuse_reports();  // earlier tests' reports do not silence ours

  // Where everything is before each refusal; a refusal moves none of it.
  struct Snapshot {
    std::uint32_t in_fill, in_tx, ring_fill, ring_tx, home, app, fill, tx, inflight;
    bool operator==(const Snapshot&) const = default;
  };
  auto snapshot = [&] {
    const ppool::XskRingCounts r = queue.ring_counts();
    const ppool::XskFrameCounts c = umem->counts();
    return Snapshot{
        queue.in_fill(),        queue.in_tx(), r.fill, r.tx, c.home, c.app, c.fill, c.tx,
        queue.pool().inflight()};
  };
  const std::uint64_t misuses = ppool::misuse_count();

  // A frame still in the fill ring: refused, left there. Taken, it would be
  // in the pool's cache and the fill ring at once: the next allocation
  // would hand it out while the kernel may write a packet into it.
  Page* in_fill = frame_in(*umem, XskUmem::kFill);
  ASSERT_NE(in_fill, nullptr);
  Snapshot before = snapshot();
  const XskDesc fill_desc{in_fill, ppool::kXskPacketHeadroom, 64};
  EXPECT_EQ(queue.recycle(&fill_desc, 1), 0u) << "a frame in the fill ring is the kernel's";
  EXPECT_EQ(umem->state_of(in_fill), XskUmem::kFill);
  EXPECT_TRUE(snapshot() == before);
  EXPECT_EQ(queue.returns_refused(), 1u);
  EXPECT_EQ(ppool::misuse_count(), misuses + 1) << "reported as a misuse";
  EXPECT_TRUE(logged("recycle of page")) << "the report names the operation";
  Page* next = queue.pool().alloc_pages();
  ASSERT_NE(next, nullptr);
  EXPECT_NE(next, in_fill) << "the pool hands out a frame the fill ring still holds";
  const XskDesc next_desc{next, 0, 0};
  EXPECT_EQ(queue.recycle(&next_desc, 1), 1u) << "allocated from the pool: the application's";

  // A frame in the TX ring: refused, left there until its completion.
  ASSERT_EQ(queue.transmit(&got[0], 1), 1u);
  before = snapshot();
  EXPECT_EQ(queue.recycle(&got[0], 1), 0u) << "a frame in the TX ring is the kernel's";
  EXPECT_EQ(umem->state_of(got[0].page), XskUmem::kTx);
  EXPECT_TRUE(snapshot() == before);
  EXPECT_EQ(queue.returns_refused(), 2u);
  std::size_t done = 0;
  for (int i = 0; i < 200 && done < 1; ++i) {
    done += queue.complete(64);
    if (done < 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(done, 1u);

  // Given back once: home. A second time it is refused, and the pool is
  // never asked (its double-put report would be a second misuse).
  EXPECT_EQ(queue.recycle(&got[1], 1), 1u);
  EXPECT_EQ(umem->state_of(got[1].page), XskUmem::kHome);
  before = snapshot();
  EXPECT_EQ(queue.recycle(&got[1], 1), 0u) << "already home";
  EXPECT_TRUE(snapshot() == before);
  EXPECT_EQ(queue.returns_refused(), 3u);

  // The same received frame twice in one call: the first goes home, the
  // second is refused; the frames around them go home.
  const XskDesc twice[3] = {got[2], got[2], got[3]};
  EXPECT_EQ(queue.recycle(twice, 3), 2u);
  EXPECT_EQ(queue.returns_refused(), 4u);
  EXPECT_EQ(umem->state_of(got[3].page), XskUmem::kHome);

  // note_returned(): a Frame on a frame of the fill ring is refused (the
  // Frame lives here, not in the kernel's frame); a received one is noted
  // once, and refused after it was returned.
  ppool::Frame on_fill{static_cast<char*>(ppool::page_address(in_fill)) + ppool::kXskPacketHeadroom,
                       64, 0, ppool::kXskFrameSize, queue.mem()};
  const ppool::Frame* on_fill_ptr = &on_fill;
  before = snapshot();
  EXPECT_EQ(queue.note_returned(&on_fill_ptr, 1), 0u);
  EXPECT_EQ(umem->state_of(in_fill), XskUmem::kFill);
  EXPECT_TRUE(snapshot() == before);
  EXPECT_EQ(queue.returns_refused(), 5u);
  ppool::Frame* frame = queue.to_frame(got[4]);
  ASSERT_NE(frame, nullptr);
  const ppool::Frame* frame_ptr = frame;
  EXPECT_EQ(queue.note_returned(&frame_ptr, 1), 1u);
  ppool::return_frame(frame);
  EXPECT_EQ(umem->state_of(got[4].page), XskUmem::kHome);
  // The Frame's bytes are in the page, which is home and unchanged since.
  EXPECT_EQ(queue.note_returned(&frame_ptr, 1), 0u) << "already home";
  EXPECT_EQ(queue.returns_refused(), 6u);

  const ppool::XskFrameCounts c = umem->counts();
  EXPECT_EQ(c.app + c.tx, 0u);
  EXPECT_EQ(c.fill, queue.in_fill());
  EXPECT_EQ(c.fill, 32u - 5u);
  EXPECT_EQ(c.home + c.fill, c.frames);
  EXPECT_EQ(ppool::misuse_count(), misuses + 6) << "each refusal reported once, none by the pool";
  queue.close();
}

// One of a socket's rings, mapped a second time: the test posts to it behind
// the queue's back, as a buggy application (or kernel) would.
template <class Entry>
struct RawRing {
  void* map = MAP_FAILED;
  std::size_t bytes = 0;
  std::uint32_t* producer = nullptr;
  Entry* entries = nullptr;
  std::uint32_t size = 0;
  RawRing(int fd, const xdp_ring_offset& off, std::uint32_t n, off_t pgoff) : size(n) {
    bytes = off.desc + n * sizeof(Entry);
    map = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
    if (map == MAP_FAILED) return;
    producer = reinterpret_cast<std::uint32_t*>(static_cast<char*>(map) + off.producer);
    entries = reinterpret_cast<Entry*>(static_cast<char*>(map) + off.desc);
  }
  ~RawRing() {
    if (map != MAP_FAILED) munmap(map, bytes);
  }
  void post(const Entry& e) {
    const std::uint32_t prod = __atomic_load_n(producer, __ATOMIC_RELAXED);
    entries[prod & (size - 1)] = e;
    __atomic_store_n(producer, prod + 1, __ATOMIC_RELEASE);
  }
};

TEST(XskQueue, RejectedEntriesLeaveCountsExact) {
  SKIP_UNLESS_NETNS();
  Veth veth("xska6", "xskb6");
  ASSERT_TRUE(veth.ok) << "could not make a veth pair";
  RedirectProgram prog(veth.a_index);
  if (!prog.error.empty()) XSK_SKIP() << "cannot attach an XDP program: " << prog.error;
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  ppool::XskQueueParams params = queue_params(veth.a, "xsk-rejects");
  params.need_wakeup = false;
  auto q = XskQueue::create(*umem, params);
  if (!q && q.error().code == ppool::Errc::kUnsupported) XSK_SKIP() << q.error().message;
  ASSERT_TRUE(q) << q.error().message;
  XskQueue& queue = *q.value();
  ASSERT_TRUE(prog.insert(0, queue.fd()));
  xdp_mmap_offsets off{};
  socklen_t len = sizeof off;
  ASSERT_EQ(getsockopt(queue.fd(), SOL_XDP, XDP_MMAP_OFFSETS, &off, &len), 0);
  // The first socket's fill ring is the UMEM's (1024 entries in make_umem).
  RawRing<std::uint64_t> fill(queue.fd(), off.fr, 1024, XDP_UMEM_PGOFF_FILL_RING);
  RawRing<xdp_desc> tx(queue.fd(), off.tx, params.tx_size, XDP_PGOFF_TX_RING);
  ASSERT_NE(fill.map, MAP_FAILED) << std::strerror(errno);
  ASSERT_NE(tx.map, MAP_FAILED) << std::strerror(errno);

  // A frame of the UMEM that no socket posted (straight from its allocator).
  Page* stray = umem->allocator().alloc(0);
  ASSERT_NE(stray, nullptr);
  const std::uint64_t addr = umem->addr_of(stray);
  const std::uint64_t misuses = ppool::misuse_count();
  auto exact = [&](const char* when) {
    SCOPED_TRACE(when);
    const ppool::XskRingCounts r = queue.ring_counts();
    const ppool::XskFrameCounts c = umem->counts();
    EXPECT_EQ(queue.in_fill(), 0u);
    EXPECT_EQ(queue.in_tx(), 0u);
    EXPECT_EQ(r.fill + r.rx + r.tx + r.completion, 0u);
    EXPECT_EQ(c.fill + c.tx + c.app, 0u);
    EXPECT_EQ(c.home, c.frames);
    EXPECT_EQ(umem->state_of(stray), XskUmem::kHome);
  };

  // Posted to the fill ring behind the queue's back: the kernel receives a
  // packet into it, and the queue rejects the RX entry.
  fill.post(addr);
  PacketSocket peer(veth.b_index);
  ASSERT_TRUE(peer.send(1));
  XskDesc descs[8];
  std::size_t received = 0;
  for (int i = 0; i < 200 && queue.stats().rejected == 0; ++i) {
    received += queue.receive(descs, 8);
    pollfd p{queue.fd(), POLLIN, 0};
    poll(&p, 1, 10);
  }
  EXPECT_EQ(received, 0u);
  EXPECT_EQ(queue.stats().rejected, 1u);
  EXPECT_EQ(queue.stats().rx, 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses + 1);
  exact("after a rejected RX entry");

  // Posted to the TX ring behind its back: sent, completed, and the queue
  // rejects the completion.
  tx.post(xdp_desc{addr, 64, 0});
  std::size_t completed = 0;
  for (int i = 0; i < 200 && queue.stats().rejected < 2; ++i) {
    (void)sendto(queue.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0);
    completed += queue.complete(64);
    if (queue.stats().rejected < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(completed, 0u);
  EXPECT_EQ(queue.stats().rejected, 2u);
  EXPECT_EQ(queue.stats().completed, 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses + 2);
  exact("after a rejected completion");

  // The queue's own rings are not used again: their cached indices no
  // longer match what was posted behind them.
  ppool::put_page(stray);
  queue.close();
}

TEST(XskUmem, TeardownOutlivesItsPendingPools) {
  SKIP_UNLESS_NETNS();
  Veth veth("xska7", "xskb7");
  ASSERT_TRUE(veth.ok) << "could not make a veth pair";
  auto umem = make_umem();
  ASSERT_TRUE(umem);
  auto q = XskQueue::create(*umem, queue_params(veth.a, "xsk-pending"));
  if (!q && q.error().code == ppool::Errc::kUnsupported) XSK_SKIP() << q.error().message;
  ASSERT_TRUE(q) << q.error().message;
  ASSERT_EQ(q.value()->refill(64), 64u);
  const std::uint32_t id = q.value()->pool().id();
  // The registration socket's fill ring is the kernel's until the UMEM
  // goes: its pool is destroyed with 64 frames out, and waits.
  EXPECT_EQ(q.value()->close(), 64u);
  ASSERT_TRUE(ppool::find_pool(id).has_value());
  EXPECT_EQ(ppool::find_pool(id)->dma_device, "xsk_umem");
  // A registry reader all along: under AddressSanitizer, one that reached
  // the pool after the device was gone would be a use after free.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) (void)ppool::list_pools();
  });
  q.value().reset();
  umem.reset();
  // The UMEM's destructor returned: no pool that names its device is left
  // for a reader to find.
  EXPECT_FALSE(ppool::find_pool(id).has_value());
  stop = true;
  reader.join();
}

}  // namespace
