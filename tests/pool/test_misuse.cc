// Bad input and misuse (README, Misuse): a page put twice, to the wrong
// pool, a page that is no pool's, a pointer that is not a page descriptor
// (misaligned included), a put or alloc through a stale pool pointer, an
// alloc off the owner thread, a fragment put too often, and a generic
// put_page twice. Each is
// reported once, naming the page and the pool, and leaves the pool working:
// no page is lost and none is handed out twice.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ppool/base.h"
#include "ppool/dma.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/log_capture.h"
#include "support/pool_fixtures.h"
#include "support/stats.h"

namespace {

// The address as the library prints it (%p).
std::string addr_str(const void* addr) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%p", addr);
  return buf;
}

std::string page_str(const ppool::Page* page) {
  return addr_str(ppool::page_address(page));
}

ppool::IdentityDmaDevice g_identity;

ppool::PagePool* make_pool(const std::string& name) {
  return ppool::test::make_pool(name, &g_identity, ppool::kDmaMap);
}

// Nothing was corrupted: the pool still allocates and recycles (both through
// the cache and the ring), and over the next allocations no page is handed out
// twice while held.
void expect_pool_healthy(ppool::PagePool* pool, int n = 300) {
  const std::uint64_t misuses = ppool::misuse_count();
  std::vector<ppool::Page*> held;
  std::set<ppool::Page*> unique;
  for (int i = 0; i < n; ++i) {
    ppool::Page* page = pool->alloc_pages();
    ASSERT_NE(page, nullptr) << "allocation " << i;
    EXPECT_EQ(page->refcount.load(), 1u) << "allocation " << i;
    EXPECT_TRUE(unique.insert(page).second)
        << "page " << page_str(page) << " handed out twice while held (allocation " << i << ")";
    held.push_back(page);
  }
  // Half back directly, half through the ring; then once more round.
  for (std::size_t i = 0; i < held.size(); ++i) {
    if (i % 2)
      pool->recycle_direct(held[i]);
    else
      pool->put_full_page(held[i], false);
  }
  held.clear();
  unique.clear();
  for (int i = 0; i < n; ++i) {
    ppool::Page* page = pool->alloc_pages();
    ASSERT_NE(page, nullptr) << "second round, allocation " << i;
    EXPECT_TRUE(unique.insert(page).second)
        << "page " << page_str(page) << " handed out twice (second round)";
    held.push_back(page);
  }
  for (ppool::Page* page : held) pool->recycle_direct(page);
  EXPECT_EQ(ppool::misuse_count(), misuses) << "the health check itself reported a misuse";
}

class PoolMisuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ppool::set_misuse_policy(ppool::MisusePolicy::kReport);
    misuses_before_ = ppool::misuse_count();
  }
  void TearDown() override { ppool::set_misuse_policy(ppool::MisusePolicy::kReport); }

  // Exactly one misuse since the last call, reported in a message containing
  // every one of needles; returns that message.
  std::string expect_one_report(const std::vector<std::string>& needles) {
    EXPECT_EQ(ppool::misuse_count(), misuses_before_ + 1);
    misuses_before_ = ppool::misuse_count();
    std::vector<std::string> seen = capture_.take();
    EXPECT_EQ(seen.size(), 1u);
    if (seen.empty()) return {};
    const std::string& msg = seen.back();
    for (const std::string& needle : needles)
      EXPECT_NE(msg.find(needle), std::string::npos)
          << "report '" << msg << "' does not mention '" << needle << "'";
    return msg;
  }

  ppool::test::LogCapture capture_;
  std::uint64_t misuses_before_ = 0;
};

