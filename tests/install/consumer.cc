// Builds against an installed ppool: one pool, one page round trip, the pool
// seen through the registry and the telemetry commands. Against a
// shared libppool it also checks that the headers' inline thread-local
// (the owner check) and the library agree: recycle_direct() on the owner
// must land in the cache, not in the ring.
#include <cstdio>
#include <string>

#include <ppool/holder.h>
#include <ppool/page_pool.h>
#include <ppool/registry.h>
#include <ppool/telemetry.h>

int main() {
  ppool::PagePoolParams params;
  params.name = "consumer";
  auto created = ppool::PagePool::create(params);
  if (!created) {
    std::fprintf(stderr, "consumer: %s\n", created.error().message.c_str());
    return 1;
  }
  ppool::PagePool* pool = created.value();
  ppool::Page* page = pool->alloc_pages();
  if (!page) return 1;
  pool->recycle_direct(page);
  if (pool->alloc_pages() != page) {  // the cache is LIFO
    std::fprintf(stderr, "consumer: recycle_direct did not reach the owner's cache\n");
    return 1;
  }
  ppool::set_page_holder(page, 9);
  const auto info = ppool::find_pool(pool->id());
  const auto holders = ppool::pool_holders(pool->id());
  const std::string list = ppool::telemetry_command("/ppool/list");
  if (!info || info->name != "consumer" || !holders || holders->pages != 1 ||
      list.find(std::to_string(pool->id())) == std::string::npos) {
    std::fprintf(stderr, "consumer: the registry or the telemetry does not see the pool (%s)\n",
                 list.c_str());
    return 1;
  }
  ppool::put_page(page);  // a pool page goes home
  std::printf("consumer: installed ppool works (%s)\n", pool->stats().to_json().c_str());
  return ppool::PagePool::destroy(pool) == 0 && ppool::misuse_count() == 0 ? 0 : 1;
}
