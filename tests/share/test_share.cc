// ppool/share.h with real processes: the consumer is a forked child (it runs
// only ShareConsumer code, then _exit()s), the producer is the test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/share.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

using ppool::Page;
using ppool::PageAllocator;
using ppool::PagePool;
using ppool::ShareBuf;
using ppool::ShareConsumer;
using ppool::ShareMsg;
using ppool::ShareProducer;

constexpr unsigned char kMark = 0xA5;

// What a child consumer sends back on its socket.
struct ChildReport {
  std::uint64_t messages = 0, errors = 0, stale = 0, held = 0;
};

std::uint8_t pattern(std::uint64_t seq, std::size_t i) {
  return static_cast<std::uint8_t>(seq * 131 + i * 7);
}

// seq in the first 8 bytes, the pattern after them.
void fill(void* data, std::uint32_t len, std::uint64_t seq) {
  auto* p = static_cast<std::uint8_t*>(data);
  std::memcpy(p, &seq, sizeof seq);
  for (std::size_t i = sizeof seq; i < len; ++i) p[i] = pattern(seq, i);
}

bool intact(const std::byte* data, std::uint32_t len, std::uint64_t* seq) {
  std::memcpy(seq, data, sizeof *seq);
  const auto* p = reinterpret_cast<const std::uint8_t*>(data);
  for (std::size_t i = sizeof *seq; i < len; ++i)
    if (p[i] != pattern(*seq, i)) return false;
  return true;
}

// A consumer process: fork, run body(socket) in the child, _exit with its
// result. The parent keeps the other end of the socket.
struct Child {
  pid_t pid = -1;
  int fd = -1;

  explicit Child(const std::function<int(int)>& body) {
    int sv[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    pid = fork();
    if (pid == 0) {
      close(sv[0]);
      _exit(body(sv[1]));
    }
    close(sv[1]);
    fd = sv[0];
  }
  ~Child() {
    if (fd >= 0) close(fd);
    if (pid > 0) {
      kill(pid, SIGKILL);
      wait();
    }
  }
  // The child's exit status, or 128 + its signal.
  int wait() {
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) return -1;
    pid = -1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  }
  bool report(ChildReport* r, ShareProducer* producer = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (producer) producer->reap();
      if (recv(fd, r, sizeof *r, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof *r)) return true;
      usleep(500);
    }
    return false;
  }
};

int send_report(int fd, const ChildReport& r) {
  return write(fd, &r, sizeof r) == static_cast<ssize_t>(sizeof r) ? 0 : 20;
}

// The consumers. Each ends at a message of length 0 (the producer's end
// marker) unless told otherwise.
struct ConsumerOpts {
  std::uint32_t hold_after = 0;      // keep every page from message hold_after on
  std::uint32_t hold_count = 0;      // report once this many are held, then wait to die
  bool duplicate_and_bogus = false;  // give each page back twice, and offsets never handed
  std::size_t stale_page_bytes = 0;  // count marks outside each message in its page
};

int consume(int fd, const ConsumerOpts& o) {
  auto connected = ShareConsumer::connect(fd, 10000);
  if (!connected) return 10;
  ShareConsumer& c = *connected.value();
  ChildReport r;
  ShareMsg msgs[32];
  bool end = false;
  while (!end) {
    const std::size_t n = c.receive(msgs, 32);
    if (!n) {
      if (!c.wait_data(10) && c.producer_gone()) return 11;
      continue;
    }
    std::vector<std::uint64_t> back;
    for (std::size_t i = 0; i < n; ++i) {
      const ShareMsg& m = msgs[i];
      if (o.stale_page_bytes) {
        const std::byte* page = c.region_base() + m.page;
        const auto marks = [](const std::byte* a, const std::byte* b) {
          return static_cast<std::uint64_t>(std::count(a, b, std::byte{kMark}));
        };
        r.stale += marks(page, m.data) + marks(m.data + m.len, page + o.stale_page_bytes);
      }
      if (m.len == 0) {
        end = true;
        back.push_back(m.page);
        continue;
      }
      std::uint64_t seq = 0;
      if (!intact(m.data, m.len, &seq) || seq != r.messages) ++r.errors;
      ++r.messages;
      if (o.hold_count && seq >= o.hold_after) {
        ++r.held;
        continue;
      }
      back.push_back(m.page);
      if (o.duplicate_and_bogus) {
        back.push_back(m.page);                   // twice
        back.push_back(m.page + 1);               // not a page boundary
        back.push_back(c.region_bytes() + 4096);  // outside the region
      }
    }
    for (std::size_t given = 0; given < back.size();) {
      given += c.give_back(back.data() + given, back.size() - given);
      if (given < back.size() && !c.wait_room(10) && c.producer_gone()) return 12;
    }
    if (o.hold_count && r.held == o.hold_count) {
      if (send_report(fd, r)) return 20;
      for (;;) pause();  // until the producer kills us
    }
  }
  return send_report(fd, r);
}

