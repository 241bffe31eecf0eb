// Misuse reports of the page pool (README, Misuse): each names the page
// and the pool, living or freed, and says what was wrong.
#include "pool/pool_internal.h"
#include "pool/pool_storage.h"

namespace ppool {

using detail::format;

// "pool 7 'eth0 rxq0'", or, through a stale pointer, the freed pool's
// tombstone: "pool 7 'eth0 rxq0' (freed)".
std::string PagePool::label() const {
  if (alive()) return format("pool %u '%s'", id_, name_);
  std::string tombstone = detail::pool_storage_tombstone(this);
  return tombstone.empty() ? format("pool at %p (not a pool)", static_cast<const void*>(this))
                           : tombstone;
}

// Says why a page could not be put (or released) to this pool: the pool is
// gone, the pointer is no page, or the page's tag names another state or
// owner. Checks nothing of the page that its predecessors have not vouched for.
void PagePool::report_bad_put(const Page* page, std::uintptr_t tag) const {
  const std::string pool = label();
  std::string msg;
  if (!detail::is_descriptor_slot(page)) {
    msg = format("put of %p to %s: not a page descriptor%s", static_cast<const void*>(page),
                 pool.c_str(), alive() ? "" : ", and the pool was freed");
  } else if (page->kind != detail::kHead) {
    msg = format("put of page %p to %s: the page is free (put after it was released)%s",
                 page_address(page), pool.c_str(), alive() ? "" : ", and the pool was freed");
  } else if (!alive()) {
    msg = format("put of page %p to %s after the pool was freed", page_address(page), pool.c_str());
  } else if (tag == tag_fragments()) {
    msg = format("page %p of %s is out in fragments: put each fragment, not the page",
                 page_address(page), pool.c_str());
  } else if (tag == tag_recycled()) {
    msg = format("page %p put twice to %s: it is already back in the pool", page_address(page),
                 pool.c_str());
  } else if (tag == 0) {
    msg = format("put of page %p to %s: not a pool page (or already released)", page_address(page),
                 pool.c_str());
  } else {
    msg = format("page %p belongs to %s, put to %s", page_address(page),
                 detail::pool_of_tag(tag)->label().c_str(), pool.c_str());
  }
  detail::report_misuse(msg);
}

}  // namespace ppool
