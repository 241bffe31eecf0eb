// Builds against an installed ppool: one pool, one page round trip.
#include <cstdio>

#include <ppool/page_pool.h>

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
  std::printf("consumer: installed ppool works (%s)\n", pool->stats().to_json().c_str());
  return ppool::PagePool::destroy(pool) == 0 ? 0 : 1;
}