// A pool on a shared region of `bytes`.
struct SharedPool {
  std::unique_ptr<PageAllocator> allocator;
  PagePool* pool = nullptr;
  std::string skip;

  SharedPool(std::size_t bytes, std::uint32_t flags = ppool::kZeroPages, unsigned order = 0) {
    auto created = PageAllocator::create({.max_bytes = bytes, .shared = true});
    if (!created) {
      skip = "no shared region here: " + created.error().message;
      return;
    }
    allocator = std::move(created).value();
    ppool::PagePoolParams params;
    params.name = "share-test";
    params.allocator = allocator.get();
    params.flags = flags;
    params.order = order;
    params.pool_size = 1024;
    pool = ppool::test::create_pool(params);
  }
  ~SharedPool() {
    if (pool) {
      EXPECT_EQ(PagePool::destroy(pool), 0u);
    }
  }
  std::uint32_t destroy() {
    std::uint32_t left = PagePool::destroy(pool);
    pool = nullptr;
    return left;
  }
};

#define SKIP_WITHOUT_REGION(sp)  \
  do {                           \
    if (!(sp).skip.empty()) {    \
      GTEST_SKIP() << (sp).skip; \
    }                            \
  } while (0)

std::unique_ptr<ShareProducer> attach(PagePool* pool, int fd, std::uint32_t ring = 256) {
  auto attached = ShareProducer::attach(pool, fd, {.ring_entries = ring});
  EXPECT_TRUE(attached.ok()) << (attached.ok() ? "" : attached.error().message);
  return attached.ok() ? std::move(attached).value() : nullptr;
}

// Hands n messages of len(seq) bytes (then the end marker when `end`),
// reaping (unless told not to: then every page handed is fresh from the
// allocator while the region lasts) and waiting as needed. False when the
// consumer went away.
bool stream(ShareProducer& producer, PagePool* pool, std::uint64_t n,
            const std::function<std::uint32_t(std::uint64_t)>& len, bool end = true,
            bool reap = true) {
  for (std::uint64_t seq = 0; seq < n + (end ? 1 : 0);) {
    Page* page = pool->alloc_pages();
    if (!page) {
      producer.reap();
      if (!producer.wait_returns(10) && producer.peer_gone()) return false;
      continue;
    }
    const std::uint32_t bytes = seq < n ? len(seq) : 0;
    if (bytes) fill(ppool::page_address(page), bytes, seq);
    while (!producer.hand(page, 0, bytes)) {
      producer.reap();
      if (!producer.wait_room(10) && producer.peer_gone()) {
        ppool::put_page(page);
        return false;
      }
    }
    ++seq;
    if (reap) producer.reap();
  }
  return true;
}

TEST(Share, AttachRefusesWhatCannotWork) {
  PagePool* private_pool = ppool::test::make_pool("private", nullptr, 0);
  ASSERT_NE(private_pool, nullptr);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  auto refused = ShareProducer::attach(private_pool, sv[0]);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ppool::Errc::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("does not draw from a shared region"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(PagePool::destroy(private_pool), 0u);

  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  auto bad_ring = ShareProducer::attach(sp.pool, sv[0], {.ring_entries = 1000});
  ASSERT_FALSE(bad_ring.ok());
  EXPECT_NE(bad_ring.error().message.find("ring_entries 1000"), std::string::npos);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto not_unix = ShareProducer::attach(sp.pool, p[1]);
  ASSERT_FALSE(not_unix.ok());
  EXPECT_NE(not_unix.error().message.find("not an AF_UNIX socket"), std::string::npos);
  for (int fd : {sv[0], sv[1], p[0], p[1]}) close(fd);
}

TEST(Share, ConsumerRefusesAPeerThatIsNotAProducer) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  const char junk[32] = "not a ppool share header";
  ASSERT_EQ(write(sv[0], junk, sizeof junk), static_cast<ssize_t>(sizeof junk));
  auto refused = ShareConsumer::connect(sv[1], 1000);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("not a ppool share producer"), std::string::npos)
      << refused.error().message;
  auto timeout = ShareConsumer::connect(sv[1], 10);
  ASSERT_FALSE(timeout.ok());
  EXPECT_NE(timeout.error().message.find("no header"), std::string::npos);
  close(sv[0]);
  close(sv[1]);
}

