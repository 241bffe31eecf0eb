// ppool/telemetry.h - the telemetry endpoint: a Unix socket answering
// JSON commands about the process's pools, in DPDK telemetry's style.
//
// Off unless asked: PPOOL_TELEMETRY=PATH in the environment starts it at the
// first pool's creation, or telemetry_start() does; no thread and no cost
// when off. The endpoint itself (src/telemetry/) knows no pools: the pool
// layer registers the /ppool/ commands with it and starts it, so this header
// is the pool layer's (src/README.md). Commands (one per message; the reply is one JSON object):
//   /              {"/": ["/", "/ppool/list", ...]} (the commands)
//   /info          {"/info": {"pid": N, "version": "...", "max_output_len": N,
//                   "stats": "on"}}
//   /ppool/list    {"/ppool/list": [id, ...]}
//   /ppool/info,ID {"/ppool/info": {"id": N, "name": ..., "queue": N, "nid": N,
//                   "order": N, "dma_device": ..., "created_ns": N,
//                   "detach_time": N, "inflight": N, "inflight_mem": N, "stats": "on"}}
//   /ppool/stats,ID   {"/ppool/stats": {the eleven counters under the kernel's names}}
//   /ppool/holders,ID {"/ppool/holders": {"pool_id": N, "pages": N, "age_ms": N,
//                      "holders": [{"holder": N, "name": ..., "pages": N, "oldest_age_ms": N}]}}
//   /ppool/prometheus {"/ppool/prometheus": "text exposition format ..."}
// An unknown command or ID gets {"NAME": null, "error": "..."}: keyed by
// the command to null, as DPDK's server answers, with a message naming what
// was wrong. Built with
// -DPPOOL_STATS=OFF, "stats" says "compiled out", /ppool/stats's value is
// {"stats": "compiled out"} instead of counters that would read 0, and the
// Prometheus text leaves the kernel's eleven out (ppool_stats_enabled 0).
// A holder report scans every allocator's descriptors, so the endpoint runs
// at most one scan per 100 ms (or nine times the last scan's length) for all
// pools together, a request sooner waiting its turn; a pool scanned less
// than that ago gets the same result again, age_ms old.
//
// The socket is AF_UNIX SOCK_SEQPACKET, as DPDK telemetry v2's: on connect
// the client gets a hello, {"version": "ppool X.Y.Z", "pid": N,
// "max_output_len": N} (no reply is longer: size the receive buffer by it);
// then each message it sends is one command and each message back one
// reply; a client whose replies pile up unread is disconnected, and at most
// 64 are served at once. The file is the owner's only (mode 0600), and
// exit() stops the endpoint and removes it.
//
// Naming, so that tools find endpoints: PATH may be any path, but a file
// name starting with "ppool" and ending with ".sock", at an absolute path
// (PPOOL_TELEMETRY=/run/ppool/ppool-eth0.sock, $XDG_RUNTIME_DIR/ppool-$$.sock),
// is what ppool-stat without --socket finds: it lists the listening
// SOCK_SEQPACKET sockets of /proc/net/unix so named and reads each that
// answers the hello. Put it in a directory only its user may write to: a
// fixed name in /tmp can be taken first by anyone (ppool-fwd and ppool-xsk
// default to /run/ppool/, $XDG_RUNTIME_DIR/ppool/ or a private
// /tmp/ppool-UID/, tools/support/telemetry.h).
// "dpdk" or "dpdk:PREFIX" as PATH (to telemetry_start() or in
// PPOOL_TELEMETRY) is where DPDK's telemetry clients look for a DPDK
// process of file prefix PREFIX (rte by default): RUNTIME/dpdk/PREFIX/
// dpdk_telemetry.v2, RUNTIME being $RUNTIME_DIRECTORY, else /var/run as
// root, else $XDG_RUNTIME_DIR, else /tmp, as DPDK's EAL picks it; the two
// directories are made 0700 and refused if another user's or writable by
// others. dpdk-telemetry.py -f PREFIX then reads the process;
// telemetry_path() is the path resolved.
#pragma once

#include <string>
#include <string_view>

#include "ppool/base.h"

namespace ppool {

// Listens on a Unix socket at path with one thread serving clients. An
// existing socket file there is replaced only when it is stale and ours
// (this user's, nothing answering on it); anything else there (a file, a
// live endpoint, another user's socket) is refused and kept. Thread
// context: any thread.
// @return success (the endpoint is listening; exit() or telemetry_stop()
//   removes its file), or an Error, nothing started and nothing at path
//   changed but a stale socket of ours removed:
//   - kInvalidArgument: already started (the message names the running
//     path), an empty or too long path, or path unusable (occupied, not
//     ours, a live endpoint, no such directory: the message names it);
//   - kOutOfMemory: no socket, eventfd or thread could be had.
[[nodiscard]] Result<void> telemetry_start(const std::string& path);
// Stops the thread and removes the socket file; nothing when not started.
// Cannot fail. Thread context: any thread.
void telemetry_stop();
// The socket's path, "" when off. Thread context: any thread.
[[nodiscard]] std::string telemetry_path();
// The reply to one command, as the socket sends it; an unknown command or
// ID gets {"NAME": null, "error": "..."}, as on the socket (not a failure of
// this call).
// Thread context: any thread.
[[nodiscard]] std::string telemetry_command(std::string_view command);
// Every pool's counters and state in Prometheus' text exposition format
// (ppool_alloc_fast_total{pool="ID",name="..."} N, ...). Cannot fail.
// Thread context: any thread.
[[nodiscard]] std::string prometheus_text();

}  // namespace ppool
