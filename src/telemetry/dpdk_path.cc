// "dpdk" and "dpdk:PREFIX" as an endpoint's path: the socket DPDK's own
// telemetry clients look for (usertools/dpdk-telemetry.py -f PREFIX,
// Telegraf's dpdk input), so that they find a ppool process as they find a
// DPDK one. The directory is chosen as DPDK's EAL chooses its runtime
// directory (eal_create_runtime_dir) and as dpdk-telemetry.py rebuilds it:
// $RUNTIME_DIRECTORY (systemd's RuntimeDirectory=), else /var/run as root,
// else $XDG_RUNTIME_DIR, else /tmp; then dpdk/PREFIX/dpdk_telemetry.v2.
// The two directories are made 0700, as the EAL makes them, and refused
// when they are no directory of this user's or others may write to them:
// whoever may write there may put a socket or a symlink at the name bound.
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "telemetry/endpoint.h"

namespace ppool::detail {
namespace {

// dir made if missing (0700) and checked; an error naming it otherwise.
Result<void> private_dir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error{Errc::kInvalidArgument,
                 cat({"telemetry: cannot create ", dir, ": ", std::strerror(errno)})};
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0)
    return Error{Errc::kInvalidArgument, cat({"telemetry: ", dir, ": ", std::strerror(errno)})};
  if (!S_ISDIR(st.st_mode))
    return Error{Errc::kInvalidArgument, cat({"telemetry: ", dir, " is not a directory: refused"})};
  if (st.st_uid != geteuid())
    return Error{Errc::kInvalidArgument,
                 cat({"telemetry: ", dir, " belongs to uid ", std::to_string(st.st_uid),
                      ", not to this process's uid ", std::to_string(geteuid()), ": refused"})};
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error{Errc::kInvalidArgument,
                 cat({"telemetry: ", dir, " is writable by others (mode ", mode, "): refused"})};
  }
  return {};
}

// DPDK's runtime directory's parent, as the EAL picks it.
std::string dpdk_run_dir() {
  const char* systemd = std::getenv("RUNTIME_DIRECTORY");
  if (systemd && *systemd) return systemd;
  if (getuid() == 0) return "/var/run";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  return xdg && *xdg ? xdg : "/tmp";
}

}  // namespace

std::optional<Result<std::string>> dpdk_socket_path(std::string_view spec) {
  std::string_view prefix;
  if (spec == "dpdk")
    prefix = kDpdkDefaultPrefix;
  else if (spec.starts_with("dpdk:"))
    prefix = spec.substr(5);
  else
    return std::nullopt;
  // The prefix is one path component, as the EAL's --file-prefix is.
  if (prefix.empty() || prefix == "." || prefix == ".." ||
      prefix.find('/') != std::string_view::npos)
    return Result<std::string>(Error{
        Errc::kInvalidArgument,
        cat({"telemetry: '", shown(spec), "': dpdk:PREFIX needs a file prefix without '/'"})});
  const std::string dpdk = dpdk_run_dir() + "/dpdk";
  const std::string dir = cat({dpdk, "/", prefix});
  for (const std::string& d : {dpdk, dir})
    if (Result<void> made = private_dir(d); !made) return Result<std::string>(made.error());
  return Result<std::string>(dir + "/dpdk_telemetry.v2");
}

}  // namespace ppool::detail