// Every byte of every message arrives as written; every page comes back.
TEST(Share, DataArrivesIntactAndReturnsRecycle) {
  SharedPool sp(ppool::kChunkBytes);  // 1024 pages
  SKIP_WITHOUT_REGION(sp);
  Child child([](int fd) { return consume(fd, {}); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  constexpr std::uint64_t kMessages = 5000;  // about five times the region's pages
  auto len = [](std::uint64_t seq) { return static_cast<std::uint32_t>(8 + (seq * 97) % 4089); };
  ASSERT_TRUE(stream(*producer, sp.pool, kMessages, len));
  ChildReport r;
  ASSERT_TRUE(child.report(&r, producer.get()));
  EXPECT_EQ(r.messages, kMessages);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(child.wait(), 0);
  producer->reap();
  const ppool::ShareProducerStats st = producer->stats();
  EXPECT_EQ(st.handed, kMessages + 1);
  EXPECT_EQ(st.returned, kMessages + 1);
  EXPECT_EQ(st.holding, 0u);
  EXPECT_EQ(st.bad_returns, 0u);
  // Recycled, not drawn afresh: the region has 1024 pages, the pool never
  // needed more, and the returns went into the owner's cache (its ring when
  // a burst of returns overflows the cache).
  EXPECT_LE(sp.pool->inflight(), 1024u);
  PPOOL_IF_STATS {
    const ppool::PagePoolStats ps = sp.pool->stats();
    EXPECT_GT(ps.recycle.cached + ps.recycle.ring, kMessages / 2);
    EXPECT_GT(ps.recycle.cached, 0u);
  }
  producer.reset();
  EXPECT_EQ(sp.destroy(), 0u);
}

// Reaped on a thread that is not the pool's owner, while the owner hands:
// the returns come home through the pool's ring like any other thread's.
TEST(Share, ReapOnAnotherThreadGoesThroughThePoolsRing) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  Child child([](int fd) { return consume(fd, {}); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  std::atomic<bool> stop{false};
  std::thread reaper([&] {
    while (!stop.load()) {
      if (!producer->reap()) producer->wait_returns(1);
    }
  });
  // Stopped and joined however the test body ends: a failed ASSERT returns
  // early, and a joinable std::thread destroyed would abort the process
  // before gtest printed the failure.
  struct JoinReaper {
    std::atomic<bool>& stop;
    std::thread& reaper;
    ~JoinReaper() {
      stop = true;
      if (reaper.joinable()) reaper.join();
    }
  } join_reaper{stop, reaper};
  constexpr std::uint64_t kMessages = 3000;
  std::uint64_t seq = 0;
  while (seq <= kMessages) {
    Page* page = sp.pool->alloc_pages();
    if (!page) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    const std::uint32_t bytes = seq < kMessages ? 256 : 0;
    if (bytes) fill(ppool::page_address(page), bytes, seq);
    // The hand ring is full until the child, a process the scheduler runs
    // when it will, takes entries: wait as long as it lives (no deadline is
    // part of what this test asserts).
    while (!producer->hand(page, 0, bytes)) {
      if (!producer->wait_room(100)) {
        ASSERT_FALSE(producer->peer_gone()) << "the consumer died";
      }
    }
    ++seq;
  }
  ChildReport r;
  ASSERT_TRUE(child.report(&r));
  stop = true;
  reaper.join();
  producer->reap();
  EXPECT_EQ(r.messages, kMessages);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(producer->stats().returned, kMessages + 1);
  EXPECT_GT(sp.pool->stats().recycle.ring, 0u);
  EXPECT_EQ(child.wait(), 0);
}

// SIGKILL while the consumer holds pages: the hang-up is noticed, every page
// comes home, and the pool is destroyed with nothing in flight.
TEST(Share, KilledConsumerHoldingPagesIsReclaimed) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  const ppool::PageAllocatorStats before = sp.allocator->stats();
  const std::uint32_t inflight_before = sp.pool->inflight();
  constexpr std::uint32_t kHold = 100;
  Child child([](int fd) { return consume(fd, {.hold_after = 50, .hold_count = kHold}); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(stream(
      *producer, sp.pool, 50 + kHold, [](std::uint64_t) { return 1000u; },
      /*end=*/false));
  ChildReport r;
  ASSERT_TRUE(child.report(&r, producer.get()));
  ASSERT_EQ(r.held, kHold);
  producer->reap();
  EXPECT_EQ(producer->holding(), kHold);
  EXPECT_FALSE(producer->peer_gone());
  kill(child.pid, SIGKILL);
  EXPECT_EQ(child.wait(), 128 + SIGKILL);
  ASSERT_TRUE(
      ppool::test::wait_for([&] { return producer->reclaim_if_gone(); }, std::chrono::seconds(5)));
  const ppool::ShareProducerStats st = producer->stats();
  EXPECT_EQ(st.reclaimed, kHold);
  EXPECT_EQ(st.holding, 0u);
  EXPECT_EQ(st.returned, 50u);
  // Reclaimed means cut off: nothing more is handed.
  Page* page = sp.pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_FALSE(producer->hand(page, 0, 64));
  sp.pool->recycle_direct(page);
  producer.reset();
  EXPECT_EQ(inflight_before, 0u);
  EXPECT_EQ(sp.destroy(), inflight_before) << "in flight as before the consumer attached";
  const ppool::PageAllocatorStats after = sp.allocator->stats();
  EXPECT_EQ(after.committed_bytes - after.free_bytes, before.committed_bytes - before.free_bytes)
      << "every page is back in the allocator";
}

// A consumer that gives every page back twice and returns offsets it never
// got: each is reported and ignored; nothing is lost, nothing put twice.
TEST(Share, BogusAndDuplicateReturnsAreReportedAndIgnored) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  ppool::test::LogCapture logs;
  const std::uint64_t misuses = ppool::misuse_count();
  Child child([](int fd) { return consume(fd, {.duplicate_and_bogus = true}); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  constexpr std::uint64_t kMessages = 40;
  ASSERT_TRUE(stream(*producer, sp.pool, kMessages, [](std::uint64_t) { return 500u; }));
  ChildReport r;
  ASSERT_TRUE(child.report(&r, producer.get()));
  EXPECT_EQ(child.wait(), 0);
  producer->reap();
  const ppool::ShareProducerStats st = producer->stats();
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(st.returned, kMessages + 1);
  EXPECT_EQ(st.bad_returns, 3 * kMessages);
  EXPECT_EQ(st.holding, 0u);
  bool reported = false;
  for (const std::string& m : logs.messages())
    reported = reported || m.find("which it does not hold; ignored") != std::string::npos;
  EXPECT_TRUE(reported);
  EXPECT_EQ(ppool::misuse_count(), misuses) << "a duplicate return is not a page put twice";
  producer.reset();
  EXPECT_EQ(sp.destroy(), 0u);
}

// The producer's own mistakes: a page handed twice, or not of the region.
TEST(Share, HandingABadPageIsReportedAndStopsTheBatch) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  ppool::test::LogCapture logs;
  Child child([](int fd) { return consume(fd, {}); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  PagePool* other = ppool::test::make_pool("private", nullptr, 0);
  ASSERT_NE(other, nullptr);
  Page* mine = sp.pool->alloc_pages();
  Page* foreign = other->alloc_pages();
  ASSERT_TRUE(mine && foreign);
  fill(ppool::page_address(mine), 64, 0);
  const std::uint64_t misuses = ppool::misuse_count();
  const ShareBuf bufs[3] = {{mine, 0, 64}, {mine, 0, 64}, {foreign, 0, 64}};
  EXPECT_EQ(producer->hand_bulk(bufs, 3), 1u);  // the second stops it
  EXPECT_EQ(producer->hand_bulk(bufs + 2, 1), 0u);
  Page* spare = sp.pool->alloc_pages();
  EXPECT_FALSE(producer->hand(spare, 4000, 200));  // beyond the page
  EXPECT_EQ(ppool::misuse_count(), misuses + 3);
  EXPECT_EQ(logs.messages().size(), 3u);
  sp.pool->recycle_direct(spare);  // refused pages stay the caller's
  other->recycle_direct(foreign);
  EXPECT_EQ(PagePool::destroy(other), 0u);
  producer.reset();  // reclaims `mine` unless the consumer gave it back already
}

// No byte a previous user of the region wrote is visible in a page freshly
// handed to the consumer with kZeroPages; without it the same check sees
// them (so it can fail).
std::uint64_t stale_bytes_seen(std::uint32_t flags) {
  SharedPool sp(ppool::kChunkBytes, 0);
  if (!sp.skip.empty()) return ~std::uint64_t{0};
  std::vector<Page*> all;
  while (Page* page = sp.pool->alloc_pages()) {
    std::memset(ppool::page_address(page), kMark, ppool::kPageSize);
    all.push_back(page);
  }
  EXPECT_EQ(all.size(), ppool::kChunkBytes / ppool::kPageSize);
  for (Page* page : all) ppool::put_page(page);
  EXPECT_EQ(sp.destroy(), 0u);  // every marked page is back in the allocator

  ppool::PagePoolParams params;
  params.name = "share-second";
  params.allocator = sp.allocator.get();
  params.flags = flags;
  sp.pool = ppool::test::create_pool(params);
  Child child([](int fd) { return consume(fd, {.stale_page_bytes = ppool::kPageSize}); });
  auto producer = attach(sp.pool, child.fd);
  EXPECT_NE(producer, nullptr);
  if (!producer) return 0;
  // No reaping while it streams: all 201 pages (the end marker's too) come
  // fresh from the allocator, none recycled with this producer's own bytes.
  EXPECT_TRUE(stream(
      *producer, sp.pool, 200, [](std::uint64_t) { return 1500u; }, true,
      /*reap=*/false));
  ChildReport r;
  EXPECT_TRUE(child.report(&r, producer.get()));
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(child.wait(), 0);
  return r.stale;
}

TEST(Share, FreshPagesCarryNoStaleBytesWithZeroPages) {
  const std::uint64_t with = stale_bytes_seen(ppool::kZeroPages);
  if (with == ~std::uint64_t{0}) GTEST_SKIP() << "no shared region here";
  EXPECT_EQ(with, 0u);
  const std::uint64_t without = stale_bytes_seen(0);
  // 201 pages (the end marker's too), each marked outside its message.
  EXPECT_GE(without, 200u * (ppool::kPageSize - 1500)) << "the check must be able to fail";
}

// reclaim() on the reap side while the send side keeps handing and a live
// consumer keeps returning: every page ends up home exactly once.
TEST(Share, ReclaimRacingTheSendSideLosesNothing) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  const std::uint64_t misuses = ppool::misuse_count();
  Child child([](int fd) { return consume(fd, {}); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  std::atomic<bool> reclaimed{false};
  std::thread reaper([&] {
    for (int i = 0; i < 2000; ++i) {
      producer->reap();
      std::this_thread::sleep_for(std::chrono::microseconds(5));
    }
    producer->reclaim();
    reclaimed = true;
  });
  std::uint64_t seq = 0;
  while (!reclaimed.load()) {
    Page* page = sp.pool->alloc_pages();
    if (!page) {
      std::this_thread::yield();
      continue;
    }
    fill(ppool::page_address(page), 128, seq);
    if (producer->hand(page, 0, 128)) {
      ++seq;
    } else {
      sp.pool->recycle_direct(page);  // ring full or cut off: still ours
      std::this_thread::yield();
    }
  }
  reaper.join();
  const ppool::ShareProducerStats st = producer->stats();
  EXPECT_EQ(st.holding, 0u);
  EXPECT_EQ(st.handed, st.returned + st.reclaimed);
  EXPECT_GT(st.handed, 0u);
  producer.reset();
  close(child.fd);  // the consumer sees us gone and exits
  child.fd = -1;
  EXPECT_EQ(ppool::misuse_count(), misuses);
  EXPECT_EQ(sp.destroy(), 0u);
}

}  // namespace

// ---- a consumer that attacks the region ----

// One attempt of a hostile consumer: what it tried, and whether the kernel
// let it (rc 0) or refused (rc -1, err). must_fail: the region's protection
// depends on it failing (opening O_RDWR as root is allowed by DAC override;
// what matters is that nothing written through that descriptor lands).
struct Attempt {
  char what[80];
  int rc;
  int err;
  bool must_fail;
};
struct AttackReport {
  std::uint32_t n = 0;
  Attempt attempts[32];
};

// Receives the producer's header and descriptors itself (no ShareConsumer:
// a hostile peer keeps the raw descriptors). The region's descriptor, or -1.
int receive_region_fd(int sock) {
  pollfd p{sock, POLLIN, 0};
  if (poll(&p, 1, 10000) != 1) return -1;
  char hello[32];
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))] = {};
  iovec iov{hello, sizeof hello};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != static_cast<ssize_t>(sizeof hello)) return -1;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(2 * sizeof(int))) return -1;
  int fds[2];
  std::memcpy(fds, CMSG_DATA(c), sizeof fds);
  close(fds[1]);  // the rings: not what this consumer is after
  return fds[0];
}

// Every way to write or resize the region through fd, aimed at the page at
// `target`. What succeeds is undone where it can be (the size), so that the
// producer sees the damage as wrong bytes rather than dying of SIGBUS.
void attack_through(int fd, const char* via, off_t target, AttackReport& r) {
  auto note = [&](const char* what, bool done, bool must_fail = true) {
    if (r.n == std::size(r.attempts)) return;
    Attempt& a = r.attempts[r.n++];
    std::snprintf(a.what, sizeof a.what, "%s via %s", what, via);
    a.rc = done ? 0 : -1;
    a.err = done ? 0 : errno;
    a.must_fail = must_fail;
  };
  struct stat st {};
  fstat(fd, &st);
  const off_t size = st.st_size;
  const long page = sysconf(_SC_PAGESIZE);
  char junk[4096];
  std::memset(junk, 0x5A, sizeof junk);

  void* w = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, target);
  note("mmap PROT_WRITE MAP_SHARED", w != MAP_FAILED);
  if (w != MAP_FAILED) {
    std::memset(w, 0x5A, page);
    munmap(w, page);
  }
  void* ro = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, target);
  if (ro != MAP_FAILED) {
    const bool done = mprotect(ro, page, PROT_READ | PROT_WRITE) == 0;
    note("mprotect of a shared mapping to PROT_WRITE", done);
    if (done) std::memset(ro, 0x5A, page);
    munmap(ro, page);
  }
  note("pwrite", pwrite(fd, junk, sizeof junk, target) >= 0);
  const bool truncated = ftruncate(fd, 0) == 0;
  note("ftruncate to 0", truncated);
  if (truncated) (void)!ftruncate(fd, size);
  const bool grown = ftruncate(fd, size + page) == 0;
  note("ftruncate beyond the size", grown);
  if (grown) (void)!ftruncate(fd, size);
  note("fallocate PUNCH_HOLE",
       fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, target, page) == 0);
  const bool extended = fallocate(fd, 0, size, page) == 0;
  note("fallocate beyond the size", extended);
  if (extended) (void)!ftruncate(fd, size);
}

