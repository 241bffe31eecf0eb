// ppool-bench: reserving hugetlb 2 MiB pages for the hugetlb rows, and
// giving them back.
//
// The kernel's pool of 2 MiB pages is a machine-wide setting
// (/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages, the same as
// /proc/sys/vm/nr_hugepages where 2 MiB is the default size). A reservation
// raises it by what it needs beyond the pages already free, checks that the
// kernel found them, and puts back the value it found when it ends: in its
// destructor, at exit (std::exit, die()), on SIGINT, SIGTERM or SIGHUP, and
// on a crash (SIGSEGV, SIGBUS, SIGABRT; the signal is raised again after),
// so a run that stops early leaves the machine as it found it.
#pragma once

#include <cstddef>
#include <string>

namespace ppool_bench {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

class HugepageReservation {
 public:
  HugepageReservation() = default;
  ~HugepageReservation() { release(); }
  HugepageReservation(const HugepageReservation&) = delete;
  HugepageReservation& operator=(const HugepageReservation&) = delete;

  // Makes at least `pages` 2 MiB pages free in the kernel's pool, raising
  // nr_hugepages if it must (root only). False, with why set (a sentence
  // that says what to do), when it cannot; nothing is left changed then.
  bool reserve(std::size_t pages, std::string& why);
  // Puts back the nr_hugepages that reserve() found; a no-op when reserve()
  // changed nothing.
  void release();

 private:
  long added_ = 0;  // pages reserve() added to nr_hugepages
};

}  // namespace ppool_bench
