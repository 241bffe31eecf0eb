// Tests of the page allocator's backings (layer mem): 4 KiB, THP, hugetlbfs
// 2 MiB and 1 GiB, memfd-shared regions, their errors and their teardown.
//
// Real syscalls, no mocks. Tests that need huge pages reserve them
// themselves as root (and give them back in TearDown, even on failure);
// where the machine cannot, they skip saying why. The binary runs serially
// (RUN_SERIAL): it changes the machine's huge page reservation.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "ppool/backing.h"
#include "ppool/page.h"
#include "support/log_capture.h"

namespace ppool {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kGiB = std::size_t{1} << 30;
constexpr const char* kDir2M = "/sys/kernel/mm/hugepages/hugepages-2048kB";
constexpr const char* kDir1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB";

long read_long(const std::string& path) {
  std::ifstream in(path);
  long value = -1;
  if (!(in >> value)) return -1;
  return value;
}

bool write_long(const std::string& path, long value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool thp_disabled() {
  return read_text("/sys/kernel/mm/transparent_hugepage/enabled").find("[never]") !=
         std::string::npos;
}

// The /proc/self/maps line of the mapping containing addr, or "".
std::string maps_line(const void* addr) {
  std::ifstream maps("/proc/self/maps");
  const auto target = reinterpret_cast<std::uintptr_t>(addr);
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t begin = 0, end = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &begin, &end) == 2 && begin <= target &&
        target < end) {
      return line;
    }
  }
  return "";
}

// A /proc/self/status field in kB ("VmLck"), or -1.
long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  }
  return -1;
}

char* data(Page* page) {
  return static_cast<char*>(page_address(page));
}

// Allocates whole chunks (order kMaxOrder) until the allocator refuses.
std::vector<Page*> alloc_chunks(PageAllocator& allocator, std::size_t at_most) {
  std::vector<Page*> pages;
  while (pages.size() < at_most) {
    Page* page = allocator.alloc(kMaxOrder);
    if (!page) break;
    pages.push_back(page);
  }
  return pages;
}

void free_all(PageAllocator& allocator, const std::vector<Page*>& pages) {
  for (Page* page : pages) allocator.free(page);
}

// Writes a pattern over every page of the blocks and checks it reads back.
void expect_memory_works(const std::vector<Page*>& pages, unsigned char seed) {
  for (Page* page : pages) std::memset(data(page), seed, page_bytes(page));
  for (Page* page : pages) {
    for (std::size_t off = 0; off < page_bytes(page); off += kPageSize) {
      ASSERT_EQ(static_cast<unsigned char>(data(page)[off]), seed) << "offset " << off;
    }
  }
}

PageAllocatorOptions options_for(Backing backing, std::size_t max_bytes) {
  PageAllocatorOptions options;
  options.backing = backing;
  options.max_bytes = max_bytes;
  return options;
}

PageAllocatorOptions shared_options(Backing backing, std::size_t bytes) {
  PageAllocatorOptions options = options_for(backing, bytes);
  options.shared = true;
  return options;
}

std::unique_ptr<PageAllocator> make(const PageAllocatorOptions& options) {
  auto created = PageAllocator::create(options);
  EXPECT_TRUE(created.ok()) << created.error().message;
  return created.ok() ? std::move(created).value() : nullptr;
}

// Huge pages of a size that can be had now (as the allocator counts them).
long available_pages(const char* dir) {
  const std::string d = dir;
  const long free = read_long(d + "/free_hugepages");
  if (free < 0) return -1;
  const long overcommit = read_long(d + "/nr_overcommit_hugepages");
  const long surplus = read_long(d + "/surplus_hugepages");
  return free - read_long(d + "/resv_hugepages") + std::max(overcommit - surplus, 0l);
}