// The hostile consumer: attacks through the descriptor it got, then through
// /proc/self/fd reopened O_RDWR, as itself and (when root) as `nobody`.
int attack_region(int sock, off_t target, uid_t nobody_uid, gid_t nobody_gid) {
  const int fd = receive_region_fd(sock);
  if (fd < 0) return 30;
  AttackReport r;
  attack_through(fd, "the received fd", target, r);
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  auto reopen = [&](const char* as, bool must_fail) {
    const int rw = open(path, O_RDWR | O_CLOEXEC);
    if (r.n == std::size(r.attempts)) return;
    Attempt& a = r.attempts[r.n++];
    std::snprintf(a.what, sizeof a.what, "open(/proc/self/fd/N, O_RDWR) as %s", as);
    a.rc = rw >= 0 ? 0 : -1;
    a.err = rw >= 0 ? 0 : errno;
    a.must_fail = must_fail;
    if (rw < 0) return;
    attack_through(rw, as, target, r);
    close(rw);
  };
  if (geteuid() == 0) {
    // Root overrides the file mode: the open may work, the writes must not.
    reopen("root", false);
    if (setgid(nobody_gid) != 0 || setuid(nobody_uid) != 0) return 31;
    reopen("nobody", true);
  } else {
    reopen("the producer's user", true);
  }
  return write(sock, &r, sizeof r) == static_cast<ssize_t>(sizeof r) ? 0 : 32;
}

