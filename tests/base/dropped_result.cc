// Compiled, never run, by the test base_dropped_result_is_an_error
// (dropped_result.cmake): each line marked DROPPED drops a Result, and must
// be an error under -Werror because Result is [[nodiscard]] as a class.
// With -DPPOOL_KEEP_RESULTS each is cast to void and the file must compile,
// so what fails is the drop and nothing else. Public headers only, as a
// user's code sees them.
#include "ppool/base.h"
#include "ppool/page.h"
#include "ppool/page_pool.h"
#include "ppool/telemetry.h"
#include "ppool/xdp.h"
#include "ppool/xsk.h"
#include "ppool/xsk_redirect.h"

#ifdef PPOOL_KEEP_RESULTS
#define DROP (void)
#else
#define DROP
#endif

ppool::Result<void> user_setup();
ppool::Result<int> user_value();

void drops(ppool::RxQueueInfo& rxq, ppool::PagePool* pool, ppool::XskUmem& umem,
           ppool::XskRedirect& xdp) {
  DROP ppool::PagePool::create({});                         // DROPPED
  DROP ppool::PageAllocator::create({});                    // DROPPED
  DROP ppool::telemetry_start("/tmp/ppool.sock");           // DROPPED
  DROP rxq.reg_mem_model(ppool::MemType::kPagePool, pool);  // DROPPED
  DROP ppool::XskUmem::create({});                          // DROPPED
  DROP ppool::XskQueue::create(umem, {});                   // DROPPED
  DROP xdp.load(1);                                         // DROPPED
  DROP user_setup();                                        // DROPPED
  DROP user_value();                                        // DROPPED
}
