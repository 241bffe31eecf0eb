#include "hugepages.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "report.h"

namespace ppool_bench {
namespace {

constexpr const char* kDir = "/sys/kernel/mm/hugepages/hugepages-2048kB/";

// What the signal handler and the exit hook restore: the value found before
// the first reservation, as text, while a reservation has it changed
// (g_armed). One reservation at a time: the bench runs one workload at a time.
char g_found[32];
volatile sig_atomic_t g_armed = 0;

long read_count(const char* name) {
  const std::string path = std::string(kDir) + name;
  FILE* in = std::fopen(path.c_str(), "r");
  if (!in) return -1;
  long value = -1;
  if (std::fscanf(in, "%ld", &value) != 1) value = -1;
  std::fclose(in);
  return value;
}

// open/write/close only: called from the signal handler too.
bool write_text(const char* text) {
  char path[128] = {};
  std::strncpy(path, kDir, sizeof path - 16);
  std::strcat(path, "nr_hugepages");
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const auto len = static_cast<ssize_t>(std::strlen(text));
  const bool ok = ::write(fd, text, static_cast<std::size_t>(len)) == len;
  return ::close(fd) == 0 && ok;
}

bool write_count(long value) {
  char text[32];
  std::snprintf(text, sizeof text, "%ld\n", value);
  return write_text(text);
}

void restore_found() {
  if (!g_armed) return;
  write_text(g_found);
  g_armed = 0;
}

void on_signal(int sig) {
  restore_found();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

void install_hooks_once() {
  static const bool installed = [] {
    std::atexit(restore_found);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGABRT}) std::signal(sig, on_signal);
    return true;
  }();
  (void)installed;
}

}  // namespace

bool HugepageReservation::reserve(std::size_t pages, std::string& why) {
  release();
  const long want = static_cast<long>(pages);
  const long found = read_count("nr_hugepages"), free = read_count("free_hugepages");
  if (found < 0 || free < 0) {
    why = std::string("this kernel has no 2 MiB hugetlb pages (no ") + kDir + ")";
    return false;
  }
  if (free >= want) return true;  // someone reserved them already: use, change nothing
  if (geteuid() != 0) {
    why = "needs " + std::to_string(want) + " free 2 MiB hugetlb pages (" + std::to_string(free) +
          " free): run as root, or echo " + std::to_string(found + want - free) +
          " > /proc/sys/vm/nr_hugepages first";
    return false;
  }
  install_hooks_once();
  // The value before this process first changed it: pages a destroyed
  // allocator still maps become surplus when it is put back, and would be
  // read as the value found by a later reservation.
  if (!g_found[0]) std::snprintf(g_found, sizeof g_found, "%ld\n", found);
  const long target = found + want - free;
  g_armed = 1;
  added_ = want - free;
  if (!write_count(target)) {
    release();
    why = std::string("cannot write ") + kDir + "nr_hugepages: " + std::strerror(errno);
    return false;
  }
  const long got = read_count("free_hugepages");
  if (got < want) {
    release();
    why = "the kernel found " + std::to_string(got) + " of the " + std::to_string(want) +
          " free 2 MiB pages asked for (memory too fragmented or too little of it)";
    return false;
  }
  return true;
}

void HugepageReservation::release() {
  if (!added_) return;
  // Back to the value found. Pages still mapped (an allocator that did not
  // give its hugetlb memory back) stay as surplus until unmapped: said.
  if (!write_text(g_found)) warn("ppool-bench: could not put nr_hugepages back to %s", g_found);
  g_armed = 0;
  added_ = 0;
  const long surplus = read_count("surplus_hugepages");
  if (surplus > 0)
    warn(
        "ppool-bench: %ld 2 MiB pages are still in use after the hugetlb allocator was "
        "destroyed (surplus until unmapped)\n",
        surplus);
}

}  // namespace ppool_bench