// The consumer gets the region read-only in fact: whatever descriptor it
// makes of it and whoever it runs as, it cannot write a page (one never
// handed to it included) or resize the region, and the producer goes on.
TEST(Share, ConsumerCannotWriteOrResizeTheRegion) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  uid_t nobody_uid = 65534;
  gid_t nobody_gid = 65534;
  if (const passwd* pw = getpwnam("nobody")) {
    nobody_uid = pw->pw_uid;
    nobody_gid = pw->pw_gid;
  }
  Page* handed = sp.pool->alloc_pages();
  Page* kept = sp.pool->alloc_pages();  // never handed
  ASSERT_TRUE(handed && kept);
  std::memset(ppool::page_address(handed), 0x11, ppool::kPageSize);
  std::memset(ppool::page_address(kept), 0x22, ppool::kPageSize);
  const auto target = static_cast<off_t>(sp.allocator->region()->offset_of(kept));
  Child child([&](int fd) { return attack_region(fd, target, nobody_uid, nobody_gid); });
  auto producer = attach(sp.pool, child.fd);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(producer->hand(handed, 0, 64));

  AttackReport r;
  pollfd p{child.fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 30000), 1) << "no report from the attacking consumer";
  ASSERT_EQ(recv(child.fd, &r, sizeof r, 0), static_cast<ssize_t>(sizeof r));
  EXPECT_EQ(child.wait(), 0);
  ASSERT_GE(r.n, 8u);
  for (std::uint32_t i = 0; i < r.n; ++i) {
    const Attempt& a = r.attempts[i];
    if (!a.must_fail) continue;
    EXPECT_EQ(a.rc, -1) << a.what << " succeeded";
    // The received descriptor is O_RDONLY: its refusals are EBADF or EINVAL.
    if (a.rc == 0 || std::strstr(a.what, "received fd")) continue;
    EXPECT_TRUE(a.err == EPERM || a.err == EACCES)
        << a.what << " failed with " << std::strerror(a.err) << ", not by a seal or the mode";
  }

  // The producer's pages are as it wrote them, the region as large as ever,
  // and its own writable mapping still works.
  struct stat st {};
  ASSERT_EQ(fstat(sp.allocator->region()->fd, &st), 0);
  EXPECT_EQ(static_cast<std::size_t>(st.st_size), sp.allocator->region()->bytes);
  const auto all = [](Page* page, unsigned char v) {
    const auto* b = static_cast<const unsigned char*>(ppool::page_address(page));
    return std::all_of(b, b + ppool::kPageSize, [v](unsigned char x) { return x == v; });
  };
  EXPECT_TRUE(all(handed, 0x11)) << "the handed page was written";
  EXPECT_TRUE(all(kept, 0x22)) << "a page never handed was written";
  std::memset(ppool::page_address(kept), 0x33, ppool::kPageSize);
  EXPECT_TRUE(all(kept, 0x33));
  ASSERT_TRUE(
      ppool::test::wait_for([&] { return producer->reclaim_if_gone(); }, std::chrono::seconds(5)));
  EXPECT_EQ(producer->holding(), 0u);
  sp.pool->recycle_direct(kept);
  producer.reset();

  // The region stays sealed; attaching it again to a well-behaved consumer
  // works, and data still flows.
  Child again([](int fd) { return consume(fd, {}); });
  producer = attach(sp.pool, again.fd);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(stream(*producer, sp.pool, 100, [](std::uint64_t) { return 300u; }));
  ChildReport r2;
  ASSERT_TRUE(again.report(&r2, producer.get()));
  EXPECT_EQ(r2.messages, 100u);
  EXPECT_EQ(r2.errors, 0u);
  EXPECT_EQ(again.wait(), 0);
}

