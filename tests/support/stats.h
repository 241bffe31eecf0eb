// Tests that read the pool's counters, in a build that may compile them out
// (-DPPOOL_STATS=OFF).
//
// What PPOOL_STATS=0 removes is the owner's plain counters, the ones
// detail::stat_inc and stat_add bump: alloc.{fast, slow, slow_high_order,
// empty, refill, waive} and recycle.{cached, cache_full}; stats() then reads
// them as 0.
// recycle.ring (the ring's own head), recycle.ring_full and
// recycle.released_refcnt (atomics off the fast path) count in every build,
// so assertions on those need no guard.
//
// A test that is about the counters themselves skips:
//   PPOOL_REQUIRE_STATS();
// A test that checks behaviour and counters keeps checking the behaviour and
// guards only the counter assertions:
//   PPOOL_IF_STATS { EXPECT_EQ(pool->stats().alloc.fast, 1u); }
#pragma once

#include <gtest/gtest.h>

#include "ppool/page_pool.h"  // PPOOL_STATS (the library's compile definition)

namespace ppool::test {

// True when the owner's counters are compiled in.
inline constexpr bool kStatsCompiledIn = PPOOL_STATS != 0;

}  // namespace ppool::test

// Skips the rest of the test, saying why, when the counters are compiled out.
#define PPOOL_REQUIRE_STATS()                                                     \
  do {                                                                            \
    if (!::ppool::test::kStatsCompiledIn)                                         \
      GTEST_SKIP() << "needs PPOOL_STATS: counters compiled out (PPOOL_STATS=0)"; \
  } while (0)

// Runs the following statement (a block of counter assertions) only when the
// owner's counters are compiled in; it is still compiled either way.
#define PPOOL_IF_STATS if constexpr (::ppool::test::kStatsCompiledIn)
