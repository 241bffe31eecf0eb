// Storage for PagePool objects (layer pool, internal).
//
// A put through a stale pool pointer must be reported, not accepted by a new
// pool that took over the freed one's memory (its page could then be handed
// out twice). So pool addresses are not reused while they can be avoided:
// each pool takes the next slot of a reserved range (kPoolSlots of them,
// reused round-robin, skipping live ones), and a freed pool's slot goes back
// to the OS but stays mapped, reading as zeros. A stale pointer therefore
// reaches a dead pool (its magic reads 0), whose id and name are kept in a
// tombstone for the report.
//
// Cost: address space only (a page or two per slot), 48 bytes per tombstone,
// and an madvise() per destroy. Every call is on a cold path (create,
// destroy, misuse reports) and takes one mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ppool::detail {

// Memory for a new pool object of `bytes` (cache-line aligned, zeroed), at an
// address no pool had during the last pool_storage_slots() creations.
// Throws std::bad_alloc when the range is exhausted by live pools.
[[nodiscard]] void* pool_storage_alloc(std::size_t bytes);
// Remembers a dying pool's id and name for reports about stale pointers.
// Called by the pool's destructor, before pool_storage_free().
void pool_storage_retire(const void* pool, std::uint32_t id, const char* name);
// Gives the object's memory back to the OS; the address keeps reading zeros
// (zeroed by hand where the OS refuses: locked memory).
void pool_storage_free(void* pool);
// "pool 7 'eth0 rxq0' (freed)" for a retired pool's address, or "" when the
// address is not a retired pool's.
[[nodiscard]] std::string pool_storage_tombstone(const void* pool);
// How many creations pass before an address can be reused.
[[nodiscard]] std::size_t pool_storage_slots();

}  // namespace ppool::detail