// Where the region cannot be sealed read-only, attach() refuses, naming why,
// rather than hand out a region the consumer could write.
TEST(Share, AttachRefusesARegionItCannotSeal) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  // Sealed against further seals without the write seal: what a memfd made
  // without MFD_ALLOW_SEALING looks like.
  ASSERT_EQ(fcntl(sp.allocator->region()->fd, F_ADD_SEALS, F_SEAL_SEAL), 0) << strerror(errno);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  auto refused = ShareProducer::attach(sp.pool, sv[0]);
  ASSERT_FALSE(refused.ok()) << "shared a region it could not seal";
  EXPECT_EQ(refused.error().code, ppool::Errc::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("takes no more seals"), std::string::npos)
      << refused.error().message;
  // Nothing was sent: the peer has nothing to read.
  char byte;
  EXPECT_EQ(recv(sv[1], &byte, 1, MSG_DONTWAIT), -1);
  close(sv[0]);
  close(sv[1]);
}

// ---- a consumer that floods the return ring ----

// Takes `hold` pages and keeps them, gives the first back twice (the second
// a duplicate of a real page), then gives back up to `flood` offsets it does
// not hold (that page again, misaligned, outside the region) as fast as the
// ring takes them, until the producer is gone. Then it waits for the
// producer to hang up and exits 0 if it saw it go.
int flood_returns(int fd, std::uint32_t hold, std::uint64_t flood) {
  auto connected = ShareConsumer::connect(fd, 10000);
  if (!connected) return 10;
  ShareConsumer& c = *connected.value();
  std::vector<std::uint64_t> held;
  while (held.size() < hold) {
    ShareMsg msgs[32];
    const std::size_t n = c.receive(msgs, 32);
    for (std::size_t i = 0; i < n; ++i) held.push_back(msgs[i].page);
    if (!n && !c.wait_data(10) && c.producer_gone()) return 11;
  }
  for (int i = 0; i < 2; ++i)
    while (c.give_back(&held[0], 1) != 1)
      if (!c.wait_room(10) && c.producer_gone()) return 12;
  std::vector<std::uint64_t> bogus(1024);
  for (std::size_t i = 0; i < bogus.size(); ++i) {
    const std::uint64_t kinds[3] = {held[0], held[1] + 1, c.region_bytes() + 4096 * i};
    bogus[i] = kinds[i % 3];
  }
  // Spins on a full ring (a syscall only every 4096th try): the cheapest
  // flood there is, refilling the ring as soon as the producer takes from it.
  std::uint32_t full = 0;
  for (std::uint64_t sent = 0; sent < flood;) {
    const std::size_t n =
        c.give_back(bogus.data(), std::min<std::uint64_t>(bogus.size(), flood - sent));
    sent += n;
    if (!n && ++full % 4096 == 0 && c.producer_gone()) break;
  }
  pollfd p{fd, POLLRDHUP, 0};
  return poll(&p, 1, 30000) == 1 ? 0 : 13;
}

