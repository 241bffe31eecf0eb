// Tests of the page allocator (layer mem): buddy alloc/free, page_of(),
// limits, giving memory back, refcounting, misuse reports, and concurrency.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ppool/page.h"
#include "support/log_capture.h"

namespace ppool {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Captures log messages for its lifetime, with misuse reported rather than
// fatal (tests may run with PPOOL_MISUSE=abort in the environment).
struct LogCapture : test::LogCapture {
  LogCapture() { set_misuse_policy(MisusePolicy::kReport); }
};

PageAllocatorOptions limited(std::size_t max_bytes, std::size_t retain_bytes = 64 * kMiB) {
  PageAllocatorOptions options;
  options.max_bytes = max_bytes;
  options.retain_bytes = retain_bytes;
  return options;
}

std::uintptr_t addr_of(const Page* page) {
  return reinterpret_cast<std::uintptr_t>(page_address(page));
}

std::string pfn_text(const Page* page) {
  return "pfn " + std::to_string(page - detail::g_arena.descs);
}

// Every committed byte is either in use, free, or released.
void expect_all_free(const PageAllocator& allocator) {
  PageAllocatorStats s = allocator.stats();
  EXPECT_EQ(s.free_bytes + s.released_bytes, s.committed_bytes);
}

bool all_zero(const void* p, std::size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

TEST(PageAllocator, ArenaIsReservedBeforeMain) {
  ASSERT_GT(detail::g_arena.bytes, 0u);
  ASSERT_LE(detail::g_arena.bytes, kArenaBytes);
  EXPECT_EQ(detail::g_arena.base % kChunkBytes, 0u);
  EXPECT_NE(detail::g_arena.descs, nullptr);
}

TEST(PageAllocator, EachOrderIsAlignedAndWritable) {
  const auto allocator_owner = PageAllocator::create({.nid = 0}).value();
  PageAllocator& allocator = *allocator_owner;
  std::vector<Page*> pages;
  for (unsigned order = 0; order <= kMaxOrder; ++order) {
    Page* page = allocator.alloc(order);
    ASSERT_NE(page, nullptr) << "order " << order;
    EXPECT_EQ(page_bytes(page), kPageSize << order);
    EXPECT_EQ(addr_of(page) % page_bytes(page), 0u) << "order " << order;
    EXPECT_EQ(page->refcount.load(), 1u);
    EXPECT_EQ(page->order, order);
    EXPECT_EQ(page->nid, 0);
    EXPECT_EQ(page->allocator, &allocator);
    EXPECT_EQ(page->pp_tag, 0u);
    EXPECT_EQ(page->dma_slot, UINT32_MAX);
    std::memset(page_address(page), 0x5a, page_bytes(page));
    EXPECT_EQ(page_of(page_address(page)), page);
    pages.push_back(page);
  }
  for (Page* page : pages) {
    const auto* bytes = static_cast<const unsigned char*>(page_address(page));
    EXPECT_EQ(bytes[0], 0x5a);
    EXPECT_EQ(bytes[page_bytes(page) - 1], 0x5a);  // no other block overlapped it
  }
  for (Page* page : pages) allocator.free(page);
  expect_all_free(allocator);
}

TEST(PageAllocator, OrderAboveMaxIsRefused) {
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  EXPECT_EQ(allocator.alloc(kMaxOrder + 1), nullptr);
  EXPECT_EQ(allocator.stats().committed_bytes, 0u);
}

TEST(PageAllocator, PageOfAnyByteOfACompoundPageIsItsHead) {
  const auto allocator_owner = PageAllocator::create({}).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(9);
  ASSERT_NE(page, nullptr);
  auto* first = static_cast<char*>(page_address(page));
  const std::size_t bytes = page_bytes(page);
  EXPECT_EQ(page_of(first), page);
  EXPECT_EQ(page_of(first + bytes / 2), page);
  EXPECT_EQ(page_of(first + bytes / 2 + 123), page);
  EXPECT_EQ(page_of(first + bytes - 1), page);
  EXPECT_NE(page_of(first + bytes), page);  // the next block is not this page
  allocator.free(page);
}

TEST(PageAllocator, PageOfForeignOrFreedMemoryIsNull) {
  int on_stack = 0;
  auto on_heap = std::make_unique<int>(0);
  EXPECT_EQ(page_of(&on_stack), nullptr);
  EXPECT_EQ(page_of(on_heap.get()), nullptr);
  EXPECT_EQ(page_of(nullptr), nullptr);
  EXPECT_EQ(page_of(reinterpret_cast<void*>(detail::g_arena.base + detail::g_arena.bytes)),
            nullptr);

  const auto allocator_owner = PageAllocator::create({}).value();

  PageAllocator& allocator = *allocator_owner;
  Page* big = allocator.alloc(3);
  Page* small = allocator.alloc(0);
  ASSERT_NE(big, nullptr);
  ASSERT_NE(small, nullptr);
  auto* big_addr = static_cast<char*>(page_address(big));
  void* small_addr = page_address(small);
  allocator.free(big);
  EXPECT_EQ(page_of(big_addr), nullptr);
  EXPECT_EQ(page_of(big_addr + kPageSize), nullptr);  // a former tail page
  EXPECT_EQ(page_of(big_addr + page_bytes(big) - 1), nullptr);
  EXPECT_EQ(page_of(small_addr), small);
  allocator.free(small);
  EXPECT_EQ(page_of(small_addr), nullptr);

  // A block split out of a former compound page: its stale tail pages must
  // not point at the old head, now a different, smaller allocated page.
  Page* reused = allocator.alloc(0);
  ASSERT_NE(reused, nullptr);
  for (std::size_t i = 0; i < 8; ++i) {
    Page* found = page_of(big_addr + i * kPageSize);
    EXPECT_TRUE(found == nullptr || page_of(page_address(found)) == found);
    if (found != nullptr) {
      EXPECT_GE(big_addr + i * kPageSize, static_cast<char*>(page_address(found)));
      EXPECT_LT(big_addr + i * kPageSize,
                static_cast<char*>(page_address(found)) + page_bytes(found));
    }
  }
  allocator.free(reused);
  expect_all_free(allocator);
}

TEST(PageAllocator, BulkAllocReturnsDistinctPages) {
  const auto allocator_owner = PageAllocator::create({}).value();
  PageAllocator& allocator = *allocator_owner;
  std::vector<Page*> pages(300);
  ASSERT_EQ(allocator.alloc_bulk(pages.data(), pages.size()), pages.size());
  std::set<Page*> distinct(pages.begin(), pages.end());
  EXPECT_EQ(distinct.size(), pages.size());
  for (std::size_t i = 0; i < pages.size(); ++i) {
    EXPECT_EQ(pages[i]->order, 0);
    EXPECT_EQ(pages[i]->refcount.load(), 1u);
    std::memset(page_address(pages[i]), static_cast<int>(i & 0xff), kPageSize);
  }
  for (std::size_t i = 0; i < pages.size(); ++i) {
    auto* bytes = static_cast<const unsigned char*>(page_address(pages[i]));
    EXPECT_EQ(page_of(bytes + 100), pages[i]);
    EXPECT_EQ(bytes[kPageSize - 1], i & 0xff);
  }
  for (Page* page : pages) allocator.free(page);
  EXPECT_EQ(allocator.alloc_bulk(pages.data(), 0), 0u);
  expect_all_free(allocator);
}

TEST(PageAllocator, BulkAllocStopsAtTheLimit) {
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  std::vector<Page*> pages(kChunkBytes / kPageSize + 10);
  const std::size_t got = allocator.alloc_bulk(pages.data(), pages.size());
  EXPECT_EQ(got, kChunkBytes / kPageSize);
  EXPECT_EQ(allocator.stats().alloc_failures, 1u);
  for (std::size_t i = 0; i < got; ++i) allocator.free(pages[i]);
  expect_all_free(allocator);
}

TEST(PageAllocator, BuddiesMergeBackIntoAWholeChunk) {
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  std::vector<Page*> pages;
  for (std::size_t i = 0; i < kChunkBytes / kPageSize; ++i) {
    Page* page = allocator.alloc(0);
    ASSERT_NE(page, nullptr) << i;
    pages.push_back(page);
  }
  EXPECT_EQ(allocator.stats().committed_bytes, kChunkBytes);
  EXPECT_EQ(allocator.stats().free_bytes, 0u);
  EXPECT_EQ(allocator.alloc(0), nullptr);  // the chunk is full and the limit reached

  // Free in a scrambled order so merges happen at every level out of order.
  std::shuffle(pages.begin(), pages.end(), std::mt19937(42));
  for (Page* page : pages) allocator.free(page);
  EXPECT_EQ(allocator.stats().free_bytes, kChunkBytes);

  Page* whole = allocator.alloc(kMaxOrder);
  ASSERT_NE(whole, nullptr);
  EXPECT_EQ(allocator.stats().committed_bytes, kChunkBytes);
  allocator.free(whole);
  expect_all_free(allocator);
}

TEST(PageAllocator, LimitRefusesThenRecovers) {
  const auto allocator_owner = PageAllocator::create(limited(2 * kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  Page* a = allocator.alloc(kMaxOrder);
  Page* b = allocator.alloc(kMaxOrder);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(allocator.alloc(kMaxOrder), nullptr);
  EXPECT_EQ(allocator.alloc(0), nullptr);
  Page* bulk[4];
  EXPECT_EQ(allocator.alloc_bulk(bulk, 4), 0u);
  PageAllocatorStats s = allocator.stats();
  EXPECT_EQ(s.alloc_failures, 3u);
  EXPECT_EQ(s.committed_bytes, 2 * kChunkBytes);

  allocator.free(a);
  Page* again = allocator.alloc(5);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(allocator.stats().alloc_failures, 3u);
  allocator.free(again);
  allocator.free(b);
  expect_all_free(allocator);
}

TEST(PageAllocator, FreeChunksAboveRetainAreGivenBackAndReadZero) {
  const auto allocator_owner =
      PageAllocator::create(limited(2 * kChunkBytes, /*retain_bytes=*/kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  Page* a = allocator.alloc(kMaxOrder);
  Page* b = allocator.alloc(kMaxOrder);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::memset(page_address(a), 0xab, kChunkBytes);
  std::memset(page_address(b), 0xcd, kChunkBytes);

  allocator.free(a);  // 4 MiB free: within retain, kept
  EXPECT_EQ(allocator.stats().released_bytes, 0u);
  EXPECT_EQ(allocator.stats().free_bytes, kChunkBytes);
  allocator.free(b);  // 8 MiB free: above retain, one chunk goes back
  PageAllocatorStats s = allocator.stats();
  EXPECT_EQ(s.released_bytes, kChunkBytes);
  EXPECT_EQ(s.free_bytes, kChunkBytes);
  EXPECT_EQ(s.committed_bytes, 2 * kChunkBytes);

  // Both chunks are reusable within the limit; the released one reads zero.
  Page* c = allocator.alloc(kMaxOrder);
  Page* d = allocator.alloc(kMaxOrder);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(allocator.stats().released_bytes, 0u);
  EXPECT_EQ(allocator.stats().committed_bytes, 2 * kChunkBytes);
  const bool c_zero = all_zero(page_address(c), kChunkBytes);
  const bool d_zero = all_zero(page_address(d), kChunkBytes);
  EXPECT_TRUE(c_zero != d_zero) << "exactly the released chunk reads zero";
  allocator.free(c);
  allocator.free(d);
  expect_all_free(allocator);
}

TEST(PageAllocator, ZeroRetainReleasesEveryWholeChunk) {
  const auto allocator_owner =
      PageAllocator::create(limited(kChunkBytes, /*retain_bytes=*/0)).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(2);
  ASSERT_NE(page, nullptr);
  std::memset(page_address(page), 0xee, page_bytes(page));
  allocator.free(page);
  EXPECT_EQ(allocator.stats().released_bytes, kChunkBytes);
  EXPECT_EQ(allocator.stats().free_bytes, 0u);

  Page* reused = allocator.alloc(kMaxOrder);  // the released chunk, no new one
  ASSERT_NE(reused, nullptr);
  EXPECT_EQ(allocator.stats().committed_bytes, kChunkBytes);
  EXPECT_TRUE(all_zero(page_address(reused), kChunkBytes));
  allocator.free(reused);
  expect_all_free(allocator);
}

TEST(PageAllocator, LastPutPageFrees) {
  const auto allocator_owner = PageAllocator::create({}).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(1);
  ASSERT_NE(page, nullptr);
  void* addr = page_address(page);
  get_page(page);
  get_page(page);
  EXPECT_EQ(page->refcount.load(), 3u);
  put_page(page);
  put_page(page);
  EXPECT_EQ(page->refcount.load(), 1u);
  EXPECT_EQ(page_of(addr), page);  // still allocated
  put_page(page);
  EXPECT_EQ(page_of(addr), nullptr);
  expect_all_free(allocator);
}

TEST(PageAllocator, PoolPagesGoToTheInstalledHook) {
  static std::atomic<Page*> returned{nullptr};
  returned = nullptr;
  detail::set_pool_page_put([](Page* page) { returned = page; });
  const auto allocator_owner = PageAllocator::create({}).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(0);
  ASSERT_NE(page, nullptr);
  page->pp_tag = 0x1000 | 1;
  put_page(page);
  EXPECT_EQ(returned.load(), page);
  EXPECT_EQ(page_of(page_address(page)), page);  // the pool owns it now, not freed
  detail::set_pool_page_put(nullptr);

  page->pp_tag = 0;
  page->refcount.store(1);
  put_page(page);
  EXPECT_EQ(page_of(page_address(page)), nullptr);
  expect_all_free(allocator);
}

TEST(PageAllocator, ValidDescriptor) {
  const auto allocator_owner = PageAllocator::create({}).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(2);
  ASSERT_NE(page, nullptr);
  Page on_stack{};
  EXPECT_TRUE(detail::valid_descriptor(page));
  EXPECT_FALSE(detail::valid_descriptor(page + 1));  // a tail
  EXPECT_FALSE(detail::valid_descriptor(
      reinterpret_cast<const Page*>(reinterpret_cast<const char*>(page) + 8)));
  EXPECT_FALSE(detail::valid_descriptor(&on_stack));
  EXPECT_FALSE(detail::valid_descriptor(nullptr));
  allocator.free(page);
  EXPECT_FALSE(detail::valid_descriptor(page));
}

// Allocates every page of a one-chunk allocator: a corrupted free list would
// hand a page out twice or produce more pages than the chunk holds.
void expect_free_list_sound(PageAllocator& allocator) {
  const std::size_t pages_per_chunk = kChunkBytes / kPageSize;
  std::vector<Page*> pages(pages_per_chunk + 1);
  const std::size_t got = allocator.alloc_bulk(pages.data(), pages.size());
  EXPECT_EQ(got, pages_per_chunk);
  std::set<Page*> distinct(pages.begin(), pages.begin() + static_cast<std::ptrdiff_t>(got));
  EXPECT_EQ(distinct.size(), got);
  for (std::size_t i = 0; i < got; ++i) allocator.free(pages[i]);
  expect_all_free(allocator);
}

TEST(PageAllocatorMisuse, DoubleFreeIsReportedAndHarmless) {
  LogCapture capture;
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(0);
  Page* other = allocator.alloc(0);
  ASSERT_NE(page, nullptr);
  allocator.free(page);
  const std::uint64_t before = misuse_count();
  allocator.free(page);
  EXPECT_EQ(misuse_count(), before + 1);
  EXPECT_TRUE(capture.contains(pfn_text(page))) << "report names the page";
  EXPECT_EQ(page_of(page_address(other)), other);
  allocator.free(other);
  expect_free_list_sound(allocator);
}

TEST(PageAllocatorMisuse, DoublePutIsReportedAndHarmless) {
  LogCapture capture;
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(0);
  ASSERT_NE(page, nullptr);
  put_page(page);
  const std::uint64_t before = misuse_count();
  put_page(page);
  EXPECT_EQ(misuse_count(), before + 1);
  EXPECT_TRUE(capture.contains(pfn_text(page)));
  expect_free_list_sound(allocator);
}

TEST(PageAllocatorMisuse, PutWithNoReferencesIsReported) {
  LogCapture capture;
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  Page* page = allocator.alloc(0);
  ASSERT_NE(page, nullptr);
  page->refcount.store(0);  // as if someone dropped a reference they did not hold
  const std::uint64_t before = misuse_count();
  put_page(page);
  EXPECT_EQ(misuse_count(), before + 1);
  EXPECT_EQ(page->refcount.load(), 0u);
  EXPECT_EQ(page_of(page_address(page)), page);  // not freed
  EXPECT_TRUE(capture.contains("no references"));
  EXPECT_TRUE(capture.contains(pfn_text(page)));
  page->refcount.store(1);
  put_page(page);
  expect_free_list_sound(allocator);
}

TEST(PageAllocatorMisuse, FreeOfTailForeignOrWrongAllocatorIsReported) {
  LogCapture capture;
  const auto allocator_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& allocator = *allocator_owner;
  const auto stranger_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& stranger = *stranger_owner;
  Page* page = allocator.alloc(2);
  ASSERT_NE(page, nullptr);
  Page on_stack{};
  const std::uint64_t before = misuse_count();
  allocator.free(page + 1);  // a tail descriptor
  allocator.free(&on_stack);
  allocator.free(reinterpret_cast<Page*>(reinterpret_cast<char*>(page) + 8));  // not on a boundary
  stranger.free(page);                                                         // not its page
  put_page(&on_stack);
  EXPECT_EQ(misuse_count(), before + 5);
  EXPECT_EQ(capture.count(), 5u);
  EXPECT_EQ(page_of(page_address(page)), page);
  EXPECT_EQ(stranger.stats().committed_bytes, 0u);
  allocator.free(page);
  expect_free_list_sound(allocator);
}

TEST(PageAllocator, ForNodeIsProcessWide) {
  PageAllocator& node0 = PageAllocator::for_node(0);
  EXPECT_EQ(&node0, &PageAllocator::for_node(0));
  EXPECT_EQ(&node0, &PageAllocator::for_node(100000));  // out of range: node 0
  EXPECT_EQ(node0.nid(), 0);
  PageAllocator& local = PageAllocator::for_node(kNoNode);
  EXPECT_EQ(&local, &PageAllocator::for_node(kNoNode));
  EXPECT_GE(local.nid(), 0);

  Page* page = node0.alloc(0);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->nid, 0);
  EXPECT_EQ(page->allocator, &node0);
  put_page(page);
}

TEST(PageAllocator, DestroyedAllocatorGivesChunksBackToTheArena) {
  std::uintptr_t first;
  {
    const auto a_owner = PageAllocator::create(limited(kChunkBytes)).value();
    PageAllocator& a = *a_owner;
    Page* page = a.alloc(kMaxOrder);
    ASSERT_NE(page, nullptr);
    first = addr_of(page);
    std::memset(page_address(page), 0x77, kChunkBytes);
    a.free(page);
  }
  EXPECT_EQ(page_of(reinterpret_cast<void*>(first)), nullptr);
  const auto b_owner = PageAllocator::create(limited(kChunkBytes)).value();
  PageAllocator& b = *b_owner;
  Page* page = b.alloc(kMaxOrder);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(addr_of(page), first) << "the returned chunk is reused first";
  EXPECT_TRUE(all_zero(page_address(page), kChunkBytes)) << "and was discarded";
  b.free(page);
}

TEST(PageAllocator, DestroyWithPagesOutstandingIsReportedAndLeaks) {
  LogCapture capture;
  auto allocator = PageAllocator::create(limited(kChunkBytes)).value();
  Page* page = allocator->alloc(0);
  ASSERT_NE(page, nullptr);
  char* memory = static_cast<char*>(page_address(page));
  allocator.reset();
  EXPECT_TRUE(capture.contains("still allocated"));
  memory[0] = 1;  // the chunk was leaked, not handed to anyone: still writable
  EXPECT_EQ(memory[0], 1);
}

// 4 threads allocate and free blocks of mixed orders on one allocator. Each
// block carries a pattern unique to its thread and allocation, written on
// every cache line and checked before the free: two live blocks that overlap
// would overwrite each other's pattern.
TEST(PageAllocator, ConcurrentMixedOrdersNeverOverlap) {
  const auto allocator_owner = PageAllocator::create(limited(1024 * kMiB, 16 * kMiB)).value();
  PageAllocator& allocator = *allocator_owner;
  constexpr int kThreads = 4;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(250);
  std::atomic<std::uint64_t> operations{0};
  std::atomic<std::uint64_t> corrupted{0};

  auto worker = [&](int id) {
    struct Live {
      Page* page;
      std::uint64_t pattern;
    };
    std::mt19937_64 rng(static_cast<std::uint64_t>(id) * 7919 + 1);
    std::vector<Live> live;
    std::uint64_t serial = 0;
    auto fill = [](Page* page, std::uint64_t pattern) {
      auto* p = static_cast<char*>(page_address(page));
      for (std::size_t off = 0; off < page_bytes(page); off += kCacheLine) {
        std::memcpy(p + off, &pattern, sizeof pattern);
      }
    };
    auto check_and_free = [&](const Live& entry) {
      auto* p = static_cast<char*>(page_address(entry.page));
      for (std::size_t off = 0; off < page_bytes(entry.page); off += kCacheLine) {
        std::uint64_t seen;
        std::memcpy(&seen, p + off, sizeof seen);
        if (seen != entry.pattern) {
          corrupted.fetch_add(1, std::memory_order_relaxed);
          break;
        }
      }
      if (page_of(p + page_bytes(entry.page) - 1) != entry.page) {
        corrupted.fetch_add(1, std::memory_order_relaxed);
      }
      if (rng() & 1) {
        allocator.free(entry.page);
      } else {
        put_page(entry.page);
      }
    };
    auto next_pattern = [&] { return (static_cast<std::uint64_t>(id + 1) << 48) | ++serial; };

    while (std::chrono::steady_clock::now() < deadline) {
      const std::uint64_t dice = rng() % 100;
      if (live.size() < 24 && (dice < 55 || live.empty())) {
        if (dice < 10) {  // a bulk of order-0 pages
          Page* bulk[8];
          const std::size_t got = allocator.alloc_bulk(bulk, 8);
          for (std::size_t i = 0; i < got; ++i) {
            const Live entry{bulk[i], next_pattern()};
            fill(entry.page, entry.pattern);
            live.push_back(entry);
          }
        } else {
          const unsigned order = dice < 40 ? 0 : dice < 53 ? rng() % 5 : rng() % (kMaxOrder + 1);
          if (Page* page = allocator.alloc(order)) {
            const Live entry{page, next_pattern()};
            fill(page, entry.pattern);
            live.push_back(entry);
          }
        }
      } else {
        const std::size_t victim = rng() % live.size();
        check_and_free(live[victim]);
        live[victim] = live.back();
        live.pop_back();
      }
      operations.fetch_add(1, std::memory_order_relaxed);
    }
    for (const Live& entry : live) check_and_free(entry);
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(worker, i);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(corrupted.load(), 0u);
  EXPECT_GT(operations.load(), 100u);
  EXPECT_EQ(allocator.stats().alloc_failures, 0u);
  expect_all_free(allocator);
}

}  // namespace
}  // namespace ppool
