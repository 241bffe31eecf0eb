// ppool/xsk_redirect.h - the XDP program an AF_XDP application needs: every
// frame to the socket of its receive queue (an XSKMAP indexed by
// rx_queue_index), XDP_PASS where that queue has no socket. Part of the
// optional ppool_xsk library.
//
// Five raw BPF instructions loaded with bpf_prog_load(), not a compiled BPF
// object: libxdp's default program and xdp-tools' programs need the kernel's
// BTF, which some kernels (this project's machines' among them) do not
// expose. This one needs none; it needs CAP_NET_ADMIN (or CAP_BPF) to load.
#pragma once

#include "ppool/base.h"

namespace ppool {

class XskRedirect {
 public:
  XskRedirect() = default;
  XskRedirect(const XskRedirect&) = delete;
  XskRedirect& operator=(const XskRedirect&) = delete;
  ~XskRedirect() { detach(); }

  // Creates the XSKMAP (`queues` entries) and loads the program. Thread
  // context: any thread.
  // @return success, or an Error naming the failing call and its cause:
  //   - kUnsupported: the kernel refused (no CAP_NET_ADMIN/CAP_BPF, no
  //     AF_XDP, the verifier's log appended);
  //   - kOutOfMemory: the kernel could not allocate the map or the program;
  //   - kInvalidArgument: queues is 0 or too large for an XSKMAP.
  //   On an error the map may exist without the program: call load() only
  //   once per object; detach() (or the destructor) closes what was made.
  [[nodiscard]] Result<void> load(unsigned queues);
  // Attaches to ifindex in driver mode (native XDP; veth has it), else in
  // generic (skb) mode; generic_only skips driver mode. mode() says which.
  // Thread context: any thread.
  // @return success, or an Error from the last mode tried (generic):
  //   - kInvalidArgument: no such interface, or load() did not succeed;
  //   - kUnsupported: the kernel refused (permission, another XDP program
  //     already attached in that mode). Nothing is attached afterwards.
  [[nodiscard]] Result<void> attach(int ifindex, bool generic_only = false);
  // Puts an AF_XDP socket (XskQueue::fd()) at queue's slot of the map.
  // Thread context: any thread.
  // @return success, or an Error; the slot is unchanged then:
  //   - kInvalidArgument: queue beyond the map, or socket_fd no descriptor;
  //   - kUnsupported: any other refusal (a descriptor that is not a bound
  //     AF_XDP socket among them).
  [[nodiscard]] Result<void> add_socket(unsigned queue, int socket_fd);
  // Detaches (if attached), closes the program and the map. Idempotent;
  // cannot fail (a detach the kernel refuses leaves nothing to do here).
  void detach();

  // "driver", "generic", or "none" before a successful attach.
  [[nodiscard]] const char* mode() const { return mode_; }

 private:
  int map_fd_ = -1, prog_fd_ = -1, ifindex_ = 0;
  unsigned flags_ = 0;
  const char* mode_ = "none";
};

}  // namespace ppool
