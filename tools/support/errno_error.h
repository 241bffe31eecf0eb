// support/errno_error.h - a failed system call in the programs' setup as a
// ppool::Error: the message is "what: strerror(err)", the code says who can
// fix it. Header only.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "ppool/base.h"

namespace ppool::tools {

// The Errc of a failed system call: memory or descriptors ran out
// (kOutOfMemory), the kernel or a permission lacks it (kUnsupported), or
// else what it was given is at fault (an address, a port, a device name:
// kInvalidArgument).
inline Errc errc_of(int err) {
  switch (err) {
    case ENOMEM:
    case EAGAIN:  // in setup, a limit reached (fork's RLIMIT_NPROC, mlock's)
    case ENOBUFS:
    case EMFILE:
    case ENFILE:
      return Errc::kOutOfMemory;
    case EPERM:
    case EACCES:
    case ENOSYS:
    case EOPNOTSUPP:
    case EAFNOSUPPORT:
    case EPROTONOSUPPORT:
      return Errc::kUnsupported;
    default:
      return Errc::kInvalidArgument;
  }
}

inline Error errno_error(const std::string& what, int err) {
  return Error{errc_of(err), what + ": " + std::strerror(err)};
}

}  // namespace ppool::tools
