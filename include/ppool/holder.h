// ppool/holder.h - who holds a page: an optional tag per page.
//
// The commonest question about a page pool in production is "the pool's
// shutdown stalls: who holds its pages?". An application answers it ahead
// of time by tagging a page when it hands it to a consumer (a socket, a
// queue, a request id): the tag lives in the page descriptor's word that
// only a free page uses (no memory, and nothing at all when unused), and
// reports group the pages out with users by tag (ppool/registry.h's
// pool_holders(), /ppool/holders of the telemetry endpoint, ppool-stat
// --holders, and the stalled-shutdown report).
//
// A tag lasts until the next set_page_holder() or until the page goes back
// to the page allocator: a page recycled through its pool keeps its last
// tag, which only counts again once the page is out with a user. Tag at
// every hand-off you want to see.
#pragma once

#include <cstdint>
#include <string>

#include "ppool/page.h"

namespace ppool {

// Tags the page with holder (0 clears it) and the time. One relaxed store to
// the descriptor. Thread context: the thread holding the page.
void set_page_holder(Page* page, std::uint32_t holder);
// The page's holder, 0 when none. Thread context: any thread.
[[nodiscard]] std::uint32_t page_holder(const Page* page);
// A name for holder's reports ("socket 7", "disk queue 2"); "" forgets it.
// Thread context: any thread.
void name_holder(std::uint32_t holder, std::string name);
[[nodiscard]] std::string holder_name(std::uint32_t holder);

}  // namespace ppool