TEST(Backing, NamesAndPageSizes) {
  EXPECT_STREQ(backing_name(Backing::k4K), "4k");
  EXPECT_STREQ(backing_name(Backing::kThp), "thp");
  EXPECT_STREQ(backing_name(Backing::kHugetlb2M), "hugetlb-2m");
  EXPECT_STREQ(backing_name(Backing::kHugetlb1G), "hugetlb-1g");
  EXPECT_EQ(backing_page_bytes(Backing::k4K), kPageSize);
  EXPECT_EQ(backing_page_bytes(Backing::kThp), kPageSize);
  EXPECT_EQ(backing_page_bytes(Backing::kHugetlb2M), 2 * kMiB);
  EXPECT_EQ(backing_page_bytes(Backing::kHugetlb1G), kGiB);
}

// MADV_NOHUGEPAGE is what keeps 4K at 4K: a chunk that comes back from a THP
// allocator carries VM_HUGEPAGE, and would be populated with huge pages again
// in THP mode `madvise` as in `always`.
TEST(Backing, FourKChunksAreNotHugeBacked) {
  std::vector<std::uintptr_t> thp_chunks;
  if (!thp_disabled()) {
    auto thp = make(options_for(Backing::kThp, 8 * kMiB));
    ASSERT_NE(thp, nullptr);
    auto pages = alloc_chunks(*thp, 2);
    ASSERT_EQ(pages.size(), 2u);
    for (Page* page : pages) thp_chunks.push_back(reinterpret_cast<std::uintptr_t>(data(page)));
    expect_memory_works(pages, 0x21);
    EXPECT_GT(thp->huge_backed_bytes(), 0u) << "the THP chunks about to be reused";
    free_all(*thp, pages);
  }
  auto small = make(options_for(Backing::k4K, 8 * kMiB));
  ASSERT_NE(small, nullptr);
  auto pages = alloc_chunks(*small, 2);
  ASSERT_EQ(pages.size(), 2u);
  expect_memory_works(pages, 0x42);
  EXPECT_EQ(small->backing(), Backing::k4K);
  EXPECT_EQ(small->stats().committed_bytes, 8 * kMiB);
  EXPECT_EQ(small->huge_backed_bytes(), 0u);
  std::size_t reused = 0;
  for (Page* page : pages) {
    const auto addr = reinterpret_cast<std::uintptr_t>(data(page));
    reused += std::find(thp_chunks.begin(), thp_chunks.end(), addr) != thp_chunks.end();
  }
  if (!thp_chunks.empty()) {
    EXPECT_EQ(reused, 2u) << "the THP allocator's chunks, reused first";
  }
  free_all(*small, pages);
}

TEST(Backing, ThpIsHugeBacked) {
  if (thp_disabled()) GTEST_SKIP() << "transparent_hugepage/enabled is [never] on this machine";
  auto thp = make(options_for(Backing::kThp, 16 * kMiB));
  auto idle = make(options_for(Backing::kThp, 16 * kMiB));
  ASSERT_NE(thp, nullptr);
  ASSERT_NE(idle, nullptr);
  auto pages = alloc_chunks(*thp, 2);
  ASSERT_EQ(pages.size(), 2u);
  expect_memory_works(pages, 0x5a);
  const std::size_t huge = thp->huge_backed_bytes();
  EXPECT_GT(huge, 0u) << "MADV_HUGEPAGE chunks populated with no huge page";
  EXPECT_LE(huge, thp->stats().committed_bytes);
  EXPECT_EQ(huge % (2 * kMiB), 0u);
  EXPECT_EQ(idle->huge_backed_bytes(), 0u) << "another allocator's huge pages were counted";
  EXPECT_EQ(thp->backing(), Backing::kThp);
  free_all(*thp, pages);
}