struct Calls {
  ShareProducer& producer;
  std::uint64_t max_taken = 0;  // the most entries one call took off the return ring
  std::uint64_t calls = 0;

  std::uint64_t taken() const {
    const ppool::ShareProducerStats st = producer.stats();
    return st.returned + st.bad_returns;
  }
  // Runs one call of the producer and notes how many entries it took.
  template <class F>
  std::uint64_t operator()(F call) {
    const std::uint64_t before = taken();
    call();
    const std::uint64_t n = taken() - before;
    max_taken = std::max(max_taken, n);
    ++calls;
    return n;
  }
};

// A consumer that floods the return ring with offsets it does not hold
// cannot keep reap(), reclaim_if_gone() or reclaim() busy: each takes at most
// a ring's worth. Past max_bad_returns it is cut off, and every page it held
// comes home exactly once (the duplicate of a real page among its returns
// included).
TEST(Share, FloodingConsumerIsBoundedThenCutOff) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  ppool::test::LogCapture logs;
  const std::uint64_t misuses = ppool::misuse_count();
  constexpr std::uint32_t kRing = 256, kHold = 100;
  constexpr std::uint64_t kFlood = 64 * kRing, kMaxBad = 1024;
  Child child([](int fd) { return flood_returns(fd, kHold, kFlood); });
  auto attached =
      ShareProducer::attach(sp.pool, child.fd, {.ring_entries = kRing, .max_bad_returns = kMaxBad});
  ASSERT_TRUE(attached.ok()) << attached.error().message;
  ShareProducer& producer = *attached.value();
  std::vector<Page*> pages(kHold);
  std::vector<ShareBuf> bufs;
  for (Page*& page : pages) {
    page = sp.pool->alloc_pages();
    ASSERT_NE(page, nullptr);
    bufs.push_back({page, 0, 64});
  }
  ASSERT_EQ(producer.hand_bulk(bufs.data(), kHold), kHold);

  // Until it is cut off, or has sent all it would (a producer that never
  // cuts it off).
  Calls calls{producer};
  while (!producer.peer_gone() && calls.taken() < kFlood + 2) {
    const bool some = calls([&] { producer.reap(); }) + calls([&] { producer.reclaim_if_gone(); });
    if (!some) producer.wait_returns(10);
  }
  EXPECT_LE(calls.max_taken, kRing) << "one call took more than a ring's worth";
  ASSERT_TRUE(producer.peer_gone()) << "a consumer that flooded bogus returns was not cut off";
  const ppool::ShareProducerStats st = producer.stats();
  EXPECT_EQ(st.bad_returns, kMaxBad + 1) << "cut off at the first past the allowance";
  EXPECT_EQ(st.returned, 1u) << "the first page once, its duplicate rejected";
  EXPECT_EQ(st.reclaimed, kHold - 1);
  EXPECT_EQ(st.holding, 0u);
  bool said = false;
  for (const std::string& m : logs.messages())
    said = said || m.find("it is cut off and its pages reclaimed") != std::string::npos;
  EXPECT_TRUE(said);
  // Cut off: it hears of it (its socket is shut down), nothing more is
  // handed, and whatever it still writes is not looked at.
  EXPECT_EQ(child.wait(), 0);
  Page* page = sp.pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  EXPECT_FALSE(producer.hand(page, 0, 64));
  sp.pool->recycle_direct(page);
  EXPECT_EQ(calls([&] { producer.reap(); }), 0u);
  EXPECT_EQ(calls([&] { producer.reclaim(); }), 0u);
  EXPECT_EQ(ppool::misuse_count(), misuses) << "no page was put twice";
  attached.value().reset();
  EXPECT_EQ(sp.destroy(), 0u) << "every page is home: nothing in flight";
  const ppool::PageAllocatorStats after = sp.allocator->stats();
  EXPECT_EQ(after.committed_bytes, after.free_bytes) << "every page is back in the allocator";
}

