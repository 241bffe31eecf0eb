// The shared rings' sleeps and wake-ups: a futex on the index a sleeper waits
// for (the process-shared kind, FUTEX_WAIT without FUTEX_PRIVATE_FLAG: the
// two processes map the same page of the ring memfd).
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "share/protocol.h"
#include "share/shm_ring.h"

namespace ppool::detail {

void shm_futex_wait(std::uint32_t* word, std::uint32_t seen, int timeout_ms) {
  timespec timeout{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000};
  // EAGAIN (the word moved), EINTR and ETIMEDOUT all send the caller back
  // to look at the ring.
  syscall(SYS_futex, word, FUTEX_WAIT, seen, timeout_ms < 0 ? nullptr : &timeout, nullptr, 0);
}

void shm_futex_wake(std::uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

bool shm_wait_change(std::uint32_t& index, std::uint32_t seen, std::uint32_t& waiting,
                     int timeout_ms) {
  for (int i = 0; i < kShmSpinPolls; ++i) {
    if (shm_load(index, std::memory_order_acquire) != seen) return true;
    cpu_relax();
  }
  if (timeout_ms == 0) return false;
  // Raise the flag, then look again (Dekker with shm_publish): either the
  // other side sees the flag and wakes us, or we see its index here.
  shm_store(waiting, 1, std::memory_order_seq_cst);
  if (shm_load(index, std::memory_order_seq_cst) == seen) shm_futex_wait(&index, seen, timeout_ms);
  shm_store(waiting, 0, std::memory_order_relaxed);
  return shm_load(index, std::memory_order_acquire) != seen;
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace ppool::detail