// Chunk ranges carry the allocator's name in /proc/PID/maps, one VMA name
// per allocator (what makes huge_backed_bytes() exact).
TEST(Backing, ChunkRangesAreNamedPerAllocator) {
  auto a = make(options_for(Backing::k4K, 4 * kMiB));
  auto b = make(options_for(Backing::k4K, 4 * kMiB));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Page* pa = a->alloc(0);
  Page* pb = b->alloc(0);
  ASSERT_NE(pa, nullptr);
  ASSERT_NE(pb, nullptr);
  const std::string la = maps_line(data(pa)), lb = maps_line(data(pb));
  if (la.find("[anon:") == std::string::npos) {
    a->free(pa);
    b->free(pb);
    GTEST_SKIP() << "this kernel does not name anonymous VMAs (CONFIG_ANON_VMA_NAME): " << la;
  }
  EXPECT_NE(la.find("[anon:ppool-4k-"), std::string::npos) << la;
  EXPECT_NE(lb.find("[anon:ppool-4k-"), std::string::npos) << lb;
  EXPECT_NE(la.substr(la.find('[')), lb.substr(lb.find('['))) << "two allocators, one name";
  a->free(pa);
  b->free(pb);
}

TEST(Backing, ForNodeHasOneAllocatorPerBacking) {
  PageAllocator& small = PageAllocator::for_node(0, Backing::k4K);
  PageAllocator& thp = PageAllocator::for_node(0, Backing::kThp);
  EXPECT_NE(&small, &thp);
  EXPECT_EQ(&small, &PageAllocator::for_node(0));
  EXPECT_EQ(&thp, &PageAllocator::for_node(0, Backing::kThp));
  EXPECT_EQ(small.backing(), Backing::k4K);
  EXPECT_EQ(thp.backing(), Backing::kThp);
  EXPECT_EQ(thp.nid(), 0);
  Page* page = thp.alloc(0);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(page->allocator, &thp);
  put_page(page);
}

TEST(Backing, InvalidOptionsAreRefusedNamingTheField) {
  struct Case {
    PageAllocatorOptions options;
    const char* field;
  };
  PageAllocatorOptions thp_shared = shared_options(Backing::kThp, 8 * kMiB);
  PageAllocatorOptions unsized = shared_options(Backing::k4K, kArenaBytes);
  PageAllocatorOptions lock_alone = options_for(Backing::k4K, 8 * kMiB);
  lock_alone.lock = true;
  PageAllocatorOptions fallback_4k = options_for(Backing::k4K, 8 * kMiB);
  fallback_4k.hugetlb_fallback_thp = true;
  PageAllocatorOptions bad_backing = options_for(static_cast<Backing>(9), 8 * kMiB);
  const Case cases[] = {{thp_shared, "options.shared"},
                        {unsized, "options.max_bytes"},
                        {lock_alone, "options.lock"},
                        {fallback_4k, "options.hugetlb_fallback_thp"},
                        {bad_backing, "options.backing"}};
  for (const Case& c : cases) {
    auto created = PageAllocator::create(c.options);
    ASSERT_FALSE(created.ok()) << c.field;
    EXPECT_EQ(created.error().code, Errc::kInvalidArgument) << c.field;
    EXPECT_NE(created.error().message.find(c.field), std::string::npos) << created.error().message;
  }
  auto thp = PageAllocator::create(thp_shared);
  ASSERT_FALSE(thp.ok());
  EXPECT_NE(thp.error().message.find("shmem"), std::string::npos) << thp.error().message;
}

// No public constructor: an allocator of one's own comes from create(),
// which returns an Error rather than an allocator that refuses everything
// (only the process-wide ones of for_node() can be such, and PagePool::create
// checks them: setup_error()).
static_assert(!std::is_constructible_v<PageAllocator, PageAllocatorOptions>);
static_assert(!std::is_default_constructible_v<PageAllocator>);

