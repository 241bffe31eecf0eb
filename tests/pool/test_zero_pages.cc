// kZeroPages: a page is cleared when it enters the pool from the allocator,
// and when it leaves a shared region's pool for the allocator; never on
// alloc or recycle. Without the flag the same sequences see the previous
// user's bytes (so these tests can fail).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "support/pool_fixtures.h"

namespace {

using ppool::kChunkBytes;
using ppool::kPageSize;
using ppool::Page;
using ppool::PageAllocator;
using ppool::PageAllocatorOptions;
using ppool::PagePool;
using ppool::PagePoolParams;

constexpr unsigned char kMark = 0xA5;

PagePool* pool_on(PageAllocator* allocator, std::uint32_t flags, unsigned order = 0) {
  PagePoolParams params;
  params.name = "zero";
  params.allocator = allocator;
  params.flags = flags;
  params.order = order;
  return ppool::test::create_pool(params);
}

std::vector<Page*> take_all(PagePool* pool) {
  std::vector<Page*> pages;
  while (Page* page = pool->alloc_pages()) pages.push_back(page);
  return pages;
}

std::size_t marked_bytes(const void* data, std::size_t bytes) {
  const auto* p = static_cast<const unsigned char*>(data);
  return static_cast<std::size_t>(std::count(p, p + bytes, kMark));
}

// A first user fills every page of a one-chunk allocator with a mark and
// gives them all back to the allocator; a second pool then takes every page
// again and counts the marks it finds.
std::size_t stale_bytes_after_reuse(std::uint32_t second_flags, unsigned order) {
  const auto allocator_owner = PageAllocator::create({.max_bytes = kChunkBytes}).value();
  PageAllocator& allocator = *allocator_owner;
  PagePool* first = pool_on(&allocator, 0, order);
  std::vector<Page*> pages = take_all(first);
  EXPECT_EQ(pages.size(), kChunkBytes / (kPageSize << order));
  for (Page* page : pages) {
    std::memset(page_address(page), kMark, page_bytes(page));
    first->release_page(page);  // out of the pool: the last put frees it
    ppool::put_page(page);
  }
  EXPECT_EQ(PagePool::destroy(first), 0u);
  PagePool* second = pool_on(&allocator, second_flags, order);
  pages = take_all(second);
  EXPECT_EQ(pages.size(), kChunkBytes / (kPageSize << order));
  std::size_t stale = 0;
  for (Page* page : pages) stale += marked_bytes(page_address(page), page_bytes(page));
  const std::uint64_t expect_zeroed = (second_flags & ppool::kZeroPages) ? pages.size() : 0;
  EXPECT_EQ(second->extra_stats().pages_zeroed, expect_zeroed);
  for (Page* page : pages) second->recycle_direct(page);
  EXPECT_EQ(PagePool::destroy(second), 0u);
  return stale;
}

TEST(ZeroPages, FreshPagesCarryNoPreviousBytes) {
  for (unsigned order : {0u, 3u}) {
    SCOPED_TRACE(order);
    EXPECT_EQ(stale_bytes_after_reuse(ppool::kZeroPages, order), 0u);
    EXPECT_EQ(stale_bytes_after_reuse(0, order), kChunkBytes);  // the flag is what clears
  }
}

// Recycling keeps the user's bytes: zeroing is the slow path's alone.
TEST(ZeroPages, RecycleDoesNotClear) {
  PagePool* pool = pool_on(nullptr, ppool::kZeroPages);
  Page* page = pool->alloc_pages();
  ASSERT_NE(page, nullptr);
  const auto zeroed = pool->extra_stats().pages_zeroed;
  EXPECT_EQ(marked_bytes(page_address(page), kPageSize), 0u);
  std::memset(page_address(page), kMark, kPageSize);
  pool->recycle_direct(page);
  Page* again = pool->alloc_pages();
  ASSERT_EQ(again, page);
  EXPECT_EQ(marked_bytes(page_address(again), kPageSize), kPageSize);
  EXPECT_EQ(pool->extra_stats().pages_zeroed, zeroed);
  pool->recycle_direct(again);
  EXPECT_EQ(PagePool::destroy(pool), 0u);
}

// A shared region is seen by another mapper all the time, free pages
// included: what a zeroing pool gives back to the allocator is cleared, as
// the other mapping shows; a page others still hold is left alone.
TEST(ZeroPages, ReleasedFromASharedRegionCleared) {
  for (std::uint32_t flags : {std::uint32_t{ppool::kZeroPages}, std::uint32_t{0}}) {
    SCOPED_TRACE(flags);
    auto created = PageAllocator::create({.max_bytes = kChunkBytes, .shared = true});
    ASSERT_TRUE(created.ok()) << created.error().message;
    std::unique_ptr<PageAllocator> allocator = std::move(created).value();
    const ppool::SharedRegion& region = *allocator->region();
    void* other = ::mmap(nullptr, region.bytes, PROT_READ, MAP_SHARED, region.fd, 0);
    ASSERT_NE(other, MAP_FAILED);
    PagePool* pool = pool_on(allocator.get(), flags);
    std::vector<Page*> pages = take_all(pool);
    ASSERT_FALSE(pages.empty());
    Page* kept = pages.back();  // another holder keeps this one
    ppool::get_page(kept);
    for (Page* page : pages) std::memset(page_address(page), kMark, kPageSize);
    for (Page* page : pages) pool->recycle_direct(page);
    const std::uint64_t kept_offset = region.offset_of(kept);
    EXPECT_EQ(PagePool::destroy(pool), 0u);  // back to the allocator
    std::size_t stale = marked_bytes(other, region.bytes);
    const std::size_t kept_marks =
        marked_bytes(static_cast<const char*>(other) + kept_offset, kPageSize);
    EXPECT_EQ(kept_marks, kPageSize);  // its holder's bytes stay
    EXPECT_EQ(stale, flags ? kPageSize : pages.size() * kPageSize);
    ppool::put_page(kept);
    ::munmap(other, region.bytes);
  }
}

}  // namespace