// The same flood against a producer that never cuts it off: every call
// still takes at most a ring's worth, reclaim() (made while the flood goes
// on) included, and the pages it held come home. (Reaped for as long as
// half a big flood lasts: hundreds of calls, each a chance for the flooder
// to refill the ring under one.)
TEST(Share, FloodedReapTakesAtMostARingPerCall) {
  SharedPool sp(ppool::kChunkBytes);
  SKIP_WITHOUT_REGION(sp);
  ppool::test::LogCapture logs;  // the rate-limited warnings stay out of the output
  constexpr std::uint32_t kRing = 256, kHold = 8;
  constexpr std::uint64_t kFlood = 1024 * kRing;
  Child child([](int fd) { return flood_returns(fd, kHold, kFlood); });
  auto attached = ShareProducer::attach(sp.pool, child.fd,
                                        {.ring_entries = kRing, .max_bad_returns = UINT64_MAX});
  ASSERT_TRUE(attached.ok()) << attached.error().message;
  ShareProducer& producer = *attached.value();
  for (std::uint32_t i = 0; i < kHold; ++i) {
    Page* page = sp.pool->alloc_pages();
    ASSERT_NE(page, nullptr);
    ASSERT_TRUE(producer.hand(page, 0, 64));
  }
  Calls calls{producer};
  while (calls.taken() < kFlood / 2 && !producer.peer_gone()) {
    const bool some =
        calls([&] { producer.reap(); }) + calls([&] { EXPECT_FALSE(producer.reclaim_if_gone()); });
    if (!some) producer.wait_returns(10);
  }
  ASSERT_GE(calls.taken(), kFlood / 2) << "the flooding consumer went away";
  calls([&] { EXPECT_EQ(producer.reclaim(), kHold - 1); });
  EXPECT_LE(calls.max_taken, kRing) << "one call took more than a ring's worth";
  EXPECT_EQ(producer.stats().holding, 0u);
  attached.value().reset();
  close(child.fd);  // it sees us gone
  child.fd = -1;
  EXPECT_EQ(child.wait(), 0);
  EXPECT_EQ(sp.destroy(), 0u) << "every page is home: nothing in flight";
}