TEST(Backing, CreateRefusesWhatTheConstructorUsedToAccept) {
  test::LogCapture capture;
  auto created = PageAllocator::create(shared_options(Backing::k4K, kArenaBytes));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, Errc::kInvalidArgument);
  EXPECT_NE(created.error().message.find("options.max_bytes"), std::string::npos)
      << created.error().message;
  EXPECT_TRUE(capture.entries().empty()) << "the Error is the report: nothing is logged";
}

// Reserves huge pages for one test and gives them back in TearDown, which
// gtest runs even when the test body failed.
class HugetlbTest : public ::testing::Test {
 protected:
  // Raises the pool of `dir` by `pages` free pages; false (and why) when not
  // root or the kernel could not find the memory.
  bool reserve(const char* dir, long pages, std::string& why) {
    if (::geteuid() != 0) {
      why = "not root: cannot reserve huge pages";
      return false;
    }
    const std::string path = std::string(dir) + "/nr_hugepages";
    const long old = read_long(path);
    if (old < 0) {
      why = std::string("no ") + dir + " on this kernel";
      return false;
    }
    saved_.push_back({path, old});
    const long free_before = read_long(std::string(dir) + "/free_hugepages");
    if (!write_long(path, old + pages) ||
        read_long(std::string(dir) + "/free_hugepages") < free_before + pages) {
      why = "the kernel could not reserve " + std::to_string(pages) + " page(s) in " + path +
            " (memory too fragmented?)";
      return false;
    }
    return true;
  }

  void TearDown() override {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      EXPECT_TRUE(write_long(it->first, it->second)) << it->first;
      EXPECT_EQ(read_long(it->first), it->second) << "huge pages still in use: " << it->first;
    }
  }

 private:
  std::vector<std::pair<std::string, long>> saved_;
};

TEST_F(HugetlbTest, TwoMegabytePagesBackTheAllocator) {
  std::string why;
  if (!reserve(kDir2M, 4, why)) GTEST_SKIP() << why;
  const long free_before = read_long(std::string(kDir2M) + "/free_hugepages");
  {
    PageAllocatorOptions options = options_for(Backing::kHugetlb2M, 8 * kMiB);
    options.retain_bytes = 0;  // hugetlb memory is retained regardless
    auto allocator = make(options);
    ASSERT_NE(allocator, nullptr);
    EXPECT_EQ(allocator->backing(), Backing::kHugetlb2M);
    auto pages = alloc_chunks(*allocator, 3);
    ASSERT_EQ(pages.size(), 2u) << "max_bytes is two chunks";
    expect_memory_works(pages, 0x66);
    EXPECT_EQ(allocator->stats().committed_bytes, 8 * kMiB);
    EXPECT_EQ(allocator->huge_backed_bytes(), 8 * kMiB);
    EXPECT_EQ(read_long(std::string(kDir2M) + "/free_hugepages"), free_before - 4);
    EXPECT_NE(maps_line(data(pages[0])).find("anon_hugepage"), std::string::npos)
        << maps_line(data(pages[0]));
    free_all(*allocator, pages);
    const PageAllocatorStats s = allocator->stats();
    EXPECT_EQ(s.released_bytes, 0u) << "hugetlb chunks are never discarded";
    EXPECT_EQ(s.free_bytes, s.committed_bytes);
  }
  EXPECT_EQ(read_long(std::string(kDir2M) + "/free_hugepages"), free_before)
      << "the destroyed allocator kept huge pages";
}

