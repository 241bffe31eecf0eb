// Starting the telemetry endpoint from the environment (layer telemetry,
// internal): PPOOL_TELEMETRY=PATH starts it at the first pool's creation.
#pragma once

namespace ppool::detail {

// Starts the endpoint at $PPOOL_TELEMETRY when it is set and non-empty and
// the endpoint is not already running; a failure is logged (LogLevel::kError)
// naming the path, and the pool is created anyway. Only the first call reads
// the environment: every later one is a single atomic load, so
// PagePool::create() may call it each time. Thread context: any thread.
void telemetry_from_env();

}  // namespace ppool::detail
