// tools/common/telemetry.h - how ppool's long-running programs (ppool-fwd,
// ppool-xsk) open the telemetry endpoint (ppool/telemetry.h) that
// `ppool-stat` reads: on by default, at --telemetry PATH, else at
// $PPOOL_TELEMETRY, else at /tmp/ppool-PROGRAM-PID.sock (a name ppool-stat
// finds without being told); `--telemetry off` leaves it off. A failure
// to open it is said in one line and the program goes on without it.
// Header-only, like args.h.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "ppool/telemetry.h"

namespace ppool::tools {

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
    path = env && *env
               ? env
               : "/tmp/ppool-" + std::string(program) + "-" + std::to_string(getpid()) + ".sock";
  }
  if (auto error = telemetry_start(path)) {
    std::fprintf(stderr, "%s: telemetry off: %s\n", program, error->message.c_str());
    return "";
  }
  return path;
}

}  // namespace ppool::tools