TEST_F(HugetlbTest, OneGigabytePageBacksAnAlignedRunOfChunks) {
  std::string why;
  if (!reserve(kDir1G, 1, why)) GTEST_SKIP() << why;
  const long free_before = read_long(std::string(kDir1G) + "/free_hugepages");
  {
    auto allocator = make(options_for(Backing::kHugetlb1G, kArenaBytes));
    ASSERT_NE(allocator, nullptr);
    auto pages = alloc_chunks(*allocator, 3);
    ASSERT_EQ(pages.size(), 3u);
    const std::uintptr_t unit = reinterpret_cast<std::uintptr_t>(data(pages[0])) & ~(kGiB - 1);
    for (Page* page : pages) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(data(page)) & ~(kGiB - 1), unit)
          << "one growth is one 1 GiB-aligned unit";
    }
    expect_memory_works(pages, 0x77);
    EXPECT_EQ(allocator->stats().committed_bytes, kGiB);
    EXPECT_EQ(allocator->huge_backed_bytes(), kGiB);
    EXPECT_EQ(read_long(std::string(kDir1G) + "/free_hugepages"), free_before - 1);
    free_all(*allocator, pages);
  }
  EXPECT_EQ(read_long(std::string(kDir1G) + "/free_hugepages"), free_before);
}

// A hugetlb backing whose pool cannot supply the first growth, or nullptr.
const char* starved_dir(Backing& backing) {
  if (available_pages(kDir2M) == 0) {
    backing = Backing::kHugetlb2M;
    return kDir2M;
  }
  if (available_pages(kDir1G) == 0) {
    backing = Backing::kHugetlb1G;
    return kDir1G;
  }
  return nullptr;
}

TEST(Hugetlb, NoFreePagesIsUnsupportedAndSaysHowToReserve) {
  Backing backing{};
  const char* dir = starved_dir(backing);
  if (!dir) GTEST_SKIP() << "huge pages of both sizes are free here: cannot test a shortage";
  auto created = PageAllocator::create(options_for(backing, kArenaBytes));
  ASSERT_FALSE(created.ok());
  const Error& error = created.error();
  EXPECT_EQ(error.code, Errc::kUnsupported);
  EXPECT_NE(error.message.find("nr_hugepages"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find(dir), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("hugetlb_fallback_thp"), std::string::npos) << error.message;
}

TEST(Hugetlb, FallbackToThpIsLoggedOnce) {
  Backing backing{};
  if (!starved_dir(backing) || backing != Backing::kHugetlb2M) {
    GTEST_SKIP() << "2 MiB huge pages are free here: the fallback would not happen";
  }
  test::LogCapture capture;
  PageAllocatorOptions options = options_for(Backing::kHugetlb2M, 16 * kMiB);
  options.hugetlb_fallback_thp = true;
  auto allocator = make(options);
  ASSERT_NE(allocator, nullptr);
  EXPECT_EQ(allocator->backing(), Backing::kThp);
  auto pages = alloc_chunks(*allocator, 4);  // four growths
  ASSERT_EQ(pages.size(), 4u);
  expect_memory_works(pages, 0x31);
  std::size_t said = 0;
  for (const std::string& message : capture.messages()) {
    said += message.find("hugetlb_fallback_thp") != std::string::npos;
  }
  EXPECT_EQ(said, 1u);
  if (!thp_disabled()) {
    EXPECT_GT(allocator->huge_backed_bytes(), 0u);
  }
  free_all(*allocator, pages);
}

// The pool had pages for the first growth only: the second falls back, and
// the hugetlb chunks stay hugetlb.
TEST_F(HugetlbTest, FallbackWhenTheReserveRunsOutAtGrowth) {
  if (available_pages(kDir2M) != 0) GTEST_SKIP() << "2 MiB huge pages are already free here";
  std::string why;
  if (!reserve(kDir2M, 2, why)) GTEST_SKIP() << why;
  test::LogCapture capture;
  PageAllocatorOptions options = options_for(Backing::kHugetlb2M, 16 * kMiB);
  options.hugetlb_fallback_thp = true;
  auto allocator = make(options);
  ASSERT_NE(allocator, nullptr);
  EXPECT_EQ(allocator->backing(), Backing::kHugetlb2M);
  auto pages = alloc_chunks(*allocator, 3);
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_EQ(allocator->backing(), Backing::kThp);
  expect_memory_works(pages, 0x13);
  EXPECT_GE(allocator->huge_backed_bytes(), 4 * kMiB) << "the hugetlb chunk counts";
  std::size_t said = 0;
  for (const std::string& message : capture.messages()) {
    said += message.find("hugetlb_fallback_thp") != std::string::npos;
  }
  EXPECT_EQ(said, 1u);
  free_all(*allocator, pages);
}

TEST_F(HugetlbTest, DestroyedHugetlbChunksComeBackAsOrdinaryMemory) {
  std::string why;
  if (!reserve(kDir2M, 2, why)) GTEST_SKIP() << why;
  std::uintptr_t chunk;
  {
    auto allocator = make(options_for(Backing::kHugetlb2M, 4 * kMiB));
    ASSERT_NE(allocator, nullptr);
    Page* page = allocator->alloc(kMaxOrder);
    ASSERT_NE(page, nullptr);
    chunk = reinterpret_cast<std::uintptr_t>(data(page));
    std::memset(data(page), 0x99, kChunkBytes);
    allocator->free(page);
  }
  const void* addr = reinterpret_cast<void*>(chunk);
  EXPECT_EQ(maps_line(addr).find("anon_hugepage"), std::string::npos) << maps_line(addr);
  auto small = make(options_for(Backing::k4K, 4 * kMiB));
  ASSERT_NE(small, nullptr);
  Page* page = small->alloc(kMaxOrder);
  ASSERT_NE(page, nullptr);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(data(page)), chunk) << "the returned chunk first";
  EXPECT_EQ(data(page)[0], 0) << "fresh anonymous memory reads zero";
  expect_memory_works({page}, 0x12);
  EXPECT_EQ(small->huge_backed_bytes(), 0u);
  EXPECT_EQ(maps_line(data(page)).find("anon_hugepage"), std::string::npos);
  small->free(page);
}

