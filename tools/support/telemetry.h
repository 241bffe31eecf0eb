// support/telemetry.h - how ppool's long-running programs (ppool-fwd,
// ppool-xsk) open the telemetry endpoint (ppool/telemetry.h) that
// `ppool-stat` reads: on by default, at --telemetry PATH (or dpdk[:PREFIX],
// DPDK's socket, which ppool/telemetry.h resolves), else at
// $PPOOL_TELEMETRY, else at RUNTIME_DIR/ppool-PROGRAM-PID.sock (a name
// ppool-stat finds without being told; runtime_dir() below says where);
// `--telemetry off` leaves it off. A failure to open it is said in one line
// and the program goes on without it. Header-only, like args.h.
#pragma once

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ppool/base.h"
#include "ppool/telemetry.h"

namespace ppool::tools {

// Where runtime_dir() looks; the defaults are the machine's, a test names
// its own.
struct RuntimeDirPlaces {
  bool root = geteuid() == 0;
  std::string xdg_runtime_dir;  // $XDG_RUNTIME_DIR; "" (or relative): unset
  std::string run = "/run";
  std::string tmp = "/tmp";
};

inline RuntimeDirPlaces machine_places() {
  RuntimeDirPlaces at;
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR")) at.xdg_runtime_dir = xdg;
  return at;
}

// dir, made if missing (mode 0700), when it is a directory (not a symlink)
// of the effective user that no one else may write to; an error naming it
// and what is wrong otherwise. A directory someone else made, or may write
// to, lets them put a socket or a symlink at the name we bind or connect to,
// or swap ours: the squatting a fixed name in /tmp invites.
inline Result<std::string> private_dir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error{Errc::kInvalidArgument,
                 "cannot create the runtime directory " + dir + ": " + std::strerror(errno)};
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0)
    return Error{Errc::kInvalidArgument, dir + ": " + std::strerror(errno)};
  if (!S_ISDIR(st.st_mode))
    return Error{Errc::kInvalidArgument,
                 dir + " is not a directory (a symlink or a file someone left there): refused"};
  if (st.st_uid != geteuid())
    return Error{Errc::kInvalidArgument, dir + " belongs to uid " + std::to_string(st.st_uid) +
                                             ", not to this process's uid " +
                                             std::to_string(geteuid()) + ": refused"};
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Error{Errc::kInvalidArgument,
                 dir + " is writable by others (mode " + mode + "): refused"};
  }
  return dir;
}

// The directory for endpoints' sockets, as DPDK picks its runtime
// directory: /run/ppool as root, $XDG_RUNTIME_DIR/ppool otherwise (the
// user's own 0700 directory, per the XDG base directory specification), and
// /tmp/ppool-UID when XDG_RUNTIME_DIR is unset or not absolute. Made 0700,
// root's too: every endpoint's socket is its owner's only (0600), so no one
// else has a use for the directory, and 0700 keeps others from even listing
// which programs run (DPDK's /run/dpdk is 0700 as well). Checked by
// private_dir(); an error naming the directory when it is refused.
inline Result<std::string> runtime_dir(const RuntimeDirPlaces& at = machine_places()) {
  if (at.root) return private_dir(at.run + "/ppool");
  if (!at.xdg_runtime_dir.empty() && at.xdg_runtime_dir[0] == '/') {
    // The directory itself is the session manager's; only ours in it is
    // created and checked.
    return private_dir(at.xdg_runtime_dir + "/ppool");
  }
  return private_dir(at.tmp + "/ppool-" + std::to_string(geteuid()));
}

// RUNTIME_DIR/ppool-PROGRAM-PID.sock, or why there is none.
inline Result<std::string> default_telemetry_path(const char* program,
                                                  const RuntimeDirPlaces& at = machine_places()) {
  Result<std::string> dir = runtime_dir(at);
  if (!dir) return dir;
  return dir.value() + "/ppool-" + program + "-" + std::to_string(getpid()) + ".sock";
}

// Starts the endpoint as option says ("" for the default); returns its path,
// "" when off or refused.
inline std::string start_telemetry(const char* program, const std::string& option) {
  if (option == "off") {
    unsetenv("PPOOL_TELEMETRY");  // or the first pool would start it
    return "";
  }
  if (std::string running = telemetry_path(); !running.empty()) return running;
  std::string path = option;
  if (path.empty()) {
    const char* env = std::getenv("PPOOL_TELEMETRY");
    if (env && *env) {
      path = env;
    } else {
      Result<std::string> made = default_telemetry_path(program);
      if (!made) {
        std::fprintf(stderr, "%s: telemetry off: %s\n", program, made.error().message.c_str());
        return "";
      }
      path = std::move(made).value();
    }
  }
  if (Result<void> started = telemetry_start(path); !started) {
    std::fprintf(stderr, "%s: telemetry off: %s\n", program, started.error().message.c_str());
    return "";
  }
  return telemetry_path();  // "dpdk[:PREFIX]" resolved to where it listens
}

}  // namespace ppool::tools
