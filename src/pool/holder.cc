// Holder tags (ppool/holder.h) and the holder report's scan.
#include "ppool/holder.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "pool/holder_scan.h"

namespace ppool {
namespace {

// The tag word: holder in the low half, the time it was set in the high
// half (milliseconds of CLOCK_MONOTONIC_COARSE, modulo 2^32: ages up to 49
// days read right). The coarse clock is a vDSO read, no syscall.
std::uint32_t now_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint32_t>(static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
                                    static_cast<std::uint64_t>(ts.tv_nsec) / 1000000);
}

std::uint64_t load_holder_tag(const Page* page) {
  return __atomic_load_n(&page->holder_tag, __ATOMIC_RELAXED);
}

struct HolderNames {
  std::mutex mu;
  std::unordered_map<std::uint32_t, std::string> names;
};
HolderNames& holder_names() {
  static HolderNames* names = new HolderNames;  // never destroyed: reports run until exit
  return *names;
}

}  // namespace

void set_page_holder(Page* page, std::uint32_t holder) {
  if (PPOOL_UNLIKELY(!detail::valid_descriptor(page))) {
    detail::report_misuse(detail::format("set_page_holder(%p, %u): not an allocated page",
                                         static_cast<void*>(page), holder));
    return;
  }
  const std::uint64_t word = holder ? std::uint64_t{now_ms()} << 32 | holder : 0;
  __atomic_store_n(&page->holder_tag, word, __ATOMIC_RELAXED);
}

std::uint32_t page_holder(const Page* page) {
  return static_cast<std::uint32_t>(load_holder_tag(page));
}

void name_holder(std::uint32_t holder, std::string name) {
  HolderNames& h = holder_names();
  std::lock_guard lock(h.mu);
  if (name.empty())
    h.names.erase(holder);
  else
    h.names[holder] = std::move(name);
}

std::string holder_name(std::uint32_t holder) {
  HolderNames& h = holder_names();
  std::lock_guard lock(h.mu);
  auto it = h.names.find(holder);
  return it == h.names.end() ? std::string() : it->second;
}

namespace detail {

HolderReport scan_holders(const PoolTags& tags) {
  struct Group {
    std::uint64_t pages = 0;
    std::uint32_t oldest_ms = 0;
  };
  std::map<std::uint32_t, Group> groups;
  const std::uint32_t now = now_ms();
  std::uint64_t pages = 0;
  // The tags as read under the allocator's lock (the page may be freed by
  // now): the scan runs in chunks and this runs between them.
  PageAllocator::visit_allocated([&](const PageAllocator::VisitedBlock& block) {
    if (block.pp_tag != tags.in_use && block.pp_tag != tags.fragments) return;
    const std::uint64_t word = block.holder_tag;
    const auto holder = static_cast<std::uint32_t>(word);
    Group& g = groups[holder];
    ++g.pages;
    ++pages;
    if (holder) g.oldest_ms = std::max(g.oldest_ms, now - static_cast<std::uint32_t>(word >> 32));
  });
  HolderReport report;
  report.pages = pages;
  for (const auto& [holder, g] : groups)
    report.groups.push_back(
        {holder, holder ? holder_name(holder) : std::string(), g.pages, g.oldest_ms});
  std::stable_sort(report.groups.begin(), report.groups.end(),
                   [](const HolderGroup& a, const HolderGroup& b) { return a.pages > b.pages; });
  return report;
}

std::string describe_top_holders(const HolderReport& report) {
  constexpr std::size_t kTop = 3;
  std::string out;
  for (std::size_t i = 0; i < report.groups.size() && i < kTop; ++i) {
    const HolderGroup& g = report.groups[i];
    out += out.empty() ? "; held by: " : ", ";
    if (g.holder == 0) {
      out += format("%llu pages untagged", static_cast<unsigned long long>(g.pages));
      continue;
    }
    out += format("%llu pages holder %u", static_cast<unsigned long long>(g.pages), g.holder);
    if (!g.name.empty()) out += " '" + g.name + "'";
    out += format(" (oldest %.1f s)", static_cast<double>(g.oldest_age_ms) / 1000.0);
  }
  if (report.groups.size() > kTop) out += format(", %zu more holders", report.groups.size() - kTop);
  return out;
}

}  // namespace detail
}  // namespace ppool