// A second view of a region's memfd, as another process would map it.
struct SecondMapping {
  char* addr = nullptr;
  std::size_t bytes = 0;
  SecondMapping(int fd, std::size_t size) : bytes(size) {
    void* got = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (got != MAP_FAILED) addr = static_cast<char*>(got);
  }
  ~SecondMapping() {
    if (addr) ::munmap(addr, bytes);
  }
};

TEST(SharedRegion, FourKRegionIsSharedThroughItsFd) {
  PageAllocatorOptions options = shared_options(Backing::k4K, 16 * kMiB - 1);  // rounds up
  options.retain_bytes = 0;  // a region gives nothing back regardless
  auto allocator = make(options);
  ASSERT_NE(allocator, nullptr);
  const SharedRegion* region = allocator->region();
  ASSERT_NE(region, nullptr);
  EXPECT_GE(region->fd, 0);
  EXPECT_EQ(region->bytes, 16 * kMiB);
  EXPECT_EQ(region->page_bytes, kPageSize);
  EXPECT_FALSE(region->locked);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(region->base) % kChunkBytes, 0u);
  EXPECT_NE(maps_line(region->base).find("memfd:"), std::string::npos) << maps_line(region->base);

  Page* p = allocator->alloc(0);
  Page* q = allocator->alloc(0);
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  ASSERT_TRUE(region->contains(data(p)));
  const std::uint64_t p_off = region->offset_of(p), q_off = region->offset_of(q);
  EXPECT_LT(p_off, region->bytes);
  EXPECT_EQ(p_off % kPageSize, 0u);
  EXPECT_EQ(region->page_at(p_off), p);
  EXPECT_EQ(region->page_at(q_off), q);
  EXPECT_EQ(region->page_at(p_off + 100), p);
  EXPECT_EQ(region->page_at(region->bytes), nullptr);
  EXPECT_EQ(region->page_at(UINT64_MAX), nullptr);

  SecondMapping other(region->fd, region->bytes);
  ASSERT_NE(other.addr, nullptr) << std::strerror(errno);
  ASSERT_NE(other.addr, static_cast<char*>(region->base));
  std::memcpy(data(p), "written through the allocator", 30);
  EXPECT_EQ(std::memcmp(other.addr + p_off, "written through the allocator", 30), 0);
  std::memcpy(other.addr + q_off, "written through the fd", 23);
  EXPECT_EQ(std::memcmp(data(q), "written through the fd", 23), 0);

  allocator->free(q);
  EXPECT_EQ(region->page_at(q_off), nullptr) << "a free page has no name";
  allocator->free(p);

  // The region is 4 chunks: exactly 4 whole-chunk blocks, then a refusal.
  const std::uint64_t failures = allocator->stats().alloc_failures;
  auto chunks = alloc_chunks(*allocator, 8);
  EXPECT_EQ(chunks.size(), 4u);
  for (Page* page : chunks) EXPECT_TRUE(region->contains(data(page)));
  EXPECT_EQ(allocator->stats().alloc_failures, failures + 1);
  EXPECT_EQ(allocator->alloc(0), nullptr);
  EXPECT_EQ(allocator->stats().committed_bytes, 16 * kMiB);
  free_all(*allocator, chunks);
  EXPECT_EQ(allocator->stats().released_bytes, 0u) << "a region gives nothing back";
}

