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

#include <string>

namespace ppool {

class XskRedirect {
 public:
  XskRedirect() = default;
  XskRedirect(const XskRedirect&) = delete;
  XskRedirect& operator=(const XskRedirect&) = delete;
  ~XskRedirect() { detach(); }

  // Creates the XSKMAP (`queues` entries) and loads the program; false with
  // the failing call and its cause in *error. Thread context: any thread.
  bool load(unsigned queues, std::string* error);
  // Attaches to ifindex in driver mode (native XDP; veth has it), else in
  // generic (skb) mode; generic_only skips driver mode. mode() says which.
  bool attach(int ifindex, std::string* error, bool generic_only = false);
  // Puts an AF_XDP socket (XskQueue::fd()) at queue's slot of the map.
  bool add_socket(unsigned queue, int socket_fd, std::string* error);
  // Detaches (if attached), closes the program and the map. Idempotent.
  void detach();

  // "driver", "generic", or "none" before attach.
  [[nodiscard]] const char* mode() const { return mode_; }

 private:
  int map_fd_ = -1, prog_fd_ = -1, ifindex_ = 0;
  unsigned flags_ = 0;
  const char* mode_ = "none";
};

}  // namespace ppool