TEST_F(PoolMisuseTest, PutTwiceDirect) {
  ppool::PagePool* pool = make_pool("misuse-twice-direct");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  pool->recycle_direct(page);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  pool->recycle_direct(page);  // the misuse
  std::string msg = expect_one_report({page_str(page), "misuse-twice-direct"});
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
  EXPECT_EQ(page->refcount.load(), 1u);
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

TEST_F(PoolMisuseTest, PutTwiceThroughRing) {
  ppool::PagePool* pool = make_pool("misuse-twice-ring");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ppool::test::on_other_thread([&] { pool->put_full_page(page, false); });
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  ppool::test::on_other_thread([&] { pool->put_full_page(page, false); });  // the misuse
  std::string msg = expect_one_report({page_str(page), "misuse-twice-ring"});
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
  EXPECT_EQ(pool->stats().recycle.ring, 1u) << "the second put must not enter the ring";
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

// The same page twice in one put_page_bulk() array: the second must be seen
// as already back, not recycled a second time in the same ring reservation.
TEST_F(PoolMisuseTest, PutTwiceInOneBulk) {
  ppool::PagePool* pool = make_pool("misuse-twice-bulk");
  ASSERT_NE(pool, nullptr);
  ppool::Page* a = pool->alloc_pages();
  ppool::Page* b = pool->alloc_pages();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ppool::Page* pages[] = {a, b, a};
  ppool::test::on_other_thread([&] { ppool::put_page_bulk(pages, 3); });
  expect_one_report({page_str(a), "misuse-twice-bulk"});
  EXPECT_EQ(pool->stats().recycle.ring, 2u) << "the page entered the ring twice";
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

TEST_F(PoolMisuseTest, PutToWrongPool) {
  ppool::PagePool* home = make_pool("misuse-home");
  ppool::PagePool* other = make_pool("misuse-other");
  ASSERT_NE(home, nullptr);
  ASSERT_NE(other, nullptr);
  ppool::Page* page = home->alloc_pages();
  ASSERT_NE(page, nullptr);
  other->put_full_page(page, false);  // the misuse, through the ring path
  expect_one_report({page_str(page), "misuse-home", "misuse-other"});
  other->recycle_direct(page);  // and through the direct path
  expect_one_report({page_str(page), "misuse-home", "misuse-other"});
  EXPECT_EQ(other->stats().recycle.ring, 0u);
  PPOOL_IF_STATS {
    EXPECT_EQ(other->stats().recycle.cached, 0u);
  }
  EXPECT_EQ(page->refcount.load(), 1u);
  // The page is still its home's, untouched: it goes back normally.
  home->recycle_direct(page);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  expect_pool_healthy(home);
  expect_pool_healthy(other);
  // other's pages never mixed with home's.
  EXPECT_EQ(ppool::PagePool::destroy(other), 0u);
  EXPECT_EQ(ppool::PagePool::destroy(home), 0u);
}

TEST_F(PoolMisuseTest, PutOfNonPoolPage) {
  ppool::PagePool* pool = make_pool("misuse-nonpool");
  ASSERT_NE(pool, nullptr);
  const auto alloc_owner = ppool::PageAllocator::create({}).value();
  ppool::PageAllocator& alloc = *alloc_owner;
  ppool::Page* page = alloc.alloc(0);
  ASSERT_NE(page, nullptr);
  pool->put_full_page(page, false);  // the misuse
  expect_one_report({page_str(page), "misuse-nonpool"});
  pool->recycle_direct(page);  // the same, direct
  expect_one_report({page_str(page), "misuse-nonpool"});
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(pool->inflight(), 0u);
  expect_pool_healthy(pool);
  // The page is still a normal page of its allocator.
  ppool::put_page(page);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  EXPECT_EQ(alloc.stats().free_bytes, alloc.stats().committed_bytes);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

TEST_F(PoolMisuseTest, BulkPutOfNonDescriptor) {
  ppool::PagePool* pool = make_pool("misuse-nondesc");
  ASSERT_NE(pool, nullptr);
  ppool::Page* real = pool->alloc_pages();
  ASSERT_NE(real, nullptr);
  ppool::Page fake{};  // not a descriptor of the arena
  ppool::Page* pages[] = {&fake, real};
  ppool::test::on_other_thread([&] { ppool::put_page_bulk(pages, 2); });
  expect_one_report({addr_str(&fake)});
  // The real page in the same batch went home through the ring.
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  EXPECT_EQ(fake.refcount.load(), 0u);
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

TEST_F(PoolMisuseTest, PutAfterPoolFreed) {
  ppool::PagePool* stale = make_pool("misuse-stale");
  ASSERT_NE(stale, nullptr);
  ppool::Page* page = stale->alloc_pages();
  ASSERT_NE(page, nullptr);
  stale->release_page(page);                       // now a normal page the test holds
  EXPECT_EQ(ppool::PagePool::destroy(stale), 0u);  // freed
  stale->put_full_page(page, false);               // the misuse
  std::string msg = expect_one_report({page_str(page), "misuse-stale"});
  EXPECT_NE(msg.find("after the pool was freed"), std::string::npos) << msg;
  EXPECT_EQ(page->refcount.load(), 1u);
  ppool::put_page(page);  // freed normally
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  // Pools still work.
  ppool::PagePool* fresh = make_pool("misuse-fresh");
  ASSERT_NE(fresh, nullptr);
  expect_pool_healthy(fresh);
  EXPECT_EQ(ppool::PagePool::destroy(fresh), 0u);
}

TEST_F(PoolMisuseTest, GenericPutPageTwice) {
  ppool::PagePool* pool = make_pool("misuse-generic");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ppool::test::on_other_thread([&] { ppool::put_page(page); });  // home through the ring
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  EXPECT_EQ(page->refcount.load(), 1u) << "the pool keeps its own reference";
  ppool::put_page(page);  // the misuse: already back
  std::string msg = expect_one_report({page_str(page), "misuse-generic"});
  EXPECT_NE(msg.find("already back"), std::string::npos) << msg;
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(pool->stats().recycle.ring, 1u);
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

// A new pool must not take over a freed pool's address: a put through the
// stale pointer would then be accepted by the new pool, and the page, held by
// the new pool's user, handed out twice.
TEST_F(PoolMisuseTest, StalePoolPointerAfterANewPoolWasCreated) {
  ppool::PagePool* stale = make_pool("misuse-gone");
  ASSERT_NE(stale, nullptr);
  ppool::Page* first = stale->alloc_pages();
  ASSERT_NE(first, nullptr);
  stale->recycle_direct(first);
  EXPECT_EQ(ppool::PagePool::destroy(stale), 0u);  // freed
  ppool::PagePool* fresh = make_pool("misuse-taker");
  ASSERT_NE(fresh, nullptr);
  ppool::Page* held = fresh->alloc_pages();  // with fresh's user
  ASSERT_NE(held, nullptr);
  stale->put_full_page(held, false);  // the misuse
  std::string msg = expect_one_report({page_str(held), "misuse-gone"});
  EXPECT_NE(msg.find("freed"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("misuse-taker"), std::string::npos) << "the new pool took the put: " << msg;
  // The held page is not handed out again while held.
  std::vector<ppool::Page*> more;
  for (int i = 0; i < 300; ++i) {
    ppool::Page* page = fresh->alloc_pages();
    ASSERT_NE(page, nullptr);
    EXPECT_NE(page, held) << "page handed out twice after a stale put";
    more.push_back(page);
  }
  for (ppool::Page* page : more) fresh->recycle_direct(page);
  fresh->recycle_direct(held);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  EXPECT_EQ(ppool::PagePool::destroy(fresh), 0u);
}

// A put through a freed pool's pointer of a page that is itself free says the
// pool is gone, not only that the pointer is no page.
TEST_F(PoolMisuseTest, PutOfAFreedPageAfterPoolFreed) {
  ppool::PagePool* stale = make_pool("misuse-gone-page");
  ASSERT_NE(stale, nullptr);
  ppool::Page* page = stale->alloc_pages();
  ASSERT_NE(page, nullptr);
  stale->release_page(page);
  ppool::put_page(page);  // freed to the allocator
  EXPECT_EQ(ppool::PagePool::destroy(stale), 0u);
  stale->put_full_page(page, false);  // the misuse
  std::string msg = expect_one_report({page_str(page), "misuse-gone-page"});
  EXPECT_NE(msg.find("pool was freed"), std::string::npos) << msg;
}

// Under mlockall() (as DPDK programs run) the kernel refuses to drop a freed
// pool's locked memory; a stale pointer must still find a dead pool, named
// as freed. Runs in a child process: mlockall() holds for the whole
// process. MCL_ONFAULT locks pages as they are touched instead of faulting
// in every reserved range at once (the page arena, the pool storage): the
// same locked mappings, on which MADV_DONTNEED fails the same.
TEST_F(PoolMisuseTest, StalePoolUnderMlockallIsNamedFreed) {
  if (::geteuid() != 0) GTEST_SKIP() << "mlockall() of the test process needs root (CAP_IPC_LOCK)";
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // The system call itself: the sanitizers' runtimes make mlockall()
        // a no-op (their shadow memory), and the test runs under them too.
        if (::syscall(SYS_mlockall, MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
          std::fprintf(stderr, "mlockall: %s\n", std::strerror(errno));
          std::_Exit(2);
        }
        // The condition itself: locked memory cannot be dropped.
        void* probe =
            ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        static_cast<char*>(probe)[0] = 1;
        if (::madvise(probe, 4096, MADV_DONTNEED) == 0) {
          std::fprintf(stderr, "MADV_DONTNEED dropped locked memory: nothing to test\n");
          std::_Exit(3);
        }
        ppool::PagePool* stale = make_pool("mlocked");
        ppool::Page* page = stale ? stale->alloc_pages() : nullptr;
        if (!page) std::_Exit(4);
        stale->release_page(page);  // a normal page the test holds
        if (ppool::PagePool::destroy(stale) != 0) std::_Exit(5);
        capture_.clear();
        ppool::Page* got = stale->alloc_pages();
        stale->put_full_page(page, false);
        const std::vector<std::string> seen = capture_.take();
        bool ok = got == nullptr && seen.size() == 2;
        for (const std::string& msg : seen) {
          std::fprintf(stderr, "report: %s\n", msg.c_str());
          ok = ok && msg.find("'mlocked' (freed)") != std::string::npos;
        }
        if (ok) std::fprintf(stderr, "stale pool reports name the pool freed\n");
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "stale pool reports name the pool freed");
}

// A flood of misuse (a loop putting the same page twice) is counted
// exactly but logged at a bounded rate: the first report always, a burst per
// interval, and then how many were suppressed, when the next one is logged.
TEST_F(PoolMisuseTest, AFloodIsCountedExactlyAndLoggedAtABoundedRate) {
  ppool::PagePool* pool = make_pool("misuse-flood");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  pool->recycle_direct(page);
  constexpr std::uint64_t kPuts = 100000;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < kPuts; ++i) pool->recycle_direct(page);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(ppool::misuse_count(), misuses_before_ + kPuts);
  // A burst per interval the flood spanned, and a count line at each start.
  const auto intervals = std::chrono::duration_cast<std::chrono::seconds>(took).count() + 1;
  std::vector<std::string> seen = capture_.take();
  EXPECT_LE(seen.size(),
            static_cast<std::size_t>((ppool::LogRateLimit::kDefaultBurst + 1) * intervals));
  ASSERT_FALSE(seen.empty());
  EXPECT_NE(seen[0].find("put twice"), std::string::npos) << seen[0];
  EXPECT_NE(seen[0].find(page_str(page)), std::string::npos) << seen[0];
  // The next interval: the count of the suppressed goes out before the next
  // report.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  pool->recycle_direct(page);
  std::vector<std::string> after = capture_.take();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_NE(after[1].find("put twice"), std::string::npos) << after[1];
  seen.push_back(after[0]);
  // Every misuse is a report logged or one counted in a suppressed line.
  std::uint64_t logged = 0, suppressed = 0;
  for (const std::string& msg : seen) {
    unsigned long long n = 0;
    if (std::sscanf(msg.c_str(), "misuse reports: %llu messages suppressed", &n) == 1)
      suppressed += n;
    else
      ++logged;
  }
  EXPECT_GT(suppressed, 0u) << "no suppressed-count line";
  EXPECT_EQ(logged + suppressed, kPuts);
  misuses_before_ = ppool::misuse_count();
  EXPECT_EQ(page->refcount.load(), 1u);
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

// Allocation is the owner's: from another thread it is reported (and gets
// nullptr) at least whenever it reaches the slow path; with PPOOL_DEBUG on
// every call.
TEST_F(PoolMisuseTest, AllocOffTheOwnerThread) {
  ppool::PagePool* pool = make_pool("misuse-not-owner");
  ASSERT_NE(pool, nullptr);
  ppool::Page* got = reinterpret_cast<ppool::Page*>(1);
  std::thread([&] { got = pool->alloc_pages(); }).join();  // empty cache: the slow path
  EXPECT_EQ(got, nullptr);
  std::string msg = expect_one_report({"misuse-not-owner", "not its owner"});
  if (PPOOL_DEBUG) {
    ppool::Page* page = pool->alloc_pages();  // fills the cache
    ASSERT_NE(page, nullptr);
    std::thread([&] { got = pool->alloc_pages(); }).join();  // would be a cache hit
    EXPECT_EQ(got, nullptr);
    expect_one_report({"misuse-not-owner", "not its owner"});
    pool->recycle_direct(page);
  }
  // After a hand-over the new owner allocates and the old one is refused.
  std::thread([&] {
    pool->bind_owner();
    got = pool->alloc_pages();
    if (got) pool->recycle_direct(got);
  }).join();
  EXPECT_NE(got, nullptr);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  pool->bind_owner();
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

TEST_F(PoolMisuseTest, AllocAfterDestroyAndAfterFree) {
  ppool::PagePool* pool = make_pool("misuse-alloc-late");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ASSERT_EQ(ppool::PagePool::destroy(pool), 1u);  // waits for page
  EXPECT_EQ(pool->alloc_pages(), nullptr);
  expect_one_report({"misuse-alloc-late", "after destroy"});
  pool->put_full_page(page, false);
  ASSERT_TRUE(ppool::test::wait_for([] { return ppool::pools_pending_release() == 0; },
                                    std::chrono::milliseconds(5000)));
  EXPECT_EQ(pool->alloc_pages(), nullptr);
  expect_one_report({"misuse-alloc-late", "after the pool was freed"});
}

// A fragment put once more than the fragments handed out is caught at that
// put, naming the pool; the pool's own bias stays whole, so destroy still
// gets the page back.
TEST_F(PoolMisuseTest, FragmentPutMoreOftenThanHandedOut) {
  ppool::PagePool* pool = make_pool("misuse-frag");
  ASSERT_NE(pool, nullptr);
  std::uint32_t off_a = 0, off_b = 0;
  ppool::Page* a = pool->alloc_frag(1024, &off_a);
  ppool::Page* b = pool->alloc_frag(1024, &off_b);
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a, b) << "two fragments of one page";
  pool->put_full_page(a, false);
  pool->put_full_page(b, false);
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  pool->put_full_page(a, false);  // the misuse: a third put of two fragments
  expect_one_report({page_str(a), "misuse-frag", "fragment"});
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u) << "the fragment page never came home";
  EXPECT_EQ(ppool::pools_pending_release(), 0u);
}

TEST_F(PoolMisuseTest, UnrefBelowZeroNamesThePool) {
  ppool::PagePool* pool = make_pool("misuse-unref");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  ppool::pp_ref_count_set(page, 2);
  EXPECT_EQ(ppool::pp_ref_count_sub(page, 3), 1);  // the misuse: only 2 references
  expect_one_report({page_str(page), "misuse-unref"});
  EXPECT_EQ(ppool::pp_ref_count_sub(page, 1), 1);
  pool->put_full_page(page, false);  // the last fragment: home
  EXPECT_EQ(ppool::misuse_count(), misuses_before_);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

// A misaligned pointer reaches ppool's own check (and, under UBSan, is not
// trapped first by the inline fast path's load of the page's tag).
TEST_F(PoolMisuseTest, MisalignedPagePointer) {
  ppool::PagePool* pool = make_pool("misuse-misaligned");
  ASSERT_NE(pool, nullptr);
  ppool::Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  auto* bad = reinterpret_cast<ppool::Page*>(reinterpret_cast<char*>(page) + 8);
  pool->recycle_direct(bad);
  expect_one_report({addr_str(bad), "misuse-misaligned", "not a page descriptor"});
  pool->put_full_page(bad, false);
  expect_one_report({addr_str(bad), "misuse-misaligned", "not a page descriptor"});
  pool->release_page(bad);
  expect_one_report({addr_str(bad), "misuse-misaligned", "not a page descriptor"});
  ppool::put_page_bulk(&bad, 1);
  expect_one_report({addr_str(bad), "not a pool page"});
  EXPECT_EQ(page->refcount.load(), 1u);
  pool->recycle_direct(page);
  expect_pool_healthy(pool);
  EXPECT_EQ(ppool::PagePool::destroy(pool), 0u);
}

}  // namespace