TEST(SharedRegion, LockedRegionIsCommittedAndLocked) {
  const long before = status_kib("VmLck");
  {
    PageAllocatorOptions options = shared_options(Backing::k4K, 4 * kMiB);
    options.lock = true;
    auto created = PageAllocator::create(options);
    if (!created.ok() && ::geteuid() != 0) {
      GTEST_SKIP() << "cannot lock 4 MiB here: " << created.error().message;
    }
    ASSERT_TRUE(created.ok()) << created.error().message;
    const SharedRegion* region = created.value()->region();
    ASSERT_NE(region, nullptr);
    EXPECT_TRUE(region->locked);
    EXPECT_GE(status_kib("VmLck") - before, 4096) << "VmLck in /proc/self/status";
  }
  EXPECT_EQ(status_kib("VmLck"), before) << "the lock outlived the allocator";
}

// Child exit codes: what create() did under a 64 KiB RLIMIT_MEMLOCK.
enum LockChild { kRefusedNamingTheLimit = 0, kLocked = 1, kRefusedOtherwise = 2, kNoSetup = 3 };

// Drops CAP_IPC_LOCK (which lets root lock past the limit) from the
// effective set, so that the limit applies even to root.
bool drop_ipc_lock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  if (::syscall(SYS_capget, &header, caps) != 0) return false;
  caps[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  return ::syscall(SYS_capset, &header, caps) == 0;
}

[[noreturn]] void lock_child() {
  const rlimit tiny{64 << 10, 64 << 10};
  if (!drop_ipc_lock() || ::setrlimit(RLIMIT_MEMLOCK, &tiny) != 0) ::_exit(kNoSetup);
  PageAllocatorOptions options = shared_options(Backing::k4K, 8 * kMiB);
  options.lock = true;
  auto created = PageAllocator::create(options);
  if (created.ok()) ::_exit(kLocked);
  std::fprintf(stderr, "child: %s\n", created.error().message.c_str());
  const bool named = created.error().message.find("RLIMIT_MEMLOCK") != std::string::npos &&
                     created.error().message.find("options.lock") != std::string::npos;
  ::_exit(named ? kRefusedNamingTheLimit : kRefusedOtherwise);
}

TEST(SharedRegion, LockUnderATinyMemlockLimitNamesTheLimit) {
  std::fflush(nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0) << std::strerror(errno);
  if (child == 0) lock_child();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died, status " << status;
  ASSERT_NE(WEXITSTATUS(status), kNoSetup) << "could not drop CAP_IPC_LOCK or set the limit";
  EXPECT_NE(WEXITSTATUS(status), kLocked) << "an 8 MiB region was locked under a 64 KiB limit";
  EXPECT_EQ(WEXITSTATUS(status), kRefusedNamingTheLimit) << "see the child's message above";
}

TEST(SharedRegion, DestroyedRegionComesBackAsOrdinaryMemory) {
  int kept_fd = -1;
  char* base = nullptr;
  std::size_t bytes = 0;
  {
    auto allocator = make(shared_options(Backing::k4K, 8 * kMiB));
    ASSERT_NE(allocator, nullptr);
    const SharedRegion* region = allocator->region();
    ASSERT_NE(region, nullptr);
    base = static_cast<char*>(region->base);
    bytes = region->bytes;
    kept_fd = ::dup(region->fd);  // the region's memory outlives the allocator here
    ASSERT_GE(kept_fd, 0);
    auto chunks = alloc_chunks(*allocator, 2);
    ASSERT_EQ(chunks.size(), 2u);
    expect_memory_works(chunks, 0x11);
    free_all(*allocator, chunks);
  }
  EXPECT_EQ(maps_line(base).find("memfd:"), std::string::npos) << maps_line(base);
  auto small = make(options_for(Backing::k4K, 8 * kMiB));
  ASSERT_NE(small, nullptr);
  auto chunks = alloc_chunks(*small, 2);
  ASSERT_EQ(chunks.size(), 2u);
  SecondMapping old(kept_fd, bytes);
  ASSERT_NE(old.addr, nullptr);
  bool reused = false;
  for (Page* page : chunks) {
    const std::size_t off = static_cast<std::size_t>(data(page) - base);
    if (off >= bytes) continue;
    reused = true;
    EXPECT_EQ(data(page)[0], 0) << "fresh anonymous memory reads zero";
    std::memset(data(page), 0xab, kChunkBytes);
    EXPECT_EQ(static_cast<unsigned char>(old.addr[off]), 0x11) << "still the memfd";
  }
  EXPECT_TRUE(reused) << "the region's chunks were not handed out again";
  free_all(*small, chunks);
  ::close(kept_fd);
}

TEST_F(HugetlbTest, TwoMegabyteSharedRegion) {
  std::string why;
  if (!reserve(kDir2M, 4, why)) GTEST_SKIP() << why;
  const long free_before = read_long(std::string(kDir2M) + "/free_hugepages");
  {
    auto allocator = make(shared_options(Backing::kHugetlb2M, 6 * kMiB));  // rounds to 8
    ASSERT_NE(allocator, nullptr);
    const SharedRegion* region = allocator->region();
    ASSERT_NE(region, nullptr);
    EXPECT_EQ(region->bytes, 8 * kMiB);
    EXPECT_EQ(region->page_bytes, 2 * kMiB);
    Page* page = allocator->alloc(3);
    ASSERT_NE(page, nullptr);
    std::memcpy(data(page), "huge and shared", 16);
    SecondMapping other(region->fd, region->bytes);
    ASSERT_NE(other.addr, nullptr) << std::strerror(errno);
    EXPECT_EQ(std::memcmp(other.addr + region->offset_of(page), "huge and shared", 16), 0);
    EXPECT_EQ(region->page_at(region->offset_of(page)), page);
    EXPECT_GE(allocator->huge_backed_bytes(), kChunkBytes);
    allocator->free(page);
  }
  EXPECT_EQ(read_long(std::string(kDir2M) + "/free_hugepages"), free_before)
      << "the destroyed region kept huge pages";
}

TEST(SharedRegion, HugetlbShortageIsUnsupported) {
  if (available_pages(kDir2M) != 0) GTEST_SKIP() << "2 MiB huge pages are free here";
  auto created = PageAllocator::create(shared_options(Backing::kHugetlb2M, 8 * kMiB));
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, Errc::kUnsupported);
  EXPECT_NE(created.error().message.find("nr_hugepages"), std::string::npos)
      << created.error().message;
}

}  // namespace
}  // namespace ppool
